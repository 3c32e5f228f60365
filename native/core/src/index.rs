//! The live driver index: where every driver is, what it is doing, and who is nearest to a point.
//!
//! # Handles
//!
//! Drivers are addressed by dense `u32` handles. The binding maps external string ids to handles
//! once at the boundary and reuses freed handles; here a handle is a position in a `Vec`, so the
//! hot path never hashes a driver id. A handle is **known** from its first accepted upsert until
//! [`DriverIndex::remove`] or [`DriverIndex::expire`] forgets it; before that and after that it is
//! **unknown**: [`DriverIndex::get`] returns `None` and the mutators return
//! [`ErrorCode::UnknownHandle`]. Handles must stay below [`IndexConfig::max_handles`], because
//! memory grows with the largest handle ever used.
//!
//! # Cells
//!
//! Every known driver sits in the bucket of its H3 cell at [`IndexConfig::resolution`] (the cell
//! [`crate::geo::cells_of`] gives for its position). A bucket keeps, next to the drivers, the cell
//! centre as a unit vector and (for cells that lie on one icosahedron face) the six edge planes, so
//! an upsert inside the same cell is a handful of dot products, not an H3 encode.
//!
//! # Nearest drivers
//!
//! [`DriverIndex::nearest`] is exact: it returns what a brute-force scan over all drivers would
//! return (great-circle distance by [`crate::geo::haversine_m`], ascending, ties by handle). It
//! walks H3 rings outwards from the query cell over a cell graph cached in the buckets, and
//! stops with the rule documented on [`DriverIndex::nearest`]; searches that reach far (sparse
//! areas, large radii) continue on a level three resolutions coarser, or as a scan of all
//! buckets, whichever is cheaper.

use std::collections::{BinaryHeap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use h3o::{CellIndex, LatLng, Resolution};

use crate::error::{CoreError, ErrorCode, Result};
use crate::geo::{haversine_m, lat_lng, resolution};

/// Radius of the sphere [`haversine_m`] works on; the chord arithmetic below must use the same one.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// `RES0_U_GNOMONIC` of H3: the distance between adjacent resolution-0 cell centres on the
/// gnomonic plane of an icosahedron face (unit sphere); it shrinks by sqrt(7) per resolution.
const RES0_U_GNOMONIC: f64 = 0.381_966_011_250_105;

/// An upper bound on the great-circle distance, in metres, from a cell's centre to any point of
/// that cell at `res`, for every cell of the globe (pentagons and cells across icosahedron edges
/// included).
///
/// Why it holds: on the gnomonic plane of a face, H3 cells are regular hexagons whose vertices lie
/// `1/sqrt(3)` centre spacings from the centre, and adjacent faces unfold onto each other with
/// their lattices matching. The gnomonic projection never shrinks lengths (radial scale
/// `sec^2`, tangential scale `sec` of the angle from the face centre), so the spherical image of
/// the straight planar segment from the centre to any point of the cell is no longer than it. We
/// add 1 % and one metre for floating-point error. `tests::cell_radius_bound_holds` checks it
/// against H3 boundaries at every resolution.
pub fn max_cell_radius_m(res: Resolution) -> f64 {
    let planar = RES0_U_GNOMONIC / 3f64.sqrt() / 7f64.sqrt().powi(i32::from(u8::from(res)));
    planar * EARTH_RADIUS_M * 1.01 + 1.0
}

/// A lower bound, in metres, on the distance between two cells at `res` that are not neighbours.
///
/// On a face plane two non-adjacent hexagons are at least one edge (`1/sqrt(3)` spacings) apart;
/// the gnomonic projection magnifies lengths by at most `1/cos^2(37.38 deg) = 1.585` inside a face
/// (37.38 deg is the largest angle between a face centre and a point of that face). So any two
/// points closer than `0.631` edge lie in the same or in adjacent cells; we use `0.5` edge. It
/// follows that a point in a cell at grid distance `j` from the cell of `q` is at least `(j - 1)`
/// times this from `q` (walk from `q` in steps shorter than this bound: each step moves at most one
/// cell).
fn min_non_adjacent_gap_m(res: Resolution) -> f64 {
    let edge = RES0_U_GNOMONIC / 3f64.sqrt() / 7f64.sqrt().powi(i32::from(u8::from(res)));
    edge * EARTH_RADIUS_M * 0.5
}

// ------------------------------------------------------------------------------------------------
// Public types
// ------------------------------------------------------------------------------------------------

/// What a driver is doing, as far as dispatch cares. Only `Free` drivers are found by
/// [`DriverIndex::nearest`] and counted as supply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Status {
    /// Not taking rides (the state of a driver the index has just learned about).
    Offline = 0,
    /// Waiting for a ride: a dispatch candidate.
    Free = 1,
    /// Holds an offer and may accept it.
    Offered = 2,
    /// On a trip, or driving to a pickup.
    Busy = 3,
}

impl TryFrom<u8> for Status {
    type Error = CoreError;

    fn try_from(value: u8) -> Result<Self> {
        match value {
            0 => Ok(Status::Offline),
            1 => Ok(Status::Free),
            2 => Ok(Status::Offered),
            3 => Ok(Status::Busy),
            _ => Err(CoreError::new(
                ErrorCode::InvalidArgument,
                format!("status {value} is not 0..=3"),
            )),
        }
    }
}

/// What happened to one GPS fix. `#[repr(u8)]` values are what [`DriverIndex::upsert_many`]
/// writes into its output array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum UpsertOutcome {
    /// The fix is now the driver's position (also for the first fix of an unknown handle).
    Applied = 0,
    /// Not newer than the last applied fix of this driver (time equal or earlier): dropped.
    Stale = 1,
    /// Implies a speed above [`IndexConfig::max_speed_mps`]: not applied, remembered as a
    /// candidate for the relocation rule (see [`IndexConfig::jump_confirm_fixes`]).
    Jump = 2,
    /// Batch mode only: the fix was malformed (coordinate, time, heading, speed or handle out of
    /// range); the single [`DriverIndex::upsert`] returns the error instead.
    Invalid = 3,
    /// An implausible jump that the relocation rule accepted: the position was applied.
    Relocated = 4,
}

/// One GPS fix of one driver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    /// Degrees, [-90, 90].
    pub lat: f64,
    /// Degrees, [-180, 180].
    pub lng: f64,
    /// Milliseconds on the clock the caller also passes to [`DriverIndex::expire`]; finite.
    pub time_ms: f64,
    /// Degrees clockwise from north in [0, 360], or NaN when unknown.
    pub heading_deg: f32,
    /// Metres per second, >= 0, or NaN when unknown.
    pub speed_mps: f32,
}

impl Fix {
    /// A fix without heading and speed.
    pub fn at(lat: f64, lng: f64, time_ms: f64) -> Self {
        Self {
            lat,
            lng,
            time_ms,
            heading_deg: f32::NAN,
            speed_mps: f32::NAN,
        }
    }
}

/// Tuning of a [`DriverIndex`]. `Default` gives the values documented per field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexConfig {
    /// H3 resolution of the buckets (default 9: cells of about 0.1 km^2, edge about 175 m).
    pub resolution: u8,
    /// Fastest plausible movement between two fixes, m/s (default 70, about 250 km/h).
    pub max_speed_mps: f64,
    /// Distance always allowed between two fixes on top of `max_speed_mps * dt`, for GPS noise on
    /// fixes close in time (default 50 m).
    pub jump_tolerance_m: f64,
    /// Relocation rule, part one: a jump is accepted (outcome `Relocated`) when it is the
    /// `jump_confirm_fixes`-th fix in a row that jumped away from the applied position while
    /// every one of them was plausible relative to the one before (same speed test). Default 3:
    /// two fixes are rejected as `Jump`, the third consistent one moves the driver. 1 accepts
    /// every jump at once (and still reports `Relocated`).
    pub jump_confirm_fixes: u32,
    /// Relocation rule, part two: a fix that comes this many ms or more after the last applied
    /// fix is applied without a speed test (default 600 000 = 10 min: the app was off, the driver
    /// may have been carried anywhere).
    pub jump_reset_ms: f64,
    /// [`DriverIndex::expire`] forgets drivers whose last applied fix is older than this (default
    /// 120 000 ms).
    pub expire_after_ms: f64,
    /// Handles must be below this (default 2^24). Memory is proportional to the largest handle.
    pub max_handles: u32,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self {
            resolution: 9,
            max_speed_mps: 70.0,
            jump_tolerance_m: 50.0,
            jump_confirm_fixes: 3,
            jump_reset_ms: 600_000.0,
            expire_after_ms: 120_000.0,
            max_handles: 1 << 24,
        }
    }
}

/// A snapshot of one known driver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriverView {
    pub lat: f64,
    pub lng: f64,
    /// H3 cell at the index resolution.
    pub cell: u64,
    /// Time of the last applied fix.
    pub time_ms: f64,
    /// Of the last applied fix; NaN when unknown.
    pub heading_deg: f32,
    /// Of the last applied fix; NaN when unknown.
    pub speed_mps: f32,
    pub status: Status,
    pub class: u8,
}

/// One result of a nearest-driver query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbor {
    pub handle: u32,
    /// Great-circle distance from the query point ([`haversine_m`]).
    pub distance_m: f64,
}

/// What a nearest-driver query asks for: at most `k` free drivers within `radius_m` (inclusive,
/// `f64::INFINITY` for no limit) of the vehicle class `class` (`None`: any class).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearestQuery {
    pub k: usize,
    pub radius_m: f64,
    pub class: Option<u8>,
}

/// Counts of one [`DriverIndex::upsert_many`] call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertSummary {
    pub applied: u32,
    pub stale: u32,
    pub jump: u32,
    pub invalid: u32,
    pub relocated: u32,
}

/// Reusable buffers of a query, so a query does not allocate once warm. One per thread; a scratch
/// may be used with any index.
#[derive(Debug, Default)]
pub struct QueryScratch {
    best: Vec<(f64, u32)>,
    picks: Picks,
    walk: Walk,
    to_scan: Vec<u32>,
    empties: Vec<u64>,
    coarse_ring: Vec<u64>,
    coarse_next: Vec<u64>,
    coarse_seen: HashSet<u64, BuildCellHasher>,
    /// Centres of cells that have no bucket, computed when the stop rule needed them.
    centers: HashMap<u64, [f64; 3], BuildCellHasher>,
}

impl QueryScratch {
    pub fn new() -> Self {
        Self::default()
    }
}

// ------------------------------------------------------------------------------------------------
// Internals
// ------------------------------------------------------------------------------------------------

/// H3 indexes differ in a few middle bits; a folded multiply spreads them over the whole word, and
/// costs a fraction of SipHash.
#[derive(Debug, Default, Clone, Copy)]
struct CellHasher(u64);

impl Hasher for CellHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, x: u64) {
        let m = u128::from(x ^ self.0) * 0x9E37_79B9_7F4A_7C15_u128;
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
}

type BuildCellHasher = BuildHasherDefault<CellHasher>;

const NONE: u32 = u32::MAX;

/// Margin, in radians of arc, that a point must keep from every edge plane of a cell for the
/// in-cell shortcut to trust it (about 6 mm); closer points go through the H3 encoder.
const EDGE_MARGIN: f64 = 1e-9;

#[derive(Debug, Clone, Copy)]
struct Entry {
    xyz: [f64; 3],
    lat: f64,
    lng: f64,
    handle: u32,
    status: Status,
    class: u8,
}

/// A cell drivers have been in. 128-byte aligned: what a query reads to decide whether to scan
/// (centre) and to walk on (neighbours) is in the first line, the entry list in the second, and
/// CPUs fetch such line pairs together.
#[derive(Debug)]
#[repr(C, align(128))]
struct Bucket {
    center: [f64; 3],
    /// Buckets of the neighbour cells (the cell graph a query walks): `NO_BUCKET` for a
    /// neighbour without a bucket, `NO_CELL` for the sixth of a pentagon.
    nbrs: [u32; 6],
    cell: u64,
    /// `entries[..free]` are the `Free` drivers, the rest the others: queries read the prefix.
    free: u32,
    entries: Vec<Entry>,
}

