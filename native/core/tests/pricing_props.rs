//! Property tests of fares and surge: monotonicity, the multiplier grid and cap, and no
//! panics on any input.

use dispatch_core::error::ErrorCode;
use dispatch_core::geo::lat_lng;
use dispatch_core::pricing::{SurgeConfig, SurgeState, Tariff, MAX_SURGE};
use h3o::Resolution;
use proptest::prelude::*;

fn tariff() -> impl Strategy<Value = Tariff> {
    (
        0i64..=5_000,
        0i64..=1_000,
        0i64..=300,
        0i64..=10_000,
        prop_oneof![3 => Just(1i64), 1 => 1i64..=100],
    )
        .prop_map(
            |(base_minor, per_km_minor, per_minute_minor, minimum_minor, rounding_minor)| Tariff {
                base_minor,
                per_km_minor,
                per_minute_minor,
                minimum_minor,
                rounding_minor,
            },
        )
}

fn surge_config() -> impl Strategy<Value = SurgeConfig> {
    (
        5u8..=9,
        0.0f64..=3.0,
        0.0f64..=5.0,
        0.01f64..=5.0,
        0.01f64..=1.0,
        1.0f64..=6.0,
        0.01f64..=1.0,
    )
        .prop_map(
            |(resolution, threshold, sensitivity, min_supply, alpha, max_multiplier, step)| SurgeConfig {
                resolution,
                threshold,
                sensitivity,
                min_supply,
                alpha,
                max_multiplier,
                step,
            },
        )
}

fn on_grid(m: f64, config: &SurgeConfig) -> bool {
    let k = (m - 1.0) / config.step;
    (k - k.round()).abs() < 1e-6
}

