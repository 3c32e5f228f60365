//! `TariffTable` and `SurgeState`: fares and surge of `dispatch_core::pricing`. Money is in
//! integer minor units (cents); JS numbers carry them exactly up to 2^53.

use dispatch_core::geo::lat_lng;
use dispatch_core::pricing::{
    SurgeConfig, SurgeState as CoreSurge, Tariff as CoreTariff, TariffTable as CoreTable,
};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::{byte, coded, internal, invalid_argument, resolution, Code};

/// A vehicle class's fare, in minor units.
#[napi(object, object_to_js = false)]
pub struct TariffInput {
    pub base_minor: f64,
    pub per_km_minor: f64,
    pub per_minute_minor: f64,
    /// Floor of the fare before surge.
    pub minimum_minor: f64,
    /// The total is rounded half up to a multiple of this (default 1).
    pub rounding_minor: Option<f64>,
}

#[napi(object, object_from_js = false)]
pub struct Tariff {
    pub base_minor: f64,
    pub per_km_minor: f64,
    pub per_minute_minor: f64,
    pub minimum_minor: f64,
    pub rounding_minor: f64,
}

/// A priced trip: `fareMinor + surgeMinor + roundingMinor === totalMinor` exactly.
#[napi(object, object_from_js = false)]
pub struct Quote {
    pub base_minor: f64,
    pub distance_minor: f64,
    pub time_minor: f64,
    pub minimum_applied: bool,
    /// Fare before surge: the metered sum or the minimum, whichever is larger.
    pub fare_minor: f64,
    pub surge_multiplier: f64,
    /// What the surge adds.
    pub surge_minor: f64,
    /// What rounding to the tariff's `roundingMinor` adds (may be negative).
    pub rounding_minor: f64,
    pub total_minor: f64,
}

/// A money amount: a whole number of minor units that a JS number holds exactly.
fn minor(name: &str, v: f64) -> std::result::Result<i64, Error<Code>> {
    const SAFE: f64 = 9_007_199_254_740_991.0;
    if v.is_finite() && v.fract() == 0.0 && v.abs() <= SAFE {
        Ok(v as i64)
    } else {
        Err(invalid_argument(format!(
            "{name} is {v}, expected a whole number of minor units"
        )))
    }
}

fn tariff_out(t: &CoreTariff) -> Tariff {
    Tariff {
        base_minor: t.base_minor as f64,
        per_km_minor: t.per_km_minor as f64,
        per_minute_minor: t.per_minute_minor as f64,
        minimum_minor: t.minimum_minor as f64,
        rounding_minor: t.rounding_minor as f64,
    }
}

/// Tariffs by vehicle class (0..=255).
#[napi]
pub struct TariffTable {
    inner: CoreTable,
}

#[napi]
impl TariffTable {
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self {
            inner: CoreTable::new(),
        }
    }

    /// Sets or replaces a class's tariff. INVALID_ARGUMENT for an amount that is not a whole
    /// number in [0, 1e9] (rounding in [1, 1e9]).
    #[napi]
    pub fn set(&mut self, vehicle_class: f64, tariff: TariffInput) -> Result<(), Code> {
        let class = byte("vehicleClass", vehicle_class)?;
        let t = CoreTariff {
            base_minor: minor("baseMinor", tariff.base_minor)?,
            per_km_minor: minor("perKmMinor", tariff.per_km_minor)?,
            per_minute_minor: minor("perMinuteMinor", tariff.per_minute_minor)?,
            minimum_minor: minor("minimumMinor", tariff.minimum_minor)?,
            rounding_minor: minor("roundingMinor", tariff.rounding_minor.unwrap_or(1.0))?,
        };
        self.inner.set(class, t).map_err(coded)
    }

    /// The class's tariff, or null.
    #[napi]
    pub fn get(&self, vehicle_class: f64) -> Result<Option<Tariff>, Code> {
        Ok(self
            .inner
            .get(byte("vehicleClass", vehicle_class)?)
            .map(tariff_out))
    }

    /// Removes the class's tariff; whether it had one.
    #[napi]
    pub fn remove(&mut self, vehicle_class: f64) -> Result<bool, Code> {
        Ok(self.inner.remove(byte("vehicleClass", vehicle_class)?).is_some())
    }

    /// Classes with a tariff, ascending.
    #[napi]
    pub fn classes(&self) -> Vec<u32> {
        self.inner.classes().map(u32::from).collect()
    }

    /// Prices a trip. UNKNOWN_VEHICLE_CLASS when the class has no tariff; INVALID_ARGUMENT for
    /// a distance outside [0, 1e8] m, a duration outside [0, 1e7] s, a multiplier outside
    /// [1, 100], or NaN.
    #[napi]
    pub fn quote(
        &self,
        vehicle_class: f64,
        distance_m: f64,
        duration_s: f64,
        surge_multiplier: f64,
    ) -> Result<Quote, Code> {
        let q = self
            .inner
            .quote(
                byte("vehicleClass", vehicle_class)?,
                distance_m,
                duration_s,
                surge_multiplier,
            )
            .map_err(coded)?;
        Ok(Quote {
            base_minor: q.base_minor as f64,
            distance_minor: q.distance_minor as f64,
            time_minor: q.time_minor as f64,
            minimum_applied: q.minimum_applied,
            fare_minor: q.fare_minor as f64,
            surge_multiplier: q.surge_multiplier,
            surge_minor: q.surge_minor as f64,
            rounding_minor: q.rounding_minor as f64,
            total_minor: q.total_minor as f64,
        })
    }
}

