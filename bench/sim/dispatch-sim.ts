/**
 * A discrete-event simulation of one city through the engine's real dispatch loop: the memory
 * RideService harness on a ManualClock, the native live index (NativeLocations), the native ETA
 * model (NativePickupEta) and a `Matcher` port that is either the optimal solve (NativeMatcher,
 * "batch") or the native greedy solve ("greedy"). The wiring mirrors engine/dispatch.testkit.ts's
 * World, without its live-ETA tracker (no rider watches in a bench).
 *
 * Drivers always accept, at once; they drive in a straight line at `speedMps` to the pickup and
 * then to the dropoff, where they complete and become free again. Their position in the live
 * index is updated by a fix at each event (arrival at the pickup, arrival at the dropoff): while
 * a driver is on a trip it is never a candidate, and a free driver stands still, so the index is
 * exact for every dispatch window. Riders cancel if no driver accepted within `patienceMs`.
 */
import { randomUUID } from "node:crypto";
import {
  type DispatchConfig,
  Dispatcher,
  type Matcher,
  type MatchProblem,
  type MatchResult,
  NativeMatcher,
  NativePickupEta,
  tapEvents,
} from "../../engine/dispatch.js";
import { NativeLocations, singleFix } from "../../engine/locations.js";
import { silentLogger } from "../../engine/logger.js";
import type { DriverId, OrderEvent, OrderId } from "../../engine/model.js";
import type { EventLog, TimerHandle } from "../../engine/ports.js";
import { Matcher as NativeMatcherImpl } from "../../native/index.js";
import { memoryRideHarness, type RideHarness } from "../../storage/memory/harness.js";
import { type CityConfig, distM, type Point, type Request, toLatLng } from "./city.js";

/** The nearest-first baseline behind the same port: native `Matcher.solveGreedy` on the same problem. */
export class GreedyMatcher implements Matcher {
  readonly native: NativeMatcherImpl;

  constructor(native: NativeMatcherImpl = new NativeMatcherImpl()) {
    this.native = native;
  }

  async solve(problem: MatchProblem): Promise<MatchResult> {
    const r = this.native.solveGreedy(problem);
    return { requests: r.requests, drivers: r.drivers, costsS: r.costsS };
  }
}

export type Algorithm = "batch" | "greedy";

export function matcherFor(algorithm: Algorithm): Matcher {
  return algorithm === "batch" ? new NativeMatcher() : new GreedyMatcher();
}

export interface SimOptions {
  readonly city: CityConfig;
  readonly algorithm: Algorithm;
  readonly demand: readonly Request[];
  readonly drivers: readonly Point[];
  /** Riders cancel if no driver has accepted this long after the request. */
  readonly patienceMs: number;
  /** Dispatch settings on top of the defaults (windowMs etc.). */
  readonly dispatch?: Partial<DispatchConfig>;
  /** Simulated time to keep running after the last request, at most, for trips to finish. */
  readonly drainMs?: number;
  /** Called every simulated `checkEveryMs` (tests: invariants). */
  readonly check?: (h: RideHarness, atMs: number) => void;
  readonly checkEveryMs?: number;
}

export type Outcome = "pending" | "served" | "cancelled";

/** What happened to one request, times in ms after the simulation start. */
export interface RequestRecord {
  readonly request: Request;
  orderId: OrderId | null;
  outcome: Outcome;
  /** Who cancelled: the rider after its patience, or the engine (no_driver_found etc.). */
  cancelReason: string | null;
  offers: number;
  driver: DriverId | null;
  acceptedAtMs: number | null;
  /** The driver reached the pickup (served from then on). */
  pickedUpAtMs: number | null;
  completedAtMs: number | null;
  endedAtMs: number | null;
}

export interface SimResult {
  readonly records: RequestRecord[];
  /** Broken sim invariants (a busy driver offered or accepting, a record closed twice...). */
  readonly violations: string[];
  /** Calls to the service that failed (e.g. an accept racing the rider's cancel). */
  readonly failedCalls: number;
  readonly windowsRun: number;
  readonly simulatedMs: number;
}

interface DriverSim {
  readonly id: DriverId;
  pos: Point;
  lastFixAt: number;
  /** The request this driver is serving (accepted, not yet completed). */
  serving: RequestRecord | null;
}