const NO_BUCKET: u32 = u32::MAX;
const NO_CELL: u32 = u32::MAX - 1;

/// Edge planes (inward unit normals) of a hexagon that lies on a single icosahedron face and is
/// convex there: exactly the region H3 encodes to this cell (gnomonic straight lines are great
/// circles). `None` for pentagons and cells across face edges, whose true outline has kinks that
/// the H3 boundary does not list: those always go through the encoder.
type EdgePlanes = Option<[[f64; 3]; 6]>;

/// What an upsert touches, 32 bytes so two share a cache line; the jump candidate lives apart in
/// [`Pending`] and is read only while a driver is jumping.
#[derive(Debug, Clone, Copy)]
struct Driver {
    time_ms: f64,
    /// `NONE` when the handle is unknown.
    bucket: u32,
    slot: u32,
    heading_deg: f32,
    speed_mps: f32,
    /// Consecutive consistent jumps so far (0: not jumping).
    streak: u32,
    status: Status,
    class: u8,
}

impl Driver {
    const ABSENT: Driver = Driver {
        time_ms: 0.0,
        bucket: NONE,
        slot: 0,
        heading_deg: f32::NAN,
        speed_mps: f32::NAN,
        streak: 0,
        status: Status::Offline,
        class: 0,
    };
}

/// The last rejected jump of a driver.
#[derive(Debug, Clone, Copy, Default)]
struct Pending {
    lat: f64,
    lng: f64,
    time_ms: f64,
}

fn unit(lat_deg: f64, lng_deg: f64) -> [f64; 3] {
    let (sl, cl) = lat_deg.to_radians().sin_cos();
    let (sg, cg) = lng_deg.to_radians().sin_cos();
    [cl * cg, cl * sg, sl]
}

