//! Fares and surge.
//!
//! # Money
//!
//! Every amount is an integer in the currency's minor unit (cents, pence; yen have none, so
//! one minor unit is one yen). The currency code lives with the caller; nothing here mixes
//! currencies. The only non-integer steps are the distance and time parts (rate x km,
//! rate x minutes), each rounded half up to a whole minor unit, and the surge, applied in
//! integer basis points and rounded half up to the tariff's `rounding_minor`:
//!
//! ```text
//! distance = round(per_km_minor * distance_m / 1000)
//! time     = round(per_minute_minor * duration_s / 60)
//! fare     = max(minimum_minor, base_minor + distance + time)
//! total    = round_to(fare * round(surge * 10000) / 10000, rounding_minor)
//! ```
//!
//! Every step is non-decreasing in its input, so the total is non-decreasing in distance, in
//! time and in the surge multiplier. [`Quote`] carries the parts, and they add up exactly:
//! `total = fare + surge + rounding`.
//!
//! # Surge
//!
//! Per H3 cell (one resolution, [`SurgeConfig::resolution`]):
//!
//! ```text
//! ratio    = demand / max(supply, min_supply)          demand = open requests + forecast
//! raw      = min(max_multiplier, 1 + sensitivity * max(0, ratio - threshold))
//! smoothed = smoothed + alpha * (raw - smoothed)       per update; a new cell starts at 1
//! shown    = 1 + step * round((smoothed - 1) / step), at most max_multiplier
//! ```
//!
//! Cells not mentioned in an update decay toward 1 as if their raw value were 1. The shown
//! multiplier is always on the grid `1, 1 + step, 1 + 2 step, ...`, never below 1 and never
//! above `max_multiplier` (the effective cap is the largest grid point not above it).

use crate::error::{CoreError, ErrorCode, Result};
use h3o::{CellIndex, LatLng, Resolution};
use std::collections::{BTreeMap, HashMap};

/// Largest accepted tariff amount or rate, in minor units (ten million in major units).
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000;
/// Longest accepted trip distance for a quote (100,000 km).
pub const MAX_DISTANCE_M: f64 = 1.0e8;
/// Longest accepted trip duration for a quote (about 116 days).
pub const MAX_DURATION_S: f64 = 1.0e7;
/// Largest surge multiplier a quote accepts, and the ceiling of `SurgeConfig::max_multiplier`.
pub const MAX_SURGE: f64 = 100.0;
/// Largest demand or supply figure an update accepts for one cell.
pub const MAX_DEMAND: f64 = 1.0e9;

const BP: i128 = 10_000;

fn invalid(message: String) -> CoreError {
    CoreError::new(ErrorCode::InvalidArgument, message)
}

/// Checks `x` is finite and in `[lo, hi]`.
fn check_range(name: &str, x: f64, lo: f64, hi: f64) -> Result<()> {
    if x.is_finite() && (lo..=hi).contains(&x) {
        Ok(())
    } else {
        Err(invalid(format!(
            "{name} is {x}, expected a finite number in [{lo}, {hi}]"
        )))
    }
}

/// Rounds `num / den` (both >= 0, den > 0) half up.
fn div_round(num: i128, den: i128) -> i128 {
    (num + den / 2) / den
}

/// One vehicle class's fare, all in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tariff {
    /// Flag fall, charged once per trip.
    pub base_minor: i64,
    pub per_km_minor: i64,
    pub per_minute_minor: i64,
    /// Floor of the fare before surge.
    pub minimum_minor: i64,
    /// The total is rounded half up to a multiple of this (1 = to the minor unit; 50 = to
    /// half a major unit where cents are not used). Must be >= 1.
    pub rounding_minor: i64,
}