/// A small pool of cells at `res` near one city, so updates hit the same cells repeatedly.
fn pool(res: u8) -> Vec<u64> {
    let res = Resolution::try_from(res).unwrap();
    (0..8)
        .map(|i| u64::from(lat_lng(52.5 + 0.05 * f64::from(i), 13.4).unwrap().to_cell(res)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn price_is_monotone_in_distance(
        t in tariff(), a in 0.0f64..=200_000.0, b in 0.0f64..=200_000.0,
        duration in 0.0f64..=7_200.0, surge in 1.0f64..=5.0,
    ) {
        let (near, far) = if a <= b { (a, b) } else { (b, a) };
        let q1 = t.quote(near, duration, surge).unwrap();
        let q2 = t.quote(far, duration, surge).unwrap();
        prop_assert!(q1.total_minor <= q2.total_minor, "{:?} vs {:?}", q1, q2);
        prop_assert!(q1.fare_minor <= q2.fare_minor);
    }

    #[test]
    fn price_is_monotone_in_time(
        t in tariff(), a in 0.0f64..=20_000.0, b in 0.0f64..=20_000.0,
        distance in 0.0f64..=200_000.0, surge in 1.0f64..=5.0,
    ) {
        let (short, long) = if a <= b { (a, b) } else { (b, a) };
        let q1 = t.quote(distance, short, surge).unwrap();
        let q2 = t.quote(distance, long, surge).unwrap();
        prop_assert!(q1.total_minor <= q2.total_minor, "{:?} vs {:?}", q1, q2);
    }

    #[test]
    fn price_is_monotone_in_surge(
        t in tariff(), distance in 0.0f64..=200_000.0, duration in 0.0f64..=7_200.0,
        a in 1.0f64..=MAX_SURGE, b in 1.0f64..=MAX_SURGE,
    ) {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(t.quote(distance, duration, low).unwrap().total_minor
            <= t.quote(distance, duration, high).unwrap().total_minor);
    }

    #[test]
    fn breakdown_adds_up(t in tariff(), distance in 0.0f64..=200_000.0, duration in 0.0f64..=7_200.0,
                         surge in 1.0f64..=5.0) {
        let q = t.quote(distance, duration, surge).unwrap();
        prop_assert_eq!(q.fare_minor + q.surge_minor + q.rounding_minor, q.total_minor);
        prop_assert_eq!(q.total_minor % t.rounding_minor, 0);
        prop_assert!(q.fare_minor >= t.minimum_minor);
        let metered = q.base_minor + q.distance_minor + q.time_minor;
        prop_assert_eq!(q.minimum_applied, t.minimum_minor > metered);
        prop_assert_eq!(q.fare_minor, metered.max(t.minimum_minor));
        prop_assert!(q.surge_minor >= 0);
        prop_assert!(2 * q.rounding_minor.abs() <= t.rounding_minor);
    }

    #[test]
    fn quote_never_panics(t in tariff(), d in any::<f64>(), s in any::<f64>(), m in any::<f64>()) {
        match t.quote(d, s, m) {
            Ok(q) => prop_assert!(q.total_minor >= 0),
            Err(e) => prop_assert_eq!(e.code, ErrorCode::InvalidArgument),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any sequence of updates keeps every shown multiplier in [1, cap] and on the grid.
    #[test]
    fn multiplier_stays_in_range_and_on_grid(
        config in surge_config(),
        updates in prop::collection::vec(
            prop::collection::vec((0usize..8, 0.0f64..=200.0, 0.0f64..=50.0), 0..10), 1..12),
    ) {
        let cells = pool(config.resolution);
        let mut state = SurgeState::new(config).unwrap();
        for update in updates {
            let ids: Vec<u64> = update.iter().map(|u| cells[u.0]).collect();
            let demand: Vec<f64> = update.iter().map(|u| u.1).collect();
            let supply: Vec<f64> = update.iter().map(|u| u.2).collect();
            state.update(&ids, &demand, &supply).unwrap();
            let mut out = vec![0.0; cells.len()];
            state.multipliers(&cells, &mut out).unwrap();
            for m in out {
                prop_assert!((1.0..=config.max_multiplier).contains(&m), "{} outside [1, {}]", m, config.max_multiplier);
                prop_assert!(on_grid(m, &config), "{} not on the {} grid", m, config.step);
            }
        }
    }

    /// The grid and cap hold for any smoothed value, including absurd ones.
    #[test]
    fn publish_is_in_range_and_on_grid(config in surge_config(), s in any::<f64>()) {
        let m = config.publish(s);
        prop_assert!((1.0..=config.max_multiplier).contains(&m));
        prop_assert!(on_grid(m, &config));
    }

    /// From a fresh state, one update: more demand never lowers the multiplier.
    #[test]
    fn surge_is_monotone_in_demand(
        config in surge_config(), a in 0.0f64..=500.0, b in 0.0f64..=500.0, supply in 0.0f64..=100.0,
    ) {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        let cell = pool(config.resolution)[0];
        let shown = |demand: f64| {
            let mut state = SurgeState::new(config).unwrap();
            state.update(&[cell], &[demand], &[supply]).unwrap();
            (state.smoothed(cell.try_into().unwrap()), state.multiplier(cell.try_into().unwrap()))
        };
        let (s_low, m_low) = shown(low);
        let (s_high, m_high) = shown(high);
        prop_assert!(s_low <= s_high);
        prop_assert!(m_low <= m_high);
    }

    /// Raw arrays of any values: an error with a code and no change, or a valid state.
    #[test]
    fn update_never_panics(
        raw in prop::collection::vec((any::<u64>(), any::<f64>(), any::<f64>()), 0..6),
        extra in prop::option::of(any::<f64>()),
        use_pool in any::<bool>(),
    ) {
        let config = SurgeConfig::default();
        let cells = pool(config.resolution);
        let mut state = SurgeState::new(config).unwrap();
        state.update(&cells[..2], &[20.0, 3.0], &[1.0, 1.0]).unwrap();
        let before: Vec<f64> = cells.iter().map(|&c| state.smoothed(c.try_into().unwrap())).collect();
        let ids: Vec<u64> = raw.iter().enumerate().map(|(i, r)| if use_pool { cells[i % 8] } else { r.0 }).collect();
        let demand: Vec<f64> = raw.iter().map(|r| r.1).chain(extra).collect();
        let supply: Vec<f64> = raw.iter().map(|r| r.2).collect();
        match state.update(&ids, &demand, &supply) {
            Ok(()) => {
                let mut out = vec![0.0; cells.len()];
                state.multipliers(&cells, &mut out).unwrap();
                prop_assert!(out.iter().all(|m| (1.0..=3.0).contains(m)));
            }
            Err(e) => {
                prop_assert!(matches!(e.code, ErrorCode::InvalidArgument | ErrorCode::LengthMismatch));
                let after: Vec<f64> = cells.iter().map(|&c| state.smoothed(c.try_into().unwrap())).collect();
                prop_assert_eq!(before, after);
            }
        }
    }
}
