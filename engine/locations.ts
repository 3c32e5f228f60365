/**
 * The live locations port: what the engine needs from the index of where drivers are and what
 * they are doing. The one implementation adapts the native DriverIndex (native/index.ts); there
 * is deliberately no JavaScript re-implementation, so tests exercise the real index.
 */
import { DriverIndex } from "../native/index.js";
import { DispatchError, ErrorCode } from "./errors.js";
import type { DriverId, LatLng } from "./model.js";
import type { Clock, TimerHandle } from "./ports.js";

/**
 * What a driver is doing, as dispatch sees it. Only `free` drivers are dispatch candidates and
 * count as supply. A driver the index has just learned about (first fix) is `offline`: a fix alone
 * never makes a driver dispatchable.
 *
 * Who moves it: the gateway sets `free` / `offline` when the driver goes on or off duty (and
 * `free` only when DriverAssignments shows no hold); the dispatch loop moves drivers it offered
 * to between `free`, `offered` and `busy` and never touches `offline`.
 */
export type DriverStatus = "offline" | "free" | "offered" | "busy";

/** Per-fix outcome codes written into `FixResult.outcomes` (the native index's codes). */
export const FixOutcome = {
  Applied: 0,
  /** Not newer than the last applied fix of the driver. */
  Stale: 1,
  /** Implied speed too high: not applied. */
  Jump: 2,
  /** Malformed (coordinate, time, heading or speed out of range): not applied. */
  Invalid: 3,
  /** A jump confirmed by consistent fixes after it: applied (the driver really moved, e.g. GPS was off). */
  Relocated: 4,
} as const;

/**
 * A batch of one driver's fixes as parallel typed arrays, oldest first. `latLngs` is
 * interleaved `[lat0, lng0, lat1, lng1, ...]`; `timesMs` is the device time of each fix on the
 * engine's clock (ms since the epoch); `headings` (degrees in [0, 360]) and `speeds` (m/s)
 * are absent or one per fix, NaN for an unknown value.
 */
export interface FixBatch {
  readonly latLngs: Float64Array;
  readonly timesMs: Float64Array;
  readonly headings?: Float32Array;
  readonly speeds?: Float32Array;
}

export interface FixResult {
  /** Fixes that moved the driver (`Applied` and `Relocated`). */
  readonly applied: number;
  /** Stale, jump and invalid fixes: nothing changed for them. */
  readonly dropped: number;
  /** Of the dropped, how many were implausible jumps (to flag the device). */
  readonly jumps: number;
  /**
   * One FixOutcome code per fix, in batch order. Valid until the next `applyFixes` call of the
   * same port (implementations may reuse the buffer): copy it to keep it.
   */
  readonly outcomes: Uint8Array;
}

export interface DriverPosition {
  readonly lat: number;
  readonly lng: number;
  /** Degrees clockwise from north; null when unknown. */
  readonly heading: number | null;
  /** m/s; null when unknown. */
  readonly speed: number | null;
  /** Device time of the last applied fix. */
  readonly at: number;
  readonly status: DriverStatus;
  /** Null until set (`setVehicleClass`). */
  readonly vehicleClass: string | null;
}

/** One result of a nearest query. */
export interface NearbyDriver {
  readonly driverId: DriverId;
  /** Great-circle distance from the query point, metres. */
  readonly distanceM: number;
  readonly lat: number;
  readonly lng: number;
}

/** Free drivers per area cell: parallel arrays, ascending by cell. Cells without any are left out. */
export interface CellSupply {
  readonly cells: BigUint64Array;
  readonly counts: Uint32Array;
}

/**
 * The live driver index, in process memory and synchronous throughout: the GPS hot path and
 * the dispatch window never await it.
 *
 * - Ordering: `applyFixes` applies a batch in array order. A fix not newer than the driver's last
 *   applied one is dropped (stale); one implying a speed above the index limit is dropped (jump)
 *   unless consistent later fixes confirm it (relocated, applied). A malformed fix is dropped
 *   (invalid) and the rest of the batch goes on; the call never throws for bad fixes, only for a
 *   batch whose arrays do not fit together (LENGTH_MISMATCH, nothing applied).
 * - The first applied fix makes a driver known, `offline` and without a class.
 * - "Not found": `positionOf` returns null and the setters return false for a driver the index
 *   does not know (never fixed, removed or expired). They never throw for that.
 * - `nearestFree` is exact: the k nearest drivers that are `free` and of the class, within
 *   `radiusM` (inclusive) of the point by great-circle distance, nearest first, ties broken
 *   deterministically; fewer when fewer qualify. INVALID_COORDINATE for a bad point.
 * - `supplyByCell(res, cls?)` counts `free` drivers (of the class, or any) per H3 cell at `res`
 *   (not finer than the index's own resolution: INVALID_RESOLUTION).
 * - `expire(now)` forgets every driver whose last applied fix is older than the configured
 *   silence limit and returns them; they become unknown as if removed.
 * - Vehicle classes are names (`economy`); an implementation may limit how many distinct names
 *   it holds (INVALID_ARGUMENT past it).
 */