impl Tariff {
    /// InvalidArgument unless every amount is in `[0, MAX_AMOUNT_MINOR]` and `rounding_minor`
    /// in `[1, MAX_AMOUNT_MINOR]`.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("base_minor", self.base_minor),
            ("per_km_minor", self.per_km_minor),
            ("per_minute_minor", self.per_minute_minor),
            ("minimum_minor", self.minimum_minor),
        ] {
            if !(0..=MAX_AMOUNT_MINOR).contains(&v) {
                return Err(invalid(format!("{name} is {v}, expected 0..={MAX_AMOUNT_MINOR}")));
            }
        }
        if !(1..=MAX_AMOUNT_MINOR).contains(&self.rounding_minor) {
            return Err(invalid(format!(
                "rounding_minor is {}, expected 1..={MAX_AMOUNT_MINOR}",
                self.rounding_minor
            )));
        }
        Ok(())
    }

    /// Prices a trip of `distance_m` metres and `duration_s` seconds under `surge_multiplier`.
    /// InvalidArgument for an invalid tariff, a distance outside `[0, MAX_DISTANCE_M]`, a
    /// duration outside `[0, MAX_DURATION_S]`, a multiplier outside `[1, MAX_SURGE]`, or NaN.
    pub fn quote(&self, distance_m: f64, duration_s: f64, surge_multiplier: f64) -> Result<Quote> {
        self.validate()?;
        check_range("distance_m", distance_m, 0.0, MAX_DISTANCE_M)?;
        check_range("duration_s", duration_s, 0.0, MAX_DURATION_S)?;
        check_range("surge_multiplier", surge_multiplier, 1.0, MAX_SURGE)?;
        // Bounded above: at most 1e9 * 1e5 km and 1e9 * 1.7e5 min, exact enough in f64 and
        // far inside i64.
        let distance_minor = (self.per_km_minor as f64 * distance_m / 1000.0).round() as i64;
        let time_minor = (self.per_minute_minor as f64 * duration_s / 60.0).round() as i64;
        let metered = self.base_minor + distance_minor + time_minor;
        let minimum_applied = self.minimum_minor > metered;
        let fare_minor = metered.max(self.minimum_minor);
        let surge_bp = (surge_multiplier * BP as f64).round() as i128;
        let fare = i128::from(fare_minor);
        let surge_minor = div_round(fare * (surge_bp - BP), BP);
        let step = i128::from(self.rounding_minor);
        let total = div_round(fare * surge_bp, BP * step) * step;
        // fare <= 3e14 and surge <= 100 keep all three far inside i64.
        let total_minor = i64::try_from(total).map_err(|_| invalid("fare out of range".into()))?;
        let surge_minor = i64::try_from(surge_minor).map_err(|_| invalid("fare out of range".into()))?;
        Ok(Quote {
            base_minor: self.base_minor,
            distance_minor,
            time_minor,
            minimum_applied,
            fare_minor,
            surge_multiplier,
            surge_minor,
            rounding_minor: total_minor - fare_minor - surge_minor,
            total_minor,
        })
    }
}

/// A priced trip, broken down for display. `fare_minor + surge_minor + rounding_minor ==
/// total_minor` exactly; when `minimum_applied` is false, `fare_minor == base_minor +
/// distance_minor + time_minor`, otherwise `fare_minor` is the tariff minimum and above that sum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quote {
    pub base_minor: i64,
    pub distance_minor: i64,
    pub time_minor: i64,
    pub minimum_applied: bool,
    /// Fare before surge: the metered sum or the minimum, whichever is larger.
    pub fare_minor: i64,
    pub surge_multiplier: f64,
    /// What the surge adds, rounded to the minor unit.
    pub surge_minor: i64,
    /// What rounding to the tariff's `rounding_minor` adds (may be negative).
    pub rounding_minor: i64,
    pub total_minor: i64,
}

/// Tariffs by vehicle class (a small integer the engine defines: economy, comfort, van...).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TariffTable {
    by_class: BTreeMap<u8, Tariff>,
}

