//! Global assignment of open requests to free drivers, and the greedy baseline it is judged
//! against.
//!
//! # The problem
//!
//! Each request `r` brings a sparse candidate list (driver handle, pickup cost in seconds),
//! usually the top-K nearest drivers, and a longest acceptable pickup `max_pickup_s[r]`. A
//! driver may appear in many lists. We choose at most one driver per request and at most one
//! request per driver, only through candidates whose cost is within the request's
//! `max_pickup_s`, minimising
//!
//! ```text
//! sum(pickup cost of every assigned pair) + sum(penalty_s[r] for every unassigned request r)
//! ```
//!
//! # The algorithm: sparse shortest augmenting paths (Jonker-Volgenant augmentation)
//!
//! Each request also gets a private "unassigned" dummy column at cost `penalty_s[r]`, so
//! every request can always be matched and a row-perfect matching exists. That turns the
//! problem into a rectangular linear assignment problem on a sparse bipartite graph: rows are
//! requests, columns are the distinct drivers plus one dummy per request.
//!
//! We keep column prices `v` (row prices are implicit: `u_r = c(r, col(r)) - v[col(r)]`) with
//! the invariant that every assigned row holds a column minimising `c(r, j) - v[j]` over its
//! edges, i.e. all reduced costs `c - u - v` are non-negative and zero on the matching. Three
//! steps, each keeping that invariant:
//!
//! 1. Greedy start: with all prices zero, each row takes one of its cheapest columns if it is
//!    still free.
//! 2. JV's augmenting row reduction (two passes, work capped at about 2 x the edge count): a
//!    free row takes its best column and lowers that column's price to its second best,
//!    evicting the previous holder. This is an auction with epsilon zero; uncapped, it falls
//!    into the bidding wars auctions are known for when many requests want the same drivers.
//! 3. One Dijkstra search over reduced costs per row still free: stop at the first free column
//!    settled, lower the prices of the settled columns by how much closer they are than that
//!    column (every reduced cost stays non-negative and the found path becomes tight), flip
//!    the path. A column no closer than the nearest free column seen so far is never pushed.
//!
//! Why it is optimal: when all rows are assigned, the prices are a feasible dual solution
//! satisfying complementary slackness with the matching, so by LP duality the matching has
//! the minimum total cost. This is Jonker & Volgenant (1987) in the sparse form of their
//! LAPJVsp (without its column reduction, pointless here since every row has a private
//! column). There is no epsilon and no approximation.
//!
//! Why integers: costs are converted to whole milliseconds ([`cost_units`]) before solving, so
//! the search compares exact integers and the result is exactly optimal for the rounded costs
//! (the objective is reported in the same units, [`MatchOutcome::objective_ms`]). Rounding
//! moves each pair's cost by at most 0.5 ms, far below anything a rider notices.
//!
//! Why sparse: with 1,000 requests, 5,000 drivers and top-20 lists there are 20,000 edges
//! against 5,000,000 cells of a dense matrix. A search touches only the edges of the rows it
//! reaches, and since every row carries its own free dummy column and searches stop at the
//! nearest free column, it stays among the contested drivers.
//!
//! Complexity: O(E) to prepare, then one search per row steps 1-2 could not place, each
//! O(E' log E') over the edges E' of the rows it reaches; worst case O(n E log E). Measured
//! (`examples/matching_speed.rs`, the 1,000 x 5,000 top-20 case): about 0.2 ms with uniform
//! demand (no search needed), about 2 ms with 60% of requests in five hot spots (~260
//! searches settling ~23 columns each). [`Matcher::last_stats`] reports this work.
//!
//! Why not an auction with epsilon scaling: it is exact only with integer costs and
//! epsilon < 1/n, needs scaling phases to be fast, and degrades exactly in the contested
//! case we care about (a busy station); shortest augmenting paths are exact, deterministic
//! and need no tuning.
//!
//! # Input
//!
//! A flat CSR layout fit for typed arrays ([`MatchInput`]), or [`MatchProblem`] to build one
//! from structs. A [`Matcher`] keeps its scratch buffers between solves, so repeated solves of
//! similar size do not allocate; [`MatchOutcome`] is also reused by the caller.

use crate::error::{CoreError, ErrorCode, Result};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// Costs are solved in these integer units per second (milliseconds).
pub const COST_UNITS_PER_S: f64 = 1000.0;
/// Default penalty for leaving a request unassigned: one hour, larger than any acceptable
/// pickup time in city dispatch, so a request goes unserved only when no free driver within its
/// limit is left for it or serving it would cost the others more than an hour of pickup.
pub const DEFAULT_UNASSIGNED_PENALTY_S: f32 = 3600.0;
/// Largest accepted penalty (about 11.6 days); it bounds every integer the solver adds up.
pub const MAX_PENALTY_S: f32 = 1.0e6;

