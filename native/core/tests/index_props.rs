//! Property tests of the live driver index against brute force and a reference model of the fix
//! rules, on random cities placed where H3 is hardest: anywhere, across the antimeridian, next to
//! the poles and around the twelve pentagons.

use dispatch_core::geo::{cells_of, haversine_m};
use dispatch_core::index::{
    max_cell_radius_m, DriverIndex, Fix, IndexConfig, NearestQuery, QueryScratch, Status, UpsertOutcome,
};
use h3o::{LatLng, Resolution};
use proptest::prelude::*;

/// The point `dist_m` from (lat, lng) along `bearing` (radians), longitude kept in [-180, 180].
fn destination(lat: f64, lng: f64, bearing: f64, dist_m: f64) -> (f64, f64) {
    let d = dist_m / 6_371_008.8;
    let (p1, l1) = (lat.to_radians(), lng.to_radians());
    let p2 = (p1.sin() * d.cos() + p1.cos() * d.sin() * bearing.cos())
        .clamp(-1.0, 1.0)
        .asin();
    let l2 = l1 + (bearing.sin() * d.sin() * p1.cos()).atan2(d.cos() - p1.sin() * p2.sin());
    let mut lng2 = l2.to_degrees();
    while lng2 > 180.0 {
        lng2 -= 360.0;
    }
    while lng2 < -180.0 {
        lng2 += 360.0;
    }
    (p2.to_degrees().clamp(-90.0, 90.0), lng2)
}

/// Where a city is placed.
#[derive(Debug, Clone)]
enum Place {
    Anywhere(f64, f64),
    Antimeridian(f64, bool),
    Pole(f64, f64, bool),
    Pentagon(usize),
}

fn place() -> impl Strategy<Value = Place> {
    prop_oneof![
        (-80.0..80.0f64, -180.0..180.0f64).prop_map(|(a, b)| Place::Anywhere(a, b)),
        (-70.0..70.0f64, any::<bool>()).prop_map(|(a, east)| Place::Antimeridian(a, east)),
        (89.0..89.999f64, -180.0..180.0f64, any::<bool>()).prop_map(|(a, b, north)| Place::Pole(a, b, north)),
        (0usize..12).prop_map(Place::Pentagon),
    ]
}

fn center_of(place: &Place, res: Resolution) -> (f64, f64) {
    match *place {
        Place::Anywhere(lat, lng) => (lat, lng),
        Place::Antimeridian(lat, east) => (lat, if east { 179.95 } else { -179.95 }),
        Place::Pole(lat, lng, north) => (if north { lat } else { -lat }, lng),
        Place::Pentagon(i) => {
            let ll = LatLng::from(res.pentagons().nth(i).expect("12 pentagons"));
            (ll.lat(), ll.lng())
        }
    }
}

#[derive(Debug, Clone)]
struct DriverSpec {
    /// Distance from the centre in units of the city spread, and bearing.
    r: f64,
    bearing: f64,
    /// Far outlier (10 spreads out) instead of the cluster.
    far: bool,
    status: u8,
    class: u8,
    removed: bool,
}

fn driver_spec() -> impl Strategy<Value = DriverSpec> {
    (
        0.0..1.0f64,
        0.0..std::f64::consts::TAU,
        prop::bool::weighted(0.1),
        0u8..6,
        0u8..3,
        prop::bool::weighted(0.1),
    )
        .prop_map(|(r, bearing, far, status, class, removed)| DriverSpec {
            r: r.sqrt(),
            bearing,
            far,
            // Half of them free.
            status: [1, 1, 1, 0, 2, 3][usize::from(status)],
            class,
            removed,
        })
}

#[derive(Debug, Clone)]
struct QuerySpec {
    r: f64,
    bearing: f64,
    k: usize,
    /// Radius in spreads; `None`: unlimited.
    radius: Option<f64>,
    class: Option<u8>,
}