impl TariffTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets (or replaces) a class's tariff after validating it.
    pub fn set(&mut self, class: u8, tariff: Tariff) -> Result<()> {
        tariff.validate()?;
        self.by_class.insert(class, tariff);
        Ok(())
    }

    pub fn get(&self, class: u8) -> Option<&Tariff> {
        self.by_class.get(&class)
    }

    pub fn remove(&mut self, class: u8) -> Option<Tariff> {
        self.by_class.remove(&class)
    }

    /// Classes with a tariff, ascending.
    pub fn classes(&self) -> impl Iterator<Item = u8> + '_ {
        self.by_class.keys().copied()
    }

    /// [`Tariff::quote`] for `class`; UnknownVehicleClass when it has no tariff.
    pub fn quote(&self, class: u8, distance_m: f64, duration_s: f64, surge_multiplier: f64) -> Result<Quote> {
        self.get(class)
            .ok_or_else(|| {
                CoreError::new(
                    ErrorCode::UnknownVehicleClass,
                    format!("no tariff for vehicle class {class}"),
                )
            })?
            .quote(distance_m, duration_s, surge_multiplier)
    }
}

/// Surge settings; see the module doc for the formula. `SurgeState::new` validates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SurgeConfig {
    /// H3 resolution of surge cells (default 7, about 5 km2 a cell).
    pub resolution: u8,
    /// Demand/supply ratio at which surge starts; finite, in `[0, 1e6]`.
    pub threshold: f64,
    /// Multiplier added per unit of ratio above the threshold; finite, in `[0, 1e3]`.
    pub sensitivity: f64,
    /// Supply floor in the ratio, so a cell with no free driver still has a finite ratio;
    /// finite, in `[1e-3, 1e9]`.
    pub min_supply: f64,
    /// Weight of the new raw value at each update; in `(0, 1]` (1 = no smoothing).
    pub alpha: f64,
    /// Cap; finite, in `[1, MAX_SURGE]`.
    pub max_multiplier: f64,
    /// Grid of shown multipliers; finite, in `[1e-4, MAX_SURGE]`.
    pub step: f64,
}

impl Default for SurgeConfig {
    fn default() -> Self {
        Self {
            resolution: 7,
            threshold: 1.0,
            sensitivity: 0.5,
            min_supply: 1.0,
            alpha: 0.3,
            max_multiplier: 3.0,
            step: 0.1,
        }
    }
}

impl SurgeConfig {
    pub fn validate(&self) -> Result<()> {
        crate::geo::resolution(self.resolution)?;
        check_range("threshold", self.threshold, 0.0, 1.0e6)?;
        check_range("sensitivity", self.sensitivity, 0.0, 1.0e3)?;
        check_range("min_supply", self.min_supply, 1.0e-3, 1.0e9)?;
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return Err(invalid(format!(
                "alpha is {}, expected a number in (0, 1]",
                self.alpha
            )));
        }
        check_range("max_multiplier", self.max_multiplier, 1.0, MAX_SURGE)?;
        check_range("step", self.step, 1.0e-4, MAX_SURGE)
    }

    /// The unsmoothed multiplier for one cell's (validated) demand and supply, in `[1, cap]`.
    pub fn raw_multiplier(&self, demand: f64, supply: f64) -> f64 {
        let ratio = demand / supply.max(self.min_supply);
        (1.0 + self.sensitivity * (ratio - self.threshold).max(0.0)).min(self.max_multiplier)
    }

    /// The shown multiplier for a smoothed value: on the step grid, within `[1, cap]`.
    pub fn publish(&self, smoothed: f64) -> f64 {
        // The 1e-9 absorbs representation error so a cap on the grid (3.0 with step 0.1)
        // stays reachable.
        let top = ((self.max_multiplier - 1.0) / self.step + 1e-9).floor();
        let k = ((smoothed - 1.0) / self.step).round().clamp(0.0, top);
        (1.0 + k * self.step).min(self.max_multiplier)
    }
}

/// Smoothed surge per cell. Cells at (about) 1.0 are not stored; an unknown cell reads 1.0.
#[derive(Debug, Clone)]
pub struct SurgeState {
    config: SurgeConfig,
    res: Resolution,
    smoothed: HashMap<CellIndex, f64>,
    scratch: HashMap<CellIndex, (f64, f64)>,
}

