/**
 * The hand-written face of the native addon. The generated loader (native/node/generated) is
 * kept apart; this module gives it the types and error mapping the engine wants:
 *
 * - every native error surfaces as a `DispatchError` with the core's code;
 * - JS types are checked here first (napi's own type errors say "InvalidArg" and little else),
 *   values (ranges, NaN, lengths) by the core;
 * - the driver index maps string driver ids to the core's dense `u32` handles once, at this
 *   boundary, and speaks status and outcome strings; the hot paths (`upsertMany`,
 *   `nearestMany`) stay on typed arrays of handles.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DispatchError, ErrorCode, fromNative } from "../engine/errors.js";
import type * as Binding from "./node/generated/binding.js";

function locateBinding(): string {
  // From source this file is native/index.ts; compiled it is dist/native/index.js.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, "native", "node", "generated", "binding.cjs");
    if (existsSync(candidate)) return candidate;
    const sibling = join(dir, "node", "generated", "binding.cjs");
    if (existsSync(sibling)) return sibling;
    dir = dirname(dir);
  }
  throw new Error("native addon not built: run `npm run build:native` (or `node scripts/setup.mjs`)");
}

const require = createRequire(import.meta.url);
const binding: typeof Binding = require(locateBinding());

/** Wraps a native call so its coded errors surface as DispatchError with the same code. */
function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}

// ------------------------------------------------------------------------------------------------
// Argument checks: JS types only; the core checks values.
// ------------------------------------------------------------------------------------------------

function invalid(message: string): never {
  throw new DispatchError(ErrorCode.InvalidArgument, message);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "object") return (v as object).constructor?.name ?? "object";
  return typeof v;
}

type TypedArrayCtor<T> = { new (length: number): T; readonly name: string };

function typed<T>(ctor: TypedArrayCtor<T>, name: string, v: unknown): T {
  if (!(v instanceof ctor)) invalid(`${name} must be a ${ctor.name}, got ${describe(v)}`);
  return v;
}

function optTyped<T>(ctor: TypedArrayCtor<T>, name: string, v: unknown): T | undefined {
  return v === undefined ? undefined : typed(ctor, name, v);
}

function num(name: string, v: unknown): number {
  if (typeof v !== "number") invalid(`${name} must be a number, got ${describe(v)}`);
  return v;
}

function optNum(name: string, v: unknown): number | undefined {
  return v === undefined || v === null ? undefined : num(name, v);
}

function count(name: string, v: unknown): number {
  if (!Number.isInteger(num(name, v)) || (v as number) < 0) {
    invalid(`${name} is ${v}, expected a whole number >= 0`);
  }
  return v as number;
}

/** An options object whose present fields are all numbers (or the listed typed arrays). */
function options<T extends object>(name: string, v: unknown, arrays: readonly string[] = []): T {
  if (v === undefined) return {} as T;
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    invalid(`${name} must be an object, got ${describe(v)}`);
  }
  for (const [key, field] of Object.entries(v)) {
    if (field === undefined || arrays.includes(key)) continue;
    if (typeof field !== "number") invalid(`${name}.${key} must be a number, got ${describe(field)}`);
  }
  return v as T;
}

function object(name: string, v: unknown): void {
  if (typeof v !== "object" || v === null) invalid(`${name} must be an object, got ${describe(v)}`);
}

function driverId(v: unknown): string {
  if (typeof v !== "string" || v.length === 0)
    invalid(`driver id must be a non-empty string, got ${describe(v)}`);
  return v;
}

/** An H3 cell given as a bigint or as h3-js's hex string. */
function cellIndex(v: unknown): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "string" && /^[0-9a-f]{1,16}$/i.test(v)) return BigInt(`0x${v}`);
  return invalid(`cell must be a bigint or a hex H3 index string, got ${describe(v)}`);
}

const EMPTY_F32 = new Float32Array(0);

// ------------------------------------------------------------------------------------------------
// Cells
// ------------------------------------------------------------------------------------------------

/**
 * H3 cells of many points in one call. `latLngs` is interleaved `[lat0, lng0, lat1, lng1, ...]`.
 * Throws INVALID_COORDINATE (naming the pair), INVALID_RESOLUTION or LENGTH_MISMATCH.
 */
