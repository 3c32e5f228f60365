//! Travel-time model: great-circle distance stretched by a detour factor, driven at the speed
//! of the hour, optionally faster or slower in some areas.
//!
//! ```text
//! travel_s = haversine_m(from, to) * detour_factor / (hourly_speed_mps[hour] * area_multiplier)
//! eta_s    = travel_s + pickup_overhead_s
//! ```
//!
//! `area_multiplier` is the harmonic mean of the multipliers of the two endpoints' H3 cells at
//! `area_resolution` (1.0 for a cell without an override): the route is taken to run half in
//! each endpoint's area, and time adds up per distance, hence the harmonic mean. The model is
//! symmetric in `from` and `to`. It is a first model for candidate ranking and rider display,
//! not a router; its one job is to order drivers sensibly and err consistently.

use crate::error::{CoreError, ErrorCode, Result};
use crate::geo::{haversine_m, lat_lng, resolution};
use h3o::{CellIndex, LatLng, Resolution};
use std::collections::HashMap;

/// Default speeds by local hour, m/s: about 40 km/h at night, 18-22 km/h in the morning
/// (7-9) and evening (16-19) rush, about 26 km/h during the day.
pub const DEFAULT_HOURLY_SPEED_MPS: [f64; 24] = [
    11.0, 11.5, 12.0, 12.0, 11.5, 10.5, // 00-05
    9.0, 6.0, 5.0, 6.0, 7.5, 7.5, // 06-11
    7.0, 7.0, 7.5, 7.0, 6.0, 5.0, // 12-17
    5.0, 6.0, 8.0, 9.0, 10.0, 10.5, // 18-23
];

/// Largest accepted detour factor; a route five times the straight line is a data error.
pub const MAX_DETOUR_FACTOR: f64 = 5.0;

/// ETA model settings. Defaults describe a generic city; `EtaModel::new` validates.
#[derive(Debug, Clone, PartialEq)]
pub struct EtaConfig {
    /// Road distance over great-circle distance; finite, in `[1, MAX_DETOUR_FACTOR]`.
    pub detour_factor: f64,
    /// Exactly 24 finite speeds > 0 in m/s, index = local hour of day.
    pub hourly_speed_mps: Vec<f64>,
    /// Added to every pickup ETA ([`EtaModel::eta_s`], [`EtaModel::eta_many`]) for accepting,
    /// pulling out and finding the rider; finite, `>= 0`. Not part of [`EtaModel::travel_s`].
    pub pickup_overhead_s: f64,
    /// H3 resolution of the area overrides, 0..=15.
    pub area_resolution: u8,
    /// `(cell, speed multiplier)`: cells valid at `area_resolution`, each at most once,
    /// multipliers finite and > 0 (0.8 = 20% slower than the hour's speed).
    pub area_speed_multipliers: Vec<(u64, f64)>,
}

impl Default for EtaConfig {
    fn default() -> Self {
        Self {
            detour_factor: 1.3,
            hourly_speed_mps: DEFAULT_HOURLY_SPEED_MPS.to_vec(),
            pickup_overhead_s: 30.0,
            area_resolution: 6,
            area_speed_multipliers: Vec::new(),
        }
    }
}

fn invalid(message: String) -> CoreError {
    CoreError::new(ErrorCode::InvalidArgument, message)
}

/// A validated ETA model. Cheap to query; build once per configuration change.
#[derive(Debug, Clone)]
pub struct EtaModel {
    config: EtaConfig,
    speeds: [f64; 24],
    area_res: Resolution,
    areas: HashMap<CellIndex, f64>,
}