export async function simulate(opts: SimOptions): Promise<SimResult> {
  const { city, demand } = opts;
  const speed = city.speedMps;
  const listeners: ((e: OrderEvent) => void)[] = [];
  const h = memoryRideHarness({
    // Offers are accepted at once; the cap only has to admit the dispatcher's offer timeout.
    config: { maxOfferMs: 60_000 },
    wrap: <T extends object>(port: T, name: string): T =>
      name === "events" ? (tapEvents(port as unknown as EventLog, listeners) as unknown as T) : port,
  });
  const clock = h.clock;
  const t0 = clock.now();
  const rel = () => clock.now() - t0;
  const locations = new NativeLocations();
  const dispatcher = new Dispatcher(
    {
      region: `${Math.floor(city.origin.lat)}:${Math.floor(city.origin.lng)}`,
      clock,
      log: silentLogger,
      rides: h.service,
      orders: h.orders,
      locations,
      eta: new NativePickupEta(),
      matcher: matcherFor(opts.algorithm),
    },
    opts.dispatch,
  );
  listeners.push((e) => dispatcher.observe(e));

  const violations: string[] = [];
  let failedCalls = 0;
  const records: RequestRecord[] = demand.map((request) => ({
    request,
    orderId: null,
    outcome: "pending",
    cancelReason: null,
    offers: 0,
    driver: null,
    acceptedAtMs: null,
    pickedUpAtMs: null,
    completedAtMs: null,
    endedAtMs: null,
  }));
  const byOrder = new Map<OrderId, RequestRecord>();
  const patience = new Map<RequestRecord, TimerHandle>();
  const drivers = new Map<DriverId, DriverSim>();

  const fix = (d: DriverSim, p: Point) => {
    // Strictly increasing fix times per driver (two events of one driver can share a millisecond).
    const at = Math.max(clock.now(), d.lastFixAt + 1);
    const ll = toLatLng(city, p);
    const r = locations.applyFixes(d.id, singleFix(ll.lat, ll.lng, at));
    if (r.applied !== 1) violations.push(`fix of ${d.id} at ${at} not applied (${JSON.stringify(r)})`);
    d.pos = p;
    d.lastFixAt = at;
  };

  opts.drivers.forEach((p, i) => {
    const d: DriverSim = { id: `sim-d${i}` as DriverId, pos: p, lastFixAt: -1, serving: null };
    drivers.set(d.id, d);
    fix(d, p);
    locations.setVehicleClass(d.id, "economy");
    locations.setStatus(d.id, "free");
  });

  const close = (rec: RequestRecord, outcome: "served" | "cancelled") => {
    if (rec.outcome !== "pending") {
      violations.push(`request ${rec.request.i} ${outcome} after it was ${rec.outcome}`);
      return;
    }
    rec.outcome = outcome;
    rec.endedAtMs = rel();
    const timer = patience.get(rec);
    if (timer) clock.clearTimer(timer);
    patience.delete(rec);
  };

  const finishTrip = async (d: DriverSim, rec: RequestRecord) => {
    fix(d, rec.request.dropoff);
    try {
      await h.service.complete(d.id, rec.orderId!, {
        distanceM: Math.round(rec.request.tripM),
        durationS: Math.round(rec.request.tripM / speed),
      });
      rec.completedAtMs = rel();
    } catch (err) {
      failedCalls++;
      violations.push(`complete of ${rec.request.i} by ${d.id} failed: ${String(err)}`);
    }
    d.serving = null;
  };

  const reachPickup = async (d: DriverSim, rec: RequestRecord) => {
    fix(d, rec.request.pickup);
    try {
      await h.service.arrived(d.id, rec.orderId!);
      rec.pickedUpAtMs = rel();
      close(rec, "served");
      await h.service.start(d.id, rec.orderId!);
    } catch (err) {
      failedCalls++;
      violations.push(`pickup of ${rec.request.i} by ${d.id} failed: ${String(err)}`);
      d.serving = null;
      return;
    }
    clock.setTimer((rec.request.tripM / speed) * 1000, () => finishTrip(d, rec));
  };

  const accept = async (d: DriverSim, rec: RequestRecord) => {
    if (d.serving !== null) {
      violations.push(`${d.id} accepting ${rec.request.i} while serving ${d.serving.request.i}`);
      return;
    }
    try {
      await h.service.accept(d.id, rec.orderId!);
    } catch {
      // The rider cancelled meanwhile (or the offer ended): the dispatcher frees the driver.
      failedCalls++;
      return;
    }
    // Another event of this driver may have run while the call was under way.
    const meanwhile = d.serving as RequestRecord | null;
    if (meanwhile !== null) {
      violations.push(`${d.id} accepted ${rec.request.i} while serving ${meanwhile.request.i}`);
      return;
    }
    d.serving = rec;
    rec.driver = d.id;
    rec.acceptedAtMs = rel();
    const timer = patience.get(rec);
    if (timer) clock.clearTimer(timer);
    patience.delete(rec);
    clock.setTimer((distM(d.pos, rec.request.pickup) / speed) * 1000, () => reachPickup(d, rec));
  };

  listeners.push((e) => {
    const rec = byOrder.get(e.orderId);
    if (rec === undefined) return;
    if (e.type === "order.offered") {
      rec.offers++;
      const d = drivers.get(e.payload.driverId);
      if (d === undefined) {
        violations.push(`offer to unknown driver ${e.payload.driverId}`);
        return;
      }
      if (d.serving !== null) violations.push(`${d.id} offered ${rec.request.i} while serving`);
      // Drivers accept at once (after the dispatch window's own work has finished).
      clock.setTimer(0, () => accept(d, rec));
    } else if (e.type === "order.cancelled") {
      rec.cancelReason ??= e.payload.reason;
      if (rec.outcome === "pending") close(rec, "cancelled");
    }
  });

  const riderGivesUp = async (rec: RequestRecord) => {
    patience.delete(rec);
    if (rec.outcome !== "pending" || rec.acceptedAtMs !== null) return;
    try {
      await h.service.cancel({ role: "rider", id: `sim-r${rec.request.i}` }, rec.orderId!);
      rec.cancelReason ??= "rider_patience";
    } catch {
      // An accept got there first.
      failedCalls++;
    }
  };

  await dispatcher.start();
  const checkEvery = opts.checkEveryMs ?? 60_000;
  let nextCheck = checkEvery;
  const advanceTo = async (ms: number) => {
    while (opts.check && nextCheck <= ms) {
      await clock.advanceAsync(t0 + nextCheck - clock.now());
      opts.check(h, nextCheck);
      nextCheck += checkEvery;
    }
    await clock.advanceAsync(Math.max(0, t0 + ms - clock.now()));
  };

  for (const rec of records) {
    await advanceTo(rec.request.atMs);
    const riderId = `sim-r${rec.request.i}`;
    const q = await h.service.quote(
      riderId,
      toLatLng(city, rec.request.pickup),
      toLatLng(city, rec.request.dropoff),
      "economy",
    );
    // The order.requested event reaches the dispatcher (and this sim's listener) inside the call;
    // the record is registered right after, before any later event of that order can happen.
    const order = await h.service.requestRide(riderId, q.token, randomUUID());
    rec.orderId = order.id;
    byOrder.set(order.id, rec);
    patience.set(
      rec,
      clock.setTimer(opts.patienceMs, () => riderGivesUp(rec)),
    );
  }
  // Drain: every request ends served or cancelled, and trips under way finish.
  const last = demand.length > 0 ? demand[demand.length - 1]!.atMs : 0;
  const limit = last + (opts.drainMs ?? opts.patienceMs + 3_600_000);
  while (rel() < limit) {
    const busy =
      records.some((r) => r.outcome === "pending") || [...drivers.values()].some((d) => d.serving !== null);
    if (!busy) break;
    await advanceTo(Math.min(limit, rel() + 10_000));
  }
  const stats = dispatcher.stats();
  await dispatcher.stop();
  return { records, violations, failedCalls, windowsRun: stats.windowsRun, simulatedMs: rel() };
}