fn query_spec() -> impl Strategy<Value = QuerySpec> {
    (
        0.0..1.3f64,
        0.0..std::f64::consts::TAU,
        1usize..16,
        prop::option::weighted(0.8, 0.0..2.0f64),
        prop::option::of(0u8..3),
    )
        .prop_map(|(r, bearing, k, radius, class)| QuerySpec {
            r,
            bearing,
            k,
            radius,
            class,
        })
}

#[derive(Debug, Clone, Copy)]
struct Known {
    handle: u32,
    lat: f64,
    lng: f64,
    status: Status,
    class: u8,
}

fn brute_force(drivers: &[Known], lat: f64, lng: f64, q: &NearestQuery) -> Vec<(u32, f64)> {
    let mut all: Vec<(f64, u32)> = drivers
        .iter()
        .filter(|d| d.status == Status::Free && q.class.is_none_or(|c| c == d.class))
        .map(|d| (haversine_m(lat, lng, d.lat, d.lng), d.handle))
        .filter(|&(dist, _)| dist <= q.radius_m)
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all.truncate(q.k);
    all.into_iter().map(|(d, h)| (h, d)).collect()
}

/// Builds a city: returns the index and the model of what it holds.
fn build(res: u8, center: (f64, f64), spread: f64, specs: &[DriverSpec]) -> (DriverIndex, Vec<Known>) {
    let mut ix = DriverIndex::new(IndexConfig {
        resolution: res,
        ..Default::default()
    })
    .unwrap();
    let mut known = Vec::new();
    // Spread handles out so that they are not dense from 0.
    for (i, spec) in specs.iter().enumerate() {
        let handle = (i as u32) * 3 + 1;
        let dist = spec.r * spread * if spec.far { 10.0 } else { 1.0 };
        let (lat, lng) = destination(center.0, center.1, spec.bearing, dist);
        assert_eq!(
            ix.upsert(handle, Fix::at(lat, lng, 1000.0)).unwrap(),
            UpsertOutcome::Applied
        );
        let status = Status::try_from(spec.status).unwrap();
        ix.set_status(handle, status).unwrap();
        ix.set_class(handle, spec.class).unwrap();
        if spec.removed {
            ix.remove(handle).unwrap();
        } else {
            known.push(Known {
                handle,
                lat,
                lng,
                status,
                class: spec.class,
            });
        }
    }
    (ix, known)
}