/// A smoothed value this close to 1 is dropped (reads 1.0 from then on).
const SETTLED: f64 = 1.0e-6;

impl SurgeState {
    pub fn new(config: SurgeConfig) -> Result<Self> {
        config.validate()?;
        let res = crate::geo::resolution(config.resolution)?;
        Ok(Self {
            config,
            res,
            smoothed: HashMap::new(),
            scratch: HashMap::new(),
        })
    }

    pub fn config(&self) -> &SurgeConfig {
        &self.config
    }

    fn cell(&self, i: usize, raw: u64) -> Result<CellIndex> {
        let cell = CellIndex::try_from(raw)
            .map_err(|_| invalid(format!("cells[{i}]: {raw:#x} is not an H3 cell")))?;
        if cell.resolution() != self.res {
            return Err(invalid(format!(
                "cells[{i}]: cell {cell} has resolution {}, expected {}",
                u8::from(cell.resolution()),
                self.config.resolution
            )));
        }
        Ok(cell)
    }

    /// One update from parallel arrays: `demand[i]` (open requests plus forecast) and
    /// `supply[i]` (free drivers) of `cells[i]`. A cell listed twice has its figures summed.
    /// Cells not listed decay toward 1. All-or-nothing: LengthMismatch for unequal lengths,
    /// InvalidArgument for a cell that is not an H3 cell at the configured resolution or a
    /// figure that is NaN, negative or above `MAX_DEMAND`, and then nothing changes.
    pub fn update(&mut self, cells: &[u64], demand: &[f64], supply: &[f64]) -> Result<()> {
        if cells.len() != demand.len() || cells.len() != supply.len() {
            return Err(CoreError::new(
                ErrorCode::LengthMismatch,
                format!(
                    "{} cells, {} demand and {} supply figures",
                    cells.len(),
                    demand.len(),
                    supply.len()
                ),
            ));
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        for (i, ((&raw, &d), &s)) in cells.iter().zip(demand).zip(supply).enumerate() {
            let checked = self.cell(i, raw).and_then(|cell| {
                check_range(&format!("demand[{i}]"), d, 0.0, MAX_DEMAND)?;
                check_range(&format!("supply[{i}]"), s, 0.0, MAX_DEMAND)?;
                Ok(cell)
            });
            match checked {
                Ok(cell) => {
                    let entry = scratch.entry(cell).or_insert((0.0, 0.0));
                    entry.0 += d;
                    entry.1 += s;
                }
                Err(e) => {
                    self.scratch = scratch;
                    return Err(e);
                }
            }
        }
        let alpha = self.config.alpha;
        // Unlisted cells decay as if their raw value were 1.
        self.smoothed.retain(|cell, s| {
            if !scratch.contains_key(cell) {
                *s += alpha * (1.0 - *s);
            }
            *s - 1.0 > SETTLED
        });
        for (&cell, &(d, s)) in &scratch {
            let old = self.smoothed.get(&cell).copied().unwrap_or(1.0);
            let new = old + alpha * (self.config.raw_multiplier(d, s) - old);
            if new - 1.0 > SETTLED {
                self.smoothed.insert(cell, new);
            } else {
                self.smoothed.remove(&cell);
            }
        }
        self.scratch = scratch;
        Ok(())
    }

    /// The smoothed (unrounded) value of `cell`, 1.0 when unknown.
    pub fn smoothed(&self, cell: CellIndex) -> f64 {
        self.smoothed.get(&cell).copied().unwrap_or(1.0)
    }

    /// The multiplier to quote for `cell`: on the step grid, in `[1, cap]`. A cell at another
    /// resolution reads through its ancestor or, if finer, as unknown (1.0).
    pub fn multiplier(&self, cell: CellIndex) -> f64 {
        let cell = cell.parent(self.res).unwrap_or(cell);
        self.config.publish(self.smoothed(cell))
    }

    /// The multiplier to quote at a pickup point.
    pub fn multiplier_at(&self, at: LatLng) -> f64 {
        self.config.publish(self.smoothed(at.to_cell(self.res)))
    }

    /// Batch form of [`SurgeState::multiplier`] for raw cell indexes. LengthMismatch if `out`
    /// differs in length; InvalidArgument naming the first value that is not an H3 cell, with
    /// `out` written up to it.
    pub fn multipliers(&self, cells: &[u64], out: &mut [f64]) -> Result<()> {
        if cells.len() != out.len() {
            return Err(CoreError::new(
                ErrorCode::LengthMismatch,
                format!(
                    "output holds {} multipliers but {} cells were given",
                    out.len(),
                    cells.len()
                ),
            ));
        }
        for (i, (&raw, slot)) in cells.iter().zip(out.iter_mut()).enumerate() {
            let cell = CellIndex::try_from(raw)
                .map_err(|_| invalid(format!("cells[{i}]: {raw:#x} is not an H3 cell")))?;
            *slot = self.multiplier(cell);
        }
        Ok(())
    }

    /// Cells whose shown multiplier is above 1, with that multiplier, in no particular order
    /// (for the admin heat map). Clears `out` first.
    pub fn surging(&self, out: &mut Vec<(u64, f64)>) {
        out.clear();
        out.extend(self.smoothed.iter().filter_map(|(&cell, &s)| {
            let m = self.config.publish(s);
            (m > 1.0).then_some((u64::from(cell), m))
        }));
    }

    /// Number of cells held (smoothed value above 1).
    pub fn len(&self) -> usize {
        self.smoothed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.smoothed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::lat_lng;

    const ECONOMY: Tariff = Tariff {
        base_minor: 250,
        per_km_minor: 120,
        per_minute_minor: 30,
        minimum_minor: 700,
        rounding_minor: 1,
    };

    fn cell(lat: f64, lng: f64, res: Resolution) -> CellIndex {
        lat_lng(lat, lng).unwrap().to_cell(res)
    }

    #[test]
    fn quote_breakdown() {
        // 10 km, 20 min: 250 + 1200 + 600 = 2050; x1.3 = 2665.
        let q = ECONOMY.quote(10_000.0, 1_200.0, 1.3).unwrap();
        assert_eq!((q.base_minor, q.distance_minor, q.time_minor), (250, 1200, 600));
        assert!(!q.minimum_applied);
        assert_eq!(
            (q.fare_minor, q.surge_minor, q.rounding_minor, q.total_minor),
            (2050, 615, 0, 2665)
        );
        // A short hop hits the minimum, and surge applies on top of it.
        let q = ECONOMY.quote(500.0, 60.0, 2.0).unwrap();
        assert!(q.minimum_applied);
        assert_eq!((q.fare_minor, q.total_minor), (700, 1400));
        // Half-up rounding of the parts: 120 * 1.0125 km = 121.5 -> 122.
        assert_eq!(ECONOMY.quote(1_012.5, 0.0, 1.0).unwrap().distance_minor, 122);
        // Rounding to 50 minor units: 2665 -> 2650, shown as its own line.
        let coarse = Tariff {
            rounding_minor: 50,
            ..ECONOMY
        };
        let q = coarse.quote(10_000.0, 1_200.0, 1.3).unwrap();
        assert_eq!((q.total_minor, q.rounding_minor), (2650, -15));
        assert_eq!(q.fare_minor + q.surge_minor + q.rounding_minor, q.total_minor);
        // 1.15 is 1.149999... in binary; basis points make it exactly 11500.
        assert_eq!(
            Tariff {
                minimum_minor: 0,
                ..ECONOMY
            }
            .quote(0.0, 0.0, 1.15)
            .unwrap()
            .total_minor,
            288
        );
    }

    #[test]
    fn quote_validation() {
        let bad = |d: f64, t: f64, s: f64| ECONOMY.quote(d, t, s).unwrap_err().code;
        for (d, t, s) in [
            (-1.0, 0.0, 1.0),
            (f64::NAN, 0.0, 1.0),
            (f64::INFINITY, 0.0, 1.0),
            (2e8, 0.0, 1.0),
            (0.0, -0.1, 1.0),
            (0.0, f64::NAN, 1.0),
            (0.0, 0.0, 0.9),
            (0.0, 0.0, f64::NAN),
            (0.0, 0.0, 101.0),
        ] {
            assert_eq!(bad(d, t, s), ErrorCode::InvalidArgument, "{d} {t} {s}");
        }
        for t in [
            Tariff {
                base_minor: -1,
                ..ECONOMY
            },
            Tariff {
                per_km_minor: MAX_AMOUNT_MINOR + 1,
                ..ECONOMY
            },
            Tariff {
                rounding_minor: 0,
                ..ECONOMY
            },
        ] {
            assert_eq!(t.validate().unwrap_err().code, ErrorCode::InvalidArgument);
            assert_eq!(
                TariffTable::new().set(1, t).unwrap_err().code,
                ErrorCode::InvalidArgument
            );
        }
        // The largest everything still fits.
        let max = Tariff {
            base_minor: MAX_AMOUNT_MINOR,
            per_km_minor: MAX_AMOUNT_MINOR,
            per_minute_minor: MAX_AMOUNT_MINOR,
            minimum_minor: MAX_AMOUNT_MINOR,
            rounding_minor: MAX_AMOUNT_MINOR,
        };
        assert!(max.quote(MAX_DISTANCE_M, MAX_DURATION_S, MAX_SURGE).is_ok());
    }

    #[test]
    fn tariff_table_by_class() {
        let mut table = TariffTable::new();
        table
            .set(
                2,
                Tariff {
                    base_minor: 500,
                    ..ECONOMY
                },
            )
            .unwrap();
        table.set(1, ECONOMY).unwrap();
        assert_eq!(table.classes().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(table.quote(1, 10_000.0, 1_200.0, 1.0).unwrap().total_minor, 2050);
        assert_eq!(table.quote(2, 10_000.0, 1_200.0, 1.0).unwrap().total_minor, 2300);
        assert_eq!(
            table.quote(3, 1.0, 1.0, 1.0).unwrap_err().code,
            ErrorCode::UnknownVehicleClass
        );
        assert_eq!(
            table.remove(2),
            Some(Tariff {
                base_minor: 500,
                ..ECONOMY
            })
        );
        assert!(table.get(2).is_none());
    }

    #[test]
    fn surge_rises_smooths_caps_and_decays() {
        let config = SurgeConfig::default();
        let mut state = SurgeState::new(config).unwrap();
        let hot = cell(48.8566, 2.3522, Resolution::Seven);
        let calm = cell(48.80, 2.30, Resolution::Seven);
        // Ratio 5 -> raw 1 + 0.5 * 4 = 3; first update 1 + 0.3 * 2 = 1.6.
        state
            .update(&[hot.into(), calm.into()], &[10.0, 1.0], &[2.0, 5.0])
            .unwrap();
        assert!((state.smoothed(hot) - 1.6).abs() < 1e-12);
        assert!((state.multiplier(hot) - 1.6).abs() < 1e-12);
        assert_eq!(state.multiplier(calm), 1.0);
        assert_eq!(state.len(), 1);
        // A child cell reads through its parent; the pickup point too.
        let child = hot.center_child(Resolution::Nine).unwrap();
        assert_eq!(state.multiplier(child), state.multiplier(hot));
        assert_eq!(
            state.multiplier_at(lat_lng(48.8566, 2.3522).unwrap()),
            state.multiplier(hot)
        );
        // No supply at all: the floor keeps it finite, and the cap holds.
        for _ in 0..50 {
            state.update(&[hot.into()], &[1000.0], &[0.0]).unwrap();
        }
        assert_eq!(state.multiplier(hot), 3.0);
        // Unlisted, it decays back to 1 and is dropped.
        for _ in 0..100 {
            state.update(&[], &[], &[]).unwrap();
        }
        assert_eq!(state.multiplier(hot), 1.0);
        assert!(state.is_empty());
    }

    #[test]
    fn surge_update_is_all_or_nothing() {
        let mut state = SurgeState::new(SurgeConfig::default()).unwrap();
        let a = u64::from(cell(10.0, 10.0, Resolution::Seven));
        let fine = u64::from(cell(10.0, 10.0, Resolution::Eight));
        state.update(&[a], &[10.0], &[1.0]).unwrap();
        let before = state.smoothed(a.try_into().unwrap());
        let bad = |s: &mut SurgeState, c: &[u64], d: &[f64], u: &[f64]| s.update(c, d, u).unwrap_err().code;
        assert_eq!(
            bad(&mut state, &[a], &[1.0, 2.0], &[1.0]),
            ErrorCode::LengthMismatch
        );
        assert_eq!(
            bad(&mut state, &[a, 7], &[1.0, 1.0], &[1.0, 1.0]),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            bad(&mut state, &[a, fine], &[1.0, 1.0], &[1.0, 1.0]),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            bad(&mut state, &[a, a], &[1.0, f64::NAN], &[1.0, 1.0]),
            ErrorCode::InvalidArgument
        );
        assert_eq!(bad(&mut state, &[a], &[1.0], &[-1.0]), ErrorCode::InvalidArgument);
        assert_eq!(state.smoothed(a.try_into().unwrap()), before);
        // Duplicates sum: (4 + 6) / (1 + 1) = 5, the same as one entry of 10 / 2.
        let mut x = SurgeState::new(SurgeConfig::default()).unwrap();
        let mut y = SurgeState::new(SurgeConfig::default()).unwrap();
        x.update(&[a, a], &[4.0, 6.0], &[1.0, 1.0]).unwrap();
        y.update(&[a], &[10.0], &[2.0]).unwrap();
        assert_eq!(
            x.smoothed(a.try_into().unwrap()),
            y.smoothed(a.try_into().unwrap())
        );
        let mut out = [0.0; 2];
        let far = u64::from(cell(-10.0, 10.0, Resolution::Seven));
        x.multipliers(&[a, far], &mut out).unwrap();
        assert!((out[0] - 1.6).abs() < 1e-12 && out[1] == 1.0, "{out:?}");
        assert_eq!(
            x.multipliers(&[a, 3], &mut out).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            x.multipliers(&[a], &mut out).unwrap_err().code,
            ErrorCode::LengthMismatch
        );
        let mut surging = Vec::new();
        x.surging(&mut surging);
        assert_eq!(surging.len(), 1);
        assert!(surging[0].0 == a && (surging[0].1 - 1.6).abs() < 1e-12);
    }

    #[test]
    fn surge_config_validation() {
        let d = SurgeConfig::default;
        for c in [
            SurgeConfig {
                resolution: 16,
                ..d()
            },
            SurgeConfig { alpha: 0.0, ..d() },
            SurgeConfig {
                alpha: f64::NAN,
                ..d()
            },
            SurgeConfig {
                max_multiplier: 0.5,
                ..d()
            },
            SurgeConfig { step: 0.0, ..d() },
            SurgeConfig {
                min_supply: 0.0,
                ..d()
            },
            SurgeConfig {
                sensitivity: -1.0,
                ..d()
            },
            SurgeConfig {
                threshold: f64::INFINITY,
                ..d()
            },
        ] {
            assert!(SurgeState::new(c).is_err(), "{c:?}");
        }
        assert_eq!(
            SurgeState::new(SurgeConfig {
                resolution: 16,
                ..d()
            })
            .unwrap_err()
            .code,
            ErrorCode::InvalidResolution
        );
        // A cap off the grid: the largest grid point below it is the effective cap.
        let c = SurgeConfig {
            max_multiplier: 2.55,
            ..d()
        };
        assert!((c.publish(2.54) - 2.5).abs() < 1e-12);
        assert!((c.publish(9.0) - 2.5).abs() < 1e-12);
        assert_eq!(c.publish(0.5), 1.0);
    }
}