/// Surge settings; every field is optional and defaults as documented in the core
/// (`SurgeConfig`).
#[napi(object, object_to_js = false)]
pub struct SurgeOptions {
    /// H3 resolution of surge cells (default 7).
    pub resolution: Option<f64>,
    /// Demand/supply ratio at which surge starts (default 1).
    pub threshold: Option<f64>,
    /// Multiplier added per unit of ratio above the threshold (default 0.5).
    pub sensitivity: Option<f64>,
    /// Supply floor in the ratio (default 1).
    pub min_supply: Option<f64>,
    /// Weight of the new value at each update, in (0, 1] (default 0.3).
    pub alpha: Option<f64>,
    /// Cap (default 3).
    pub max_multiplier: Option<f64>,
    /// Grid of shown multipliers (default 0.1).
    pub step: Option<f64>,
}

/// Cells whose shown multiplier is above 1, parallel arrays.
#[napi(object, object_from_js = false)]
pub struct Surging<'env> {
    pub cells: BigUint64ArraySlice<'env>,
    pub multipliers: Float64ArraySlice<'env>,
}

/// Smoothed surge per H3 cell.
#[napi]
pub struct SurgeState {
    inner: CoreSurge,
    surging: Vec<(u64, f64)>,
}

#[napi]
impl SurgeState {
    /// INVALID_ARGUMENT or INVALID_RESOLUTION for settings outside their domain.
    #[napi(constructor)]
    pub fn new(options: Option<SurgeOptions>) -> Result<Self, Code> {
        let d = SurgeConfig::default();
        let config = match options {
            None => d,
            Some(o) => SurgeConfig {
                resolution: o.resolution.map(resolution).transpose()?.unwrap_or(d.resolution),
                threshold: o.threshold.unwrap_or(d.threshold),
                sensitivity: o.sensitivity.unwrap_or(d.sensitivity),
                min_supply: o.min_supply.unwrap_or(d.min_supply),
                alpha: o.alpha.unwrap_or(d.alpha),
                max_multiplier: o.max_multiplier.unwrap_or(d.max_multiplier),
                step: o.step.unwrap_or(d.step),
            },
        };
        Ok(Self {
            inner: CoreSurge::new(config).map_err(coded)?,
            surging: Vec::new(),
        })
    }

    /// One update: demand (open requests plus forecast) and supply (free drivers) per cell, at
    /// the configured resolution. All or nothing: LENGTH_MISMATCH, or INVALID_ARGUMENT for a
    /// bad cell or figure, and then nothing changes.
    #[napi]
    pub fn update(&mut self, cells: &[u64], demand: &[f64], supply: &[f64]) -> Result<(), Code> {
        self.inner.update(cells, demand, supply).map_err(coded)
    }

    /// The multiplier to quote for a cell (a finer cell reads through its ancestor).
    /// INVALID_ARGUMENT for a value that is not an H3 cell.
    #[napi]
    pub fn multiplier(&self, cell: BigInt) -> Result<f64, Code> {
        let (negative, raw, lossless) = cell.get_u64();
        if negative || !lossless {
            return Err(invalid_argument("cell is not a 64-bit H3 index".to_string()));
        }
        let mut out = [0.0];
        self.inner.multipliers(&[raw], &mut out).map_err(coded)?;
        Ok(out[0])
    }

    /// The multiplier to quote at a pickup point. INVALID_COORDINATE for a bad point.
    #[napi(js_name = "multiplierAt")]
    pub fn multiplier_at(&self, lat: f64, lng: f64) -> Result<f64, Code> {
        Ok(self.inner.multiplier_at(lat_lng(lat, lng).map_err(coded)?))
    }

    /// `multiplier` for many cells.
    #[napi]
    pub fn multipliers(&self, env: Env, cells: &[u64]) -> Result<Float64ArraySlice<'static>, Code> {
        let mut out = vec![0.0; cells.len()];
        self.inner.multipliers(cells, &mut out).map_err(coded)?;
        Float64ArraySlice::copy_from(&env, out).map_err(internal)
    }

    /// Cells whose shown multiplier is above 1, in no particular order.
    #[napi]
    pub fn surging(&mut self, env: Env) -> Result<Surging<'static>, Code> {
        self.inner.surging(&mut self.surging);
        let cells: Vec<u64> = self.surging.iter().map(|s| s.0).collect();
        let multipliers: Vec<f64> = self.surging.iter().map(|s| s.1).collect();
        Ok(Surging {
            cells: BigUint64ArraySlice::copy_from(&env, cells).map_err(internal)?,
            multipliers: Float64ArraySlice::copy_from(&env, multipliers).map_err(internal)?,
        })
    }

    /// Number of cells held (smoothed value above 1).
    #[napi(getter)]
    pub fn size(&self) -> u32 {
        self.inner.len() as u32
    }
}