/** The figures of one run over the requests that arrived in [fromMs, toMs). */
export interface RunSummary {
  readonly requests: number;
  readonly served: number;
  readonly servedShare: number;
  /** Request to the driver at the pickup (the rider's wait), seconds, served requests. */
  readonly meanPickupS: number;
  readonly p90PickupS: number;
  /** Driver's drive to the pickup (accept to arrival), seconds, served requests. */
  readonly meanPickupDriveS: number;
  /** Request to accepted offer, seconds, served requests. */
  readonly meanMatchS: number;
}

export function summarizeRun(records: readonly RequestRecord[], fromMs: number, toMs: number): RunSummary {
  const window = records.filter((r) => r.request.atMs >= fromMs && r.request.atMs < toMs);
  const served = window.filter((r) => r.outcome === "served");
  const waits = Float64Array.from(served, (r) => (r.pickedUpAtMs! - r.request.atMs) / 1000).sort();
  const mean = (xs: ArrayLike<number>) => {
    let s = 0;
    for (let i = 0; i < xs.length; i++) s += xs[i]!;
    return xs.length === 0 ? Number.NaN : s / xs.length;
  };
  const p90 = waits.length === 0 ? Number.NaN : waits[Math.max(0, Math.ceil(0.9 * waits.length) - 1)]!;
  return {
    requests: window.length,
    served: served.length,
    servedShare: window.length === 0 ? Number.NaN : served.length / window.length,
    meanPickupS: mean(waits),
    p90PickupS: p90,
    meanPickupDriveS: mean(served.map((r) => (r.pickedUpAtMs! - r.acceptedAtMs!) / 1000)),
    meanMatchS: mean(served.map((r) => (r.acceptedAtMs! - r.request.atMs) / 1000)),
  };
}