impl EtaModel {
    /// Validates `config`: InvalidArgument for a bad detour, speed list, overhead, cell or
    /// multiplier; InvalidResolution for a bad `area_resolution`.
    pub fn new(config: EtaConfig) -> Result<Self> {
        let c = &config;
        if !(c.detour_factor.is_finite() && (1.0..=MAX_DETOUR_FACTOR).contains(&c.detour_factor)) {
            return Err(invalid(format!(
                "detour_factor is {}, expected a number in [1, {MAX_DETOUR_FACTOR}]",
                c.detour_factor
            )));
        }
        let speeds: [f64; 24] = c.hourly_speed_mps.as_slice().try_into().map_err(|_| {
            invalid(format!(
                "hourly_speed_mps has {} entries, expected 24",
                c.hourly_speed_mps.len()
            ))
        })?;
        if let Some((h, s)) = speeds
            .iter()
            .enumerate()
            .find(|(_, s)| !(s.is_finite() && **s > 0.0))
        {
            return Err(invalid(format!(
                "hourly_speed_mps[{h}] is {s}, expected a finite speed > 0"
            )));
        }
        if !(c.pickup_overhead_s.is_finite() && c.pickup_overhead_s >= 0.0) {
            return Err(invalid(format!(
                "pickup_overhead_s is {}, expected a finite number >= 0",
                c.pickup_overhead_s
            )));
        }
        let area_res = resolution(c.area_resolution)?;
        let mut areas = HashMap::with_capacity(c.area_speed_multipliers.len());
        for (i, &(raw, mult)) in c.area_speed_multipliers.iter().enumerate() {
            let cell = CellIndex::try_from(raw)
                .map_err(|_| invalid(format!("area_speed_multipliers[{i}]: {raw:#x} is not an H3 cell")))?;
            if cell.resolution() != area_res {
                return Err(invalid(format!(
                    "area_speed_multipliers[{i}]: cell {cell} has resolution {}, expected {}",
                    u8::from(cell.resolution()),
                    c.area_resolution
                )));
            }
            if !(mult.is_finite() && mult > 0.0) {
                return Err(invalid(format!(
                    "area_speed_multipliers[{i}]: multiplier {mult} is not a finite number > 0"
                )));
            }
            if areas.insert(cell, mult).is_some() {
                return Err(invalid(format!(
                    "area_speed_multipliers[{i}]: cell {cell} is listed twice"
                )));
            }
        }
        Ok(Self {
            config,
            speeds,
            area_res,
            areas,
        })
    }

    pub fn config(&self) -> &EtaConfig {
        &self.config
    }

    /// The hour's base speed; InvalidArgument unless `hour < 24`.
    pub fn speed_mps(&self, hour: u8) -> Result<f64> {
        self.speeds
            .get(usize::from(hour))
            .copied()
            .ok_or_else(|| invalid(format!("hour is {hour}, expected 0..=23")))
    }

    /// Speed multiplier of the area around `at` (1.0 without an override).
    pub fn area_multiplier(&self, at: LatLng) -> f64 {
        if self.areas.is_empty() {
            return 1.0;
        }
        self.areas.get(&at.to_cell(self.area_res)).copied().unwrap_or(1.0)
    }

    fn seconds(&self, from: LatLng, from_mult: f64, to: LatLng, speed: f64) -> f64 {
        let to_mult = self.area_multiplier(to);
        let mult = 2.0 / (1.0 / from_mult + 1.0 / to_mult);
        haversine_m(from.lat(), from.lng(), to.lat(), to.lng()) * self.config.detour_factor / (speed * mult)
    }

    /// Driving time in seconds, without the pickup overhead (trip durations, pricing).
    pub fn travel_s(&self, from: LatLng, to: LatLng, hour: u8) -> Result<f64> {
        let speed = self.speed_mps(hour)?;
        Ok(self.seconds(from, self.area_multiplier(from), to, speed))
    }

    /// Pickup ETA in seconds: [`EtaModel::travel_s`] plus `pickup_overhead_s`.
    pub fn eta_s(&self, from: LatLng, to: LatLng, hour: u8) -> Result<f64> {
        Ok(self.travel_s(from, to, hour)? + self.config.pickup_overhead_s)
    }

