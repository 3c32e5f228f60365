//! Property tests of the optimal matcher against brute force, a dense Hungarian method and
//! the greedy baseline.

use dispatch_core::matching::{
    cost_units, MatchConfig, MatchInput, MatchOutcome, Matcher, UnassignedReason,
    DEFAULT_UNASSIGNED_PENALTY_S,
};
use proptest::prelude::*;
use std::collections::HashSet;

/// The solver's rounding, so the references price exactly the same integers.
fn units(c: f32) -> i64 {
    cost_units(c)
}

#[derive(Debug, Clone)]
struct Instance {
    offsets: Vec<u32>,
    drivers: Vec<u32>,
    costs_s: Vec<f32>,
    max_pickup_s: Vec<f32>,
    penalty_s: Option<Vec<f32>>,
}

impl Instance {
    fn input(&self) -> MatchInput<'_> {
        MatchInput {
            offsets: &self.offsets,
            drivers: &self.drivers,
            costs_s: &self.costs_s,
            max_pickup_s: &self.max_pickup_s,
            penalty_s: self.penalty_s.as_deref(),
        }
    }

    fn n(&self) -> usize {
        self.max_pickup_s.len()
    }

    fn penalty_units(&self, r: usize) -> i64 {
        units(
            self.penalty_s
                .as_ref()
                .map_or(DEFAULT_UNASSIGNED_PENALTY_S, |p| p[r]),
        )
    }

    fn range(&self, r: usize) -> std::ops::Range<usize> {
        self.offsets[r] as usize..self.offsets[r + 1] as usize
    }

    /// Distinct driver handles in first-seen order.
    fn handles(&self) -> Vec<u32> {
        let mut seen = HashSet::new();
        self.drivers.iter().copied().filter(|h| seen.insert(*h)).collect()
    }
}

/// Requests with sparse random lists over `m` drivers. Costs are whole deciseconds; a few
/// max pickups are infinite; penalties (when drawn) are sometimes below the costs, so
/// leaving a request unassigned is a live option.
/// Cost scales: whole deciseconds up to 300 s (many exact ties), whole milliseconds up to
/// 300 s (near-ties), and whole milliseconds up to 30 ms (off-by-one-unit price errors show).
#[derive(Debug, Clone, Copy)]
enum Scale {
    Coarse,
    Fine,
    Tiny,
}

fn instance(
    max_n: usize,
    max_m: usize,
    max_k: usize,
    huge_handles: bool,
    scale: Scale,
) -> impl Strategy<Value = Instance> {
    let (top, per_s) = match scale {
        Scale::Coarse => (3000u32, 10.0f32),
        Scale::Fine => (300_000, 1000.0),
        Scale::Tiny => (30, 1000.0),
    };
    (1..=max_m, 0..=max_n, any::<bool>(), any::<u32>()).prop_flat_map(move |(m, n, with_penalty, salt)| {
        let request = (
            prop::collection::vec((0..m as u32, 0u32..=top), 0..=max_k),
            prop_oneof![4 => (0u32..=top).prop_map(move |d| d as f32 / per_s), 1 => Just(f32::INFINITY)],
            0u32..=top * 4 / 3,
        );
        prop::collection::vec(request, n).prop_map(move |reqs| {
            let handle = |d: u32| {
                if huge_handles {
                    u32::MAX - 7 * d - (salt % 1000)
                } else {
                    d
                }
            };
            let mut inst = Instance {
                offsets: vec![0],
                drivers: vec![],
                costs_s: vec![],
                max_pickup_s: vec![],
                penalty_s: with_penalty.then(Vec::new),
            };
            for (cands, max_pickup, pen) in reqs {
                for (d, c) in cands {
                    inst.drivers.push(handle(d));
                    inst.costs_s.push(c as f32 / per_s);
                }
                inst.offsets.push(inst.drivers.len() as u32);
                inst.max_pickup_s.push(max_pickup);
                if let Some(p) = &mut inst.penalty_s {
                    p.push(pen as f32 / per_s);
                }
            }
            inst
        })
    })
}

/// Enumerates every feasible assignment.
fn brute_force(inst: &Instance) -> i64 {
    fn go(inst: &Instance, r: usize, used: &mut Vec<u32>) -> i64 {
        if r == inst.n() {
            return 0;
        }
        let mut best = inst.penalty_units(r) + go(inst, r + 1, used);
        for e in inst.range(r) {
            let (d, c) = (inst.drivers[e], inst.costs_s[e]);
            if c <= inst.max_pickup_s[r] && !used.contains(&d) {
                used.push(d);
                best = best.min(units(c) + go(inst, r + 1, used));
                used.pop();
            }
        }
        best
    }
    go(inst, 0, &mut Vec::new())
}