/// Sentinel for "no column / no row / no edge".
const NONE: u32 = u32::MAX;
/// Handles below this bound (or below 8 x the edge count, up to 2^24) are mapped to columns
/// through a direct table; larger ones through a hash map.
const DENSE_HANDLE_LIMIT: usize = 1 << 20;

/// Rounds a cost in seconds (`>= 0`) half up to solver units, as every solve does before
/// comparing costs; references that check the objective should price with this. Casts
/// saturate for huge values (only the greedy objective can see those), so this never panics.
pub fn cost_units(cost_s: f32) -> i64 {
    // Truncation of a non-negative value is floor; cheaper than `round`, a libm call.
    (f64::from(cost_s) * COST_UNITS_PER_S + 0.5) as i64
}

/// Solver configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchConfig {
    /// Cost in seconds charged for each unassigned request when the input gives no
    /// per-request penalties. Finite, in `[0, MAX_PENALTY_S]`. A candidate that costs as much
    /// as the penalty or more is never used by the optimal solver (leaving the request
    /// unassigned is at least as cheap).
    pub unassigned_penalty_s: f32,
}

impl Default for MatchConfig {
    fn default() -> Self {
        Self {
            unassigned_penalty_s: DEFAULT_UNASSIGNED_PENALTY_S,
        }
    }
}

fn check_penalty(p: f32, what: impl FnOnce() -> String) -> Result<()> {
    if p.is_finite() && (0.0..=MAX_PENALTY_S).contains(&p) {
        Ok(())
    } else {
        Err(CoreError::new(
            ErrorCode::InvalidArgument,
            format!(
                "{} is {p}, expected a finite number of seconds in [0, {MAX_PENALTY_S}]",
                what()
            ),
        ))
    }
}

impl MatchConfig {
    pub fn validate(&self) -> Result<()> {
        check_penalty(self.unassigned_penalty_s, || "unassigned_penalty_s".to_string())
    }
}

/// One solve's input in CSR form. Request `r`'s candidates are
/// `drivers[offsets[r]..offsets[r + 1]]` with costs `costs_s[...]` at the same positions.
///
/// Contract (checked by every solve, before any work):
/// - `offsets.len() == max_pickup_s.len() + 1` (so zero requests is `offsets == [0]`),
///   `offsets[0] == 0`, non-decreasing, and `offsets[n] == drivers.len() == costs_s.len()`;
/// - costs are finite and `>= 0`;
/// - `max_pickup_s` values are `>= 0` and not NaN (`+inf` means no limit);
/// - `penalty_s`, when given, has one finite value in `[0, MAX_PENALTY_S]` per request and
///   replaces the matcher's configured penalty.
///
/// A driver listed twice for one request is allowed; the cheaper entry is what counts.
#[derive(Debug, Clone, Copy)]
pub struct MatchInput<'a> {
    pub offsets: &'a [u32],
    pub drivers: &'a [u32],
    pub costs_s: &'a [f32],
    pub max_pickup_s: &'a [f32],
    pub penalty_s: Option<&'a [f32]>,
}

impl<'a> MatchInput<'a> {
    pub fn new(offsets: &'a [u32], drivers: &'a [u32], costs_s: &'a [f32], max_pickup_s: &'a [f32]) -> Self {
        Self {
            offsets,
            drivers,
            costs_s,
            max_pickup_s,
            penalty_s: None,
        }
    }

    pub fn with_penalties(mut self, penalty_s: &'a [f32]) -> Self {
        self.penalty_s = Some(penalty_s);
        self
    }

    pub fn n_requests(&self) -> usize {
        self.max_pickup_s.len()
    }