export interface LiveLocations {
  applyFixes(driverId: DriverId, batch: FixBatch): FixResult;
  setStatus(driverId: DriverId, status: DriverStatus): boolean;
  setVehicleClass(driverId: DriverId, vehicleClass: string): boolean;
  positionOf(driverId: DriverId): DriverPosition | null;
  nearestFree(at: LatLng, vehicleClass: string, k: number, radiusM: number): NearbyDriver[];
  /**
   * `nearestFree` for many points with the same class, k and radius; `latLngs` interleaved.
   * Result `i` is the answer for point `i`.
   */
  nearestFreeMany(latLngs: Float64Array, vehicleClass: string, k: number, radiusM: number): NearbyDriver[][];
  supplyByCell(resolution: number, vehicleClass?: string): CellSupply;
  expire(now: number): DriverId[];
  /** Forgets a driver (logged out); false when unknown. */
  remove(driverId: DriverId): boolean;
  /** Drivers known now. */
  readonly size: number;
}

/** One fix as a batch of one (tests, simple callers); the hot path builds typed arrays itself. */
export function singleFix(lat: number, lng: number, atMs: number, heading = Number.NaN): FixBatch {
  return {
    latLngs: Float64Array.of(lat, lng),
    timesMs: Float64Array.of(atMs),
    headings: Float32Array.of(heading),
  };
}