    /// Pickup ETAs from `from` to each of the interleaved `[lat0, lng0, lat1, lng1, ...]`
    /// targets, written to `out` (one per pair). LengthMismatch for an odd `targets` length or an
    /// `out` of the wrong size, InvalidArgument for a bad hour (nothing written then);
    /// InvalidCoordinate naming the first bad pair, with `out` written up to it.
    pub fn eta_many(&self, from: LatLng, targets: &[f64], hour: u8, out: &mut [f32]) -> Result<()> {
        if !targets.len().is_multiple_of(2) {
            return Err(CoreError::new(
                ErrorCode::LengthMismatch,
                format!(
                    "expected interleaved lat/lng pairs, got an odd length {}",
                    targets.len()
                ),
            ));
        }
        if out.len() != targets.len() / 2 {
            return Err(CoreError::new(
                ErrorCode::LengthMismatch,
                format!(
                    "output holds {} ETAs but {} targets were given",
                    out.len(),
                    targets.len() / 2
                ),
            ));
        }
        let speed = self.speed_mps(hour)?;
        let from_mult = self.area_multiplier(from);
        for (i, (pair, slot)) in targets.chunks_exact(2).zip(out.iter_mut()).enumerate() {
            let to = lat_lng(pair[0], pair[1])
                .map_err(|e| CoreError::new(e.code, format!("target {i}: {}", e.message)))?;
            *slot = (self.seconds(from, from_mult, to, speed) + self.config.pickup_overhead_s) as f32;
        }
        Ok(())
    }
}