fn query_of(spec: &QuerySpec, spread: f64) -> NearestQuery {
    NearestQuery {
        k: spec.k,
        radius_m: spec.radius.map_or(f64::INFINITY, |r| r * spread),
        class: spec.class,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// k-nearest equals brute force, one query at a time and batched, in every kind of place.
    #[test]
    fn nearest_equals_brute_force(
        place in place(),
        res in prop::sample::select(vec![4u8, 6, 8, 9, 10]),
        spread_cells in 0.5..25.0f64,
        specs in prop::collection::vec(driver_spec(), 1..250),
        queries in prop::collection::vec(query_spec(), 1..12),
    ) {
        let r = Resolution::try_from(res).unwrap();
        let center = center_of(&place, r);
        let spread = spread_cells * max_cell_radius_m(r);
        let (ix, known) = build(res, center, spread, &specs);
        let mut scratch = QueryScratch::new();
        let mut out = Vec::new();
        for spec in &queries {
            let (lat, lng) = destination(center.0, center.1, spec.bearing, spec.r * spread);
            let q = query_of(spec, spread);
            ix.nearest(lat, lng, &q, &mut scratch, &mut out).unwrap();
            let got: Vec<(u32, f64)> = out.iter().map(|n| (n.handle, n.distance_m)).collect();
            prop_assert_eq!(got, brute_force(&known, lat, lng, &q), "query {:?} at ({}, {})", q, lat, lng);
        }
        // The batch form on the same points, with the query of the first spec.
        let q = query_of(&queries[0], spread);
        let points: Vec<f64> = queries
            .iter()
            .flat_map(|s| {
                let (a, b) = destination(center.0, center.1, s.bearing, s.r * spread);
                [a, b]
            })
            .collect();
        let n = queries.len();
        let (mut hs, mut ds, mut cs) = (vec![0u32; n * q.k], vec![0.0; n * q.k], vec![0u32; n]);
        ix.nearest_many(&points, &q, &mut scratch, &mut hs, &mut ds, &mut cs).unwrap();
        for i in 0..n {
            let want = brute_force(&known, points[2 * i], points[2 * i + 1], &q);
            let got: Vec<(u32, f64)> = (0..cs[i] as usize).map(|j| (hs[i * q.k + j], ds[i * q.k + j])).collect();
            prop_assert_eq!(got, want);
        }
    }

    /// Drivers that move (including across cells and faces) are always in the cell H3 gives for
    /// their position, and queries still match brute force afterwards.
    #[test]
    fn moving_drivers_keep_their_cell(
        place in place(),
        res in prop::sample::select(vec![3u8, 7, 9, 11]),
        starts in prop::collection::vec((0.0..1.0f64, 0.0..std::f64::consts::TAU), 1..40),
        steps in prop::collection::vec((0usize..40, 0.0..std::f64::consts::TAU, 0.0..3.0f64), 1..200),
        query in query_spec(),
    ) {
        let r = Resolution::try_from(res).unwrap();
        let center = center_of(&place, r);
        let cell_m = max_cell_radius_m(r);
        let spread = 5.0 * cell_m;
        let mut ix = DriverIndex::new(IndexConfig { resolution: res, ..Default::default() }).unwrap();
        let mut known: Vec<Known> = Vec::new();
        for (i, &(d, b)) in starts.iter().enumerate() {
            let (lat, lng) = destination(center.0, center.1, b, d * spread);
            ix.upsert(i as u32, Fix::at(lat, lng, 0.0)).unwrap();
            ix.set_status(i as u32, Status::Free).unwrap();
            known.push(Known { handle: i as u32, lat, lng, status: Status::Free, class: 0 });
        }
        let mut cell = [0u64];
        for (t, &(who, bearing, cells)) in steps.iter().enumerate() {
            let who = who % known.len();
            let d = &mut known[who];
            let (lat, lng) = destination(d.lat, d.lng, bearing, cells * cell_m);
            // A second per step keeps every move far below the speed limit only at fine
            // resolutions; a long gap resets the speed test everywhere.
            let time = 1e9 * (t as f64 + 1.0);
            prop_assert_eq!(ix.upsert(d.handle, Fix::at(lat, lng, time)).unwrap(), UpsertOutcome::Applied);
            d.lat = lat;
            d.lng = lng;
            cells_of(&[lat, lng], res, &mut cell).unwrap();
            prop_assert_eq!(ix.get(d.handle).unwrap().cell, cell[0]);
        }
        let (lat, lng) = destination(center.0, center.1, query.bearing, query.r * spread);
        let q = query_of(&query, spread);
        let mut out = Vec::new();
        ix.nearest(lat, lng, &q, &mut QueryScratch::new(), &mut out).unwrap();
        let got: Vec<(u32, f64)> = out.iter().map(|n| (n.handle, n.distance_m)).collect();
        prop_assert_eq!(got, brute_force(&known, lat, lng, &q));
    }

    /// Supply per cell, per parent cell and within a set of cells equals counting by hand.
    #[test]
    fn supply_equals_counting(
        place in place(),
        specs in prop::collection::vec(driver_spec(), 1..200),
        class in prop::option::of(0u8..3),
        coarser in 0u8..4,
    ) {
        let res = 9u8;
        let center = center_of(&place, Resolution::Nine);
        let (ix, known) = build(res, center, 10.0 * max_cell_radius_m(Resolution::Nine), &specs);
        let parent_res = res - coarser;
        // Counted per H3 parent of the driver's cell, which near cell edges is not the coarse
        // cell that contains the position.
        let parent = Resolution::try_from(parent_res).unwrap();
        let mut want = std::collections::BTreeMap::<u64, u32>::new();
        let mut cell = [0u64];
        for d in known.iter().filter(|d| d.status == Status::Free && class.is_none_or(|c| c == d.class)) {
            cells_of(&[d.lat, d.lng], res, &mut cell).unwrap();
            let p = h3o::CellIndex::try_from(cell[0]).unwrap().parent(parent).unwrap();
            *want.entry(u64::from(p)).or_default() += 1;
        }
        cells_of(&[center.0, center.1], parent_res, &mut cell).unwrap();
        let got = ix.supply_by_cell(parent_res, class).unwrap();
        prop_assert_eq!(got.clone(), want.clone().into_iter().collect::<Vec<_>>());
        // Every other cell with supply, plus one cell without.
        let some: Vec<u64> = want.keys().step_by(2).copied().chain([cell[0]]).collect();
        let expected: u32 = want.iter().filter(|(c, _)| some.contains(c)).map(|(_, n)| n).sum();
        prop_assert_eq!(ix.supply_in_cells(&some, class).unwrap(), expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Queries far outside a large city (thousands of buckets) walk past many cells no driver was
    /// ever in, so they go through the coarse level (or the full scan): still brute force exact.
    #[test]
    fn far_queries_equal_brute_force(
        place in place(),
        res in prop::sample::select(vec![6u8, 9, 10]),
        seed in any::<u64>(),
        queries in prop::collection::vec((1.02..2.0f64, 0.0..std::f64::consts::TAU, 1usize..20, prop::option::weighted(0.7, 0.0..12.0f64), prop::option::of(0u8..3)), 1..10),
    ) {
        let r = Resolution::try_from(res).unwrap();
        let center = center_of(&place, r);
        let spread = 60.0 * max_cell_radius_m(r);
        let mut rng = seed | 1;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng >> 11) as f64 / (1u64 << 53) as f64
        };
        let specs: Vec<DriverSpec> = (0..4000)
            .map(|_| DriverSpec {
                r: next().sqrt(),
                bearing: next() * std::f64::consts::TAU,
                far: false,
                status: [1, 1, 0, 2, 3][(next() * 5.0) as usize],
                class: (next() * 3.0) as u8,
                removed: false,
            })
            .collect();
        let (ix, known) = build(res, center, spread, &specs);
        let mut scratch = QueryScratch::new();
        let mut out = Vec::new();
        for &(dist, bearing, k, radius, class) in &queries {
            let (lat, lng) = destination(center.0, center.1, bearing, dist * spread);
            let q = NearestQuery { k, radius_m: radius.map_or(f64::INFINITY, |r| r * spread), class };
            ix.nearest(lat, lng, &q, &mut scratch, &mut out).unwrap();
            let got: Vec<(u32, f64)> = out.iter().map(|n| (n.handle, n.distance_m)).collect();
            prop_assert_eq!(got, brute_force(&known, lat, lng, &q), "query {:?} at ({}, {})", q, lat, lng);
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Move { who: usize, bearing: f64, cells: f64 },
    Status { who: usize, status: u8 },
    Class { who: usize, class: u8 },
    Remove { who: usize },
    Query(QuerySpec),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..64, 0.0..std::f64::consts::TAU, 0.0..4.0f64)
            .prop_map(|(who, bearing, cells)| Op::Move { who, bearing, cells }),
        3 => (0usize..64, 0u8..4).prop_map(|(who, status)| Op::Status { who, status }),
        1 => (0usize..64, 0u8..3).prop_map(|(who, class)| Op::Class { who, class }),
        1 => (0usize..64).prop_map(|who| Op::Remove { who }),
        2 => query_spec().prop_map(Op::Query),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any interleaving of moves, status and class changes and removals keeps queries equal to
    /// brute force over what the driver model says is there.
    #[test]
    fn mixed_operations_match_brute_force(
        place in place(),
        res in prop::sample::select(vec![7u8, 9, 10]),
        ops in prop::collection::vec(op(), 1..300),
    ) {
        let r = Resolution::try_from(res).unwrap();
        let center = center_of(&place, r);
        let cell_m = max_cell_radius_m(r);
        let spread = 6.0 * cell_m;
        let mut ix = DriverIndex::new(IndexConfig { resolution: res, ..Default::default() }).unwrap();
        let mut model: Vec<Option<Known>> = vec![None; 64];
        let mut scratch = QueryScratch::new();
        let mut out = Vec::new();
        for (t, op) in ops.iter().enumerate() {
            match *op {
                Op::Move { who, bearing, cells } => {
                    let (from_lat, from_lng) = model[who].map_or(center, |k| (k.lat, k.lng));
                    let (lat, lng) = destination(from_lat, from_lng, bearing, cells * cell_m);
                    let (lat, lng) = if haversine_m(lat, lng, center.0, center.1) > 3.0 * spread {
                        center
                    } else {
                        (lat, lng)
                    };
                    // Hours apart: no speed test.
                    prop_assert_eq!(ix.upsert(who as u32, Fix::at(lat, lng, 1e7 * (t as f64 + 1.0))).unwrap(), UpsertOutcome::Applied);
                    let k = model[who].get_or_insert(Known { handle: who as u32, lat, lng, status: Status::Offline, class: 0 });
                    k.lat = lat;
                    k.lng = lng;
                }
                Op::Status { who, status } => {
                    let status = Status::try_from(status).unwrap();
                    match &mut model[who] {
                        Some(k) => {
                            ix.set_status(who as u32, status).unwrap();
                            k.status = status;
                        }
                        None => prop_assert!(ix.set_status(who as u32, status).is_err()),
                    }
                }
                Op::Class { who, class } => match &mut model[who] {
                    Some(k) => {
                        ix.set_class(who as u32, class).unwrap();
                        k.class = class;
                    }
                    None => prop_assert!(ix.set_class(who as u32, class).is_err()),
                },
                Op::Remove { who } => {
                    prop_assert_eq!(ix.remove(who as u32).is_ok(), model[who].is_some());
                    model[who] = None;
                }
                Op::Query(ref spec) => {
                    let (lat, lng) = destination(center.0, center.1, spec.bearing, spec.r * spread);
                    let q = query_of(spec, spread);
                    ix.nearest(lat, lng, &q, &mut scratch, &mut out).unwrap();
                    let got: Vec<(u32, f64)> = out.iter().map(|n| (n.handle, n.distance_m)).collect();
                    let known: Vec<Known> = model.iter().flatten().copied().collect();
                    prop_assert_eq!(got, brute_force(&known, lat, lng, &q));
                }
            }
        }
        prop_assert_eq!(ix.len(), model.iter().flatten().count());
    }
}

/// An independent model of the fix rules: what outcome and position a fix sequence gives.
struct RuleModel {
    cfg: IndexConfig,
    pos: Option<(f64, f64, f64)>,
    pending: Option<(f64, f64, f64, u32)>,
}

impl RuleModel {
    fn apply(&mut self, lat: f64, lng: f64, t: f64) -> UpsertOutcome {
        let Some((plat, plng, pt)) = self.pos else {
            self.pos = Some((lat, lng, t));
            return UpsertOutcome::Applied;
        };
        if t <= pt {
            return UpsertOutcome::Stale;
        }
        let plausible = |a: (f64, f64, f64)| {
            haversine_m(a.0, a.1, lat, lng)
                <= self.cfg.max_speed_mps * (t - a.2) / 1000.0 + self.cfg.jump_tolerance_m
        };
        let mut outcome = UpsertOutcome::Applied;
        if t - pt < self.cfg.jump_reset_ms && !plausible((plat, plng, pt)) {
            let streak = match self.pending {
                Some((a, b, c, n)) if t > c && plausible((a, b, c)) => n + 1,
                _ => 1,
            };
            self.pending = Some((lat, lng, t, streak));
            if streak < self.cfg.jump_confirm_fixes {
                return UpsertOutcome::Jump;
            }
            outcome = UpsertOutcome::Relocated;
        }
        self.pending = None;
        self.pos = Some((lat, lng, t));
        outcome
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Stale, jump, relocation and reset rules follow the documented model, fix by fix, and the
    /// batch form gives the same outcomes as single upserts.
    #[test]
    fn fix_rules_follow_the_model(
        confirm in 1u32..4,
        fixes in prop::collection::vec(
            (-2_000.0..30_000.0f64, 0.0..std::f64::consts::TAU, prop_oneof![0.0..400.0f64, 1_000.0..50_000.0f64]),
            1..40,
        ),
    ) {
        let cfg = IndexConfig { jump_confirm_fixes: confirm, jump_reset_ms: 60_000.0, ..Default::default() };
        let mut ix = DriverIndex::new(cfg).unwrap();
        let mut model = RuleModel { cfg, pos: None, pending: None };
        let (mut lat, mut lng, mut t) = (41.88, -87.63, 0.0);
        let (mut handles, mut lat_lngs, mut times) = (Vec::new(), Vec::new(), Vec::new());
        for &(dt, bearing, dist) in &fixes {
            // Wander from the last fix sent, applied or not, so that jumps can be consistent.
            (lat, lng) = destination(lat, lng, bearing, dist);
            t += dt;
            let want = model.apply(lat, lng, t);
            prop_assert_eq!(ix.upsert(7, Fix::at(lat, lng, t)).unwrap(), want);
            let (mlat, mlng, mt) = model.pos.unwrap();
            let v = ix.get(7).unwrap();
            prop_assert_eq!((v.lat, v.lng, v.time_ms), (mlat, mlng, mt));
            handles.push(7u32);
            lat_lngs.extend([lat, lng]);
            times.push(t);
        }
        let mut batch = DriverIndex::new(cfg).unwrap();
        let mut out = vec![0u8; handles.len()];
        batch.upsert_many(&handles, &lat_lngs, &times, &[], &[], &mut out).unwrap();
        let mut model = RuleModel { cfg, pos: None, pending: None };
        for (i, &o) in out.iter().enumerate() {
            prop_assert_eq!(o, model.apply(lat_lngs[2 * i], lat_lngs[2 * i + 1], times[i]) as u8);
        }
        let (a, b) = (batch.get(7).unwrap(), ix.get(7).unwrap());
        prop_assert_eq!((a.lat, a.lng, a.time_ms, a.cell), (b.lat, b.lng, b.time_ms, b.cell));
    }

    /// Expiry forgets exactly the drivers whose last applied fix is older than the window.
    #[test]
    fn expiry_forgets_exactly_the_silent(times in prop::collection::vec(0.0..100_000.0f64, 1..60), now in 0.0..250_000.0f64) {
        let mut ix = DriverIndex::new(IndexConfig { expire_after_ms: 120_000.0, ..Default::default() }).unwrap();
        for (h, &t) in times.iter().enumerate() {
            ix.upsert(h as u32, Fix::at(10.0, 10.0 + h as f64 * 1e-4, t)).unwrap();
        }
        let mut out = Vec::new();
        ix.expire(now, &mut out);
        let want: Vec<u32> = (0..times.len() as u32).filter(|&h| times[h as usize] < now - 120_000.0).collect();
        prop_assert_eq!(&out, &want);
        for h in 0..times.len() as u32 {
            prop_assert_eq!(ix.get(h).is_some(), !want.contains(&h));
        }
        prop_assert_eq!(ix.len(), times.len() - want.len());
    }
}