export function checkBatch(batch: FixBatch): number {
  const n = batch.timesMs.length;
  const fits = (a: { length: number } | undefined) => a === undefined || a.length === 0 || a.length === n;
  if (batch.latLngs.length !== 2 * n || !fits(batch.headings) || !fits(batch.speeds)) {
    throw new DispatchError(
      ErrorCode.LengthMismatch,
      `a batch of ${n} fixes needs ${2 * n} lat/lng values and 0 or ${n} headings and speeds`,
    );
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// The native implementation

/** Class code 0 is "none": the native index gives a new driver class 0, which must match nothing. */
const NO_CLASS = 0;
const MAX_CLASSES = 255;

/**
 * LiveLocations over the native DriverIndex (native/index.ts), which maps driver ids to dense
 * handles. Vehicle class names get codes 1..255 in first-seen order. Reuses its per-call buffers:
 * `FixResult.outcomes` is valid until the next `applyFixes`.
 */
export class NativeLocations implements LiveLocations {
  readonly index: DriverIndex;
  readonly #classCodes = new Map<string, number>();
  readonly #classNames: string[] = [""];
  #handles = new Uint32Array(64);
  #outcomes = new Uint8Array(64);

  constructor(index: DriverIndex = new DriverIndex()) {
    this.index = index;
  }

  get size(): number {
    return this.index.size;
  }

  applyFixes(driverId: DriverId, batch: FixBatch): FixResult {
    const n = checkBatch(batch);
    if (this.#handles.length < n) {
      this.#handles = new Uint32Array(n);
      this.#outcomes = new Uint8Array(n);
    }
    const fresh = this.index.handleOf(driverId) === undefined;
    const handle = this.index.handleFor(driverId);
    if (n === 1) return this.#applyOne(driverId, handle, fresh, batch);
    const handles = this.#handles.subarray(0, n).fill(handle);
    const outcomes = this.#outcomes.subarray(0, n);
    const c = this.index.upsertMany({
      handles,
      latLngs: batch.latLngs,
      timesMs: batch.timesMs,
      headingsDeg: batch.headings?.length ? batch.headings : undefined,
      speedsMps: batch.speeds?.length ? batch.speeds : undefined,
      outcomes,
    });
    // A new id whose fixes were all invalid holds a handle and nothing else: give it back.
    if (fresh && c.applied + c.relocated === 0) this.index.remove(driverId);
    return {
      applied: c.applied + c.relocated,
      dropped: c.stale + c.jump + c.invalid,
      jumps: c.jump,
      outcomes,
    };
  }

  /**
   * One fix (the usual frame of a driver socket) through the index's scalar entry point: no
   * typed arrays or result objects cross the boundary.
   */
  #applyOne(driverId: DriverId, handle: number, fresh: boolean, batch: FixBatch): FixResult {
    const code = this.index.upsertOne(
      handle,
      batch.latLngs[0]!,
      batch.latLngs[1]!,
      batch.timesMs[0]!,
      batch.headings?.length ? batch.headings[0] : Number.NaN,
      batch.speeds?.length ? batch.speeds[0] : Number.NaN,
    );
    const outcomes = this.#outcomes.subarray(0, 1);
    outcomes[0] = code;
    const moved = code === FixOutcome.Applied || code === FixOutcome.Relocated;
    if (fresh && !moved) this.index.remove(driverId);
    return {
      applied: moved ? 1 : 0,
      dropped: moved ? 0 : 1,
      jumps: code === FixOutcome.Jump ? 1 : 0,
      outcomes,
    };
  }

  setStatus(driverId: DriverId, status: DriverStatus): boolean {
    return this.#ifKnown(driverId, () => this.index.setStatus(driverId, status));
  }

  setVehicleClass(driverId: DriverId, vehicleClass: string): boolean {
    const code = this.#classCode(vehicleClass, true)!;
    return this.#ifKnown(driverId, () => this.index.setClass(driverId, code));
  }

  positionOf(driverId: DriverId): DriverPosition | null {
    const s = this.index.get(driverId);
    if (s === null) return null;
    return {
      lat: s.lat,
      lng: s.lng,
      heading: s.headingDeg,
      speed: s.speedMps,
      at: s.timeMs,
      status: s.status,
      vehicleClass: s.vehicleClass === NO_CLASS ? null : (this.#classNames[s.vehicleClass] ?? null),
    };
  }

  nearestFree(at: LatLng, vehicleClass: string, k: number, radiusM: number): NearbyDriver[] {
    const code = this.#classCode(vehicleClass, false);
    if (code === undefined) return [];
    return this.index
      .nearest(at.lat, at.lng, { k, radiusM, vehicleClass: code })
      .map((n) => this.#nearby(n.id, n.distanceM));
  }

  nearestFreeMany(latLngs: Float64Array, vehicleClass: string, k: number, radiusM: number): NearbyDriver[][] {
    const points = latLngs.length >> 1;
    const code = this.#classCode(vehicleClass, false);
    if (code === undefined || points === 0) return Array.from({ length: points }, () => []);
    const r = this.index.nearestMany(latLngs, { k: Math.min(k, 1024), radiusM, vehicleClass: code });
    const out: NearbyDriver[][] = new Array(points);
    for (let i = 0; i < points; i++) {
      const list: NearbyDriver[] = new Array(r.counts[i]!);
      for (let j = 0; j < list.length; j++) {
        const slot = i * r.k + j;
        list[j] = this.#nearby(this.index.idOf(r.handles[slot]!)!, r.distancesM[slot]!);
      }
      out[i] = list;
    }
    return out;
  }

  supplyByCell(resolution: number, vehicleClass?: string): CellSupply {
    if (vehicleClass === undefined) return this.index.supplyByCell(resolution);
    const code = this.#classCode(vehicleClass, false);
    if (code === undefined) return { cells: new BigUint64Array(0), counts: new Uint32Array(0) };
    return this.index.supplyByCell(resolution, code);
  }

  expire(now: number): DriverId[] {
    return this.index.expire(now) as DriverId[];
  }

  remove(driverId: DriverId): boolean {
    if (this.index.handleOf(driverId) === undefined) return false;
    const known = this.index.get(driverId) !== null;
    this.index.remove(driverId);
    return known;
  }

  #nearby(id: string, distanceM: number): NearbyDriver {
    const s = this.index.get(id)!;
    return { driverId: id as DriverId, distanceM, lat: s.lat, lng: s.lng };
  }

  #ifKnown(driverId: DriverId, fn: () => void): boolean {
    if (this.index.handleOf(driverId) === undefined) return false;
    try {
      fn();
      return true;
    } catch (err) {
      if (err instanceof DispatchError && err.code === ErrorCode.UnknownHandle) return false;
      throw err;
    }
  }

  #classCode(name: string, assign: boolean): number | undefined {
    const known = this.#classCodes.get(name);
    if (known !== undefined || !assign) return known;
    if (this.#classNames.length > MAX_CLASSES) {
      throw new DispatchError(ErrorCode.InvalidArgument, `more than ${MAX_CLASSES} vehicle classes`);
    }
    const code = this.#classNames.length;
    this.#classNames.push(name);
    this.#classCodes.set(name, code);
    return code;
  }
}

/**
 * Forgets drivers silent for longer than the index's limit, every `everyMs` on the clock, and
 * reports them (the gateway closes their session state). Returns the stop function.
 */
export function expireSilentDrivers(
  locations: Pick<LiveLocations, "expire">,
  clock: Clock,
  everyMs: number,
  onExpired: (driverIds: DriverId[]) => void = () => {},
): () => void {
  let timer: TimerHandle | null = null;
  let stopped = false;
  const tick = () => {
    timer = null;
    if (stopped) return;
    const gone = locations.expire(clock.now());
    if (gone.length > 0) onExpired(gone);
    timer = clock.setTimer(everyMs, tick);
  };
  timer = clock.setTimer(everyMs, tick);
  return () => {
    stopped = true;
    if (timer) clock.clearTimer(timer);
  };
}