/// Dense O(n^2 (m + n)) Hungarian method (potentials form) on the n x (m + n) matrix of
/// drivers plus one dummy column per request; forbidden cells cost `BIG`.
fn hungarian(inst: &Instance) -> i64 {
    const BIG: i64 = 1_000_000_000_000;
    let n = inst.n();
    let handles = inst.handles();
    let m = handles.len();
    let cols = m + n;
    let mut a = vec![vec![BIG; cols + 1]; n + 1];
    for r in 0..n {
        for e in inst.range(r) {
            if inst.costs_s[e] <= inst.max_pickup_s[r] {
                let j = handles.iter().position(|&h| h == inst.drivers[e]).unwrap();
                a[r + 1][j + 1] = a[r + 1][j + 1].min(units(inst.costs_s[e]));
            }
        }
        a[r + 1][m + r + 1] = inst.penalty_units(r);
    }
    let (mut u, mut v) = (vec![0i64; n + 1], vec![0i64; cols + 1]);
    let (mut p, mut way) = (vec![0usize; cols + 1], vec![0usize; cols + 1]);
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![i64::MAX; cols + 1];
        let mut used = vec![false; cols + 1];
        loop {
            used[j0] = true;
            let (i0, mut delta, mut j1) = (p[j0], i64::MAX, 0);
            for j in 1..=cols {
                if !used[j] {
                    let cur = a[i0][j] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=cols {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    (1..=cols).filter(|&j| p[j] != 0).map(|j| a[p[j]][j]).sum()
}

/// Checks that `out` is a valid matching of `inst`, with consistent reasons and objective.
fn check_valid(inst: &Instance, out: &MatchOutcome) -> Result<(), TestCaseError> {
    let mut requests = HashSet::new();
    let mut drivers = HashSet::new();
    let mut objective = 0i64;
    let mut total = 0f64;
    for a in &out.assignments {
        let r = a.request as usize;
        prop_assert!(requests.insert(r), "request {} twice", r);
        prop_assert!(drivers.insert(a.driver), "driver {} twice", a.driver);
        prop_assert!(
            inst.range(r)
                .any(|e| inst.drivers[e] == a.driver && inst.costs_s[e] == a.cost_s),
            "pair not among the candidates"
        );
        prop_assert!(a.cost_s <= inst.max_pickup_s[r]);
        objective += units(a.cost_s);
        total += f64::from(a.cost_s);
    }
    for u in &out.unassigned {
        let r = u.request as usize;
        prop_assert!(requests.insert(r), "request {} twice", r);
        let range = inst.range(r);
        let expected = if range.is_empty() {
            UnassignedReason::NoCandidates
        } else if range.clone().all(|e| inst.costs_s[e] > inst.max_pickup_s[r]) {
            UnassignedReason::NoneWithinMaxPickup
        } else {
            UnassignedReason::Outbid
        };
        prop_assert_eq!(u.reason, expected);
        objective += inst.penalty_units(r);
    }
    prop_assert_eq!(requests.len(), inst.n());
    prop_assert!(out.assignments.windows(2).all(|w| w[0].request < w[1].request));
    prop_assert!(out.unassigned.windows(2).all(|w| w[0].request < w[1].request));
    prop_assert_eq!(objective, out.objective_ms);
    prop_assert!((total - out.total_pickup_s).abs() < 1e-6 * (1.0 + total));
    Ok(())
}

fn solve_both(matcher: &mut Matcher, inst: &Instance) -> (MatchOutcome, MatchOutcome) {
    let (mut opt, mut greedy) = (MatchOutcome::default(), MatchOutcome::default());
    matcher.solve(&inst.input(), &mut opt).unwrap();
    matcher.solve_greedy(&inst.input(), &mut greedy).unwrap();
    (opt, greedy)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn small_instances_are_optimal(inst in instance(7, 8, 5, false, Scale::Coarse)) {
        let mut matcher = Matcher::new(MatchConfig::default()).unwrap();
        let (opt, greedy) = solve_both(&mut matcher, &inst);
        check_valid(&inst, &opt)?;
        check_valid(&inst, &greedy)?;
        prop_assert_eq!(opt.objective_ms, brute_force(&inst));
        prop_assert!(opt.objective_ms <= greedy.objective_ms);
    }

    #[test]
    fn small_instances_with_fine_costs_are_optimal(
        inst in instance(7, 8, 6, false, Scale::Fine),
        tiny in instance(7, 8, 6, false, Scale::Tiny),
    ) {
        let mut matcher = Matcher::new(MatchConfig::default()).unwrap();
        for inst in [inst, tiny] {
            let (opt, greedy) = solve_both(&mut matcher, &inst);
            check_valid(&inst, &opt)?;
            prop_assert_eq!(opt.objective_ms, brute_force(&inst));
            prop_assert!(opt.objective_ms <= greedy.objective_ms);
        }
    }

    #[test]
    fn small_instances_with_huge_handles(inst in instance(7, 8, 5, true, Scale::Coarse)) {
        let mut matcher = Matcher::new(MatchConfig::default()).unwrap();
        let (opt, greedy) = solve_both(&mut matcher, &inst);
        check_valid(&inst, &opt)?;
        check_valid(&inst, &greedy)?;
        prop_assert_eq!(opt.objective_ms, brute_force(&inst));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Medium sparse instances: equal to the dense Hungarian method, and one matcher reused
    /// across differently sized solves gives the same answer as a fresh one.
    #[test]
    fn medium_instances_equal_hungarian(
        inst in instance(40, 60, 12, false, Scale::Coarse),
        warm in instance(30, 50, 8, true, Scale::Coarse),
    ) {
        let mut matcher = Matcher::new(MatchConfig::default()).unwrap();
        let (warm_opt, _) = solve_both(&mut matcher, &warm);
        check_valid(&warm, &warm_opt)?;
        let (opt, greedy) = solve_both(&mut matcher, &inst);
        check_valid(&inst, &opt)?;
        prop_assert_eq!(opt.objective_ms, hungarian(&inst));
        prop_assert!(opt.objective_ms <= greedy.objective_ms);
        let (fresh, _) = solve_both(&mut Matcher::new(MatchConfig::default()).unwrap(), &inst);
        prop_assert_eq!(fresh, opt);
    }

    #[test]
    fn medium_instances_with_fine_costs_equal_hungarian(
        inst in instance(40, 60, 12, false, Scale::Fine),
        tiny in instance(40, 60, 12, false, Scale::Tiny),
    ) {
        for inst in [inst, tiny] {
            let (opt, greedy) = solve_both(&mut Matcher::new(MatchConfig::default()).unwrap(), &inst);
            check_valid(&inst, &opt)?;
            prop_assert_eq!(opt.objective_ms, hungarian(&inst));
            prop_assert!(opt.objective_ms <= greedy.objective_ms);
        }
    }

    /// Dense: every request lists every driver.
    #[test]
    fn dense_instances_equal_hungarian(
        n in 1usize..=25,
        m in 1usize..=30,
        seed in prop::collection::vec(0u32..=6000, 25 * 30),
        max_pickup in 0u32..=6000,
    ) {
        let mut inst = Instance {
            offsets: vec![0],
            drivers: vec![],
            costs_s: vec![],
            max_pickup_s: vec![max_pickup as f32 / 10.0; n],
            penalty_s: None,
        };
        for r in 0..n {
            for d in 0..m {
                inst.drivers.push(d as u32);
                inst.costs_s.push(seed[r * 30 + d] as f32 / 10.0);
            }
            inst.offsets.push(inst.drivers.len() as u32);
        }
        let (opt, greedy) = solve_both(&mut Matcher::new(MatchConfig::default()).unwrap(), &inst);
        check_valid(&inst, &opt)?;
        prop_assert_eq!(opt.objective_ms, hungarian(&inst));
        prop_assert!(opt.objective_ms <= greedy.objective_ms);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Larger: 200 requests over 500 drivers, top-20 lists. Checked against greedy and, since
    /// the dense reference is still affordable at this size, against the Hungarian method.
    #[test]
    fn large_instances_beat_greedy(
        lists in prop::collection::vec(prop::collection::vec((0u32..500, 0u32..=9000), 20), 200),
        max_pickup in prop::collection::vec(3000u32..=9000, 200),
    ) {
        let mut inst = Instance {
            offsets: vec![0],
            drivers: vec![],
            costs_s: vec![],
            max_pickup_s: max_pickup.iter().map(|&d| d as f32 / 10.0).collect(),
            penalty_s: None,
        };
        for list in lists {
            for (d, c) in list {
                inst.drivers.push(d);
                inst.costs_s.push(c as f32 / 10.0);
            }
            inst.offsets.push(inst.drivers.len() as u32);
        }
        let (opt, greedy) = solve_both(&mut Matcher::new(MatchConfig::default()).unwrap(), &inst);
        check_valid(&inst, &opt)?;
        check_valid(&inst, &greedy)?;
        prop_assert!(opt.objective_ms <= greedy.objective_ms);
        prop_assert_eq!(opt.objective_ms, hungarian(&inst));
    }

    /// Arbitrary raw arrays never panic: either an error with a code, or a valid outcome.
    #[test]
    fn arbitrary_input_never_panics(
        offsets in prop::collection::vec(0u32..12, 0..6),
        drivers in prop::collection::vec(any::<u32>(), 0..12),
        costs in prop::collection::vec(any::<f32>(), 0..12),
        max_pickup in prop::collection::vec(any::<f32>(), 0..6),
        penalty in prop::option::of(prop::collection::vec(any::<f32>(), 0..6)),
    ) {
        let input = MatchInput {
            offsets: &offsets,
            drivers: &drivers,
            costs_s: &costs,
            max_pickup_s: &max_pickup,
            penalty_s: penalty.as_deref(),
        };
        let mut matcher = Matcher::new(MatchConfig::default()).unwrap();
        let mut out = MatchOutcome::default();
        let a = matcher.solve(&input, &mut out).map(|_| out.clone());
        let b = matcher.solve_greedy(&input, &mut out).map(|_| out.clone());
        match (a, b) {
            (Ok(a), Ok(b)) => prop_assert!(a.objective_ms <= b.objective_ms),
            (Err(x), Err(y)) => prop_assert_eq!(x, y),
            _ => prop_assert!(false, "optimal and greedy disagree on validity"),
        }
    }
}