export function cellsOf(latLngs: Float64Array, resolution: number): BigUint64Array {
  if (!(latLngs instanceof Float64Array)) {
    throw new DispatchError(ErrorCode.InvalidArgument, "latLngs must be a Float64Array");
  }
  if (!Number.isInteger(resolution) || resolution < 0 || resolution > 15) {
    throw new DispatchError(
      ErrorCode.InvalidResolution,
      `H3 resolution ${resolution} is not an integer in 0..=15`,
    );
  }
  return call(() => binding.cellsOf(latLngs, resolution));
}

// ------------------------------------------------------------------------------------------------
// Driver index
// ------------------------------------------------------------------------------------------------

/** What a driver is doing; only `free` drivers are found by `nearest` and count as supply. */
export type DriverStatus = "offline" | "free" | "offered" | "busy";

const STATUSES: readonly DriverStatus[] = ["offline", "free", "offered", "busy"];

/** What happened to a fix. `upsertMany` writes the index of these into its `outcomes`. */
export type UpsertOutcome = "applied" | "stale" | "jump" | "invalid" | "relocated";

/** Outcome names by the code `upsertMany` writes (0 applied ... 4 relocated). */
export const UPSERT_OUTCOMES: readonly UpsertOutcome[] = ["applied", "stale", "jump", "invalid", "relocated"];

export type DriverIndexOptions = Binding.IndexOptions;

/** Counts of one batch by outcome. */
export type UpsertSummary = Binding.UpsertCounts;

/** One GPS fix. `timeMs` is on the clock later passed to `expire`. */
export interface Fix {
  lat: number;
  lng: number;
  timeMs: number;
  /** Degrees clockwise from north, [0, 360]. */
  headingDeg?: number | undefined;
  /** Metres per second, >= 0. */
  speedMps?: number | undefined;
}

/**
 * Many fixes as parallel arrays: fix `i` is of driver `handles[i]` (from `handleFor`) at
 * `latLngs[2i], latLngs[2i + 1]`. Applied in array order.
 */
export interface FixBatch {
  handles: Uint32Array;
  latLngs: Float64Array;
  timesMs: Float64Array;
  /** One per fix (NaN: unknown), or absent. */
  headingsDeg?: Float32Array | undefined;
  /** One per fix (NaN: unknown), or absent. */
  speedsMps?: Float32Array | undefined;
  /** Receives one outcome code per fix (see `UPSERT_OUTCOMES`) when given. */
  outcomes?: Uint8Array | undefined;
}

export interface DriverState {
  id: string;
  handle: number;
  lat: number;
  lng: number;
  /** H3 cell at the index resolution. */
  cell: bigint;
  timeMs: number;
  headingDeg: number | null;
  speedMps: number | null;
  status: DriverStatus;
  vehicleClass: number;
}

export interface NearestOptions {
  /** How many drivers at most. */
  k: number;
  /** Inclusive search radius in metres; Infinity for no limit. */
  radiusM: number;
  /** Only drivers of this vehicle class (0..=255); any when absent. */
  vehicleClass?: number | undefined;
}

export interface Neighbor {
  id: string;
  handle: number;
  /** Great-circle distance from the query point. */
  distanceM: number;
}

/**
 * Answers to many queries, flat: point `i` has `counts[i]` drivers at `handles[i * k ...]` and
 * `distancesM[i * k ...]`, nearest first; `idOf` turns a handle into its driver id.
 */
export type NearestBatch = Binding.NearestManyResult;

/** Free drivers per H3 cell, ascending by cell. */
export type CellSupply = Binding.CellCounts;

/**
 * The live driver index: positions, status and vehicle class of drivers by H3 cell, and exact
 * k-nearest free drivers.
 *
 * Driver ids map to dense handles here, once: `handleFor(id)` gives (or assigns) a driver's
 * handle, which the hot path `upsertMany` takes. `remove` and `expire` release handles for
 * reuse, so a caller that caches handles (a socket per driver) must drop the handles of the
 * ids those calls return. Not safe to share across threads (it lives on one JS thread).
 */
export class DriverIndex {
  readonly #native: Binding.DriverIndex;
  readonly #slot: number;
  readonly #maxHandles: number;
  readonly #handles = new Map<string, number>();
  /** Driver id by handle; undefined for a handle not issued. */
  readonly #ids: (string | undefined)[] = [];
  /** Released handles, reused last-in first-out. */
  readonly #released: number[] = [];
  #outHandles = new Uint32Array(32);
  #outDistances = new Float64Array(32);
  #outcomes = new Uint8Array(1024);