    /// Checks the contract above; errors name the first offending position.
    pub fn validate(&self) -> Result<()> {
        let n = self.max_pickup_s.len();
        let mismatch = |m: String| Err(CoreError::new(ErrorCode::LengthMismatch, m));
        let invalid = |m: String| Err(CoreError::new(ErrorCode::InvalidArgument, m));
        if self.offsets.len() != n + 1 {
            return mismatch(format!(
                "offsets has {} entries, expected one more than the {n} requests",
                self.offsets.len()
            ));
        }
        if self.drivers.len() != self.costs_s.len() {
            return mismatch(format!(
                "drivers has {} entries but costs_s has {}",
                self.drivers.len(),
                self.costs_s.len()
            ));
        }
        if let Some(p) = self.penalty_s {
            if p.len() != n {
                return mismatch(format!("penalty_s has {} entries for {n} requests", p.len()));
            }
        }
        // Every column and request index must fit below the u32 sentinel.
        if n.saturating_add(self.drivers.len()) >= NONE as usize {
            return invalid(format!(
                "{n} requests with {} candidates is too large",
                self.drivers.len()
            ));
        }
        if self.offsets[0] != 0 {
            return invalid(format!("offsets[0] is {}, expected 0", self.offsets[0]));
        }
        for (r, w) in self.offsets.windows(2).enumerate() {
            if w[1] < w[0] {
                return invalid(format!("offsets decrease at request {r}: {} then {}", w[0], w[1]));
            }
        }
        if self.offsets[n] as usize != self.drivers.len() {
            return mismatch(format!(
                "offsets end at {} but {} candidates were given",
                self.offsets[n],
                self.drivers.len()
            ));
        }
        // Branch-free scan first (it vectorises); find the position only on failure.
        let ok = |c: f32| (0.0..=f32::MAX).contains(&c);
        if !self.costs_s.iter().fold(true, |all, &c| all & ok(c)) {
            let (e, c) = self
                .costs_s
                .iter()
                .enumerate()
                .find(|(_, &c)| !ok(c))
                .unwrap_or((0, &0.0));
            return invalid(format!("costs_s[{e}] is {c}, expected a finite number >= 0"));
        }
        for (r, &m) in self.max_pickup_s.iter().enumerate() {
            if m.is_nan() || m < 0.0 {
                return invalid(format!("max_pickup_s[{r}] is {m}, expected a number >= 0"));
            }
        }
        if let Some(p) = self.penalty_s {
            for (r, &v) in p.iter().enumerate() {
                check_penalty(v, || format!("penalty_s[{r}]"))?;
            }
        }
        Ok(())
    }

    fn candidates(&self, r: usize) -> std::ops::Range<usize> {
        self.offsets[r] as usize..self.offsets[r + 1] as usize
    }

    fn penalty(&self, r: usize, config: &MatchConfig) -> f32 {
        self.penalty_s.map_or(config.unassigned_penalty_s, |p| p[r])
    }

    /// Why request `r` (validated) could not be given any driver.
    fn reason(&self, r: usize) -> UnassignedReason {
        let range = self.candidates(r);
        if range.is_empty() {
            UnassignedReason::NoCandidates
        } else if self.costs_s[range].iter().all(|&c| c > self.max_pickup_s[r]) {
            UnassignedReason::NoneWithinMaxPickup
        } else {
            UnassignedReason::Outbid
        }
    }
}

/// One candidate of a request, for [`MatchProblem`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub driver: u32,
    pub cost_s: f32,
}

/// Owned, struct-built problem; [`MatchProblem::input`] lends it out as a [`MatchInput`].
///
/// Penalties: while no request was pushed with its own penalty, the input carries none and the
/// matcher's configured penalty applies. Once one was, every request carries one, and requests
/// pushed without their own get this builder's default penalty
/// ([`DEFAULT_UNASSIGNED_PENALTY_S`] unless set with [`MatchProblem::with_default_penalty`]).
/// Nothing is validated here; the solve does that.
#[derive(Debug, Clone)]
pub struct MatchProblem {
    offsets: Vec<u32>,
    drivers: Vec<u32>,
    costs_s: Vec<f32>,
    max_pickup_s: Vec<f32>,
    penalty_s: Option<Vec<f32>>,
    default_penalty_s: f32,
}

impl Default for MatchProblem {
    fn default() -> Self {
        Self::new()
    }
}

impl MatchProblem {
    pub fn new() -> Self {
        Self {
            offsets: vec![0],
            drivers: Vec::new(),
            costs_s: Vec::new(),
            max_pickup_s: Vec::new(),
            penalty_s: None,
            default_penalty_s: DEFAULT_UNASSIGNED_PENALTY_S,
        }
    }

    pub fn with_default_penalty(mut self, penalty_s: f32) -> Self {
        self.default_penalty_s = penalty_s;
        self
    }

    /// Adds a request and returns its index.
    pub fn push_request(&mut self, max_pickup_s: f32, candidates: &[Candidate]) -> u32 {
        if let Some(p) = &mut self.penalty_s {
            p.push(self.default_penalty_s);
        }
        self.push(max_pickup_s, candidates)
    }

    /// Adds a request with its own unassigned penalty and returns its index.
    pub fn push_request_with_penalty(
        &mut self,
        max_pickup_s: f32,
        penalty_s: f32,
        candidates: &[Candidate],
    ) -> u32 {
        let n = self.max_pickup_s.len();
        let default = self.default_penalty_s;
        self.penalty_s
            .get_or_insert_with(|| vec![default; n])
            .push(penalty_s);
        self.push(max_pickup_s, candidates)
    }

    fn push(&mut self, max_pickup_s: f32, candidates: &[Candidate]) -> u32 {
        for c in candidates {
            self.drivers.push(c.driver);
            self.costs_s.push(c.cost_s);
        }
        // A length past u32 is caught by validation (offsets would not match drivers).
        self.offsets
            .push(u32::try_from(self.drivers.len()).unwrap_or(u32::MAX));
        self.max_pickup_s.push(max_pickup_s);
        u32::try_from(self.max_pickup_s.len() - 1).unwrap_or(u32::MAX)
    }