fn dot(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn chord2(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    let (dx, dy, dz) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
    dx * dx + dy * dy + dz * dz
}

/// Great-circle distance in metres between two unit vectors.
fn arc_m(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    2.0 * EARTH_RADIUS_M * (chord2(a, b).sqrt() / 2.0).min(1.0).asin()
}

/// Whether the great-circle distance between two unit vectors exceeds `m` metres. Usually
/// without trigonometry: the arc of a chord `c <= 0.1` lies between `c` and `c * (1 + c^2 / 23)`.
fn farther_than(a: &[f64; 3], b: &[f64; 3], m: f64) -> bool {
    let c2 = chord2(a, b);
    let m2 = (m / EARTH_RADIUS_M) * (m / EARTH_RADIUS_M);
    if c2 <= 0.01 {
        let stretch = 1.0 + c2 / 23.0;
        if c2 * stretch * stretch <= m2 {
            return false;
        }
        if c2 > m2 {
            return true;
        }
    }
    arc_m(a, b) > m
}

/// Squared chord of an arc of `dist_m`; infinity once the arc reaches half the globe, so that
/// every point compares as inside.
fn chord2_of(dist_m: f64) -> f64 {
    let a = dist_m / EARTH_RADIUS_M;
    if a.is_nan() || a >= std::f64::consts::PI * 0.999_999 {
        return f64::INFINITY;
    }
    let c = 2.0 * (a / 2.0).sin();
    c * c
}

fn cross(a: &[f64; 3], b: &[f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn cell_center(cell: CellIndex) -> [f64; 3] {
    let ll = LatLng::from(cell);
    unit(ll.lat(), ll.lng())
}

fn edge_planes(cell: CellIndex, center: &[f64; 3]) -> EdgePlanes {
    if cell.is_pentagon() || cell.icosahedron_faces().len() != 1 {
        return None;
    }
    let boundary = cell.boundary();
    if boundary.len() != 6 {
        return None;
    }
    let mut v = [[0.0; 3]; 6];
    for (slot, ll) in v.iter_mut().zip(boundary.iter()) {
        *slot = unit(ll.lat(), ll.lng());
    }
    let mut normals = [[0.0; 3]; 6];
    for i in 0..6 {
        let mut n = cross(&v[i], &v[(i + 1) % 6]);
        let len = dot(&n, &n).sqrt();
        if len.is_nan() || len <= 0.0 {
            return None;
        }
        n = [n[0] / len, n[1] / len, n[2] / len];
        if dot(&n, center) < 0.0 {
            n = [-n[0], -n[1], -n[2]];
        }
        // Convex and containing its centre, or no shortcut.
        if dot(&n, center) <= EDGE_MARGIN || v.iter().any(|p| dot(&n, p) < -1e-12) {
            return None;
        }
        normals[i] = n;
    }
    Some(normals)
}

/// A cache hint; never faults, whatever the address.
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint that cannot fault or change memory, valid address or not;
    // SSE is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

fn invalid(code: ErrorCode, message: String) -> CoreError {
    CoreError::new(code, message)
}

// ------------------------------------------------------------------------------------------------
// The index
// ------------------------------------------------------------------------------------------------

/// Positions, status and class of live drivers, bucketed by H3 cell. Not internally
/// synchronised: mutate from one thread; queries take `&self` and a [`QueryScratch`] each.
#[derive(Debug)]
pub struct DriverIndex {
    config: IndexConfig,
    res: Resolution,
    /// Upper bound on centre-to-point distance of a cell (see [`max_cell_radius_m`]).
    cell_radius_m: f64,
    /// See [`min_non_adjacent_gap_m`].
    gap_m: f64,
    /// Buckets grouped by a coarser cell, for searches that reach far; `None` below resolution 3.
    coarse: Option<Coarse>,
    drivers: Vec<Driver>,
    /// Parallel to `drivers`.
    pending: Vec<Pending>,
    known: usize,
    /// Cell -> bucket.
    cells: HashMap<u64, u32, BuildCellHasher>,
    buckets: Vec<Bucket>,
    /// Parallel to `buckets`; read by upserts only.
    planes: Vec<EdgePlanes>,
}

impl DriverIndex {
    /// An empty index. Fails with `InvalidResolution` or `InvalidArgument` for a config outside
    /// its documented domain.
    pub fn new(config: IndexConfig) -> Result<Self> {
        let res = resolution(config.resolution)?;
        let positive = |v: f64| v.is_finite() && v > 0.0;
        let valid = positive(config.max_speed_mps)
            && config.jump_tolerance_m.is_finite()
            && config.jump_tolerance_m >= 0.0
            && positive(config.jump_reset_ms)
            && config.expire_after_ms >= 0.0
            && config.jump_confirm_fixes > 0
            && config.max_handles > 0;
        if !valid {
            return Err(invalid(
                ErrorCode::InvalidArgument,
                format!("index config out of range: {config:?}"),
            ));
        }
        Ok(Self {
            config,
            res,
            cell_radius_m: max_cell_radius_m(res),
            gap_m: min_non_adjacent_gap_m(res),
            coarse: u8::from(res).checked_sub(COARSER_BY).map(|r| {
                let res = Resolution::try_from(r).expect("coarser resolution");
                Coarse {
                    res,
                    radius_m: max_cell_radius_m(res),
                    gap_m: min_non_adjacent_gap_m(res),
                    cells: HashMap::default(),
                }
            }),
            drivers: Vec::new(),
            pending: Vec::new(),
            known: 0,
            cells: HashMap::default(),
            buckets: Vec::new(),
            planes: Vec::new(),
        })
    }

    pub fn config(&self) -> &IndexConfig {
        &self.config
    }

    /// Number of known drivers.
    pub fn len(&self) -> usize {
        self.known
    }

    pub fn is_empty(&self) -> bool {
        self.known == 0
    }

    /// Number of cell buckets held, empty ones included (see [`Self::prune_empty_cells`]).
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    fn driver(&self, handle: u32) -> Option<&Driver> {
        self.drivers.get(handle as usize).filter(|d| d.bucket != NONE)
    }

    fn unknown(handle: u32) -> CoreError {
        invalid(
            ErrorCode::UnknownHandle,
            format!("driver handle {handle} is not in the index"),
        )
    }

    /// The driver's last applied state, or `None` for an unknown handle.
    pub fn get(&self, handle: u32) -> Option<DriverView> {
        let d = self.driver(handle)?;
        let e = &self.buckets[d.bucket as usize].entries[d.slot as usize];
        Some(DriverView {
            lat: e.lat,
            lng: e.lng,
            cell: self.buckets[d.bucket as usize].cell,
            time_ms: d.time_ms,
            heading_deg: d.heading_deg,
            speed_mps: d.speed_mps,
            status: d.status,
            class: d.class,
        })
    }

    /// Sets the dispatch status of a known driver. `UnknownHandle` otherwise.
    pub fn set_status(&mut self, handle: u32, status: Status) -> Result<()> {
        let d = *self.driver(handle).ok_or_else(|| Self::unknown(handle))?;
        let bucket = &mut self.buckets[d.bucket as usize];
        // Keep the free prefix: the driver swaps with the first non-free or the last free entry.
        match (d.status == Status::Free, status == Status::Free) {
            (false, true) => {
                let to = bucket.free;
                bucket.free += 1;
                self.swap_slots(d.bucket, d.slot, to);
            }
            (true, false) => {
                bucket.free -= 1;
                let to = bucket.free;
                self.swap_slots(d.bucket, d.slot, to);
            }
            _ => {}
        }
        let d = &mut self.drivers[handle as usize];
        d.status = status;
        self.buckets[d.bucket as usize].entries[d.slot as usize].status = status;
        Ok(())
    }

    /// Swaps two entries of a bucket and the slots their drivers point at.
    fn swap_slots(&mut self, bucket: u32, a: u32, b: u32) {
        if a != b {
            let entries = &mut self.buckets[bucket as usize].entries;
            entries.swap(a as usize, b as usize);
            let (ha, hb) = (entries[a as usize].handle, entries[b as usize].handle);
            self.drivers[ha as usize].slot = a;
            self.drivers[hb as usize].slot = b;
        }
    }

    /// Adds an entry to a bucket (keeping the free prefix) and points its driver at it.
    fn put_in(&mut self, bucket: u32, entry: Entry) {
        let b = &mut self.buckets[bucket as usize];
        let slot = b.entries.len() as u32;
        let free = entry.status == Status::Free;
        b.entries.push(entry);
        let to = b.free;
        if free {
            b.free += 1;
        }
        let d = &mut self.drivers[entry.handle as usize];
        d.bucket = bucket;
        d.slot = slot;
        if free {
            self.swap_slots(bucket, slot, to);
        }
    }

    /// Sets the vehicle class of a known driver. `UnknownHandle` otherwise.
    pub fn set_class(&mut self, handle: u32, class: u8) -> Result<()> {
        let d = self
            .drivers
            .get_mut(handle as usize)
            .filter(|d| d.bucket != NONE)
            .ok_or_else(|| Self::unknown(handle))?;
        d.class = class;
        self.buckets[d.bucket as usize].entries[d.slot as usize].class = class;
        Ok(())
    }

    /// Forgets a known driver (position, status, class, jump state); the handle becomes unknown
    /// and may be reused. `UnknownHandle` otherwise.
    pub fn remove(&mut self, handle: u32) -> Result<()> {
        if self.driver(handle).is_none() {
            return Err(Self::unknown(handle));
        }
        self.forget(handle);
        Ok(())
    }

    fn forget(&mut self, handle: u32) {
        let d = self.drivers[handle as usize];
        self.take_out(d.bucket, d.slot);
        self.drivers[handle as usize] = Driver::ABSENT;
        self.known -= 1;
    }

    /// Removes the entry at `slot` of `bucket` (keeping the free prefix), fixing the slots of
    /// the entries moved.
    fn take_out(&mut self, bucket: u32, mut slot: u32) -> Entry {
        if self.buckets[bucket as usize].entries[slot as usize].status == Status::Free {
            // Move it to the end of the prefix and shorten the prefix; all after it is non-free.
            let b = &mut self.buckets[bucket as usize];
            b.free -= 1;
            let last_free = b.free;
            self.swap_slots(bucket, slot, last_free);
            slot = last_free;
        }
        let entries = &mut self.buckets[bucket as usize].entries;
        let entry = entries.swap_remove(slot as usize);
        if let Some(moved) = entries.get(slot as usize) {
            self.drivers[moved.handle as usize].slot = slot;
        }
        entry
    }

    /// Forgets every driver whose last applied fix is older than `now_ms - expire_after_ms`
    /// (strictly), as [`Self::remove`] would. Clears `out` and writes the forgotten handles into it
    /// in ascending order; returns how many. O(largest handle).
    pub fn expire(&mut self, now_ms: f64, out: &mut Vec<u32>) -> usize {
        out.clear();
        let limit = now_ms - self.config.expire_after_ms;
        for (h, d) in self.drivers.iter().enumerate() {
            if d.bucket != NONE && d.time_ms < limit {
                out.push(h as u32);
            }
        }
        for &h in out.iter() {
            self.forget(h);
        }
        out.len()
    }

    /// Drops the buckets of cells that no driver is in. Buckets are otherwise kept once created
    /// (they cache the cell geometry and neighbours that upserts and queries use), so memory
    /// follows the area drivers have ever covered; call this now and then if that area keeps
    /// growing. O(buckets + handles).
    pub fn prune_empty_cells(&mut self) {
        let mut remap = vec![NO_BUCKET; self.buckets.len()];
        let mut kept = 0usize;
        for (i, to) in remap.iter_mut().enumerate() {
            if !self.buckets[i].entries.is_empty() {
                self.buckets.swap(kept, i);
                self.planes.swap(kept, i);
                *to = kept as u32;
                kept += 1;
            }
        }
        self.buckets.truncate(kept);
        self.planes.truncate(kept);
        self.cells.clear();
        for (i, head) in self.buckets.iter_mut().enumerate() {
            self.cells.insert(head.cell, i as u32);
            for n in head.nbrs.iter_mut().filter(|n| **n < NO_CELL) {
                *n = remap[*n as usize];
            }
        }
        for d in self.drivers.iter_mut().filter(|d| d.bucket != NONE) {
            d.bucket = remap[d.bucket as usize];
        }
        if let Some(coarse) = &mut self.coarse {
            coarse.cells.clear();
            for (i, bucket) in self.buckets.iter().enumerate() {
                let cell = CellIndex::try_from(bucket.cell).expect("bucket cells are valid");
                coarse.add(i as u32, LatLng::from(cell), bucket.center);
            }
        }
    }

    fn bucket_of(&mut self, cell: CellIndex) -> u32 {
        let key = u64::from(cell);
        if let Some(&b) = self.cells.get(&key) {
            return b;
        }
        let center_ll = LatLng::from(cell);
        let center = unit(center_ll.lat(), center_ll.lng());
        let b = self.buckets.len() as u32;
        if let Some(coarse) = &mut self.coarse {
            coarse.add(b, center_ll, center);
        }
        let mut nbrs = [NO_CELL; 6];
        let mut cells = [0u64; 6];
        let count = neighbors(cell, &mut cells);
        for (link, &n) in nbrs.iter_mut().zip(&cells[..count]) {
            *link = match self.cells.get(&n) {
                Some(&nb) => {
                    // Link back: the neighbour's slot for this cell is where this cell comes in
                    // its (deterministic) neighbour order.
                    let mut theirs = [0u64; 6];
                    let their_count = neighbors(CellIndex::try_from(n).expect("valid cell"), &mut theirs);
                    let at = theirs[..their_count]
                        .iter()
                        .position(|&c| c == key)
                        .expect("adjacency is symmetric");
                    self.buckets[nb as usize].nbrs[at] = b;
                    nb
                }
                None => NO_BUCKET,
            };
        }
        self.buckets.push(Bucket {
            center,
            nbrs,
            cell: key,
            free: 0,
            entries: Vec::new(),
        });
        self.planes.push(edge_planes(cell, &center));
        self.cells.insert(key, b);
        b
    }

    fn validate(&self, handle: u32, fix: &Fix) -> Result<LatLng> {
        if handle >= self.config.max_handles {
            return Err(invalid(
                ErrorCode::InvalidArgument,
                format!(
                    "driver handle {handle} is not below max_handles {}",
                    self.config.max_handles
                ),
            ));
        }
        let ll = lat_lng(fix.lat, fix.lng)?;
        if !fix.time_ms.is_finite() {
            return Err(invalid(
                ErrorCode::InvalidArgument,
                format!("fix time {} is not finite", fix.time_ms),
            ));
        }
        let h = fix.heading_deg;
        if !(h.is_nan() || (0.0..=360.0).contains(&h)) {
            return Err(invalid(
                ErrorCode::InvalidArgument,
                format!("heading {h} is not NaN or in [0, 360]"),
            ));
        }
        let s = fix.speed_mps;
        if !(s.is_nan() || (s.is_finite() && s >= 0.0)) {
            return Err(invalid(
                ErrorCode::InvalidArgument,
                format!("speed {s} is not NaN or finite >= 0"),
            ));
        }
        Ok(ll)
    }

    /// Applies one GPS fix, in O(1) amortised (an H3 encode only when the driver may have left its
    /// cell). An unknown handle becomes known with status `Offline` and class 0: a fix alone never
    /// makes a driver dispatchable.
    ///
    /// Rules, in order, for a known driver (times compare with the last *applied* fix):
    /// 1. `time_ms <=` last applied time: `Stale`, nothing changes.
    /// 2. `time_ms - last >= jump_reset_ms`: applied (`Applied`), no speed test.
    /// 3. distance `<= max_speed_mps * dt + jump_tolerance_m`: applied (`Applied`); the pending
    ///    jump streak is cleared.
    /// 4. otherwise a jump. It extends the pending streak if it is later than the previous jump
    ///    and plausible from it (same test), else starts a new streak of 1. When the streak reaches
    ///    `jump_confirm_fixes` the fix is applied (`Relocated`), else `Jump` and nothing but the
    ///    streak changes.
    ///
    /// Errors: `InvalidCoordinate` for a bad lat/lng, `InvalidArgument` for a handle not below
    /// `max_handles`, a non-finite time, a heading outside [0, 360] or a negative or infinite
    /// speed (NaN heading or speed means unknown). Nothing changes on error.
    pub fn upsert(&mut self, handle: u32, fix: Fix) -> Result<UpsertOutcome> {
        let ll = self.validate(handle, &fix)?;
        Ok(self.apply(handle, &fix, ll))
    }

    fn apply(&mut self, handle: u32, fix: &Fix, ll: LatLng) -> UpsertOutcome {
        let h = handle as usize;
        if h >= self.drivers.len() {
            self.drivers.resize(h + 1, Driver::ABSENT);
            self.pending.resize(h + 1, Pending::default());
        }
        let xyz = unit(fix.lat, fix.lng);
        let d = self.drivers[h];
        if d.bucket == NONE {
            let b = self.bucket_of(ll.to_cell(self.res));
            self.drivers[h] = Driver {
                time_ms: fix.time_ms,
                heading_deg: fix.heading_deg,
                speed_mps: fix.speed_mps,
                ..Driver::ABSENT
            };
            let entry = Entry {
                xyz,
                lat: fix.lat,
                lng: fix.lng,
                handle,
                status: Status::Offline,
                class: 0,
            };
            self.put_in(b, entry);
            self.known += 1;
            return UpsertOutcome::Applied;
        }
        if fix.time_ms <= d.time_ms {
            return UpsertOutcome::Stale;
        }
        let dt = fix.time_ms - d.time_ms;
        let mut outcome = UpsertOutcome::Applied;
        if dt < self.config.jump_reset_ms {
            let old = &self.buckets[d.bucket as usize].entries[d.slot as usize];
            let reach = self.config.max_speed_mps * dt / 1000.0 + self.config.jump_tolerance_m;
            if farther_than(&old.xyz, &xyz, reach) {
                let p = &mut self.pending[h];
                let chained = d.streak > 0 && fix.time_ms > p.time_ms && {
                    let gap = haversine_m(p.lat, p.lng, fix.lat, fix.lng);
                    gap <= self.config.max_speed_mps * (fix.time_ms - p.time_ms) / 1000.0
                        + self.config.jump_tolerance_m
                };
                *p = Pending {
                    lat: fix.lat,
                    lng: fix.lng,
                    time_ms: fix.time_ms,
                };
                let streak = if chained { d.streak.saturating_add(1) } else { 1 };
                self.drivers[h].streak = streak;
                if streak < self.config.jump_confirm_fixes {
                    return UpsertOutcome::Jump;
                }
                outcome = UpsertOutcome::Relocated;
            }
        }
        self.move_to(d, fix, ll, xyz);
        let dr = &mut self.drivers[h];
        dr.time_ms = fix.time_ms;
        dr.heading_deg = fix.heading_deg;
        dr.speed_mps = fix.speed_mps;
        dr.streak = 0;
        outcome
    }

    /// Puts a known driver at a new position, changing bucket only if the cell changed.
    fn move_to(&mut self, d: Driver, fix: &Fix, ll: LatLng, xyz: [f64; 3]) {
        let stays = match &self.planes[d.bucket as usize] {
            Some(normals) => normals.iter().all(|n| dot(n, &xyz) >= EDGE_MARGIN),
            None => false,
        };
        let same = stays || {
            let cell = ll.to_cell(self.res);
            if u64::from(cell) == self.buckets[d.bucket as usize].cell {
                true
            } else {
                let mut entry = self.take_out(d.bucket, d.slot);
                let b = self.bucket_of(cell);
                entry.xyz = xyz;
                entry.lat = fix.lat;
                entry.lng = fix.lng;
                self.put_in(b, entry);
                false
            }
        };
        if same {
            let e = &mut self.buckets[d.bucket as usize].entries[d.slot as usize];
            e.xyz = xyz;
            e.lat = fix.lat;
            e.lng = fix.lng;
        }
    }

    /// Applies many fixes in array order (so several fixes of one driver in one batch apply in
    /// timestamp order if sorted by time, and the later of two equal times is `Stale`).
    ///
    /// `lat_lngs` is interleaved `[lat0, lng0, lat1, lng1, ...]`; `headings` and `speeds` are
    /// either empty (all unknown) or as long as `handles`; `out` receives one
    /// [`UpsertOutcome`] code per fix. A malformed fix writes `Invalid` and the batch goes on;
    /// the only error is `LengthMismatch`, before anything is applied.
    pub fn upsert_many(
        &mut self,
        handles: &[u32],
        lat_lngs: &[f64],
        times_ms: &[f64],
        headings: &[f32],
        speeds: &[f32],
        out: &mut [u8],
    ) -> Result<UpsertSummary> {
        let n = handles.len();
        let fits = |len: usize, optional: bool| len == n || (optional && len == 0);
        if lat_lngs.len() != 2 * n
            || !fits(times_ms.len(), false)
            || !fits(headings.len(), true)
            || !fits(speeds.len(), true)
            || !fits(out.len(), false)
        {
            return Err(invalid(
                ErrorCode::LengthMismatch,
                format!(
                    "upsert_many: {n} handles need {} lat/lng values, {n} times and outputs, 0 or {n} headings \
                     and speeds; got {}, {}, {}, {}, {}",
                    2 * n,
                    lat_lngs.len(),
                    times_ms.len(),
                    out.len(),
                    headings.len(),
                    speeds.len()
                ),
            ));
        }
        let mut summary = UpsertSummary::default();
        // Fixes come in any driver order, so the driver record, its bucket and its entry are
        // cache misses, each needed to find the next: fetch them in stages, a few fixes ahead.
        const AHEAD: usize = 6;
        for i in 0..n {
            if let Some(d) = handles
                .get(i + 3 * AHEAD)
                .and_then(|&h| self.drivers.get(h as usize))
            {
                prefetch(d);
            }
            if let Some(&h) = handles.get(i + 2 * AHEAD) {
                self.prefetch_bucket(h);
            }
            if let Some(&h) = handles.get(i + AHEAD) {
                self.prefetch_entry(h);
            }
            let fix = Fix {
                lat: lat_lngs[2 * i],
                lng: lat_lngs[2 * i + 1],
                time_ms: times_ms[i],
                heading_deg: headings.get(i).copied().unwrap_or(f32::NAN),
                speed_mps: speeds.get(i).copied().unwrap_or(f32::NAN),
            };
            let outcome = match self.validate(handles[i], &fix) {
                Ok(ll) => self.apply(handles[i], &fix, ll),
                Err(_) => UpsertOutcome::Invalid,
            };
            match outcome {
                UpsertOutcome::Applied => summary.applied += 1,
                UpsertOutcome::Stale => summary.stale += 1,
                UpsertOutcome::Jump => summary.jump += 1,
                UpsertOutcome::Invalid => summary.invalid += 1,
                UpsertOutcome::Relocated => summary.relocated += 1,
            }
            out[i] = outcome as u8;
        }
        Ok(summary)
    }

    fn prefetch_bucket(&self, handle: u32) {
        if let Some(d) = self.drivers.get(handle as usize) {
            if d.bucket != NONE {
                prefetch((&self.buckets[d.bucket as usize].entries as *const Vec<Entry>).cast::<u8>());
            }
        }
    }

    fn prefetch_entry(&self, handle: u32) {
        if let Some(d) = self.drivers.get(handle as usize) {
            if d.bucket != NONE {
                let b = d.bucket as usize;
                prefetch(self.buckets[b].entries.as_ptr().wrapping_add(d.slot as usize));
                let planes = (&self.planes[b] as *const EdgePlanes).cast::<u8>();
                for line in 0..std::mem::size_of::<EdgePlanes>().div_ceil(64) {
                    prefetch(planes.wrapping_add(64 * line));
                }
            }
        }
    }

    // --------------------------------------------------------------------------------------------
    // Nearest
    // --------------------------------------------------------------------------------------------

    /// The `k` nearest `Free` drivers of the class asked for within `radius_m` of `(lat, lng)`,
    /// written into `out` (cleared first) ascending by great-circle distance ([`haversine_m`] on
    /// the stored positions), ties by ascending handle: exactly what a scan over every driver
    /// would give. Fewer than `k` when fewer qualify; empty for `k == 0`.
    ///
    /// Errors: `InvalidCoordinate` for the point, `InvalidArgument` for a NaN or negative radius.
    ///
    /// How it stays exact: cells are visited ring by ring (grid distance `j = 0, 1, ...`) around
    /// the cell `c0` of the point `q`. Let `T` be the radius or, once `k` drivers are held, the
    /// distance of the k-th. A cell is skipped when `dist(q, centre) - r > T`, with `r` from
    /// [`max_cell_radius_m`], since no point of it can then be within `T`. The search stops after
    /// a ring in which every cell was skipped: any path from `q` (inside ring 0) to a point beyond
    /// that ring has to cross a cell of the ring (cells are only entered from neighbours), so that
    /// point is farther than `T` too. This needs neither regular cells nor six neighbours, so
    /// pentagons and distortion cost nothing but slack. Cells no driver ever entered have no
    /// cached centre; they count as skipped when `(j - 1)` times the bound of
    /// `min_non_adjacent_gap_m` exceeds `T`, else their centre is computed (and cached in the
    /// scratch). Rings are breadth-first layers of the cell graph (each bucket links to the
    /// buckets of its H3 neighbours), so ring `j` is exactly grid distance `j`, pentagons and
    /// the whole globe included. Should the walk cost more than a scan over all buckets (with
    /// the same per-cell skip), it gives way to one, which bounds the cost of large radii and
    /// sparse areas (where a walk crosses many cells no driver has been in).
    ///
    /// Cost: about `k` / (free drivers per cell) cells scanned plus the ring that proves the
    /// answer, one H3 encode of the point and one haversine per result; no allocation once the
    /// scratch is warm.
    pub fn nearest(
        &self,
        lat: f64,
        lng: f64,
        query: &NearestQuery,
        scratch: &mut QueryScratch,
        out: &mut Vec<Neighbor>,
    ) -> Result<()> {
        let q = lat_lng(lat, lng)?;
        Self::check_query(query)?;
        self.search(lat, lng, q, query, scratch);
        out.clear();
        out.extend(
            scratch
                .best
                .iter()
                .map(|&(distance_m, handle)| Neighbor { handle, distance_m }),
        );
        Ok(())
    }

    /// [`Self::nearest`] for many points. `lat_lngs` is interleaved; the results of point `i` go to
    /// `out_handles[i * k ..]` and `out_distances[i * k ..]`, `out_counts[i]` of them (the rest of
    /// the `k` slots is left as it was). Checks every point before answering any: the first bad
    /// one fails the call (`InvalidCoordinate`, naming its position), as do lengths that do not
    /// fit (`LengthMismatch`).
    pub fn nearest_many(
        &self,
        lat_lngs: &[f64],
        query: &NearestQuery,
        scratch: &mut QueryScratch,
        out_handles: &mut [u32],
        out_distances: &mut [f64],
        out_counts: &mut [u32],
    ) -> Result<()> {
        Self::check_query(query)?;
        let n = lat_lngs.len() / 2;
        let k = query.k;
        let slots = n.saturating_mul(k);
        if !lat_lngs.len().is_multiple_of(2)
            || out_counts.len() != n
            || out_handles.len() != slots
            || out_distances.len() != slots
        {
            return Err(invalid(
                ErrorCode::LengthMismatch,
                format!(
                    "nearest_many: {} lat/lng values with k = {k} need an even length, {} counts and {} \
                     handles and distances; got {}, {} and {}",
                    lat_lngs.len(),
                    n,
                    slots,
                    out_counts.len(),
                    out_handles.len(),
                    out_distances.len()
                ),
            ));
        }
        for (i, pair) in lat_lngs.chunks_exact(2).enumerate() {
            lat_lng(pair[0], pair[1])
                .map_err(|e| CoreError::new(e.code, format!("point {i}: {}", e.message)))?;
        }
        for (i, pair) in lat_lngs.chunks_exact(2).enumerate() {
            let q = lat_lng(pair[0], pair[1])?;
            self.search(pair[0], pair[1], q, query, scratch);
            for (j, &(d, h)) in scratch.best.iter().enumerate() {
                out_handles[i * k + j] = h;
                out_distances[i * k + j] = d;
            }
            out_counts[i] = scratch.best.len() as u32;
        }
        Ok(())
    }

    fn check_query(query: &NearestQuery) -> Result<()> {
        if query.radius_m.is_nan() || query.radius_m < 0.0 {
            return Err(invalid(
                ErrorCode::InvalidArgument,
                format!("radius {} m is not a number >= 0", query.radius_m),
            ));
        }
        Ok(())
    }

    /// Fills `scratch.best` with the answer.
    fn search(&self, lat: f64, lng: f64, q: LatLng, query: &NearestQuery, scratch: &mut QueryScratch) {
        scratch.best.clear();
        if query.k == 0 || self.known == 0 {
            return;
        }
        scratch.picks.cands.clear();
        scratch.picks.top.clear();
        let mut s = Search::new(self, lat, lng, query);
        // Walking costs, in units of checking one bucket in a scan over all of them: about 4 per
        // cell with a bucket, 64 per cell without (H3 neighbours and hashing). Past a budget the
        // walk gives way to the coarse walk (which covers 343 times the area per cell), and
        // that one to a full scan.
        let full_scan = self.buckets.len() + 256;
        let budget = if self.coarse.is_some() {
            full_scan.min(2048)
        } else {
            full_scan
        };
        let walk = &mut scratch.walk;
        walk.start(self.buckets.len());
        let first = self.node(q.to_cell(self.res), walk);
        walk.ring.push(first);
        let mut cost = 0usize;
        for j in 0u32.. {
            if walk.ring.is_empty() {
                break; // the whole globe is visited
            }
            cost += walk
                .ring
                .iter()
                .map(|n| if matches!(n, Node::Bucket(_)) { 4 } else { 64 })
                .sum::<usize>();
            if cost > budget {
                if !self.coarse_walk(q, &mut s, scratch, full_scan) {
                    s.scan_all(&mut scratch.picks);
                }
                break;
            }
            // Three passes so that the cache misses of a ring overlap: pick the cells to scan
            // and fetch their entry lists, fetch the entries, scan.
            let mut open = false;
            scratch.empties.clear();
            scratch.to_scan.clear();
            for &node in &walk.ring {
                match node {
                    Node::Bucket(b) => {
                        if chord2(&s.q, &self.buckets[b as usize].center) <= s.cell_c2 {
                            open = true;
                            scratch.to_scan.push(b);
                            prefetch((&self.buckets[b as usize].entries as *const Vec<Entry>).cast::<u8>());
                        }
                    }
                    Node::Cell(cell) => scratch.empties.push(cell),
                }
            }
            for &b in &scratch.to_scan {
                let bucket = &self.buckets[b as usize];
                let entries = &bucket.entries;
                let bytes = (bucket.free as usize * std::mem::size_of::<Entry>()).min(256);
                let start = entries.as_ptr().cast::<u8>();
                for offset in (0..bytes).step_by(64) {
                    prefetch(start.wrapping_add(offset));
                }
            }
            for &b in &scratch.to_scan {
                // The threshold may have shrunk since the first pass.
                if chord2(&s.q, &self.buckets[b as usize].center) <= s.cell_c2 {
                    let bucket = &self.buckets[b as usize];
                    s.scan(&bucket.entries[..bucket.free as usize], &mut scratch.picks);
                }
            }
            if !open && !scratch.empties.is_empty() && (f64::from(j) - 1.0) * self.gap_m <= s.threshold_m() {
                let centers = &mut scratch.centers;
                if centers.len() > 1 << 16 {
                    centers.clear();
                }
                open = scratch.empties.iter().any(|&cell| {
                    let center = centers.entry(cell).or_insert_with(|| {
                        cell_center(CellIndex::try_from(cell).expect("walked cells are valid"))
                    });
                    chord2(&s.q, center) <= s.cell_c2
                });
            }
            if !open {
                break;
            }
            self.next_ring(walk);
        }
        s.finish(&scratch.picks, &mut scratch.best);
    }

    /// The nearest search over the coarse level, from scratch: the same ring walk and stop rule
    /// over coarse cells, whose drivers are all within `coarse.radius_m + cell_radius_m` of the
    /// coarse centre; within an open coarse cell every bucket gets the fine skip test. `false`
    /// when it gave up past `budget` (see `search`).
    fn coarse_walk(&self, q: LatLng, s: &mut Search, scratch: &mut QueryScratch, budget: usize) -> bool {
        let Some(coarse) = &self.coarse else {
            return false;
        };
        s.restart(&mut scratch.picks);
        let slack = (coarse.radius_m + self.cell_radius_m + 1.0) / EARTH_RADIUS_M;
        let (ring, next, seen) = (
            &mut scratch.coarse_ring,
            &mut scratch.coarse_next,
            &mut scratch.coarse_seen,
        );
        let origin = u64::from(q.to_cell(coarse.res));
        ring.clear();
        ring.push(origin);
        seen.clear();
        seen.insert(origin);
        let centers = &mut scratch.centers;
        if centers.len() > 1 << 16 {
            centers.clear();
        }
        let mut cost = 0usize;
        let mut around = [0u64; 6];
        for j in 0u32.. {
            if ring.is_empty() {
                return true;
            }
            cost += 64 * ring.len();
            if cost > budget {
                return false;
            }
            let mut open = false;
            for &cell in ring.iter() {
                let lim = s.t_chord + slack;
                match coarse.cells.get(&cell) {
                    Some(cc) => {
                        if chord2(&s.q, &cc.center) <= lim * lim {
                            open = true;
                            cost += cc.members.len();
                            for &(b, center) in &cc.members {
                                if chord2(&s.q, &center) <= s.cell_c2 {
                                    let bucket = &self.buckets[b as usize];
                                    s.scan(&bucket.entries[..bucket.free as usize], &mut scratch.picks);
                                }
                            }
                        }
                    }
                    None => {
                        // Empty coarse cells matter only to the stop rule: a bucket centre beyond
                        // them is `(j - 1) * gap` away, its drivers one fine radius less.
                        let floor_m = (f64::from(j) - 1.0) * coarse.gap_m - self.cell_radius_m;
                        if !open && floor_m <= s.threshold_m() {
                            let center = centers.entry(cell).or_insert_with(|| {
                                cell_center(CellIndex::try_from(cell).expect("walked cells are valid"))
                            });
                            open = chord2(&s.q, center) <= lim * lim;
                        }
                    }
                }
            }
            if !open {
                return true;
            }
            next.clear();
            for &cell in ring.iter() {
                let count = neighbors(
                    CellIndex::try_from(cell).expect("walked cells are valid"),
                    &mut around,
                );
                for &n in &around[..count] {
                    if seen.insert(n) {
                        next.push(n);
                    }
                }
            }
            std::mem::swap(ring, next);
        }
        true
    }

    /// The walk node of `cell`, marked visited (the caller knows it was not).
    fn node(&self, cell: CellIndex, walk: &mut Walk) -> Node {
        let key = u64::from(cell);
        match self.cells.get(&key) {
            Some(&b) => {
                walk.stamps[b as usize] = walk.epoch;
                Node::Bucket(b)
            }
            None => {
                walk.cells.insert(key);
                Node::Cell(key)
            }
        }
    }

    /// Replaces `walk.ring` (the cells at grid distance `j`) by the unvisited neighbours of its
    /// cells, which are the cells at grid distance `j + 1` (breadth-first layers). Buckets know
    /// their neighbours; H3 is asked only around cells without a bucket.
    fn next_ring(&self, walk: &mut Walk) {
        let Walk {
            ring,
            next,
            stamps,
            epoch,
            cells,
        } = walk;
        next.clear();
        let mut around = [0u64; 6];
        for &node in ring.iter() {
            match node {
                Node::Bucket(b) => {
                    let head = &self.buckets[b as usize];
                    let mut unlinked = false;
                    for &n in &head.nbrs {
                        if n == NO_BUCKET {
                            unlinked = true;
                        } else if n != NO_CELL && stamps[n as usize] != *epoch {
                            stamps[n as usize] = *epoch;
                            prefetch(&self.buckets[n as usize]);
                            next.push(Node::Bucket(n));
                        }
                    }
                    if unlinked {
                        let count =
                            neighbors(CellIndex::try_from(head.cell).expect("valid cell"), &mut around);
                        for (&n, &link) in around[..count].iter().zip(&head.nbrs) {
                            if link == NO_BUCKET && cells.insert(n) {
                                next.push(Node::Cell(n));
                            }
                        }
                    }
                }
                Node::Cell(cell) => {
                    let count = neighbors(CellIndex::try_from(cell).expect("valid cell"), &mut around);
                    for &n in &around[..count] {
                        match self.cells.get(&n) {
                            Some(&b) => {
                                if stamps[b as usize] != *epoch {
                                    stamps[b as usize] = *epoch;
                                    next.push(Node::Bucket(b));
                                }
                            }
                            None => {
                                if cells.insert(n) {
                                    next.push(Node::Cell(n));
                                }
                            }
                        }
                    }
                }
            }
        }
        std::mem::swap(ring, next);
    }

    // --------------------------------------------------------------------------------------------
    // Supply
    // --------------------------------------------------------------------------------------------

    /// Free drivers of `class` (any for `None`) in a bucket.
    fn supply_of(bucket: &Bucket, class: Option<u8>) -> u32 {
        let free = &bucket.entries[..bucket.free as usize];
        match class {
            None => bucket.free,
            Some(c) => free.iter().filter(|e| e.class == c).count() as u32,
        }
    }

    /// Free drivers (of `class`, or any class for `None`) per H3 cell at `res`, which must not be
    /// finer than the index resolution: at the index resolution the driver's own cell, coarser its
    /// H3 parent. Cells without such drivers are left out; ascending by cell index.
    /// `InvalidResolution` for a bad or too fine `res`.
    pub fn supply_by_cell(&self, res: u8, class: Option<u8>) -> Result<Vec<(u64, u32)>> {
        let r = self.coarser_or_same(res)?;
        let mut counts: HashMap<u64, u32, BuildCellHasher> = HashMap::default();
        for head in &self.buckets {
            let n = Self::supply_of(head, class);
            if n > 0 {
                let cell = CellIndex::try_from(head.cell).expect("bucket cells are valid");
                let key = u64::from(cell.parent(r).expect("parent of a coarser or same resolution"));
                *counts.entry(key).or_default() += n;
            }
        }
        let mut out: Vec<(u64, u32)> = counts.into_iter().collect();
        out.sort_unstable();
        Ok(out)
    }

    /// Free drivers (of `class`, or any class) whose index cell lies in the union of `cells`
    /// (each at the index resolution or coarser; duplicates and nesting count once).
    /// `InvalidArgument` for a value that is not an H3 cell, `InvalidResolution` for a cell finer
    /// than the index. O(cells) when all are at the index resolution, else O(buckets).
    pub fn supply_in_cells(&self, cells: &[u64], class: Option<u8>) -> Result<u32> {
        let mut set: HashSet<u64, BuildCellHasher> = HashSet::default();
        let mut resolutions = [false; 16];
        for &raw in cells {
            let cell = CellIndex::try_from(raw).map_err(|_| {
                invalid(
                    ErrorCode::InvalidArgument,
                    format!("{raw:#x} is not an H3 cell index"),
                )
            })?;
            let r = self.coarser_or_same(u8::from(cell.resolution()))?;
            resolutions[usize::from(u8::from(r))] = true;
            set.insert(raw);
        }
        let only_own = resolutions
            .iter()
            .enumerate()
            .all(|(r, &used)| !used || r == usize::from(self.config.resolution));
        if only_own {
            return Ok(set
                .iter()
                .filter_map(|c| self.cells.get(c))
                .map(|&b| Self::supply_of(&self.buckets[b as usize], class))
                .sum());
        }
        let mut total = 0;
        for head in &self.buckets {
            let cell = CellIndex::try_from(head.cell).expect("bucket cells are valid");
            let inside = resolutions.iter().enumerate().any(|(r, &used)| {
                used && {
                    let r = Resolution::try_from(r as u8).expect("0..16");
                    cell.parent(r).is_some_and(|p| set.contains(&u64::from(p)))
                }
            });
            if inside {
                total += Self::supply_of(head, class);
            }
        }
        Ok(total)
    }

    fn coarser_or_same(&self, res: u8) -> Result<Resolution> {
        let r = resolution(res)?;
        if r > self.res {
            return Err(invalid(
                ErrorCode::InvalidResolution,
                format!(
                    "resolution {res} is finer than the index resolution {}",
                    self.config.resolution
                ),
            ));
        }
        Ok(r)
    }
}

/// The neighbours of `cell` (6, or 5 around a pentagon) in a fixed order, into `out`; returns how
/// many.
fn neighbors(cell: CellIndex, out: &mut [u64; 6]) -> usize {
    let mut count = 0;
    let mut fast = true;
    for n in cell.grid_ring_fast(1) {
        match n {
            Some(n) if count < 6 => {
                out[count] = u64::from(n);
                count += 1;
            }
            _ => {
                fast = false;
                break;
            }
        }
    }
    if fast && count == 6 {
        return count;
    }
    count = 0;
    for n in cell.grid_disk_safe(1).filter(|&n| n != cell) {
        out[count] = u64::from(n);
        count += 1;
    }
    count
}

/// How much coarser the [`Coarse`] level is than the index.
const COARSER_BY: u8 = 3;

/// The buckets grouped by the cell, `COARSER_BY` resolutions coarser, that contains their centre
/// (geometrically: not the H3 parent). Every driver of such a group is within
/// `radius_m + cell_radius_m` of the coarse cell's centre, and the coarse cells tile the globe,
/// so the ring walk and its stop rule work on them as on the fine cells, with that wider slack.
#[derive(Debug)]
struct Coarse {
    res: Resolution,
    radius_m: f64,
    gap_m: f64,
    cells: HashMap<u64, CoarseCell, BuildCellHasher>,
}

#[derive(Debug)]
struct CoarseCell {
    center: [f64; 3],
    /// Buckets and their centres, so that picking the ones to scan reads one array.
    members: Vec<(u32, [f64; 3])>,
}

impl Coarse {
    fn add(&mut self, bucket: u32, center_ll: LatLng, center: [f64; 3]) {
        let cell = center_ll.to_cell(self.res);
        self.cells
            .entry(u64::from(cell))
            .or_insert_with(|| CoarseCell {
                center: cell_center(cell),
                members: Vec::new(),
            })
            .members
            .push((bucket, center));
    }
}

/// A cell of a walk: with a bucket, or without (never held a driver).
#[derive(Debug, Clone, Copy)]
enum Node {
    Bucket(u32),
    Cell(u64),
}

/// The breadth-first walk of a query over the cell graph.
#[derive(Debug, Default)]
struct Walk {
    ring: Vec<Node>,
    next: Vec<Node>,
    /// `stamps[b] == epoch`: bucket `b` is visited by the current query.
    stamps: Vec<u32>,
    epoch: u32,
    /// Visited cells without a bucket.
    cells: HashSet<u64, BuildCellHasher>,
}

impl Walk {
    fn start(&mut self, buckets: usize) {
        if self.stamps.len() < buckets {
            self.stamps.resize(buckets, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.stamps.fill(0);
            self.epoch = 1;
        }
        if !self.cells.is_empty() {
            self.cells.clear();
        }
        self.ring.clear();
    }
}

/// A driver that may belong to the answer, ranked by squared chord until the end.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    c2: f64,
    handle: u32,
    lat: f64,
    lng: f64,
}

/// Candidates of one query and the `k` smallest squared chords among those sure to qualify (as
/// `f64` bits, which order like the non-negative values).
#[derive(Debug, Default)]
struct Picks {
    cands: Vec<Candidate>,
    top: BinaryHeap<u64>,
}

/// State of one nearest query: the point, the filter and the current threshold `t`.
///
/// Drivers are ranked by squared chord (a few multiplications) while the search runs, and only
/// those that can still be in the answer get a haversine at the end. Chord and haversine order
/// points alike except for floating-point noise (far below a millimetre), which the margins of
/// the thresholds cover, so the final ranking by haversine is the exact one.
struct Search<'a> {
    index: &'a DriverIndex,
    q: [f64; 3],
    lat: f64,
    lng: f64,
    k: usize,
    radius_m: f64,
    class: Option<u8>,
    /// Squared chord beyond which a driver is surely outside the radius.
    outer_c2: f64,
    /// Squared chord within which a driver is surely inside the radius.
    inner_c2: f64,
    /// k-th smallest squared chord of sure drivers so far (infinity until `k` are held).
    kth_c2: f64,
    /// Chord (unit sphere) of the current threshold `t`: the radius, or the distance of the k-th
    /// once `k` are held.
    t_chord: f64,
    /// Squared chord below which a cell centre may hold a driver within `t`.
    cell_c2: f64,
    /// Squared chord below which a driver may be within `t`.
    drv_c2: f64,
}

impl<'a> Search<'a> {
    /// `lat`, `lng` as the caller gave them, so that distances are bit-equal to a haversine scan.
    fn new(index: &'a DriverIndex, lat: f64, lng: f64, query: &NearestQuery) -> Self {
        let r = query.radius_m;
        let inner = r * (1.0 - 1e-9) - 1.0;
        let mut s = Search {
            index,
            q: unit(lat, lng),
            lat,
            lng,
            k: query.k,
            radius_m: r,
            class: query.class,
            outer_c2: chord2_of(r * (1.0 + 1e-9) + 1.0),
            inner_c2: if inner < 0.0 { -1.0 } else { chord2_of(inner) },
            kth_c2: f64::INFINITY,
            t_chord: f64::INFINITY,
            cell_c2: 0.0,
            drv_c2: 0.0,
        };
        s.set_threshold(chord2_of(r).sqrt());
        s
    }

    /// Sets `t` by its chord. Widening a chord `c` by an arc `m` gives at most `c + m` (the chord
    /// grows slower than the arc), so the margins are added in chord space without trigonometry.
    fn set_threshold(&mut self, t_chord: f64) {
        self.t_chord = t_chord;
        let arc_upper = t_chord * std::f64::consts::FRAC_PI_2; // arc <= chord * pi / 2
        let cell = t_chord + (self.index.cell_radius_m + 1.0) / EARTH_RADIUS_M;
        let drv = t_chord + arc_upper * 1e-9 + 1.0 / EARTH_RADIUS_M;
        self.cell_c2 = cell * cell;
        self.drv_c2 = (drv * drv).min(self.outer_c2);
    }

    /// `t` in metres.
    fn threshold_m(&self) -> f64 {
        2.0 * EARTH_RADIUS_M * (self.t_chord / 2.0).min(1.0).asin()
    }

    fn scan(&mut self, entries: &[Entry], picks: &mut Picks) {
        for e in entries {
            debug_assert_eq!(e.status, Status::Free);
            if self.class.is_some_and(|c| c != e.class) {
                continue;
            }
            let c2 = chord2(&self.q, &e.xyz);
            if c2 > self.drv_c2 {
                continue;
            }
            if c2 > self.inner_c2 && haversine_m(self.lat, self.lng, e.lat, e.lng) > self.radius_m {
                continue;
            }
            picks.cands.push(Candidate {
                c2,
                handle: e.handle,
                lat: e.lat,
                lng: e.lng,
            });
            picks.top.push(c2.to_bits());
            if picks.top.len() > self.k {
                picks.top.pop();
            }
            if picks.top.len() == self.k {
                let kth = f64::from_bits(*picks.top.peek().expect("k > 0 held"));
                if kth < self.kth_c2 {
                    self.kth_c2 = kth;
                    let c = kth.sqrt();
                    if c < self.t_chord {
                        self.set_threshold(c);
                    }
                }
            }
        }
    }

    /// Forgets what was found, to search again from scratch.
    fn restart(&mut self, picks: &mut Picks) {
        picks.cands.clear();
        picks.top.clear();
        self.kth_c2 = f64::INFINITY;
        self.set_threshold(chord2_of(self.radius_m).sqrt());
    }

    fn scan_all(&mut self, picks: &mut Picks) {
        self.restart(picks);
        let index = self.index;
        for bucket in &index.buckets {
            if chord2(&self.q, &bucket.center) <= self.cell_c2 {
                self.scan(&bucket.entries[..bucket.free as usize], picks);
            }
        }
    }

    /// Ranks the candidates that can still make it by haversine into `best`.
    fn finish(&self, picks: &Picks, best: &mut Vec<(f64, u32)>) {
        best.clear();
        for c in &picks.cands {
            if c.c2 <= self.drv_c2 {
                let d = haversine_m(self.lat, self.lng, c.lat, c.lng);
                if d <= self.radius_m {
                    best.push((d, c.handle));
                }
            }
        }
        best.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        best.truncate(self.k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> DriverIndex {
        DriverIndex::new(IndexConfig::default()).unwrap()
    }

    const CHI: (f64, f64) = (41.8781, -87.6298);

    /// A point `m` metres north of (lat, lng) (small distances, away from the poles).
    fn north(lat: f64, lng: f64, m: f64) -> (f64, f64) {
        (lat + m / EARTH_RADIUS_M * 180.0 / std::f64::consts::PI, lng)
    }

    #[test]
    fn farther_than_agrees_with_the_arc() {
        let a = unit(41.0, -87.0);
        for (lat, lng) in [
            (41.0, -87.0001),
            (41.01, -87.0),
            (41.5, -87.3),
            (45.0, -80.0),
            (-41.0, 93.0),
        ] {
            let b = unit(lat, lng);
            let d = arc_m(&a, &b);
            for m in [0.0, d * 0.999_999, d * 1.000_001, d * 2.0] {
                assert_eq!(farther_than(&a, &b, m), d > m, "{lat} {lng} {m} {d}");
            }
        }
    }

    #[test]
    fn arc_matches_haversine() {
        let (a, b) = ((41.0, -87.0), (41.3, -87.6));
        let d1 = arc_m(&unit(a.0, a.1), &unit(b.0, b.1));
        let d2 = haversine_m(a.0, a.1, b.0, b.1);
        assert!((d1 - d2).abs() < 1e-6, "{d1} {d2}");
    }

    #[test]
    fn config_is_validated() {
        assert_eq!(
            DriverIndex::new(IndexConfig {
                resolution: 16,
                ..Default::default()
            })
            .unwrap_err()
            .code,
            ErrorCode::InvalidResolution
        );
        for bad in [
            IndexConfig {
                max_speed_mps: 0.0,
                ..Default::default()
            },
            IndexConfig {
                max_speed_mps: f64::NAN,
                ..Default::default()
            },
            IndexConfig {
                jump_confirm_fixes: 0,
                ..Default::default()
            },
            IndexConfig {
                jump_tolerance_m: -1.0,
                ..Default::default()
            },
            IndexConfig {
                expire_after_ms: f64::NAN,
                ..Default::default()
            },
            IndexConfig {
                max_handles: 0,
                ..Default::default()
            },
        ] {
            assert_eq!(
                DriverIndex::new(bad).unwrap_err().code,
                ErrorCode::InvalidArgument
            );
        }
    }

    #[test]
    fn first_fix_applies_as_offline_class_zero() {
        let mut ix = index();
        assert!(ix.get(7).is_none());
        assert_eq!(
            ix.upsert(7, Fix::at(CHI.0, CHI.1, 1000.0)).unwrap(),
            UpsertOutcome::Applied
        );
        let v = ix.get(7).unwrap();
        assert_eq!(
            (v.lat, v.lng, v.time_ms, v.status, v.class),
            (CHI.0, CHI.1, 1000.0, Status::Offline, 0)
        );
        let mut cell = [0u64];
        crate::geo::cells_of(&[CHI.0, CHI.1], 9, &mut cell).unwrap();
        assert_eq!(v.cell, cell[0]);
        assert!(v.heading_deg.is_nan() && v.speed_mps.is_nan());
        assert_eq!(ix.len(), 1);
    }

    #[test]
    fn stale_fixes_are_dropped() {
        let mut ix = index();
        ix.upsert(1, Fix::at(CHI.0, CHI.1, 5000.0)).unwrap();
        let (lat, lng) = north(CHI.0, CHI.1, 10.0);
        assert_eq!(
            ix.upsert(1, Fix::at(lat, lng, 5000.0)).unwrap(),
            UpsertOutcome::Stale
        );
        assert_eq!(
            ix.upsert(1, Fix::at(lat, lng, 4000.0)).unwrap(),
            UpsertOutcome::Stale
        );
        assert_eq!(ix.get(1).unwrap().lat, CHI.0);
        assert_eq!(
            ix.upsert(1, Fix::at(lat, lng, 5001.0)).unwrap(),
            UpsertOutcome::Applied
        );
        assert_eq!(ix.get(1).unwrap().lat, lat);
    }

    #[test]
    fn jumps_are_flagged_and_confirmed_after_three_consistent_fixes() {
        let mut ix = index();
        ix.upsert(1, Fix::at(CHI.0, CHI.1, 0.0)).unwrap();
        // 10 km in 10 s is 1000 m/s.
        let far = north(CHI.0, CHI.1, 10_000.0);
        assert_eq!(
            ix.upsert(1, Fix::at(far.0, far.1, 10_000.0)).unwrap(),
            UpsertOutcome::Jump
        );
        assert_eq!(ix.get(1).unwrap().lat, CHI.0);
        assert_eq!(ix.get(1).unwrap().time_ms, 0.0);
        let far2 = north(far.0, far.1, 100.0);
        assert_eq!(
            ix.upsert(1, Fix::at(far2.0, far2.1, 14_000.0)).unwrap(),
            UpsertOutcome::Jump
        );
        let far3 = north(far2.0, far2.1, 100.0);
        assert_eq!(
            ix.upsert(1, Fix::at(far3.0, far3.1, 18_000.0)).unwrap(),
            UpsertOutcome::Relocated
        );
        let v = ix.get(1).unwrap();
        assert_eq!((v.lat, v.time_ms), (far3.0, 18_000.0));
        // Back to normal: a plausible fix applies.
        let next = north(far3.0, far3.1, 100.0);
        assert_eq!(
            ix.upsert(1, Fix::at(next.0, next.1, 22_000.0)).unwrap(),
            UpsertOutcome::Applied
        );
    }

    #[test]
    fn inconsistent_jumps_restart_the_streak_and_good_fixes_clear_it() {
        let mut ix = index();
        ix.upsert(1, Fix::at(CHI.0, CHI.1, 0.0)).unwrap();
        let a = north(CHI.0, CHI.1, 10_000.0);
        let b = north(CHI.0, CHI.1, -10_000.0); // 20 km from `a` in 1 s: not consistent
        assert_eq!(
            ix.upsert(1, Fix::at(a.0, a.1, 1_000.0)).unwrap(),
            UpsertOutcome::Jump
        );
        assert_eq!(
            ix.upsert(1, Fix::at(b.0, b.1, 2_000.0)).unwrap(),
            UpsertOutcome::Jump
        );
        assert_eq!(
            ix.upsert(1, Fix::at(a.0, a.1, 3_000.0)).unwrap(),
            UpsertOutcome::Jump
        );
        // A plausible fix near the applied position clears the streak.
        let near = north(CHI.0, CHI.1, 50.0);
        assert_eq!(
            ix.upsert(1, Fix::at(near.0, near.1, 4_000.0)).unwrap(),
            UpsertOutcome::Applied
        );
        assert_eq!(
            ix.upsert(1, Fix::at(a.0, a.1, 5_000.0)).unwrap(),
            UpsertOutcome::Jump
        );
        assert_eq!(
            ix.upsert(1, Fix::at(a.0, a.1, 6_000.0)).unwrap(),
            UpsertOutcome::Jump
        );
        assert_eq!(
            ix.upsert(1, Fix::at(a.0, a.1, 7_000.0)).unwrap(),
            UpsertOutcome::Relocated
        );
    }

    #[test]
    fn long_silence_resets_the_speed_test() {
        let mut ix = index();
        ix.upsert(1, Fix::at(CHI.0, CHI.1, 0.0)).unwrap();
        // New York, 11 minutes later: 1150 km at 1740 m/s, but the app was off for a while.
        assert_eq!(
            ix.upsert(1, Fix::at(40.7128, -74.0060, 660_000.0)).unwrap(),
            UpsertOutcome::Applied
        );
        assert_eq!(ix.get(1).unwrap().lat, 40.7128);
    }

    #[test]
    fn tolerance_and_speed_limit_bounds() {
        let mut ix = index();
        ix.upsert(1, Fix::at(CHI.0, CHI.1, 0.0)).unwrap();
        // 40 m in 1 ms: within the 50 m tolerance.
        let p = north(CHI.0, CHI.1, 40.0);
        assert_eq!(
            ix.upsert(1, Fix::at(p.0, p.1, 1.0)).unwrap(),
            UpsertOutcome::Applied
        );
        // 60 m/s for 10 s plus tolerance: 650 m allowed, 640 m given.
        let p2 = north(p.0, p.1, 640.0);
        assert_eq!(
            ix.upsert(1, Fix::at(p2.0, p2.1, 10_001.0)).unwrap(),
            UpsertOutcome::Applied
        );
        // 70 m/s * 10 s + 50 = 750 m allowed, 800 m given.
        let p3 = north(p2.0, p2.1, 800.0);
        assert_eq!(
            ix.upsert(1, Fix::at(p3.0, p3.1, 20_001.0)).unwrap(),
            UpsertOutcome::Jump
        );
    }

    #[test]
    fn confirm_one_accepts_every_jump() {
        let mut ix = DriverIndex::new(IndexConfig {
            jump_confirm_fixes: 1,
            ..Default::default()
        })
        .unwrap();
        ix.upsert(1, Fix::at(CHI.0, CHI.1, 0.0)).unwrap();
        assert_eq!(
            ix.upsert(1, Fix::at(0.0, 0.0, 1.0)).unwrap(),
            UpsertOutcome::Relocated
        );
        assert_eq!(ix.get(1).unwrap().lat, 0.0);
    }

    #[test]
    fn invalid_fixes_are_errors_and_change_nothing() {
        let mut ix = index();
        let cases = [
            (Fix::at(f64::NAN, 0.0, 0.0), ErrorCode::InvalidCoordinate),
            (Fix::at(91.0, 0.0, 0.0), ErrorCode::InvalidCoordinate),
            (Fix::at(0.0, 180.5, 0.0), ErrorCode::InvalidCoordinate),
            (Fix::at(0.0, 0.0, f64::NAN), ErrorCode::InvalidArgument),
            (Fix::at(0.0, 0.0, f64::INFINITY), ErrorCode::InvalidArgument),
            (
                Fix {
                    heading_deg: 361.0,
                    ..Fix::at(0.0, 0.0, 0.0)
                },
                ErrorCode::InvalidArgument,
            ),
            (
                Fix {
                    heading_deg: f32::INFINITY,
                    ..Fix::at(0.0, 0.0, 0.0)
                },
                ErrorCode::InvalidArgument,
            ),
            (
                Fix {
                    speed_mps: -1.0,
                    ..Fix::at(0.0, 0.0, 0.0)
                },
                ErrorCode::InvalidArgument,
            ),
            (
                Fix {
                    speed_mps: f32::INFINITY,
                    ..Fix::at(0.0, 0.0, 0.0)
                },
                ErrorCode::InvalidArgument,
            ),
        ];
        for (fix, code) in cases {
            assert_eq!(ix.upsert(3, fix).unwrap_err().code, code, "{fix:?}");
        }
        assert_eq!(
            ix.upsert(1 << 24, Fix::at(0.0, 0.0, 0.0)).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        assert!(ix.is_empty() && ix.get(3).is_none());
        let ok = Fix {
            heading_deg: 90.0,
            speed_mps: 12.5,
            ..Fix::at(0.0, 0.0, 0.0)
        };
        ix.upsert(3, ok).unwrap();
        let v = ix.get(3).unwrap();
        assert_eq!((v.heading_deg, v.speed_mps), (90.0, 12.5));
    }

    #[test]
    fn unknown_handles() {
        let mut ix = index();
        assert_eq!(
            ix.set_status(4, Status::Free).unwrap_err().code,
            ErrorCode::UnknownHandle
        );
        assert_eq!(ix.set_class(4, 1).unwrap_err().code, ErrorCode::UnknownHandle);
        assert_eq!(ix.remove(4).unwrap_err().code, ErrorCode::UnknownHandle);
        ix.upsert(4, Fix::at(CHI.0, CHI.1, 0.0)).unwrap();
        ix.set_status(4, Status::Busy).unwrap();
        ix.set_class(4, 2).unwrap();
        assert_eq!(
            (ix.get(4).unwrap().status, ix.get(4).unwrap().class),
            (Status::Busy, 2)
        );
        // Handles below a known one are still unknown.
        assert_eq!(ix.remove(2).unwrap_err().code, ErrorCode::UnknownHandle);
        ix.remove(4).unwrap();
        assert!(ix.get(4).is_none());
        assert_eq!(ix.remove(4).unwrap_err().code, ErrorCode::UnknownHandle);
        assert_eq!(
            ix.set_status(4, Status::Free).unwrap_err().code,
            ErrorCode::UnknownHandle
        );
        assert_eq!(
            ix.set_status(u32::MAX, Status::Free).unwrap_err().code,
            ErrorCode::UnknownHandle
        );
        // A removed handle comes back fresh.
        ix.upsert(4, Fix::at(CHI.0, CHI.1, -5.0)).unwrap();
        assert_eq!(
            (ix.get(4).unwrap().status, ix.get(4).unwrap().class),
            (Status::Offline, 0)
        );
        assert_eq!(ix.len(), 1);
    }

    #[test]
    fn status_codes() {
        for s in [Status::Offline, Status::Free, Status::Offered, Status::Busy] {
            assert_eq!(Status::try_from(s as u8).unwrap(), s);
        }
        assert_eq!(Status::try_from(4).unwrap_err().code, ErrorCode::InvalidArgument);
    }

    #[test]
    fn expire_forgets_silent_drivers() {
        let mut ix = index();
        ix.upsert(5, Fix::at(CHI.0, CHI.1, 0.0)).unwrap();
        ix.upsert(2, Fix::at(CHI.0, CHI.1, 1_000.0)).unwrap();
        ix.upsert(9, Fix::at(CHI.0, CHI.1, 50_000.0)).unwrap();
        ix.set_status(2, Status::Free).unwrap();
        let mut out = vec![99];
        // Exactly expire_after_ms old is kept.
        assert_eq!(ix.expire(120_000.0, &mut out), 0);
        assert!(out.is_empty());
        assert_eq!(ix.expire(121_000.5, &mut out), 2);
        assert_eq!(out, vec![2, 5]);
        assert!(ix.get(2).is_none() && ix.get(5).is_none() && ix.get(9).is_some());
        assert_eq!(ix.len(), 1);
        assert_eq!(ix.supply_in_cells(&[ix.get(9).unwrap().cell], None).unwrap(), 0);
        // A jump does not refresh the clock.
        let far = north(CHI.0, CHI.1, 50_000.0);
        assert_eq!(
            ix.upsert(9, Fix::at(far.0, far.1, 60_000.0)).unwrap(),
            UpsertOutcome::Jump
        );
        assert_eq!(ix.expire(170_001.0, &mut out), 1);
        assert_eq!(out, vec![9]);
    }

    #[test]
    fn batch_upsert_reports_outcomes_as_data() {
        let mut ix = index();
        let far = north(CHI.0, CHI.1, 30_000.0);
        let handles = [1, 2, 1, 1, 3, 1 << 30];
        let lat_lngs = [
            CHI.0,
            CHI.1,
            CHI.0,
            CHI.1,
            CHI.0,
            CHI.1,
            far.0,
            far.1,
            f64::NAN,
            0.0,
            0.0,
            0.0,
        ];
        let times = [10.0, 10.0, 10.0, 20.0, 10.0, 10.0];
        let mut out = [255u8; 6];
        let summary = ix
            .upsert_many(&handles, &lat_lngs, &times, &[], &[], &mut out)
            .unwrap();
        assert_eq!(out, [0, 0, 1, 2, 3, 3]);
        assert_eq!(
            summary,
            UpsertSummary {
                applied: 2,
                stale: 1,
                jump: 1,
                invalid: 2,
                relocated: 0
            }
        );
        assert_eq!(ix.len(), 2);
        let headings = [45.0f32];
        let speeds = [3.0f32];
        ix.upsert_many(&[1], &[CHI.0, CHI.1], &[30.0], &headings, &speeds, &mut out[..1])
            .unwrap();
        assert_eq!(ix.get(1).unwrap().heading_deg, 45.0);
        for (h, ll, t, hd, o) in [
            (&[1u32][..], &[0.0][..], &[1.0][..], &[][..], 1usize),
            (&[1], &[0.0, 0.0], &[], &[], 1),
            (&[1], &[0.0, 0.0], &[1.0], &[1.0, 2.0], 1),
            (&[1], &[0.0, 0.0], &[1.0], &[], 2),
        ] {
            let mut out = vec![0u8; o];
            assert_eq!(
                ix.upsert_many(h, ll, t, hd, &[], &mut out).unwrap_err().code,
                ErrorCode::LengthMismatch
            );
        }
    }

    #[test]
    fn drivers_change_buckets_when_crossing_cells() {
        let mut ix = index();
        let mut cells = std::collections::BTreeSet::new();
        // Walk 5 km north in 20 m steps, every second.
        for i in 0..250 {
            let (lat, lng) = north(CHI.0, CHI.1, 20.0 * f64::from(i));
            assert_eq!(
                ix.upsert(1, Fix::at(lat, lng, 1000.0 * f64::from(i))).unwrap(),
                UpsertOutcome::Applied
            );
            let mut expected = [0u64];
            crate::geo::cells_of(&[lat, lng], 9, &mut expected).unwrap();
            assert_eq!(ix.get(1).unwrap().cell, expected[0]);
            cells.insert(expected[0]);
        }
        assert!(cells.len() > 10);
        ix.set_status(1, Status::Free).unwrap();
        let cell = ix.get(1).unwrap().cell;
        assert_eq!(ix.supply_in_cells(&[cell], None).unwrap(), 1);
        assert_eq!(ix.supply_by_cell(9, None).unwrap(), vec![(cell, 1)]);
        ix.prune_empty_cells();
        assert_eq!(ix.bucket_count(), 1);
        assert_eq!(ix.get(1).unwrap().cell, cell);
        ix.remove(1).unwrap();
        ix.prune_empty_cells();
        assert_eq!(ix.bucket_count(), 0);
    }

    #[test]
    fn swap_remove_keeps_slots_right() {
        let mut ix = index();
        for h in 0..10 {
            ix.upsert(h, Fix::at(CHI.0, CHI.1 + 1e-6 * f64::from(h), 0.0))
                .unwrap();
            ix.set_class(h, h as u8).unwrap();
        }
        ix.remove(0).unwrap();
        ix.remove(5).unwrap();
        for h in [1, 2, 3, 4, 6, 7, 8, 9] {
            let v = ix.get(h).unwrap();
            assert_eq!((v.class, v.lng), (h as u8, CHI.1 + 1e-6 * f64::from(h)));
        }
    }

    fn free_at(ix: &mut DriverIndex, h: u32, lat: f64, lng: f64, class: u8) {
        ix.upsert(h, Fix::at(lat, lng, 0.0)).unwrap();
        ix.set_status(h, Status::Free).unwrap();
        ix.set_class(h, class).unwrap();
    }

    #[test]
    fn nearest_filters_orders_and_breaks_ties() {
        let mut ix = index();
        let p = |m: f64| north(CHI.0, CHI.1, m);
        free_at(&mut ix, 10, p(100.0).0, p(100.0).1, 1);
        free_at(&mut ix, 3, p(100.0).0, p(100.0).1, 1); // tie with 10, lower handle first
        free_at(&mut ix, 4, p(50.0).0, p(50.0).1, 2);
        free_at(&mut ix, 5, p(20.0).0, p(20.0).1, 1);
        ix.set_status(5, Status::Busy).unwrap();
        free_at(&mut ix, 6, p(2_000.0).0, p(2_000.0).1, 1);
        let mut scratch = QueryScratch::new();
        let mut out = Vec::new();
        let q = |k, radius_m, class| NearestQuery { k, radius_m, class };
        ix.nearest(CHI.0, CHI.1, &q(10, 1000.0, None), &mut scratch, &mut out)
            .unwrap();
        assert_eq!(out.iter().map(|n| n.handle).collect::<Vec<_>>(), vec![4, 3, 10]);
        assert_eq!(out[1].distance_m, out[2].distance_m);
        assert_eq!(out[0].distance_m, haversine_m(CHI.0, CHI.1, p(50.0).0, p(50.0).1));
        ix.nearest(
            CHI.0,
            CHI.1,
            &q(2, f64::INFINITY, Some(1)),
            &mut scratch,
            &mut out,
        )
        .unwrap();
        assert_eq!(out.iter().map(|n| n.handle).collect::<Vec<_>>(), vec![3, 10]);
        ix.nearest(
            CHI.0,
            CHI.1,
            &q(10, f64::INFINITY, Some(1)),
            &mut scratch,
            &mut out,
        )
        .unwrap();
        assert_eq!(out.iter().map(|n| n.handle).collect::<Vec<_>>(), vec![3, 10, 6]);
        ix.nearest(CHI.0, CHI.1, &q(0, 1000.0, None), &mut scratch, &mut out)
            .unwrap();
        assert!(out.is_empty());
        ix.nearest(CHI.0, CHI.1, &q(5, 10.0, None), &mut scratch, &mut out)
            .unwrap();
        assert!(out.is_empty());
        ix.nearest(0.0, 0.0, &q(5, 1000.0, None), &mut scratch, &mut out)
            .unwrap();
        assert!(out.is_empty());
        // Radius is inclusive.
        let d = haversine_m(CHI.0, CHI.1, p(50.0).0, p(50.0).1);
        ix.nearest(CHI.0, CHI.1, &q(5, d, Some(2)), &mut scratch, &mut out)
            .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            ix.nearest(f64::NAN, 0.0, &q(5, 1.0, None), &mut scratch, &mut out)
                .unwrap_err()
                .code,
            ErrorCode::InvalidCoordinate
        );
        for r in [-1.0, f64::NAN] {
            assert_eq!(
                ix.nearest(0.0, 0.0, &q(5, r, None), &mut scratch, &mut out)
                    .unwrap_err()
                    .code,
                ErrorCode::InvalidArgument
            );
        }
    }

    #[test]
    fn nearest_many_writes_flat_buffers() {
        let mut ix = index();
        for h in 0..5u32 {
            let (lat, lng) = north(CHI.0, CHI.1, 100.0 * f64::from(h));
            free_at(&mut ix, h, lat, lng, 0);
        }
        let mut scratch = QueryScratch::new();
        let query = NearestQuery {
            k: 2,
            radius_m: 250.0,
            class: None,
        };
        let far = north(CHI.0, CHI.1, 400.0);
        let points = [CHI.0, CHI.1, 10.0, 10.0, far.0, far.1];
        let (mut hs, mut ds, mut cs) = ([9u32; 6], [0.0; 6], [9u32; 3]);
        ix.nearest_many(&points, &query, &mut scratch, &mut hs, &mut ds, &mut cs)
            .unwrap();
        assert_eq!(cs, [2, 0, 2]);
        assert_eq!((hs[0], hs[1], hs[4], hs[5]), (0, 1, 4, 3));
        assert_eq!(hs[2], 9); // untouched
        let bad = [0.0, 0.0, 95.0, 0.0];
        let err = ix
            .nearest_many(
                &bad,
                &query,
                &mut scratch,
                &mut hs[..4],
                &mut ds[..4],
                &mut cs[..2],
            )
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidCoordinate);
        assert!(err.message.starts_with("point 1"));
        let err = ix
            .nearest_many(&points, &query, &mut scratch, &mut hs[..4], &mut ds, &mut cs)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::LengthMismatch);
    }

    #[test]
    fn supply_counts() {
        let mut ix = index();
        let far = north(CHI.0, CHI.1, 3_000.0);
        free_at(&mut ix, 0, CHI.0, CHI.1, 1);
        free_at(&mut ix, 1, CHI.0, CHI.1, 2);
        free_at(&mut ix, 2, far.0, far.1, 1);
        ix.upsert(3, Fix::at(CHI.0, CHI.1, 0.0)).unwrap(); // offline: no supply
        let c0 = ix.get(0).unwrap().cell;
        let c2 = ix.get(2).unwrap().cell;
        let mut expected = vec![(c0, 2), (c2, 1)];
        expected.sort_unstable();
        assert_eq!(ix.supply_by_cell(9, None).unwrap(), expected);
        assert_eq!(ix.supply_by_cell(9, Some(2)).unwrap(), vec![(c0, 1)]);
        let p0 = u64::from(CellIndex::try_from(c0).unwrap().parent(Resolution::Five).unwrap());
        assert_eq!(ix.supply_by_cell(5, None).unwrap(), vec![(p0, 3)]);
        assert_eq!(ix.supply_in_cells(&[c0, c0, c2], None).unwrap(), 3);
        assert_eq!(ix.supply_in_cells(&[c0], Some(1)).unwrap(), 1);
        assert_eq!(ix.supply_in_cells(&[p0, c0], None).unwrap(), 3);
        assert_eq!(ix.supply_in_cells(&[], None).unwrap(), 0);
        assert_eq!(
            ix.supply_by_cell(10, None).unwrap_err().code,
            ErrorCode::InvalidResolution
        );
        assert_eq!(
            ix.supply_by_cell(16, None).unwrap_err().code,
            ErrorCode::InvalidResolution
        );
        assert_eq!(
            ix.supply_in_cells(&[12345], None).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        let fine = u64::from(LatLng::new(CHI.0, CHI.1).unwrap().to_cell(Resolution::Ten));
        assert_eq!(
            ix.supply_in_cells(&[fine], None).unwrap_err().code,
            ErrorCode::InvalidResolution
        );
    }

    /// Every boundary vertex of sampled cells at every resolution (pentagons, their neighbours,
    /// cells around random points and base cells) is within `max_cell_radius_m` of the centre.
    #[test]
    fn cell_radius_bound_holds() {
        let mut worst: f64 = 0.0;
        for r in 0..=15u8 {
            let res = Resolution::try_from(r).unwrap();
            let bound = max_cell_radius_m(res);
            let mut cells: Vec<CellIndex> = Vec::new();
            for p in res.pentagons() {
                cells.extend(p.grid_disk_safe(2));
            }
            let mut seed = 0x2545F4914F6CDD1D_u64 ^ u64::from(r);
            for _ in 0..300 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let lat = ((seed >> 11) as f64 / (1u64 << 53) as f64) * 180.0 - 90.0;
                let lng = ((seed & 0xFFFF_FFFF) as f64 / 4_294_967_296.0) * 360.0 - 180.0;
                cells.push(LatLng::new(lat, lng).unwrap().to_cell(res));
            }
            for c in cells {
                let center = LatLng::from(c);
                for v in c.boundary().iter() {
                    let d = haversine_m(center.lat(), center.lng(), v.lat(), v.lng());
                    worst = worst.max(d / bound);
                    assert!(d <= bound, "res {r} cell {c} vertex {d} m > bound {bound} m");
                }
            }
        }
        assert!(
            worst > 0.8,
            "the bound should be reasonably tight, worst ratio {worst}"
        );
    }

    fn seg_dist_m(p: &[f64; 3], a: &[f64; 3], b: &[f64; 3]) -> f64 {
        let n = cross(a, b);
        let l = dot(&n, &n).sqrt();
        let n = [n[0] / l, n[1] / l, n[2] / l];
        let s = dot(p, &n);
        let f = [p[0] - s * n[0], p[1] - s * n[1], p[2] - s * n[2]];
        if dot(&cross(a, &f), &n) >= 0.0 && dot(&cross(&f, b), &n) >= 0.0 {
            s.abs().asin() * EARTH_RADIUS_M
        } else {
            arc_m(p, a).min(arc_m(p, b))
        }
    }

    fn polygon_gap_m(a: &[[f64; 3]], b: &[[f64; 3]]) -> f64 {
        let mut m = f64::INFINITY;
        for (x, y) in [(a, b), (b, a)] {
            for p in x {
                for i in 0..y.len() {
                    m = m.min(seg_dist_m(p, &y[i], &y[(i + 1) % y.len()]));
                }
            }
        }
        m
    }

    /// Cells at grid distance 2 (around pentagons and random points) are at least
    /// `min_non_adjacent_gap_m` apart (measured: 1.27 times it at worst, near icosahedron vertices).
    #[test]
    fn non_adjacent_gap_bound_holds() {
        for r in [0u8, 1, 2, 3, 5, 9, 10, 13] {
            let res = Resolution::try_from(r).unwrap();
            let gap = min_non_adjacent_gap_m(res);
            let mut cells: Vec<CellIndex> = Vec::new();
            for p in res.pentagons() {
                cells.extend(p.grid_disk_safe(1));
            }
            let mut seed = 0x9E37_79B9_7F4A_7C15_u64 ^ u64::from(r);
            for _ in 0..60 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let lat = ((seed >> 11) as f64 / (1u64 << 53) as f64) * 180.0 - 90.0;
                let lng = ((seed & 0xFFFF_FFFF) as f64 / 4_294_967_296.0) * 360.0 - 180.0;
                cells.push(LatLng::new(lat, lng).unwrap().to_cell(res));
            }
            let verts = |c: CellIndex| {
                c.boundary()
                    .iter()
                    .map(|v| unit(v.lat(), v.lng()))
                    .collect::<Vec<_>>()
            };
            for c in cells {
                let vc = verts(c);
                for (o, d) in c.grid_disk_distances_safe(2) {
                    if d == 2 {
                        let g = polygon_gap_m(&vc, &verts(o));
                        assert!(
                            g >= gap,
                            "res {r}: cells {c} and {o} are {g} m apart, bound {gap} m"
                        );
                    }
                }
            }
        }
    }

    /// Every bucket links exactly the buckets of its H3 neighbours, in `neighbors` order.
    fn assert_links(ix: &DriverIndex) {
        for (b, bucket) in ix.buckets.iter().enumerate() {
            assert_eq!(ix.cells[&bucket.cell], b as u32);
            let mut around = [0u64; 6];
            let count = neighbors(CellIndex::try_from(bucket.cell).unwrap(), &mut around);
            for (i, &link) in bucket.nbrs.iter().enumerate() {
                let want = if i >= count {
                    NO_CELL
                } else {
                    ix.cells.get(&around[i]).copied().unwrap_or(NO_BUCKET)
                };
                assert_eq!(link, want, "bucket {b} link {i}");
            }
        }
    }

    #[test]
    fn cell_graph_links_survive_moves_and_pruning() {
        let mut ix = index();
        // Around a pentagon too (5 neighbours), at the index resolution.
        let pentagon = LatLng::from(Resolution::Nine.pentagons().next().unwrap());
        let mut h = 0;
        for (lat0, lng0) in [CHI, (pentagon.lat(), pentagon.lng())] {
            for i in 0..60 {
                let (lat, lng) = north(lat0, lng0, 37.0 * f64::from(i) - 1000.0);
                free_at(&mut ix, h, lat, lng + 1e-3 * f64::from(i % 7), 0);
                h += 1;
            }
        }
        assert_links(&ix);
        let mut scratch = QueryScratch::new();
        let (mut before, mut after) = (Vec::new(), Vec::new());
        let query = NearestQuery {
            k: 7,
            radius_m: 2_000.0,
            class: None,
        };
        ix.nearest(CHI.0, CHI.1, &query, &mut scratch, &mut before)
            .unwrap();
        for h in (0..120).step_by(3) {
            ix.remove(h).unwrap();
        }
        ix.prune_empty_cells();
        assert_links(&ix);
        ix.nearest(CHI.0, CHI.1, &query, &mut scratch, &mut after)
            .unwrap();
        let kept: Vec<_> = before.iter().filter(|n| n.handle % 3 != 0).copied().collect();
        assert_eq!(after[..kept.len()], kept[..]);
        // New buckets after pruning link back correctly.
        for i in 0..30 {
            let (lat, lng) = north(CHI.0, CHI.1, 3_000.0 + 50.0 * f64::from(i));
            free_at(&mut ix, 500 + i, lat, lng, 0);
        }
        assert_links(&ix);
    }

    /// Internal consistency: drivers and entries point at each other, free prefixes hold exactly
    /// the free drivers, counts add up.
    fn assert_consistent(ix: &DriverIndex) {
        let mut seen = 0;
        for (b, bucket) in ix.buckets.iter().enumerate() {
            for (slot, e) in bucket.entries.iter().enumerate() {
                let d = ix.drivers[e.handle as usize];
                assert_eq!((d.bucket, d.slot), (b as u32, slot as u32));
                assert_eq!((d.status, d.class), (e.status, e.class));
                assert_eq!(
                    e.status == Status::Free,
                    slot < bucket.free as usize,
                    "free prefix"
                );
                seen += 1;
            }
        }
        assert_eq!(seen, ix.len());
        assert_eq!(ix.drivers.iter().filter(|d| d.bucket != NONE).count(), ix.len());
    }

    #[test]
    fn random_operations_keep_the_index_consistent() {
        let mut ix = index();
        let mut seed = 0x1234_5678_9ABC_DEF1_u64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut t = 0.0;
        for step in 0..20_000 {
            let h = rnd(64) as u32;
            t += 1.0;
            match rnd(10) {
                0..=4 => {
                    let (lat, lng) = north(CHI.0, CHI.1, rnd(3_000) as f64);
                    ix.upsert(h, Fix::at(lat, lng + rnd(100) as f64 * 1e-4, t * 1e6))
                        .unwrap();
                }
                5..=6 => {
                    let _ = ix.set_status(h, Status::try_from(rnd(4) as u8).unwrap());
                }
                7 => {
                    let _ = ix.set_class(h, rnd(3) as u8);
                }
                8 => {
                    let _ = ix.remove(h);
                }
                _ => {
                    let mut out = Vec::new();
                    ix.expire(t * 1e6 - 2e6, &mut out);
                }
            }
            if step % 97 == 0 {
                assert_consistent(&ix);
                if step % 1000 == 0 {
                    ix.prune_empty_cells();
                    assert_consistent(&ix);
                    assert_links(&ix);
                }
            }
        }
        assert_consistent(&ix);
        assert_links(&ix);
    }
}
