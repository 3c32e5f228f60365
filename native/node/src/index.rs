//! `DriverIndex`: the live driver index of `dispatch_core::index` behind typed arrays. Handles
//! are the core's dense `u32` handles; the TypeScript face maps driver ids to them.

use std::cell::RefCell;

use dispatch_core::error::ErrorCode;
use dispatch_core::index::{
    DriverIndex as CoreIndex, Fix, IndexConfig, NearestQuery, Neighbor, QueryScratch, Status, UpsertOutcome,
    UpsertSummary,
};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::{
    byte, coded, internal, invalid_argument, length_mismatch, opt_byte, resolution as to_resolution, whole,
    Code,
};

/// Largest `k` of `nearestMany`, whose output is allocated as `points * k` slots up front.
pub const MAX_BATCH_K: u32 = 1024;

/// Index settings; every field is optional and defaults as documented in the core
/// (`IndexConfig`).
#[napi(object, object_to_js = false)]
pub struct IndexOptions {
    /// H3 resolution of the buckets (default 9).
    pub resolution: Option<f64>,
    /// Fastest plausible movement between two fixes, m/s (default 70).
    pub max_speed_mps: Option<f64>,
    /// Distance always allowed between two fixes, for GPS noise, m (default 50).
    pub jump_tolerance_m: Option<f64>,
    /// Consistent jumps in a row that relocate a driver (default 3).
    pub jump_confirm_fixes: Option<f64>,
    /// A fix this long after the last applied one skips the speed test, ms (default 600000).
    pub jump_reset_ms: Option<f64>,
    /// `expire` forgets drivers whose last applied fix is older than this, ms (default 120000).
    pub expire_after_ms: Option<f64>,
    /// Handles must be below this (default 2^24); memory grows with the largest handle.
    pub max_handles: Option<f64>,
}

/// Counts of one `upsertMany` call, by outcome.
#[napi(object, object_from_js = false)]
pub struct UpsertCounts {
    pub applied: u32,
    pub stale: u32,
    pub jump: u32,
    pub invalid: u32,
    pub relocated: u32,
}

impl From<UpsertSummary> for UpsertCounts {
    fn from(s: UpsertSummary) -> Self {
        Self {
            applied: s.applied,
            stale: s.stale,
            jump: s.jump,
            invalid: s.invalid,
            relocated: s.relocated,
        }
    }
}

/// A snapshot of one known driver.
#[napi(object, object_from_js = false)]
pub struct DriverSnapshot {
    pub lat: f64,
    pub lng: f64,
    /// H3 cell at the index resolution.
    pub cell: u64,
    pub time_ms: f64,
    /// Degrees clockwise from north; absent when unknown.
    pub heading_deg: Option<f64>,
    /// Metres per second; absent when unknown.
    pub speed_mps: Option<f64>,
    /// 0 offline, 1 free, 2 offered, 3 busy.
    pub status: u32,
    pub vehicle_class: u32,
}

/// The answer to one nearest query, nearest first (ties by handle).
#[napi(object, object_from_js = false)]
pub struct NearestResult<'env> {
    pub handles: Uint32ArraySlice<'env>,
    pub distances_m: Float64ArraySlice<'env>,
}

/// Answers to many nearest queries: point `i` has `counts[i]` results at
/// `handles[i * k ..]` and `distancesM[i * k ..]`; slots past the count are 0.
#[napi(object, object_from_js = false)]
pub struct NearestManyResult<'env> {
    pub k: u32,
    pub counts: Uint32ArraySlice<'env>,
    pub handles: Uint32ArraySlice<'env>,
    pub distances_m: Float64ArraySlice<'env>,
}

/// Free drivers per H3 cell, ascending by cell.
#[napi(object, object_from_js = false)]
pub struct CellCounts<'env> {
    pub cells: BigUint64ArraySlice<'env>,
    pub counts: Uint32ArraySlice<'env>,
}