    pub fn n_requests(&self) -> usize {
        self.max_pickup_s.len()
    }

    pub fn input(&self) -> MatchInput<'_> {
        MatchInput {
            offsets: &self.offsets,
            drivers: &self.drivers,
            costs_s: &self.costs_s,
            max_pickup_s: &self.max_pickup_s,
            penalty_s: self.penalty_s.as_deref(),
        }
    }
}

/// Why a request got no driver. `repr(u8)` so a binding can ship it in a typed array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum UnassignedReason {
    /// Its candidate list was empty.
    NoCandidates = 0,
    /// Every candidate is farther than its `max_pickup_s`.
    NoneWithinMaxPickup = 1,
    /// Candidates within reach exist, but they served other requests better, or (optimal
    /// solver only) leaving it unassigned cost no more than the penalty.
    Outbid = 2,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assignment {
    pub request: u32,
    pub driver: u32,
    /// The candidate's cost as given (not rounded).
    pub cost_s: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unassigned {
    pub request: u32,
    pub reason: UnassignedReason,
}

/// A solve's result. Every request appears exactly once, either in `assignments` or in
/// `unassigned`; both lists are in request order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchOutcome {
    pub assignments: Vec<Assignment>,
    pub unassigned: Vec<Unassigned>,
    /// Sum of the assigned pairs' costs as given, in seconds.
    pub total_pickup_s: f64,
    /// The objective in milliseconds: every assigned cost and every penalty rounded to whole
    /// milliseconds, then summed (saturating). This is what the optimal solver minimises.
    pub objective_ms: i64,
}

impl MatchOutcome {
    pub fn clear(&mut self) {
        self.assignments.clear();
        self.unassigned.clear();
        self.total_pickup_s = 0.0;
        self.objective_ms = 0;
    }
}

/// Work done by the last optimal solve, for benchmarks and tuning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SolveStats {
    /// Rows the greedy start placed directly.
    pub greedy_placed: u32,
    /// Bids made by the row reduction.
    pub reduction_bids: u32,
    /// Shortest-path searches run (rows still free after the reduction).
    pub searches: u32,
    /// Columns settled over all searches.
    pub settled: u64,
}

/// A kept edge: column and integer cost (< penalty <= 1e9 units, so it fits in u32).
#[derive(Debug, Clone, Copy)]
struct Edge {
    col: u32,
    cost: u32,
}

/// Everything the solver keeps per column, side by side: a search touches several of these
/// fields for each edge it relaxes, and one cache line beats five scattered arrays.
#[derive(Debug, Clone, Copy)]
struct Col {
    /// Price (JV's `v`): the reduced cost of edge (r, j) is `c(r, j) - u(r) - v[j]`.
    v: i64,
    /// Tentative distance in the current search (valid when `seen` is its epoch).
    dist: i64,
    seen: u32,
    done: u32,
    /// Row holding this column, or NONE.
    row: u32,
    pred_row: u32,
    /// Edge of `pred_row` that reached this column (NONE: the row's dummy).
    pred_edge: u32,
}

const FRESH_COL: Col = Col {
    v: 0,
    dist: 0,
    seen: 0,
    done: 0,
    row: NONE,
    pred_row: NONE,
    pred_edge: NONE,
};

/// Reusable solver. Holds scratch buffers sized by the largest solve so far; a solve of a
/// similar size does not allocate (a very large driver handle, see [`MatchInput`], uses a
/// hash map that keeps its capacity too).
#[derive(Debug, Default)]
pub struct Matcher {
    config: MatchConfig,
    stats: SolveStats,
    // Driver handle -> column.
    dense_map: Vec<u32>,
    sparse_map: HashMap<u32, u32>,
    col_of_edge: Vec<u32>,
    col_handle: Vec<u32>,
    // Kept edges (within max pickup and cheaper than the penalty), CSR by request, with the
    // index of the input candidate each came from.
    row_start: Vec<u32>,
    edges: Vec<Edge>,
    e_raw: Vec<u32>,
    pen: Vec<i64>,
    // Columns 0..m are drivers, m + r is request r's dummy.
    cols: Vec<Col>,
    row_col: Vec<u32>,
    row_edge: Vec<u32>,
    // Row reduction and searches.
    free: Vec<u32>,
    next_free: Vec<u32>,
    scanned: Vec<u32>,
    /// Distance of the nearest free column seen in the current search.
    bound: i64,
    heap: BinaryHeap<Reverse<(i64, u32)>>,
}

fn refill<T: Copy>(v: &mut Vec<T>, len: usize, value: T) {
    v.clear();
    v.resize(len, value);
}

