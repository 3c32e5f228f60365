//! `Matcher`: global assignment of requests to drivers (`dispatch_core::matching`) over flat
//! typed arrays, with the greedy baseline and an async solve on the libuv thread pool.

use std::sync::{Arc, Mutex};

use dispatch_core::error::CoreError;
use dispatch_core::matching::{MatchConfig, MatchInput, MatchOutcome, Matcher as CoreMatcher};
use napi::bindgen_prelude::*;
use napi::{Env, Task};
use napi_derive::napi;

use crate::{coded, Code};

/// Solver settings.
#[napi(object, object_to_js = false)]
pub struct MatcherOptions {
    /// Seconds charged per unassigned request when a solve gives no penalties (default 3600).
    pub unassigned_penalty_s: Option<f64>,
}

/// A solve's result, flat. Assigned pairs are `(requests[i], drivers[i])` at cost `costsS[i]`,
/// in request order; `unassigned[j]` got no driver for `reasons[j]` (0 no candidates, 1 none
/// within max pickup, 2 outbid). Every request is in exactly one of the two lists.
#[napi(object, object_from_js = false)]
pub struct MatchResult {
    pub requests: Uint32Array,
    pub drivers: Uint32Array,
    pub costs_s: Float32Array,
    pub unassigned: Uint32Array,
    pub reasons: Uint8Array,
    /// Sum of the assigned costs as given, seconds.
    pub total_pickup_s: f64,
    /// What the optimal solver minimises: assigned costs and penalties in whole milliseconds.
    pub objective_ms: f64,
}

/// Work done by the last optimal solve on this matcher's own solver.
#[napi(object, object_from_js = false)]
pub struct SolveStats {
    pub greedy_placed: u32,
    pub reduction_bids: u32,
    pub searches: u32,
    pub settled: f64,
}

fn result_of(out: &MatchOutcome) -> MatchResult {
    let a = &out.assignments;
    MatchResult {
        requests: Uint32Array::new(a.iter().map(|x| x.request).collect()),
        drivers: Uint32Array::new(a.iter().map(|x| x.driver).collect()),
        costs_s: Float32Array::new(a.iter().map(|x| x.cost_s).collect()),
        unassigned: Uint32Array::new(out.unassigned.iter().map(|u| u.request).collect()),
        reasons: Uint8Array::new(out.unassigned.iter().map(|u| u.reason as u8).collect()),
        total_pickup_s: out.total_pickup_s,
        objective_ms: out.objective_ms as f64,
    }
}

struct Solver {
    matcher: CoreMatcher,
    out: MatchOutcome,
}

#[derive(Clone, Copy)]
enum Algorithm {
    Optimal,
    Greedy,
}

fn run(
    solver: &mut Solver,
    input: &MatchInput<'_>,
    algorithm: Algorithm,
) -> std::result::Result<MatchResult, CoreError> {
    match algorithm {
        Algorithm::Optimal => solver.matcher.solve(input, &mut solver.out)?,
        Algorithm::Greedy => solver.matcher.solve_greedy(input, &mut solver.out)?,
    }
    Ok(result_of(&solver.out))
}

/// Solves with the matcher's own solver (its warm scratch buffers) unless another solve holds
/// it, then with a fresh one: a sync solve never waits for an async one.
fn solve_with(
    shared: &Mutex<Solver>,
    config: MatchConfig,
    input: &MatchInput<'_>,
    algorithm: Algorithm,
) -> std::result::Result<MatchResult, CoreError> {
    match shared.try_lock() {
        Ok(mut solver) => run(&mut solver, input, algorithm),
        Err(_) => run(
            &mut Solver {
                matcher: CoreMatcher::new(config)?,
                out: MatchOutcome::default(),
            },
            input,
            algorithm,
        ),
    }
}

/// Assigns requests to drivers. A request `r`'s candidates are
/// `drivers[offsets[r]..offsets[r + 1]]` with pickup costs `costsS[...]` in seconds;
/// `maxPickupS[r]` is its longest acceptable pickup (Infinity: no limit), `penaltiesS[r]`
/// (optional) what leaving it unassigned costs. LENGTH_MISMATCH or INVALID_ARGUMENT name the
/// first offending position.
#[napi]
pub struct Matcher {
    config: MatchConfig,
    solver: Arc<Mutex<Solver>>,
}