/// The byte range a slice covers.
fn bytes<T>(s: &[T]) -> std::ops::Range<usize> {
    let start = s.as_ptr() as usize;
    start..start + std::mem::size_of_val(s)
}

/// INVALID_ARGUMENT when the output buffer shares memory with any of `inputs` (two views of
/// one ArrayBuffer): writing it while reading them would be undefined behaviour.
fn disjoint<T>(
    name: &str,
    out: &[T],
    inputs: &[std::ops::Range<usize>],
) -> std::result::Result<(), Error<Code>> {
    let o = bytes(out);
    let overlaps = |r: &std::ops::Range<usize>| !r.is_empty() && o.start < r.end && r.start < o.end;
    if inputs.iter().any(overlaps) {
        return Err(invalid_argument(format!(
            "{name} shares memory with another argument; pass a buffer of its own"
        )));
    }
    Ok(())
}

fn to_handle(v: f64) -> std::result::Result<u32, Error<Code>> {
    whole("handle", v, u32::MAX)
}

fn finite(name: &str, v: f64) -> std::result::Result<f64, Error<Code>> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(invalid_argument(format!(
            "{name} is {v}, expected a finite number"
        )))
    }
}

/// A fix's heading or speed: NaN (unknown) for an absent value.
fn unknown_or(v: Option<f64>) -> f32 {
    v.map_or(f32::NAN, |v| v as f32)
}

fn known(v: f32) -> Option<f64> {
    (!v.is_nan()).then_some(f64::from(v))
}

/// One index's state. It lives in a per-thread slab rather than in the JS object, so that
/// the hot single-point query can be a static method: napi-rs 3 wraps every call of an
/// instance method in borrow bookkeeping of `this` (a global mutex and hash map) that costs
/// more than the call itself.
struct State {
    inner: CoreIndex,
    scratch: QueryScratch,
    found: Vec<Neighbor>,
    expired: Vec<u32>,
}

#[derive(Default)]
struct Slab {
    states: Vec<Option<Box<State>>>,
    vacant: Vec<u32>,
}