impl Default for EtaModel {
    fn default() -> Self {
        Self {
            config: EtaConfig::default(),
            speeds: DEFAULT_HOURLY_SPEED_MPS,
            area_res: Resolution::Six,
            areas: HashMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ll(lat: f64, lng: f64) -> LatLng {
        lat_lng(lat, lng).unwrap()
    }

    #[test]
    fn default_model_is_valid_and_slower_at_rush_hour() {
        let valid = EtaModel::new(EtaConfig::default()).unwrap();
        assert_eq!(valid.config(), EtaModel::default().config());
        assert_eq!(valid.area_res, EtaModel::default().area_res);
        assert_eq!(valid.speeds, EtaModel::default().speeds);
        let m = EtaModel::default();
        let (a, b) = (ll(52.52, 13.40), ll(52.53, 13.42));
        let night = m.travel_s(a, b, 3).unwrap();
        let rush = m.travel_s(a, b, 8).unwrap();
        assert!(rush > 2.0 * night, "{rush} vs {night}");
        let d = haversine_m(52.52, 13.40, 52.53, 13.42);
        assert!((night - d * 1.3 / 12.0).abs() < 1e-9);
        assert!((m.eta_s(a, b, 3).unwrap() - night - 30.0).abs() < 1e-9);
        assert_eq!(m.eta_s(a, a, 0).unwrap(), 30.0);
        assert_eq!(m.speed_mps(24).unwrap_err().code, ErrorCode::InvalidArgument);
        assert_eq!(
            m.travel_s(a, b, 200).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn area_overrides_use_the_harmonic_mean_of_the_endpoints() {
        let (a, b) = (ll(52.52, 13.40), ll(48.85, 2.35));
        let slow = u64::from(a.to_cell(Resolution::Six));
        let m = EtaModel::new(EtaConfig {
            area_speed_multipliers: vec![(slow, 0.5)],
            ..EtaConfig::default()
        })
        .unwrap();
        let plain = EtaModel::default();
        let base = plain.travel_s(a, b, 12).unwrap();
        // Harmonic mean of 0.5 and 1.0 is 2/3: 1.5 times the base time, either direction.
        assert!((m.travel_s(a, b, 12).unwrap() / base - 1.5).abs() < 1e-9);
        assert!((m.travel_s(b, a, 12).unwrap() / base - 1.5).abs() < 1e-9);
        assert!((m.travel_s(a, a, 12).unwrap()).abs() < 1e-9);
        assert_eq!(m.area_multiplier(a), 0.5);
        assert_eq!(m.area_multiplier(b), 1.0);
    }

    #[test]
    fn config_validation() {
        let bad = |c: EtaConfig| EtaModel::new(c).unwrap_err().code;
        let d = EtaConfig::default;
        assert_eq!(
            bad(EtaConfig {
                detour_factor: 0.9,
                ..d()
            }),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            bad(EtaConfig {
                detour_factor: f64::NAN,
                ..d()
            }),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            bad(EtaConfig {
                hourly_speed_mps: vec![10.0; 23],
                ..d()
            }),
            ErrorCode::InvalidArgument
        );
        let mut speeds = DEFAULT_HOURLY_SPEED_MPS.to_vec();
        speeds[5] = 0.0;
        assert_eq!(
            bad(EtaConfig {
                hourly_speed_mps: speeds.clone(),
                ..d()
            }),
            ErrorCode::InvalidArgument
        );
        speeds[5] = f64::INFINITY;
        assert_eq!(
            bad(EtaConfig {
                hourly_speed_mps: speeds,
                ..d()
            }),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            bad(EtaConfig {
                pickup_overhead_s: -1.0,
                ..d()
            }),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            bad(EtaConfig {
                area_resolution: 16,
                ..d()
            }),
            ErrorCode::InvalidResolution
        );
        let cell6 = u64::from(ll(10.0, 10.0).to_cell(Resolution::Six));
        let cell7 = u64::from(ll(10.0, 10.0).to_cell(Resolution::Seven));
        let areas = |v: Vec<(u64, f64)>| EtaConfig {
            area_speed_multipliers: v,
            ..d()
        };
        assert_eq!(bad(areas(vec![(12345, 1.0)])), ErrorCode::InvalidArgument);
        assert_eq!(bad(areas(vec![(cell7, 1.0)])), ErrorCode::InvalidArgument);
        assert_eq!(bad(areas(vec![(cell6, 0.0)])), ErrorCode::InvalidArgument);
        assert_eq!(
            bad(areas(vec![(cell6, 1.0), (cell6, 2.0)])),
            ErrorCode::InvalidArgument
        );
        assert!(EtaModel::new(areas(vec![(cell6, 2.0)])).is_ok());
    }

    #[test]
    fn eta_many_matches_eta_s_and_checks_its_arguments() {
        let m = EtaModel::default();
        let from = ll(40.0, -3.7);
        let targets = [40.01, -3.7, 40.0, -3.68, 39.9, -3.8];
        let mut out = [0f32; 3];
        m.eta_many(from, &targets, 17, &mut out).unwrap();
        for (i, pair) in targets.chunks_exact(2).enumerate() {
            let one = m.eta_s(from, ll(pair[0], pair[1]), 17).unwrap();
            assert!((f64::from(out[i]) - one).abs() < 1e-3 * one);
        }
        assert_eq!(
            m.eta_many(from, &targets[..5], 17, &mut out).unwrap_err().code,
            ErrorCode::LengthMismatch
        );
        assert_eq!(
            m.eta_many(from, &targets, 17, &mut out[..2]).unwrap_err().code,
            ErrorCode::LengthMismatch
        );
        assert_eq!(
            m.eta_many(from, &targets, 24, &mut out).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        let err = m
            .eta_many(from, &[40.0, -3.7, f64::NAN, 0.0, 1.0, 1.0], 1, &mut out)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidCoordinate);
        assert!(err.message.starts_with("target 1"), "{}", err.message);
    }

    proptest! {
        #[test]
        fn eta_many_never_panics_and_is_finite(
            targets in prop::collection::vec(any::<f64>(), 0..10),
            hour in any::<u8>(),
            lat in -90.0f64..=90.0,
            lng in -180.0f64..=180.0,
        ) {
            let m = EtaModel::default();
            let mut out = vec![0f32; targets.len() / 2];
            if m.eta_many(ll(lat, lng), &targets, hour, &mut out).is_ok() {
                prop_assert!(out.iter().all(|e| e.is_finite() && *e >= 30.0));
            }
        }

        #[test]
        fn eta_grows_with_distance_along_a_meridian(lat in -60.0f64..60.0, lng in -180.0f64..=180.0,
                                                    d1 in 0.0f64..0.5, d2 in 0.0f64..0.5, hour in 0u8..24) {
            let m = EtaModel::default();
            let (near, far) = if d1 <= d2 { (d1, d2) } else { (d2, d1) };
            let a = m.eta_s(ll(lat, lng), ll(lat + near, lng), hour).unwrap();
            let b = m.eta_s(ll(lat, lng), ll(lat + far, lng), hour).unwrap();
            prop_assert!(a <= b + 1e-9);
        }
    }
}