impl Matcher {
    pub fn new(config: MatchConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            ..Self::default()
        })
    }

    pub fn config(&self) -> &MatchConfig {
        &self.config
    }

    /// Work done by the last successful [`Matcher::solve`].
    pub fn last_stats(&self) -> SolveStats {
        self.stats
    }

    /// Maps each candidate's driver handle to a dense column id in first-seen order.
    fn compact_columns(&mut self, drivers: &[u32]) {
        self.col_of_edge.clear();
        self.col_handle.clear();
        let max_handle = drivers.iter().copied().max().unwrap_or(0) as usize;
        // Direct table while it stays small next to the input (at most 64 MiB).
        if max_handle < DENSE_HANDLE_LIMIT.max(drivers.len().saturating_mul(8).min(1 << 24)) {
            if self.dense_map.len() <= max_handle {
                self.dense_map.resize(max_handle + 1, NONE);
            }
            for &h in drivers {
                let slot = &mut self.dense_map[h as usize];
                if *slot == NONE {
                    *slot = self.col_handle.len() as u32;
                    self.col_handle.push(h);
                }
                self.col_of_edge.push(*slot);
            }
            // Leave the table all-NONE for the next solve.
            for &h in &self.col_handle {
                self.dense_map[h as usize] = NONE;
            }
        } else {
            self.sparse_map.clear();
            for &h in drivers {
                let next = self.col_handle.len() as u32;
                let col = *self.sparse_map.entry(h).or_insert(next);
                if col == next {
                    self.col_handle.push(h);
                }
                self.col_of_edge.push(col);
            }
        }
    }

    fn row_edges(&self, r: usize) -> std::ops::Range<usize> {
        self.row_start[r] as usize..self.row_start[r + 1] as usize
    }

    /// Optimal assignment (see the module doc). Validates `input` first; on error `out` is
    /// left cleared.
    pub fn solve(&mut self, input: &MatchInput<'_>, out: &mut MatchOutcome) -> Result<()> {
        out.clear();
        input.validate()?;
        let n = input.n_requests();
        self.compact_columns(input.drivers);
        let m = self.col_handle.len();
        self.stats = SolveStats::default();

        // Keep only edges that can ever be used: within max pickup and strictly cheaper than
        // leaving the request unassigned. Penalties are <= MAX_PENALTY_S, so kept costs fit
        // in u32 and every sum below fits in i64.
        self.row_start.clear();
        self.edges.clear();
        self.e_raw.clear();
        self.pen.clear();
        self.row_start.push(0);
        for r in 0..n {
            let p = input.penalty(r, &self.config);
            let p_units = cost_units(p);
            self.pen.push(p_units);
            let max_pickup = input.max_pickup_s[r];
            for e in input.candidates(r) {
                let c = input.costs_s[e];
                if c > max_pickup || c >= p {
                    continue;
                }
                let c_units = cost_units(c);
                if c_units < p_units {
                    self.edges.push(Edge {
                        col: self.col_of_edge[e],
                        cost: c_units as u32,
                    });
                    self.e_raw.push(e as u32);
                }
            }
            self.row_start.push(self.edges.len() as u32);
        }

        refill(&mut self.cols, m + n, FRESH_COL);
        refill(&mut self.row_col, n, NONE);
        refill(&mut self.row_edge, n, NONE);

        // Greedy start: with all prices zero, a row holding one of its cheapest columns is
        // tight. Take such a column if one is free; otherwise leave the row for later.
        for r in 0..n {
            let edges = self.row_edges(r);
            let best = self.edges[edges.clone()]
                .iter()
                .map(|e| i64::from(e.cost))
                .min()
                .unwrap_or(i64::MAX)
                .min(self.pen[r]);
            let free_edge = edges.clone().find(|&e| {
                let edge = self.edges[e];
                i64::from(edge.cost) == best && self.cols[edge.col as usize].row == NONE
            });
            if let Some(e) = free_edge {
                self.assign(r, self.edges[e].col as usize, e as u32);
                self.stats.greedy_placed += 1;
            } else if self.pen[r] == best {
                // The own dummy column is always free here.
                self.assign(r, m + r, NONE);
                self.stats.greedy_placed += 1;
            }
        }

        self.reduce_rows(n, m);
        for r in 0..n {
            if self.row_col[r] == NONE {
                self.augment(r, m);
            }
        }

        for r in 0..n {
            let edge = self.row_edge[r];
            if edge == NONE {
                out.unassigned.push(Unassigned {
                    request: r as u32,
                    reason: input.reason(r),
                });
                out.objective_ms = out.objective_ms.saturating_add(self.pen[r]);
            } else {
                let e = edge as usize;
                let raw = self.e_raw[e] as usize;
                let cost_s = input.costs_s[raw];
                out.assignments.push(Assignment {
                    request: r as u32,
                    driver: input.drivers[raw],
                    cost_s,
                });
                out.total_pickup_s += f64::from(cost_s);
                out.objective_ms = out.objective_ms.saturating_add(i64::from(self.edges[e].cost));
            }
        }
        Ok(())
    }

    /// Jonker-Volgenant augmenting row reduction, two passes over the free rows: a free row
    /// takes its cheapest column (by reduced cost) and lowers that column's price until it is
    /// no better than the row's second choice, evicting the previous holder, which bids in
    /// turn. Every step keeps each assigned row at a cheapest column, so the searches that
    /// follow start from valid prices, just with fewer free rows. Bids that only shift
    /// prices a little can chase each other for long, so the work is capped; past the cap the
    /// searches take over.
    fn reduce_rows(&mut self, n: usize, m: usize) {
        self.free.clear();
        self.free
            .extend((0..n as u32).filter(|&r| self.row_col[r as usize] == NONE));
        let mut budget = 2 * (self.edges.len() + n);
        for _ in 0..2 {
            self.next_free.clear();
            let mut k = 0;
            while k < self.free.len() {
                let r = self.free[k] as usize;
                let edges = self.row_edges(r);
                if budget <= edges.len() {
                    // Out of budget: the rest stay free for the searches.
                    return;
                }
                budget -= edges.len() + 1;
                k += 1;
                self.stats.reduction_bids += 1;
                let dummy = m + r;
                let (mut j1, mut e1, mut u1) = (dummy, NONE, self.pen[r] - self.cols[dummy].v);
                let (mut j2, mut e2, mut u2) = (dummy, NONE, i64::MAX);
                for e in edges {
                    let Edge { col, cost } = self.edges[e];
                    let h = i64::from(cost) - self.cols[col as usize].v;
                    if h < u1 {
                        (j2, e2, u2) = (j1, e1, u1);
                        (j1, e1, u1) = (col as usize, e as u32, h);
                    } else if h < u2 {
                        (j2, e2, u2) = (col as usize, e as u32, h);
                    }
                }
                let mut evicted = self.cols[j1].row;
                let lowered = u2 != i64::MAX && u1 < u2;
                if lowered {
                    self.cols[j1].v -= u2 - u1;
                } else if evicted != NONE && u2 != i64::MAX {
                    // A tie: take the equally cheap second column rather than evict.
                    (j1, e1) = (j2, e2);
                    evicted = self.cols[j1].row;
                }
                if evicted != NONE {
                    self.row_col[evicted as usize] = NONE;
                    self.row_edge[evicted as usize] = NONE;
                }
                self.assign(r, j1, e1);
                if evicted != NONE {
                    if lowered {
                        // It bids again right away, as in JV.
                        k -= 1;
                        self.free[k] = evicted;
                    } else {
                        self.next_free.push(evicted);
                    }
                }
            }
            std::mem::swap(&mut self.free, &mut self.next_free);
        }
    }

    fn assign(&mut self, r: usize, col: usize, edge: u32) {
        self.cols[col].row = r as u32;
        self.row_col[r] = col as u32;
        self.row_edge[r] = edge;
    }

    fn edge_cost(&self, r: usize, edge: u32) -> i64 {
        if edge == NONE {
            self.pen[r]
        } else {
            i64::from(self.edges[edge as usize].cost)
        }
    }

    /// Relaxes every edge of row `r`, reached at distance `d` with implicit row price `u`.
    fn relax_row(&mut self, r: usize, d: i64, u: i64, m: usize, epoch: u32) {
        for e in self.row_edges(r) {
            let Edge { col, cost } = self.edges[e];
            self.relax(col as usize, d + i64::from(cost) - u, r, e as u32, epoch);
        }
        self.relax(m + r, d + self.pen[r] - u, r, NONE, epoch);
    }

    /// `nd_before_price` is the distance through this edge before the column's price is
    /// taken off.
    #[inline(always)]
    fn relax(&mut self, col: usize, nd_before_price: i64, r: usize, edge: u32, epoch: u32) {
        let c = &mut self.cols[col];
        let nd = nd_before_price - c.v;
        // A column no closer than the nearest free column found so far can never be settled
        // before the search ends; skipping it keeps the heap small under contention.
        if nd >= self.bound || c.done == epoch {
            return;
        }
        if c.seen != epoch || nd < c.dist {
            if c.row == NONE {
                self.bound = nd;
            }
            c.seen = epoch;
            c.dist = nd;
            c.pred_row = r as u32;
            c.pred_edge = edge;
            self.heap.push(Reverse((nd, col as u32)));
        }
    }

    /// One Dijkstra search from free row `root` to the nearest free column, then the price
    /// update and the flip of the path.
    fn augment(&mut self, root: usize, m: usize) {
        // Row indices are < u32::MAX - 1 (validated), so epochs are distinct and non-zero.
        let epoch = root as u32 + 1;
        self.stats.searches += 1;
        self.heap.clear();
        self.scanned.clear();
        self.bound = i64::MAX;
        self.relax_row(root, 0, 0, m, epoch);
        let (end, total) = loop {
            // The root's own dummy column is free and reachable, so the heap cannot run dry
            // before a free column is settled.
            let Some(Reverse((d, col))) = self.heap.pop() else {
                return;
            };
            let col = col as usize;
            let c = &mut self.cols[col];
            if c.done == epoch || d != c.dist {
                continue;
            }
            c.done = epoch;
            let r = c.row;
            let v = c.v;
            self.scanned.push(col as u32);
            self.stats.settled += 1;
            if r == NONE {
                break (col, d);
            }
            let r = r as usize;
            let u = self.edge_cost(r, self.row_edge[r]) - v;
            self.relax_row(r, d, u, m, epoch);
        };
        for &col in &self.scanned {
            let c = &mut self.cols[col as usize];
            c.v += c.dist - total;
        }
        let mut col = end;
        loop {
            let Col {
                pred_row, pred_edge, ..
            } = self.cols[col];
            let r = pred_row as usize;
            let prev = self.row_col[r];
            self.assign(r, col, pred_edge);
            if r == root {
                break;
            }
            col = prev as usize;
        }
    }

    /// The baseline: requests in input order, each takes its cheapest still-free candidate
    /// within its `max_pickup_s` (ties: the first listed). Penalties only enter the reported
    /// objective; greedy takes any candidate within reach, as a nearest-driver dispatcher
    /// does. Validates `input` first; on error `out` is left cleared.
    pub fn solve_greedy(&mut self, input: &MatchInput<'_>, out: &mut MatchOutcome) -> Result<()> {
        out.clear();
        input.validate()?;
        let n = input.n_requests();
        self.compact_columns(input.drivers);
        // `free` doubles as the taken-flag per column here.
        refill(&mut self.free, self.col_handle.len(), NONE);
        for r in 0..n {
            let max_pickup = input.max_pickup_s[r];
            let mut best: Option<(f32, usize)> = None;
            for e in input.candidates(r) {
                let c = input.costs_s[e];
                if c <= max_pickup
                    && self.free[self.col_of_edge[e] as usize] == NONE
                    && best.is_none_or(|(bc, _)| c < bc)
                {
                    best = Some((c, e));
                }
            }
            if let Some((cost_s, e)) = best {
                self.free[self.col_of_edge[e] as usize] = r as u32;
                out.assignments.push(Assignment {
                    request: r as u32,
                    driver: input.drivers[e],
                    cost_s,
                });
                out.total_pickup_s += f64::from(cost_s);
                out.objective_ms = out.objective_ms.saturating_add(cost_units(cost_s));
            } else {
                out.unassigned.push(Unassigned {
                    request: r as u32,
                    reason: input.reason(r),
                });
                out.objective_ms = out
                    .objective_ms
                    .saturating_add(cost_units(input.penalty(r, &self.config)));
            }
        }
        Ok(())
    }
}