thread_local! {
    static SLAB: RefCell<Slab> = RefCell::new(Slab::default());
    /// Slots whose JS object was collected while the slab was borrowed; freed on the next use.
    static DROPPED: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

fn slab_insert(state: State) -> u32 {
    SLAB.with_borrow_mut(|slab| {
        for slot in DROPPED.take() {
            slab.states[slot as usize] = None;
            slab.vacant.push(slot);
        }
        let boxed = Some(Box::new(state));
        match slab.vacant.pop() {
            Some(slot) => {
                slab.states[slot as usize] = boxed;
                slot
            }
            None => {
                slab.states.push(boxed);
                (slab.states.len() - 1) as u32
            }
        }
    })
}

/// Runs `f` on the state in `slot`. Nothing inside creates JS values, so no JS (and no GC
/// finalizer touching the slab) can run while the slab is borrowed.
fn with<T>(slot: u32, f: impl FnOnce(&mut State) -> T) -> std::result::Result<T, Error<Code>> {
    SLAB.with_borrow_mut(|slab| match slab.states.get_mut(slot as usize) {
        Some(Some(state)) => Ok(f(state)),
        _ => Err(invalid_argument(format!("no driver index in slot {slot}"))),
    })
}

/// Positions, status and vehicle class of live drivers, bucketed by H3 cell; exact k-nearest
/// queries. Mutate and query from the JS thread only.
#[napi]
pub struct DriverIndex {
    slot: u32,
}

impl Drop for DriverIndex {
    fn drop(&mut self) {
        let slot = self.slot;
        // `try_with`: at thread exit the slab may already be gone, and with it the state.
        let freed = SLAB.try_with(|slab| match slab.try_borrow_mut() {
            Ok(mut slab) => {
                slab.states[slot as usize] = None;
                slab.vacant.push(slot);
                true
            }
            Err(_) => false,
        });
        if freed == Ok(false) {
            let _ = DROPPED.try_with(|d| d.borrow_mut().push(slot));
        }
    }
}

#[napi]
impl DriverIndex {
    /// INVALID_RESOLUTION or INVALID_ARGUMENT for settings outside their domain.
    #[napi(constructor)]
    pub fn new(options: Option<IndexOptions>) -> Result<Self, Code> {
        let d = IndexConfig::default();
        let o = options.unwrap_or(IndexOptions {
            resolution: None,
            max_speed_mps: None,
            jump_tolerance_m: None,
            jump_confirm_fixes: None,
            jump_reset_ms: None,
            expire_after_ms: None,
            max_handles: None,
        });
        let config = IndexConfig {
            resolution: o
                .resolution
                .map(to_resolution)
                .transpose()?
                .unwrap_or(d.resolution),
            max_speed_mps: o.max_speed_mps.unwrap_or(d.max_speed_mps),
            jump_tolerance_m: o.jump_tolerance_m.unwrap_or(d.jump_tolerance_m),
            jump_confirm_fixes: o
                .jump_confirm_fixes
                .map(|v| whole("jumpConfirmFixes", v, u32::MAX))
                .transpose()?
                .unwrap_or(d.jump_confirm_fixes),
            jump_reset_ms: o.jump_reset_ms.unwrap_or(d.jump_reset_ms),
            expire_after_ms: o.expire_after_ms.unwrap_or(d.expire_after_ms),
            max_handles: o
                .max_handles
                .map(|v| whole("maxHandles", v, u32::MAX))
                .transpose()?
                .unwrap_or(d.max_handles),
        };
        let slot = slab_insert(State {
            inner: CoreIndex::new(config).map_err(coded)?,
            scratch: QueryScratch::new(),
            found: Vec::new(),
            expired: Vec::new(),
        });
        Ok(Self { slot })
    }

    /// This index's slot, the first argument of the static `nearestInto`.
    #[napi(getter)]
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// Number of known drivers.
    #[napi(getter)]
    pub fn size(&self) -> Result<u32, Code> {
        with(self.slot, |s| s.inner.len() as u32)
    }

    /// Number of cell buckets held, empty ones included.
    #[napi(getter, js_name = "bucketCount")]
    pub fn bucket_count(&self) -> Result<u32, Code> {
        with(self.slot, |s| s.inner.bucket_count() as u32)
    }

    /// The resolution of the buckets.
    #[napi(getter)]
    pub fn resolution(&self) -> Result<u32, Code> {
        with(self.slot, |s| u32::from(s.inner.config().resolution))
    }

    /// The largest handle plus one.
    #[napi(getter, js_name = "maxHandles")]
    pub fn max_handles(&self) -> Result<u32, Code> {
        with(self.slot, |s| s.inner.config().max_handles)
    }

    /// The hot path: applies fixes in array order, writing one outcome code per fix into
    /// `outcomes` (0 applied, 1 stale, 2 jump, 3 invalid, 4 relocated). `latLngs` is interleaved;
    /// `headings` and `speeds` are empty (unknown) or one per fix, NaN for an unknown one.
    /// LENGTH_MISMATCH before anything is applied; a malformed fix is `invalid` and the batch
    /// goes on. Reads and writes the caller's buffers in place: no per-fix allocation.
    #[napi(js_name = "upsertMany")]
    pub fn upsert_many(
        &self,
        handles: &[u32],
        lat_lngs: &[f64],
        times_ms: &[f64],
        headings: &[f32],
        speeds: &[f32],
        mut outcomes: Uint8ArraySlice,
    ) -> Result<UpsertCounts, Code> {
        let inputs = [
            bytes(handles),
            bytes(lat_lngs),
            bytes(times_ms),
            bytes(headings),
            bytes(speeds),
        ];
        disjoint("outcomes", &outcomes, &inputs)?;
        // SAFETY: the JS thread is inside this call, so nothing else touches the buffer, and
        // it shares no memory with the inputs (checked above).
        let outcomes = unsafe { outcomes.as_mut() };
        with(self.slot, |s| {
            s.inner
                .upsert_many(handles, lat_lngs, times_ms, headings, speeds, outcomes)
        })?
        .map(UpsertCounts::from)
        .map_err(coded)
    }

    /// One fix; returns its outcome code (as `upsertMany` writes). INVALID_COORDINATE or
    /// INVALID_ARGUMENT for a malformed fix, and then nothing changes.
    #[napi]
    pub fn upsert(
        &self,
        handle: f64,
        lat: f64,
        lng: f64,
        time_ms: f64,
        heading_deg: Option<f64>,
        speed_mps: Option<f64>,
    ) -> Result<u32, Code> {
        let fix = Fix {
            lat,
            lng,
            time_ms,
            heading_deg: unknown_or(heading_deg),
            speed_mps: unknown_or(speed_mps),
        };
        let handle = to_handle(handle)?;
        let outcome = with(self.slot, |s| s.inner.upsert(handle, fix))?.map_err(coded)?;
        Ok(outcome as u32)
    }

    /// 0 offline, 1 free, 2 offered, 3 busy. UNKNOWN_HANDLE for a driver not in the index.
    #[napi(js_name = "setStatus")]
    pub fn set_status(&self, handle: f64, status: f64) -> Result<(), Code> {
        let status = Status::try_from(byte("status", status)?).map_err(coded)?;
        let handle = to_handle(handle)?;
        with(self.slot, |s| s.inner.set_status(handle, status))?.map_err(coded)
    }

    /// Vehicle class 0..=255. UNKNOWN_HANDLE for a driver not in the index.
    #[napi(js_name = "setClass")]
    pub fn set_class(&self, handle: f64, vehicle_class: f64) -> Result<(), Code> {
        let class = byte("vehicleClass", vehicle_class)?;
        let handle = to_handle(handle)?;
        with(self.slot, |s| s.inner.set_class(handle, class))?.map_err(coded)
    }

    /// Forgets a driver; its handle may be reused. UNKNOWN_HANDLE for a driver not in the index.
    #[napi]
    pub fn remove(&self, handle: f64) -> Result<(), Code> {
        let handle = to_handle(handle)?;
        with(self.slot, |s| s.inner.remove(handle))?.map_err(coded)
    }

    /// The driver's last applied state, or null for a handle not in the index.
    #[napi]
    pub fn get(&self, handle: f64) -> Result<Option<DriverSnapshot>, Code> {
        let handle = to_handle(handle)?;
        let view = with(self.slot, |s| s.inner.get(handle))?;
        Ok(view.map(|v| DriverSnapshot {
            lat: v.lat,
            lng: v.lng,
            cell: v.cell,
            time_ms: v.time_ms,
            heading_deg: known(v.heading_deg),
            speed_mps: known(v.speed_mps),
            status: v.status as u32,
            vehicle_class: u32::from(v.class),
        }))
    }

    /// Forgets every driver whose last applied fix is older than `nowMs - expireAfterMs`;
    /// returns their handles, ascending.
    #[napi]
    pub fn expire(&self, env: Env, now_ms: f64) -> Result<Uint32ArraySlice<'static>, Code> {
        let now_ms = finite("nowMs", now_ms)?;
        let expired = with(self.slot, |s| {
            s.inner.expire(now_ms, &mut s.expired);
            s.expired.clone()
        })?;
        Uint32ArraySlice::copy_from(&env, expired).map_err(internal)
    }

    /// Drops the buckets of cells no driver is in.
    #[napi(js_name = "pruneEmptyCells")]
    pub fn prune_empty_cells(&self) -> Result<(), Code> {
        with(self.slot, |s| s.inner.prune_empty_cells())
    }

    /// The `k` nearest free drivers (of `vehicleClass`, any when absent) within `radiusM`
    /// (inclusive; Infinity for no limit), nearest first, ties by handle; exact.
    #[napi]
    pub fn nearest(
        &self,
        env: Env,
        lat: f64,
        lng: f64,
        k: f64,
        radius_m: f64,
        vehicle_class: Option<f64>,
    ) -> Result<NearestResult<'static>, Code> {
        let query = Self::query(k, radius_m, vehicle_class)?;
        let (handles, distances) = with(self.slot, |s| {
            s.inner.nearest(lat, lng, &query, &mut s.scratch, &mut s.found)?;
            let handles: Vec<u32> = s.found.iter().map(|n| n.handle).collect();
            let distances: Vec<f64> = s.found.iter().map(|n| n.distance_m).collect();
            Ok((handles, distances))
        })?
        .map_err(coded)?;
        Ok(NearestResult {
            handles: Uint32ArraySlice::copy_from(&env, handles).map_err(internal)?,
            distances_m: Float64ArraySlice::copy_from(&env, distances).map_err(internal)?,
        })
    }

    /// One fix of one driver for the index in `slot`: the per-frame hot call of the driver
    /// socket. Static, with plain numbers (NaN heading/speed = unknown), so it allocates nothing
    /// and skips the per-call bookkeeping of an instance method. Returns the outcome code as
    /// `upsertMany` writes it; a malformed fix is `invalid` (3) and changes nothing.
    /// UNKNOWN_HANDLE only for a handle that is not in the index and was never issued.
    #[napi(js_name = "upsertOne")]
    #[allow(clippy::too_many_arguments)]
    pub fn upsert_one(
        slot: u32,
        handle: f64,
        lat: f64,
        lng: f64,
        time_ms: f64,
        heading_deg: f64,
        speed_mps: f64,
    ) -> Result<u32, Code> {
        let handle = to_handle(handle)?;
        let fix = Fix {
            lat,
            lng,
            time_ms,
            heading_deg: heading_deg as f32,
            speed_mps: speed_mps as f32,
        };
        match with(slot, |s| s.inner.upsert(handle, fix))? {
            Ok(outcome) => Ok(outcome as u32),
            Err(e) if e.code == ErrorCode::InvalidCoordinate || e.code == ErrorCode::InvalidArgument => {
                Ok(UpsertOutcome::Invalid as u32)
            }
            Err(e) => Err(coded(e)),
        }
    }

    /// `nearest` for the index in `slot` (its `slot` getter), writing into the caller's buffers
    /// (each at least `k` long, else LENGTH_MISMATCH); returns how many were written. Static,
    /// with plain arguments and caller-owned buffers, because it is the per-request hot call:
    /// it allocates nothing and skips the per-call bookkeeping of an instance method.
    #[napi(js_name = "nearestInto")]
    #[allow(clippy::too_many_arguments)]
    pub fn nearest_into(
        slot: u32,
        lat: f64,
        lng: f64,
        k: f64,
        radius_m: f64,
        mut out_handles: Uint32ArraySlice,
        mut out_distances_m: Float64ArraySlice,
        vehicle_class: Option<f64>,
    ) -> Result<u32, Code> {
        let query = Self::query(k, radius_m, vehicle_class)?;
        disjoint("outHandles", &out_handles, &[bytes(&out_distances_m)])?;
        // SAFETY: the JS thread is inside this call and the two buffers do not overlap.
        let (out_handles, out_distances_m) = unsafe { (out_handles.as_mut(), out_distances_m.as_mut()) };
        if out_handles.len() < query.k || out_distances_m.len() < query.k {
            return Err(length_mismatch(format!(
                "nearestInto: k = {} needs output buffers of at least k entries; got {} handles and {} distances",
                query.k,
                out_handles.len(),
                out_distances_m.len()
            )));
        }
        with(slot, |s| {
            s.inner.nearest(lat, lng, &query, &mut s.scratch, &mut s.found)?;
            for (i, n) in s.found.iter().enumerate() {
                out_handles[i] = n.handle;
                out_distances_m[i] = n.distance_m;
            }
            Ok(s.found.len() as u32)
        })?
        .map_err(coded)
    }

    /// `nearest` for many interleaved points in one call (`k` at most 1024). Every point is
    /// checked first: INVALID_COORDINATE names the first bad one; LENGTH_MISMATCH for an odd
    /// length.
    #[napi(js_name = "nearestMany")]
    pub fn nearest_many(
        &self,
        env: Env,
        lat_lngs: &[f64],
        k: f64,
        radius_m: f64,
        vehicle_class: Option<f64>,
    ) -> Result<NearestManyResult<'static>, Code> {
        let k = whole("k", k, MAX_BATCH_K)?;
        let query = Self::query(f64::from(k), radius_m, vehicle_class)?;
        if !lat_lngs.len().is_multiple_of(2) {
            return Err(length_mismatch(format!(
                "expected interleaved lat/lng pairs, got an odd length {}",
                lat_lngs.len()
            )));
        }
        let n = lat_lngs.len() / 2;
        let mut handles = vec![0u32; n * query.k];
        let mut distances = vec![0f64; n * query.k];
        let mut counts = vec![0u32; n];
        with(self.slot, |s| {
            s.inner.nearest_many(
                lat_lngs,
                &query,
                &mut s.scratch,
                &mut handles,
                &mut distances,
                &mut counts,
            )
        })?
        .map_err(coded)?;
        Ok(NearestManyResult {
            k,
            counts: Uint32ArraySlice::copy_from(&env, counts).map_err(internal)?,
            handles: Uint32ArraySlice::copy_from(&env, handles).map_err(internal)?,
            distances_m: Float64ArraySlice::copy_from(&env, distances).map_err(internal)?,
        })
    }

    /// Free drivers (of `vehicleClass`, any when absent) per H3 cell at `resolution`, which
    /// must not be finer than the index (INVALID_RESOLUTION). Cells without any are left out.
    #[napi(js_name = "supplyByCell")]
    pub fn supply_by_cell(
        &self,
        env: Env,
        resolution: f64,
        vehicle_class: Option<f64>,
    ) -> Result<CellCounts<'static>, Code> {
        let res = to_resolution(resolution)?;
        let class = opt_byte("vehicleClass", vehicle_class)?;
        let pairs = with(self.slot, |s| s.inner.supply_by_cell(res, class))?.map_err(coded)?;
        let cells: Vec<u64> = pairs.iter().map(|p| p.0).collect();
        let counts: Vec<u32> = pairs.iter().map(|p| p.1).collect();
        Ok(CellCounts {
            cells: BigUint64ArraySlice::copy_from(&env, cells).map_err(internal)?,
            counts: Uint32ArraySlice::copy_from(&env, counts).map_err(internal)?,
        })
    }

    /// Free drivers (of `vehicleClass`, any when absent) in the union of `cells` (each at the
    /// index resolution or coarser).
    #[napi(js_name = "supplyInCells")]
    pub fn supply_in_cells(&self, cells: &[u64], vehicle_class: Option<f64>) -> Result<u32, Code> {
        let class = opt_byte("vehicleClass", vehicle_class)?;
        with(self.slot, |s| s.inner.supply_in_cells(cells, class))?.map_err(coded)
    }
}

impl DriverIndex {
    fn query(
        k: f64,
        radius_m: f64,
        vehicle_class: Option<f64>,
    ) -> std::result::Result<NearestQuery, Error<Code>> {
        Ok(NearestQuery {
            k: whole("k", k, u32::MAX)? as usize,
            radius_m,
            class: opt_byte("vehicleClass", vehicle_class)?,
        })
    }
}