  /** INVALID_RESOLUTION or INVALID_ARGUMENT for settings outside their domain. */
  constructor(config?: DriverIndexOptions) {
    const o = options<DriverIndexOptions>("options", config);
    this.#native = call(() => new binding.DriverIndex(o));
    this.#slot = this.#native.slot;
    this.#maxHandles = this.#native.maxHandles;
  }

  /** Drivers the index holds (known: at least one accepted fix, not removed or expired). */
  get size(): number {
    return this.#native.size;
  }

  /** H3 resolution of the index cells. */
  get resolution(): number {
    return this.#native.resolution;
  }

  /** Handles issued and not released (ids mapped, with or without a fix yet). */
  get handleCount(): number {
    return this.#handles.size;
  }

  /** The driver's handle, assigned now if it has none (a released one is reused first). */
  handleFor(id: string): number {
    const known = this.#handles.get(driverId(id));
    if (known !== undefined) return known;
    const handle = this.#released.pop() ?? this.#ids.length;
    if (handle >= this.#maxHandles) {
      throw new DispatchError(
        ErrorCode.InvalidArgument,
        `driver index is full: ${this.#maxHandles} handles in use (maxHandles)`,
      );
    }
    this.#handles.set(id, handle);
    this.#ids[handle] = id;
    return handle;
  }

  /** The driver's handle, or undefined when it has none. */
  handleOf(id: string): number | undefined {
    return this.#handles.get(id);
  }

  /** The driver id a handle stands for, or undefined. */
  idOf(handle: number): string | undefined {
    return this.#ids[handle];
  }

