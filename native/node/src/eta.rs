//! `EtaModel`: the travel-time model of `dispatch_core::eta`.

use dispatch_core::eta::{EtaConfig, EtaModel as CoreEta};
use dispatch_core::geo::lat_lng;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::{byte, coded, internal, length_mismatch, resolution, Code};

/// Model settings; every field is optional and defaults as documented in the core (`EtaConfig`).
#[napi(object, object_to_js = false)]
pub struct EtaOptions {
    /// Road distance over great-circle distance, in [1, 5] (default 1.3).
    pub detour_factor: Option<f64>,
    /// 24 speeds in m/s, index = local hour.
    pub hourly_speed_mps: Option<Vec<f64>>,
    /// Added to every pickup ETA, seconds (default 30).
    pub pickup_overhead_s: Option<f64>,
    /// H3 resolution of the area overrides (default 6).
    pub area_resolution: Option<f64>,
    /// Cells with a speed multiplier, parallel to `areaMultipliers`.
    pub area_cells: Option<BigUint64Array>,
    /// Speed multipliers (0.8 = 20% slower) of `areaCells`.
    pub area_multipliers: Option<Float64Array>,
}

/// Great-circle distance x detour factor at the hour's speed, optionally faster or slower in
/// some areas. Symmetric in its endpoints.
#[napi]
pub struct EtaModel {
    inner: CoreEta,
}

#[napi]
impl EtaModel {
    /// INVALID_ARGUMENT or INVALID_RESOLUTION for settings outside their domain,
    /// LENGTH_MISMATCH when `areaCells` and `areaMultipliers` differ in length.
    #[napi(constructor)]
    pub fn new(options: Option<EtaOptions>) -> Result<Self, Code> {
        let Some(o) = options else {
            return Ok(Self {
                inner: CoreEta::default(),
            });
        };
        let d = EtaConfig::default();
        let cells = o.area_cells.as_deref().unwrap_or(&[]);
        let mults = o.area_multipliers.as_deref().unwrap_or(&[]);
        if cells.len() != mults.len() {
            return Err(length_mismatch(format!(
                "{} area cells but {} multipliers",
                cells.len(),
                mults.len()
            )));
        }
        let config = EtaConfig {
            detour_factor: o.detour_factor.unwrap_or(d.detour_factor),
            hourly_speed_mps: o.hourly_speed_mps.unwrap_or(d.hourly_speed_mps),
            pickup_overhead_s: o.pickup_overhead_s.unwrap_or(d.pickup_overhead_s),
            area_resolution: o
                .area_resolution
                .map(resolution)
                .transpose()?
                .unwrap_or(d.area_resolution),
            area_speed_multipliers: cells.iter().copied().zip(mults.iter().copied()).collect(),
        };
        Ok(Self {
            inner: CoreEta::new(config).map_err(coded)?,
        })
    }

    /// Pickup ETA in seconds: `travelS` plus the pickup overhead. INVALID_COORDINATE for a
    /// bad point, INVALID_ARGUMENT for an hour outside 0..=23.
    #[napi(js_name = "etaS")]
    pub fn eta_s(
        &self,
        from_lat: f64,
        from_lng: f64,
        to_lat: f64,
        to_lng: f64,
        hour: f64,
    ) -> Result<f64, Code> {
        let (from, to) = (lat_lng(from_lat, from_lng), lat_lng(to_lat, to_lng));
        self.inner
            .eta_s(from.map_err(coded)?, to.map_err(coded)?, byte("hour", hour)?)
            .map_err(coded)
    }

    /// Driving time in seconds, without the pickup overhead.
    #[napi(js_name = "travelS")]
    pub fn travel_s(
        &self,
        from_lat: f64,
        from_lng: f64,
        to_lat: f64,
        to_lng: f64,
        hour: f64,
    ) -> Result<f64, Code> {
        let (from, to) = (lat_lng(from_lat, from_lng), lat_lng(to_lat, to_lng));
        self.inner
            .travel_s(from.map_err(coded)?, to.map_err(coded)?, byte("hour", hour)?)
            .map_err(coded)
    }

    /// Pickup ETAs from one point to each interleaved target, one per pair. LENGTH_MISMATCH
    /// for an odd length; INVALID_COORDINATE names the first bad target.
    #[napi(js_name = "etaMany")]
    pub fn eta_many(
        &self,
        env: Env,
        from_lat: f64,
        from_lng: f64,
        targets: &[f64],
        hour: f64,
    ) -> Result<Float32ArraySlice<'static>, Code> {
        let from = lat_lng(from_lat, from_lng).map_err(coded)?;
        let mut out = vec![0f32; targets.len() / 2];
        self.inner
            .eta_many(from, targets, byte("hour", hour)?, &mut out)
            .map_err(coded)?;
        Float32ArraySlice::copy_from(&env, out).map_err(internal)
    }
}