#[napi]
impl Matcher {
    /// INVALID_ARGUMENT for a penalty outside `[0, 1e6]` seconds.
    #[napi(constructor)]
    pub fn new(options: Option<MatcherOptions>) -> Result<Self, Code> {
        let mut config = MatchConfig::default();
        if let Some(p) = options.and_then(|o| o.unassigned_penalty_s) {
            config.unassigned_penalty_s = p as f32;
        }
        let matcher = CoreMatcher::new(config).map_err(coded)?;
        Ok(Self {
            config,
            solver: Arc::new(Mutex::new(Solver {
                matcher,
                out: MatchOutcome::default(),
            })),
        })
    }

    /// The optimal assignment (minimum total pickup plus penalties), on the JS thread.
    #[napi]
    pub fn solve(
        &self,
        offsets: &[u32],
        drivers: &[u32],
        costs_s: &[f32],
        max_pickup_s: &[f32],
        penalties_s: Option<&[f32]>,
    ) -> Result<MatchResult, Code> {
        let input = input_of(offsets, drivers, costs_s, max_pickup_s, penalties_s);
        solve_with(&self.solver, self.config, &input, Algorithm::Optimal).map_err(coded)
    }

    /// The greedy baseline: requests in order, each takes its cheapest free candidate.
    #[napi(js_name = "solveGreedy")]
    pub fn solve_greedy(
        &self,
        offsets: &[u32],
        drivers: &[u32],
        costs_s: &[f32],
        max_pickup_s: &[f32],
        penalties_s: Option<&[f32]>,
    ) -> Result<MatchResult, Code> {
        let input = input_of(offsets, drivers, costs_s, max_pickup_s, penalties_s);
        solve_with(&self.solver, self.config, &input, Algorithm::Greedy).map_err(coded)
    }

    /// `solve` on the libuv thread pool. The inputs are copied and checked before this returns
    /// (a bad input throws here, synchronously), so JS may reuse its arrays at once.
    #[napi(js_name = "solveAsync", ts_return_type = "Promise<MatchResult>")]
    pub fn solve_async(
        &self,
        offsets: &[u32],
        drivers: &[u32],
        costs_s: &[f32],
        max_pickup_s: &[f32],
        penalties_s: Option<&[f32]>,
    ) -> Result<AsyncTask<SolveTask>, Code> {
        input_of(offsets, drivers, costs_s, max_pickup_s, penalties_s)
            .validate()
            .map_err(coded)?;
        Ok(AsyncTask::new(SolveTask {
            offsets: offsets.to_vec(),
            drivers: drivers.to_vec(),
            costs_s: costs_s.to_vec(),
            max_pickup_s: max_pickup_s.to_vec(),
            penalties_s: penalties_s.map(<[f32]>::to_vec),
            config: self.config,
            solver: Arc::clone(&self.solver),
        }))
    }

    #[napi(getter, js_name = "lastStats")]
    pub fn last_stats(&self) -> SolveStats {
        let s = self
            .solver
            .lock()
            .map(|solver| solver.matcher.last_stats())
            .unwrap_or_default();
        SolveStats {
            greedy_placed: s.greedy_placed,
            reduction_bids: s.reduction_bids,
            searches: s.searches,
            settled: s.settled as f64,
        }
    }
}

fn input_of<'a>(
    offsets: &'a [u32],
    drivers: &'a [u32],
    costs_s: &'a [f32],
    max_pickup_s: &'a [f32],
    penalties_s: Option<&'a [f32]>,
) -> MatchInput<'a> {
    MatchInput {
        offsets,
        drivers,
        costs_s,
        max_pickup_s,
        penalty_s: penalties_s,
    }
}

/// An owned copy of one solve's input, solved on a libuv worker thread.
pub struct SolveTask {
    offsets: Vec<u32>,
    drivers: Vec<u32>,
    costs_s: Vec<f32>,
    max_pickup_s: Vec<f32>,
    penalties_s: Option<Vec<f32>>,
    config: MatchConfig,
    solver: Arc<Mutex<Solver>>,
}

impl Task for SolveTask {
    type Output = MatchResult;
    type JsValue = MatchResult;

    fn compute(&mut self) -> napi::Result<MatchResult> {
        let input = input_of(
            &self.offsets,
            &self.drivers,
            &self.costs_s,
            &self.max_pickup_s,
            self.penalties_s.as_deref(),
        );
        // The input was validated before the task was queued, so this cannot fail on it;
        // should it fail anyway, the code travels in the message (a task's error status
        // cannot carry our codes).
        solve_with(&self.solver, self.config, &input, Algorithm::Optimal).map_err(|e| {
            napi::Error::new(
                Status::GenericFailure,
                format!("{}: {}", e.code.as_str(), e.message),
            )
        })
    }

    fn resolve(&mut self, _env: Env, output: MatchResult) -> napi::Result<MatchResult> {
        Ok(output)
    }
}