  #release(handle: number): void {
    const id = this.#ids[handle];
    if (id === undefined) return;
    this.#handles.delete(id);
    this.#ids[handle] = undefined;
    this.#released.push(handle);
  }

  #handleOrThrow(id: unknown): number {
    const handle = this.#handles.get(driverId(id));
    if (handle === undefined) {
      throw new DispatchError(ErrorCode.UnknownHandle, `driver ${id} is not in the index`);
    }
    return handle;
  }

  /**
   * The hot path: many fixes in one call, by handle, no allocation per fix. A malformed fix is
   * counted `invalid` and the batch goes on; LENGTH_MISMATCH for arrays that do not fit
   * together and UNKNOWN_HANDLE for a handle `handleFor` did not issue fail the whole batch
   * before anything is applied.
   */
  upsertMany(batch: FixBatch): UpsertSummary {
    object("batch", batch);
    const handles = typed(Uint32Array, "handles", batch.handles);
    const latLngs = typed(Float64Array, "latLngs", batch.latLngs);
    const timesMs = typed(Float64Array, "timesMs", batch.timesMs);
    const headings = optTyped(Float32Array, "headingsDeg", batch.headingsDeg) ?? EMPTY_F32;
    const speeds = optTyped(Float32Array, "speedsMps", batch.speedsMps) ?? EMPTY_F32;
    let outcomes = optTyped(Uint8Array, "outcomes", batch.outcomes);
    const n = handles.length;
    const ids = this.#ids;
    for (let i = 0; i < n; i++) {
      if (ids[handles[i]!] === undefined) {
        throw new DispatchError(
          ErrorCode.UnknownHandle,
          `handles[${i}] = ${handles[i]} was not issued by handleFor (or was released)`,
        );
      }
    }
    if (outcomes === undefined) {
      if (this.#outcomes.length < n) this.#outcomes = new Uint8Array(n);
      outcomes = this.#outcomes.subarray(0, n);
    }
    const out = outcomes;
    return call(() => this.#native.upsertMany(handles, latLngs, timesMs, headings, speeds, out));
  }

  /**
   * One fix by handle, the driver socket's per-frame call: plain numbers in, the outcome code
   * out (an index into UPSERT_OUTCOMES; a malformed fix is `invalid` and changes nothing).
   * UNKNOWN_HANDLE for a handle `handleFor` did not issue.
   */
  upsertOne(
    handle: number,
    lat: number,
    lng: number,
    timeMs: number,
    headingDeg = Number.NaN,
    speedMps = Number.NaN,
  ): number {
    if (this.#ids[handle] === undefined) {
      throw new DispatchError(
        ErrorCode.UnknownHandle,
        `handle ${handle} was not issued by handleFor (or was released)`,
      );
    }
    return call(() =>
      binding.DriverIndex.upsertOne(this.#slot, handle, lat, lng, timeMs, headingDeg, speedMps),
    );
  }

  /**
   * One fix of one driver (assigning a handle to a new id). INVALID_COORDINATE or
   * INVALID_ARGUMENT for a malformed fix, and then nothing changes.
   */
  upsert(id: string, fix: Fix): UpsertOutcome {
    driverId(id);
    object("fix", fix);
    const lat = num("lat", fix.lat);
    const lng = num("lng", fix.lng);
    const timeMs = num("timeMs", fix.timeMs);
    const heading = optNum("headingDeg", fix.headingDeg);
    const speed = optNum("speedMps", fix.speedMps);
    const fresh = !this.#handles.has(id);
    const handle = this.handleFor(id);
    try {
      return UPSERT_OUTCOMES[this.#native.upsert(handle, lat, lng, timeMs, heading, speed)]!;
    } catch (err) {
      if (fresh) this.#release(handle);
      throw fromNative(err);
    }
  }

  /** UNKNOWN_HANDLE for a driver not in the index. */
  setStatus(id: string, status: DriverStatus): void {
    const handle = this.#handleOrThrow(id);
    const code = STATUSES.indexOf(status);
    if (code < 0) invalid(`status must be one of ${STATUSES.join(", ")}, got ${String(status)}`);
    call(() => this.#native.setStatus(handle, code));
  }

  /** Vehicle class 0..=255. UNKNOWN_HANDLE for a driver not in the index. */
  setClass(id: string, vehicleClass: number): void {
    const handle = this.#handleOrThrow(id);
    num("vehicleClass", vehicleClass);
    call(() => this.#native.setClass(handle, vehicleClass));
  }

  /** Forgets a driver and releases its handle. UNKNOWN_HANDLE for an id with no handle. */
  remove(id: string): void {
    const handle = this.#handleOrThrow(id);
    try {
      this.#native.remove(handle);
    } catch (err) {
      const e = fromNative(err);
      // A handle issued but never given a fix: there is nothing to forget but the handle.
      if (e.code !== ErrorCode.UnknownHandle) throw e;
    }
    this.#release(handle);
  }

  /** The driver's last applied state, or null when the index does not hold it. */
  get(id: string): DriverState | null {
    const handle = this.#handles.get(driverId(id));
    if (handle === undefined) return null;
    const v = call(() => this.#native.get(handle));
    if (v === null) return null;
    return {
      id,
      handle,
      lat: v.lat,
      lng: v.lng,
      cell: v.cell,
      timeMs: v.timeMs,
      headingDeg: v.headingDeg ?? null,
      speedMps: v.speedMps ?? null,
      status: STATUSES[v.status]!,
      vehicleClass: v.vehicleClass,
    };
  }

  /**
   * Forgets every driver whose last fix is older than `nowMs - expireAfterMs` and releases
   * their handles; returns their ids.
   */
  expire(nowMs: number): string[] {
    num("nowMs", nowMs);
    const handles = call(() => this.#native.expire(nowMs));
    const ids: string[] = [];
    for (const handle of handles) {
      const id = this.#ids[handle];
      if (id !== undefined) ids.push(id);
      this.#release(handle);
    }
    return ids;
  }

  /**
   * The `k` nearest free drivers within `radiusM` (of `vehicleClass` if given), nearest first,
   * ties by handle: exactly what a scan over all drivers would give. INVALID_COORDINATE for a
   * bad point, INVALID_ARGUMENT for a bad `k`, radius or class.
   */
  nearest(lat: number, lng: number, query: NearestOptions): Neighbor[] {
    num("lat", lat);
    num("lng", lng);
    object("query", query);
    const radiusM = num("radiusM", query.radiusM);
    const vehicleClass = optNum("vehicleClass", query.vehicleClass);
    // Never more results than handles issued: buffers stay small whatever k is asked.
    const k = Math.min(count("k", query.k), this.#ids.length);
    if (this.#outHandles.length < k) {
      this.#outHandles = new Uint32Array(k);
      this.#outDistances = new Float64Array(k);
    }
    const handles = this.#outHandles;
    const distances = this.#outDistances;
    let found: number;
    try {
      found = binding.DriverIndex.nearestInto(
        this.#slot,
        lat,
        lng,
        k,
        radiusM,
        handles,
        distances,
        vehicleClass,
      );
    } catch (err) {
      throw fromNative(err);
    }
    const out: Neighbor[] = new Array(found);
    for (let i = 0; i < found; i++) {
      const handle = handles[i]!;
      out[i] = { id: this.#ids[handle]!, handle, distanceM: distances[i]! };
    }
    return out;
  }

  /**
   * `nearest` for many interleaved points in one call (`k` at most 1024), as flat arrays of
   * handles. Every point is checked first; INVALID_COORDINATE names the first bad one.
   */
  nearestMany(latLngs: Float64Array, query: NearestOptions): NearestBatch {
    typed(Float64Array, "latLngs", latLngs);
    object("query", query);
    const k = num("k", query.k);
    const radiusM = num("radiusM", query.radiusM);
    const vehicleClass = optNum("vehicleClass", query.vehicleClass);
    return call(() => this.#native.nearestMany(latLngs, k, radiusM, vehicleClass));
  }

  /**
   * Free drivers per H3 cell at `resolution` (not finer than the index: INVALID_RESOLUTION),
   * of `vehicleClass` if given; cells without any are left out.
   */
  supplyByCell(resolution: number, vehicleClass?: number): CellSupply {
    num("resolution", resolution);
    optNum("vehicleClass", vehicleClass);
    return call(() => this.#native.supplyByCell(resolution, vehicleClass));
  }

  /** Free drivers in the union of `cells` (at the index resolution or coarser). */
  supplyInCells(cells: BigUint64Array, vehicleClass?: number): number {
    typed(BigUint64Array, "cells", cells);
    optNum("vehicleClass", vehicleClass);
    return call(() => this.#native.supplyInCells(cells, vehicleClass));
  }

  /** Drops cached cells no driver is in; call now and then if drivers roam far. */
  pruneEmptyCells(): void {
    this.#native.pruneEmptyCells();
  }
}

// ------------------------------------------------------------------------------------------------
// Matching
// ------------------------------------------------------------------------------------------------

/**
 * One batch in CSR form: request `r`'s candidates are `drivers[offsets[r]..offsets[r + 1]]`
 * (driver handles) with pickup costs `costsS[...]` in seconds. `offsets` has one entry more
 * than there are requests and starts at 0; `maxPickupS[r]` is the longest acceptable pickup
 * (Infinity: no limit); `penaltiesS[r]`, when given, what leaving request `r` unassigned costs.
 */
export interface MatchInput {
  offsets: Uint32Array;
  drivers: Uint32Array;
  costsS: Float32Array;
  maxPickupS: Float32Array;
  penaltiesS?: Float32Array | undefined;
}

export type UnassignedReason = "no_candidates" | "none_within_max_pickup" | "outbid";

const REASONS: readonly UnassignedReason[] = ["no_candidates", "none_within_max_pickup", "outbid"];

/**
 * Assigned pairs `(requests[i], drivers[i])` at `costsS[i]`, in request order; `unassigned[j]`
 * got no driver because of `reasons[j]`. Every request is in exactly one of the two lists.
 */
export interface MatchResult {
  requests: Uint32Array;
  drivers: Uint32Array;
  costsS: Float32Array;
  unassigned: Uint32Array;
  reasons: UnassignedReason[];
  /** Sum of the assigned costs, seconds. */
  totalPickupS: number;
  /** What the optimal solver minimises: costs and penalties in whole milliseconds. */
  objectiveMs: number;
}

export type MatcherOptions = Binding.MatcherOptions;
export type SolveStats = Binding.SolveStats;

function matchArgs(input: MatchInput) {
  object("input", input);
  return [
    typed(Uint32Array, "offsets", input.offsets),
    typed(Uint32Array, "drivers", input.drivers),
    typed(Float32Array, "costsS", input.costsS),
    typed(Float32Array, "maxPickupS", input.maxPickupS),
    optTyped(Float32Array, "penaltiesS", input.penaltiesS),
  ] as const;
}

function matchResult(r: Binding.MatchResult): MatchResult {
  return {
    requests: r.requests,
    drivers: r.drivers,
    costsS: r.costsS,
    unassigned: r.unassigned,
    reasons: Array.from(r.reasons, (code) => REASONS[code]!),
    totalPickupS: r.totalPickupS,
    objectiveMs: r.objectiveMs,
  };
}

/**
 * Assigns requests to drivers, each driver to at most one request: `solve` minimises total
 * pickup plus penalties exactly (shortest augmenting paths); `solveGreedy` is the
 * nearest-driver baseline. LENGTH_MISMATCH or INVALID_ARGUMENT name the first bad position.
 */
export class Matcher {
  readonly #native: Binding.Matcher;

  /** INVALID_ARGUMENT for a penalty outside [0, 1e6] seconds. */
  constructor(config?: MatcherOptions) {
    const o = options<MatcherOptions>("options", config);
    this.#native = call(() => new binding.Matcher(o));
  }

  /** The optimal assignment, on this thread. */
  solve(input: MatchInput): MatchResult {
    const args = matchArgs(input);
    return matchResult(call(() => this.#native.solve(...args)));
  }

  /** Greedy: requests in order, each takes its cheapest free candidate within its limit. */
  solveGreedy(input: MatchInput): MatchResult {
    const args = matchArgs(input);
    return matchResult(call(() => this.#native.solveGreedy(...args)));
  }

  /**
   * `solve` on the libuv thread pool, off the event loop. The input is copied and checked
   * before this returns, so the caller may reuse its arrays at once; bad input rejects.
   */
  async solveAsync(input: MatchInput): Promise<MatchResult> {
    const args = matchArgs(input);
    const pending = call(() => this.#native.solveAsync(...args));
    try {
      return matchResult(await pending);
    } catch (err) {
      // Inputs were checked before queueing: a failure here is ours, not the caller's.
      throw new DispatchError(ErrorCode.Internal, (err as Error).message, { cause: err });
    }
  }

  /** Work done by the last optimal solve on this matcher's own solver. */
  get lastStats(): SolveStats {
    return this.#native.lastStats;
  }
}

// ------------------------------------------------------------------------------------------------
// ETA
// ------------------------------------------------------------------------------------------------

export type EtaOptions = Binding.EtaOptions;

/**
 * Travel times: great-circle distance x detour factor at the hour's speed (local hour 0..=23),
 * optionally faster or slower in some H3 areas. Symmetric in its endpoints.
 */
export class EtaModel {
  readonly #native: Binding.EtaModel;

  /** INVALID_ARGUMENT, INVALID_RESOLUTION or LENGTH_MISMATCH for bad settings. */
  constructor(config?: EtaOptions) {
    const o = options<EtaOptions>("options", config, ["hourlySpeedMps", "areaCells", "areaMultipliers"]);
    if (o.hourlySpeedMps !== undefined && !Array.isArray(o.hourlySpeedMps)) {
      invalid(`options.hourlySpeedMps must be an array of 24 numbers, got ${describe(o.hourlySpeedMps)}`);
    }
    optTyped(BigUint64Array, "options.areaCells", o.areaCells);
    optTyped(Float64Array, "options.areaMultipliers", o.areaMultipliers);
    this.#native = call(() => new binding.EtaModel(o));
  }

  /** Pickup ETA in seconds (travel plus the pickup overhead). */
  etaS(fromLat: number, fromLng: number, toLat: number, toLng: number, hour: number): number {
    checkEtaArgs(fromLat, fromLng, hour);
    num("toLat", toLat);
    num("toLng", toLng);
    return call(() => this.#native.etaS(fromLat, fromLng, toLat, toLng, hour));
  }

  /** Driving time in seconds, without the pickup overhead. */
  travelS(fromLat: number, fromLng: number, toLat: number, toLng: number, hour: number): number {
    checkEtaArgs(fromLat, fromLng, hour);
    num("toLat", toLat);
    num("toLng", toLng);
    return call(() => this.#native.travelS(fromLat, fromLng, toLat, toLng, hour));
  }

  /** Pickup ETAs from one point to each of the interleaved `targets`, one per pair. */
  etaMany(fromLat: number, fromLng: number, targets: Float64Array, hour: number): Float32Array {
    checkEtaArgs(fromLat, fromLng, hour);
    typed(Float64Array, "targets", targets);
    return call(() => this.#native.etaMany(fromLat, fromLng, targets, hour));
  }
}

function checkEtaArgs(fromLat: unknown, fromLng: unknown, hour: unknown): void {
  num("fromLat", fromLat);
  num("fromLng", fromLng);
  num("hour", hour);
}

// ------------------------------------------------------------------------------------------------
// Pricing
// ------------------------------------------------------------------------------------------------

/** A vehicle class's fare in integer minor units (cents). */
export type TariffInput = Binding.TariffInput;
export type Tariff = Binding.Tariff;
/** A priced trip: `fareMinor + surgeMinor + roundingMinor === totalMinor` exactly. */
export type Quote = Binding.Quote;
export type SurgeOptions = Binding.SurgeOptions;
/** Cells whose shown multiplier is above 1, parallel arrays. */
export type Surging = Binding.Surging;

/** Tariffs by vehicle class (0..=255). */
export class TariffTable {
  readonly #native = new binding.TariffTable();

  /** Sets or replaces a class's tariff; INVALID_ARGUMENT for an amount out of range. */
  set(vehicleClass: number, tariff: TariffInput): void {
    num("vehicleClass", vehicleClass);
    object("tariff", tariff);
    for (const key of ["baseMinor", "perKmMinor", "perMinuteMinor", "minimumMinor"] as const) {
      num(`tariff.${key}`, tariff[key]);
    }
    optNum("tariff.roundingMinor", tariff.roundingMinor);
    call(() => this.#native.set(vehicleClass, tariff));
  }

  get(vehicleClass: number): Tariff | null {
    num("vehicleClass", vehicleClass);
    return call(() => this.#native.get(vehicleClass));
  }

  /** Whether the class had a tariff. */
  remove(vehicleClass: number): boolean {
    num("vehicleClass", vehicleClass);
    return call(() => this.#native.remove(vehicleClass));
  }

  /** Classes with a tariff, ascending. */
  classes(): number[] {
    return this.#native.classes();
  }

  /**
   * Prices a trip. UNKNOWN_VEHICLE_CLASS without a tariff for the class; INVALID_ARGUMENT for
   * a distance, duration or multiplier (1..=100) out of range.
   */
  quote(vehicleClass: number, distanceM: number, durationS: number, surgeMultiplier = 1): Quote {
    num("vehicleClass", vehicleClass);
    num("distanceM", distanceM);
    num("durationS", durationS);
    num("surgeMultiplier", surgeMultiplier);
    return call(() => this.#native.quote(vehicleClass, distanceM, durationS, surgeMultiplier));
  }
}

/**
 * Surge per H3 cell: demand against supply, smoothed over updates, capped and shown on a grid.
 * Cells are bigints (as `cellsOf` gives) or h3-js hex strings where one cell is asked for.
 */
export class SurgeState {
  readonly #native: Binding.SurgeState;

  /** INVALID_ARGUMENT or INVALID_RESOLUTION for bad settings. */
  constructor(config?: SurgeOptions) {
    const o = options<SurgeOptions>("options", config);
    this.#native = call(() => new binding.SurgeState(o));
  }

  /**
   * One update: `demand[i]` (open requests plus forecast) and `supply[i]` (free drivers) of
   * `cells[i]`, at the configured resolution; unlisted cells decay toward 1. All or nothing.
   */
  update(cells: BigUint64Array, demand: Float64Array, supply: Float64Array): void {
    typed(BigUint64Array, "cells", cells);
    typed(Float64Array, "demand", demand);
    typed(Float64Array, "supply", supply);
    call(() => this.#native.update(cells, demand, supply));
  }

  /** The multiplier to quote for a cell (a finer one reads through its ancestor). */
  multiplier(cell: bigint | string): number {
    const c = cellIndex(cell);
    return call(() => this.#native.multiplier(c));
  }

  /** The multiplier to quote at a pickup point. */
  multiplierAt(lat: number, lng: number): number {
    num("lat", lat);
    num("lng", lng);
    return call(() => this.#native.multiplierAt(lat, lng));
  }

  multipliers(cells: BigUint64Array): Float64Array {
    typed(BigUint64Array, "cells", cells);
    return call(() => this.#native.multipliers(cells));
  }

  /** Cells surging now (shown multiplier above 1), in no particular order. */
  surging(): Surging {
    return call(() => this.#native.surging());
  }

  /** Cells held (smoothed above 1). */
  get size(): number {
    return this.#native.size;
  }
}