/// One-off optimal solve with a fresh [`Matcher`].
pub fn solve_optimal(input: &MatchInput<'_>, config: MatchConfig) -> Result<MatchOutcome> {
    let mut out = MatchOutcome::default();
    Matcher::new(config)?.solve(input, &mut out)?;
    Ok(out)
}

/// One-off greedy solve with a fresh [`Matcher`].
pub fn solve_greedy(input: &MatchInput<'_>, config: MatchConfig) -> Result<MatchOutcome> {
    let mut out = MatchOutcome::default();
    Matcher::new(config)?.solve_greedy(input, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(driver: u32, cost_s: f32) -> Candidate {
        Candidate { driver, cost_s }
    }

    #[test]
    fn global_beats_greedy_on_the_classic_trap() {
        // Request 0 grabs driver 1 greedily (cost 1) and leaves request 1 with driver 2 at
        // cost 100; globally 0 -> 2 (cost 2) and 1 -> 1 (cost 2) is far better.
        let mut p = MatchProblem::new();
        p.push_request(600.0, &[cand(1, 1.0), cand(2, 2.0)]);
        p.push_request(600.0, &[cand(1, 2.0), cand(2, 100.0)]);
        let opt = solve_optimal(&p.input(), MatchConfig::default()).unwrap();
        let greedy = solve_greedy(&p.input(), MatchConfig::default()).unwrap();
        assert_eq!(opt.objective_ms, 4_000);
        assert_eq!(greedy.objective_ms, 101_000);
        assert_eq!(
            opt.assignments,
            vec![
                Assignment {
                    request: 0,
                    driver: 2,
                    cost_s: 2.0
                },
                Assignment {
                    request: 1,
                    driver: 1,
                    cost_s: 2.0
                }
            ]
        );
        assert!(opt.unassigned.is_empty());
        assert!((opt.total_pickup_s - 4.0).abs() < 1e-9);
    }

    #[test]
    fn reasons() {
        let mut p = MatchProblem::new();
        p.push_request(600.0, &[]);
        p.push_request(60.0, &[cand(7, 61.0), cand(8, 300.0)]);
        p.push_request(600.0, &[cand(9, 10.0)]);
        p.push_request(600.0, &[cand(9, 20.0)]);
        // Cheaper to leave unassigned than to drive 500 s with a 400 s penalty.
        p.push_request_with_penalty(600.0, 400.0, &[cand(10, 500.0)]);
        for greedy in [false, true] {
            let out = if greedy {
                solve_greedy(&p.input(), MatchConfig::default()).unwrap()
            } else {
                solve_optimal(&p.input(), MatchConfig::default()).unwrap()
            };
            let reasons: Vec<_> = out.unassigned.iter().map(|u| (u.request, u.reason)).collect();
            let mut expected = vec![
                (0, UnassignedReason::NoCandidates),
                (1, UnassignedReason::NoneWithinMaxPickup),
                (3, UnassignedReason::Outbid),
            ];
            if !greedy {
                expected.push((4, UnassignedReason::Outbid));
            }
            assert_eq!(reasons, expected, "greedy={greedy}");
        }
    }

    #[test]
    fn validation_errors() {
        let ok_offsets = [0u32, 1];
        let bad = |input: MatchInput<'_>| solve_optimal(&input, MatchConfig::default()).unwrap_err().code;
        assert_eq!(
            bad(MatchInput::new(&[0], &[1], &[1.0], &[60.0])),
            ErrorCode::LengthMismatch
        );
        assert_eq!(
            bad(MatchInput::new(&ok_offsets, &[1], &[], &[60.0])),
            ErrorCode::LengthMismatch
        );
        assert_eq!(
            bad(MatchInput::new(&[0, 2], &[1], &[1.0], &[60.0])),
            ErrorCode::LengthMismatch
        );
        assert_eq!(
            bad(MatchInput::new(&[1, 1], &[1], &[1.0], &[60.0])),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            bad(MatchInput::new(&[0, 2, 1], &[1, 2], &[1.0, 1.0], &[60.0, 60.0])),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            bad(MatchInput::new(&ok_offsets, &[1], &[f32::NAN], &[60.0])),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            bad(MatchInput::new(&ok_offsets, &[1], &[-1.0], &[60.0])),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            bad(MatchInput::new(&ok_offsets, &[1], &[f32::INFINITY], &[60.0])),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            bad(MatchInput::new(&ok_offsets, &[1], &[1.0], &[f32::NAN])),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            bad(MatchInput::new(&ok_offsets, &[1], &[1.0], &[-0.5])),
            ErrorCode::InvalidArgument
        );
        let input = MatchInput::new(&ok_offsets, &[1], &[1.0], &[60.0]);
        assert_eq!(bad(input.with_penalties(&[])), ErrorCode::LengthMismatch);
        assert_eq!(
            bad(input.with_penalties(&[f32::INFINITY])),
            ErrorCode::InvalidArgument
        );
        assert_eq!(bad(input.with_penalties(&[2.0e6])), ErrorCode::InvalidArgument);
        assert_eq!(
            Matcher::new(MatchConfig {
                unassigned_penalty_s: -1.0
            })
            .unwrap_err()
            .code,
            ErrorCode::InvalidArgument
        );
        // Zero requests is offsets == [0]; infinite max pickup means no limit.
        assert!(solve_optimal(&MatchInput::new(&[0], &[], &[], &[]), MatchConfig::default()).is_ok());
        let out = solve_optimal(
            &MatchInput::new(&ok_offsets, &[1], &[1e30], &[f32::INFINITY]),
            MatchConfig::default(),
        );
        assert_eq!(out.unwrap().unassigned[0].reason, UnassignedReason::Outbid);
    }

    #[test]
    fn huge_handles_and_reuse() {
        let mut matcher = Matcher::new(MatchConfig::default()).unwrap();
        let mut out = MatchOutcome::default();
        let mut p = MatchProblem::new();
        p.push_request(600.0, &[cand(u32::MAX, 5.0), cand(u32::MAX - 1, 6.0)]);
        p.push_request(600.0, &[cand(u32::MAX, 1.0)]);
        matcher.solve(&p.input(), &mut out).unwrap();
        assert_eq!(out.objective_ms, 7_000);
        assert_eq!(out.assignments[0].driver, u32::MAX - 1);
        // Reuse with small handles after large ones, and the greedy path in between.
        matcher.solve_greedy(&p.input(), &mut out).unwrap();
        assert_eq!(out.objective_ms, 5_000 + 3_600_000);
        let mut q = MatchProblem::new();
        q.push_request(600.0, &[cand(3, 5.0), cand(3, 4.0)]);
        matcher.solve(&q.input(), &mut out).unwrap();
        assert_eq!(
            out.assignments,
            vec![Assignment {
                request: 0,
                driver: 3,
                cost_s: 4.0
            }]
        );
    }
}
