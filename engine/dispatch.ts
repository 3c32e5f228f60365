/**
 * The dispatch loop of one region (DESIGN flow 4). Open requests are gathered over a window;
 * each gets the k nearest free drivers of its class from the live index (within a radius that
 * widens with the order's attempts), priced by pickup ETA; one global assignment is solved for
 * the whole window; every pair gets an offer with a timeout. A decline or a timeout puts the
 * order back into the next window without that driver; after too many attempts or too long a
 * search the order is cancelled as no_driver_found.
 *
 * The loop holds no authority: RideService's compare-and-set holds keep "one driver, one offer
 * or order; one order, one driver" across processes. The loop keeps a local view of its orders
 * (fed by its own calls' outcomes, by `observe(event)` and by a periodic re-read of the open
 * orders) and reacts to every refusal as data: a busy driver is skipped for a while, an order
 * that moved on is re-read, a failed call is retried in a later window.
 */
import { performance } from "node:perf_hooks";
import { EtaModel, Matcher as NativeMatcherImpl } from "../native/index.js";
import { DispatchError, ErrorCode } from "./errors.js";
import type { LiveLocations, NearbyDriver } from "./locations.js";
import type { Logger } from "./logger.js";
import {
  ASSIGNED_STATES,
  type DriverId,
  type LatLng,
  type Order,
  type OrderEvent,
  type OrderId,
  TERMINAL_STATES,
} from "./model.js";
import type { Clock, EventLog, OrderStore, TimerHandle } from "./ports.js";
import { haversineM } from "./pricing.js";
import type { OfferOutcome, RideService } from "./rides.js";
import * as v from "./validate.js";

// ---------------------------------------------------------------------------------------------
// Ports

/**
 * The travel-time model (the native EtaModel). Pure and synchronous; the same inputs give the
 * same outputs. `at` is the time of day the trip happens (ms since the epoch): speeds depend on
 * the hour.
 */
export interface PickupEta {
  /**
   * Pickup ETA in seconds from each driver position (`drivers` interleaved `[lat, lng, ...]`) to
   * `pickup`, including the fixed pickup overhead; one finite value >= 0 per driver, in order.
   */
  etaMany(pickup: LatLng, drivers: Float64Array, at: number): Float32Array;
  /** Driving time in seconds from `from` to `to`, without the pickup overhead; finite, >= 0. */
  travelS(from: LatLng, to: LatLng, at: number): number;
}

/**
 * One assignment problem in compressed rows: the candidates of request `r` are entries
 * `offsets[r] .. offsets[r + 1]` of `drivers` (any u32 column ids; a driver shared by requests
 * has the same id) and `costsS` (pickup seconds, finite, >= 0). A candidate costing more than
 * `maxPickupS[r]` (Infinity: no limit) is never used.
 */
export interface MatchProblem {
  readonly offsets: Uint32Array;
  readonly drivers: Uint32Array;
  readonly costsS: Float32Array;
  readonly maxPickupS: Float32Array;
}

/** Assigned pairs in request order: request `requests[i]` gets driver `drivers[i]` at `costsS[i]`. */
export interface MatchResult {
  readonly requests: Uint32Array;
  readonly drivers: Uint32Array;
  readonly costsS: Float32Array;
}

/**
 * The global assignment solver (native Matcher). Each request gets at most one driver and each
 * driver at most one request; the total pickup cost plus a fixed penalty per unassigned request
 * is minimal (exact, not greedy). Rejects with LENGTH_MISMATCH / INVALID_ARGUMENT for a
 * malformed problem. May run off the event loop; the problem's arrays must not be changed until
 * the promise settles.
 */
export interface Matcher {
  solve(problem: MatchProblem): Promise<MatchResult>;
}

/** The RideService hooks the loop calls (a Pick, so tests can wrap them). */
export type DispatchHooks = Pick<RideService, "offer" | "offerTimedOut" | "noDriverFound">;

// ---------------------------------------------------------------------------------------------
// Configuration

export interface DispatchConfig {
  /** Requests are gathered this long and solved together. */
  readonly windowMs: number;
  /** How long a driver has to answer an offer (RideService caps it at its maxOfferMs). */
  readonly offerTimeoutMs: number;
  /** Candidate search radius by attempt: attempt i uses radiiM[min(i, last)]. Ascending. */
  readonly radiiM: readonly number[];
  /** Candidates per request (k nearest). */
  readonly candidates: number;
  /** Windows an order may go through without an accepted offer before no_driver_found. */
  readonly maxAttempts: number;
  /** Time since the request after which a searching order is cancelled as no_driver_found. */
  readonly maxSearchMs: number;
  /** Longest acceptable pickup ETA, seconds (Infinity: only the radius limits it). */
  readonly maxPickupS: number;
  /** A driver that RideService reported busy is not a candidate of this loop for this long. */
  readonly busyCooldownMs: number;
  /** How often the open orders of the region are re-read to repair a missed event. */
  readonly resyncMs: number;
  /** Delay before retrying a timeout call that failed (storage down). */
  readonly retryMs: number;
  /** Most open orders read per resync / recovery. */
  readonly maxOpen: number;
}

export const DEFAULT_DISPATCH_CONFIG: DispatchConfig = {
  windowMs: 2_000,
  offerTimeoutMs: 15_000,
  radiiM: [2_000, 4_000, 8_000],
  candidates: 8,
  maxAttempts: 60,
  maxSearchMs: 180_000,
  maxPickupS: Number.POSITIVE_INFINITY,
  busyCooldownMs: 5_000,
  resyncMs: 30_000,
  retryMs: 1_000,
  maxOpen: 10_000,
};

/** Defaults filled in and every value checked; a bad value throws INVALID_CONFIG naming it. */
export function dispatchConfig(input: Partial<DispatchConfig> = {}): DispatchConfig {
  const cfg: DispatchConfig = { ...DEFAULT_DISPATCH_CONFIG, ...input };
  const fail = (m: string) => new DispatchError(ErrorCode.InvalidConfig, `dispatch config ${m}`);
  const int = (name: keyof DispatchConfig, min: number) => {
    const value = cfg[name] as number;
    if (!Number.isSafeInteger(value) || value < min)
      throw fail(`${name} must be an integer >= ${min} (got ${value})`);
  };
  int("windowMs", 1);
  int("offerTimeoutMs", 1_000);
  int("candidates", 1);
  int("maxAttempts", 1);
  int("maxSearchMs", 1);
  int("busyCooldownMs", 0);
  int("resyncMs", 1);
  int("retryMs", 1);
  int("maxOpen", 1);
  if (!(cfg.maxPickupS > 0)) throw fail(`maxPickupS must be > 0 (got ${cfg.maxPickupS})`);
  const r = cfg.radiiM;
  if (r.length === 0 || r.some((x, i) => !(Number.isFinite(x) && x > 0) || (i > 0 && x < r[i - 1]!))) {
    throw fail(`radiiM must be a non-empty ascending list of positive metres (got ${JSON.stringify(r)})`);
  }
  return { ...cfg, radiiM: [...r] };
}

// ---------------------------------------------------------------------------------------------
// The loop

export interface DispatchDeps {
  /** The region this loop owns (Order.region). */
  readonly region: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly rides: DispatchHooks;
  readonly orders: Pick<OrderStore, "get" | "listOpen">;
  readonly locations: LiveLocations;
  readonly eta: PickupEta;
  readonly matcher: Matcher;
}

export interface DispatchStats {
  readonly region: string;
  readonly running: boolean;
  readonly windowsRun: number;
  /** Requests the solver gave a driver (before the offer was tried). */
  readonly requestsMatched: number;
  readonly offersMade: number;
  readonly offersAccepted: number;
  readonly offersDeclined: number;
  readonly offersTimedOut: number;
  /** Offers RideService refused because the driver was held elsewhere. */
  readonly driverBusy: number;
  readonly noDriverFound: number;
  /** Orders waiting for the next window / holding a live offer of this loop, now. */
  readonly searching: number;
  readonly offered: number;
  /** Requests in the last window that had candidates, and its solve time (wall clock). */
  readonly lastBatch: number;
  readonly lastSolveMs: number;
  /**
   * Time an order waited in `searching` (since the request, or since its last offer ended)
   * before an offer went out, over the most recent offers; clock milliseconds.
   */
  readonly offerLatencyMs: { readonly p50: number; readonly p99: number; readonly samples: number };
}

/** Where an order stands in this loop's view. `inflight`: a call about it is under way. */
export type Phase = "queued" | "inflight" | "offered" | "assigned";

interface LiveOffer {
  readonly id: string;
  readonly driverId: DriverId;
  readonly expiresAt: number;
  timer: TimerHandle | null;
}

interface Tracked {
  readonly id: OrderId;
  /** Last snapshot read or returned; null until first loaded. Only immutable fields are trusted. */
  order: Order | null;
  /** Highest order version applied to this view (0: not loaded). */
  version: number;
  phase: Phase;
  /** Windows gone through without an accepted offer (also: offers that ended). */
  attempts: number;
  readonly passed: Set<DriverId>;
  /** When the order (re-)entered searching, for the latency figure. */
  since: number;
  offer: LiveOffer | null;
  driverId: DriverId | null;
  /** Events seen while `inflight`, replayed once the call returned. */
  early: OrderEvent[];
}

const LATENCY_SAMPLES = 1024;

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export class Dispatcher {
  readonly config: DispatchConfig;
  readonly region: string;
  readonly #d: DispatchDeps;
  readonly #orders = new Map<OrderId, Tracked>();
  /** Drivers with an offer of this loop in flight or live: never candidates. */
  readonly #holding = new Set<DriverId>();
  /** Drivers RideService reported busy, until the given time. */
  readonly #cooling = new Map<DriverId, number>();
  #running = false;
  #windowTimer: TimerHandle | null = null;
  #resyncTimer: TimerHandle | null = null;
  #current: Promise<void> = Promise.resolve();
  #nextWindowAt = 0;
  readonly #latency: number[] = [];
  #latencyAt = 0;
  #s = {
    windowsRun: 0,
    requestsMatched: 0,
    offersMade: 0,
    offersAccepted: 0,
    offersDeclined: 0,
    offersTimedOut: 0,
    driverBusy: 0,
    noDriverFound: 0,
    lastBatch: 0,
    lastSolveMs: 0,
  };

  constructor(deps: DispatchDeps, config: Partial<DispatchConfig> = {}) {
    this.#d = deps;
    this.region = deps.region;
    this.config = dispatchConfig(config);
  }

  // ----- lifecycle -----------------------------------------------------------------------------

  /**
   * Recovers the open orders of the region from the store (searching ones join the first
   * window, live offers get their timeout armed, assigned ones are watched to free their driver
   * at the end), then runs a window every `windowMs`. Rejects if the store cannot be read.
   */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      await this.#resync();
    } catch (err) {
      this.#running = false;
      throw err;
    }
    this.#nextWindowAt = this.#d.clock.now() + this.config.windowMs;
    this.#scheduleWindow();
    this.#scheduleResync();
    this.#d.log.info("dispatch started", { region: this.region, open: this.#orders.size });
  }

  /**
   * Stops windows and timers and waits for a window in progress. Offers already made stay in the
   * store; whoever starts next (this or another process) re-arms their timeouts from there.
   */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    const { clock } = this.#d;
    if (this.#windowTimer) clock.clearTimer(this.#windowTimer);
    if (this.#resyncTimer) clock.clearTimer(this.#resyncTimer);
    this.#windowTimer = this.#resyncTimer = null;
    await this.#current;
    for (const t of this.#orders.values()) if (t.offer?.timer) clock.clearTimer(t.offer.timer);
    this.#orders.clear();
    this.#holding.clear();
    this.#d.log.info("dispatch stopped", { region: this.region });
  }

  get running(): boolean {
    return this.#running;
  }

  /** A newly requested order of this region joins the next window (idempotent). */
  submit(orderId: string): void {
    const id = v.orderId(orderId);
    if (!this.#orders.has(id)) this.#orders.set(id, this.#fresh(id));
  }

  /**
   * Feeds a domain event of any region (the composition root taps the event log, see
   * `tapEvents`; across processes the region's event topic). Cheap and synchronous; never throws.
   */
  observe(event: OrderEvent): void {
    try {
      this.#observe(event);
    } catch (err) {
      this.#d.log.error("dispatch observe failed", { eventId: event.id, err: String(err) });
    }
  }

  stats(): DispatchStats {
    const sorted = [...this.#latency].sort((a, b) => a - b);
    let searching = 0;
    let offered = 0;
    for (const t of this.#orders.values()) {
      if (t.phase === "queued") searching++;
      else if (t.phase === "offered") offered++;
    }
    return {
      region: this.region,
      running: this.#running,
      ...this.#s,
      searching,
      offered,
      offerLatencyMs: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), samples: sorted.length },
    };
  }

  /** The pending offer of an order as this loop sees it (tests, admin view). */
  offerOf(orderId: string): { offerId: string; driverId: DriverId; expiresAt: number } | null {
    const o = this.#orders.get(orderId as OrderId)?.offer;
    return o ? { offerId: o.id, driverId: o.driverId, expiresAt: o.expiresAt } : null;
  }

  /** This loop's view of an order (tests, admin view); null when it does not follow it. */
  view(orderId: string): { phase: Phase; attempts: number; passed: DriverId[] } | null {
    const t = this.#orders.get(orderId as OrderId);
    return t ? { phase: t.phase, attempts: t.attempts, passed: [...t.passed] } : null;
  }

  /** Pickups of the requests still waiting for a driver (searching or offered): surge demand. */
  openPickups(): LatLng[] {
    const out: LatLng[] = [];
    for (const t of this.#orders.values())
      if (t.phase !== "assigned" && t.order !== null) out.push(t.order.pickup);
    return out;
  }

  /** Resolves when the window in progress (if any) has finished. */
  idle(): Promise<void> {
    return this.#current;
  }

  // ----- windows -------------------------------------------------------------------------------

  #scheduleWindow(): void {
    if (!this.#running) return;
    const { clock } = this.#d;
    this.#windowTimer = clock.setTimer(this.#nextWindowAt - clock.now(), () => {
      this.#windowTimer = null;
      this.#current = this.#window()
        .catch((err) =>
          this.#d.log.error("dispatch window failed", { region: this.region, err: String(err) }),
        )
        .finally(() => {
          // Fixed cadence; a window that overran is followed by the next one at once.
          this.#nextWindowAt = Math.max(this.#nextWindowAt + this.config.windowMs, clock.now());
          this.#scheduleWindow();
        });
      return this.#current;
    });
  }

  #scheduleResync(): void {
    if (!this.#running) return;
    this.#resyncTimer = this.#d.clock.setTimer(this.config.resyncMs, () => {
      this.#resyncTimer = null;
      return this.#resync()
        .catch((err) => this.#d.log.warn("dispatch resync failed", { region: this.region, err: String(err) }))
        .finally(() => this.#scheduleResync());
    });
  }

  async #window(): Promise<void> {
    if (!this.#running) return;
    this.#s.windowsRun++;
    const queued = [...this.#orders.values()].filter((t) => t.phase === "queued");
    if (queued.length === 0) return;
    await Promise.all(queued.filter((t) => t.order === null).map((t) => this.#reconcile(t)));
    const { clock, locations, eta } = this.#d;
    const cfg = this.config;
    const now = clock.now();
    const batch: Tracked[] = [];
    const work: Promise<void>[] = [];
    for (const t of queued) {
      if (!this.#isCurrent(t, "queued") || t.order === null) continue;
      if (t.attempts >= cfg.maxAttempts || now - t.order.createdAt >= cfg.maxSearchMs) {
        work.push(this.#giveUp(t));
      } else {
        batch.push(t);
      }
    }
    for (const [d, until] of this.#cooling) if (until <= now) this.#cooling.delete(d);

    // Candidates, grouped so that each (class, radius) is one batched index query.
    const groups = new Map<string, Tracked[]>();
    for (const t of batch) {
      const radius = cfg.radiiM[Math.min(t.attempts, cfg.radiiM.length - 1)]!;
      const key = `${t.order!.vehicleClass}\u0000${radius}`;
      const list = groups.get(key);
      if (list) list.push(t);
      else groups.set(key, [t]);
    }
    const candidates = new Map<Tracked, NearbyDriver[]>();
    for (const [key, list] of groups) {
      const [cls, radius] = key.split("\u0000") as [string, string];
      const points = new Float64Array(list.length * 2);
      list.forEach((t, i) => {
        points[2 * i] = t.order!.pickup.lat;
        points[2 * i + 1] = t.order!.pickup.lng;
      });
      // Ask for more than k: passed, held and cooling drivers are filtered out afterwards.
      let passed = 0;
      for (const t of list) passed = Math.max(passed, t.passed.size);
      const extra = cfg.candidates + passed + this.#holding.size + this.#cooling.size;
      const found = locations.nearestFreeMany(points, cls, Math.min(1024, extra), Number(radius));
      list.forEach((t, i) => {
        const ok = (found[i] ?? []).filter(
          (n) =>
            !t.passed.has(n.driverId) && !this.#holding.has(n.driverId) && !this.#cooling.has(n.driverId),
        );
        if (ok.length > 0) candidates.set(t, ok.slice(0, cfg.candidates));
      });
    }

    // Costs and one global assignment.
    const rows = batch.filter((t) => candidates.has(t));
    this.#s.lastBatch = rows.length;
    let edges = 0;
    for (const t of rows) edges += candidates.get(t)!.length;
    const offsets = new Uint32Array(rows.length + 1);
    const drivers = new Uint32Array(edges);
    const costsS = new Float32Array(edges);
    const maxPickupS = new Float32Array(rows.length).fill(cfg.maxPickupS);
    const columns: DriverId[] = [];
    const columnOf = new Map<DriverId, number>();
    let e = 0;
    rows.forEach((t, r) => {
      const list = candidates.get(t)!;
      const at = new Float64Array(list.length * 2);
      list.forEach((n, i) => {
        at[2 * i] = n.lat;
        at[2 * i + 1] = n.lng;
      });
      const etas = eta.etaMany(t.order!.pickup, at, now);
      list.forEach((n, i) => {
        let col = columnOf.get(n.driverId);
        if (col === undefined) {
          col = columns.length;
          columns.push(n.driverId);
          columnOf.set(n.driverId, col);
        }
        drivers[e] = col;
        costsS[e] = etas[i]!;
        e++;
      });
      offsets[r + 1] = e;
    });
    const assigned = new Set<Tracked>();
    if (rows.length > 0) {
      const t0 = performance.now();
      const result = await this.#d.matcher.solve({ offsets, drivers, costsS, maxPickupS });
      this.#s.lastSolveMs = performance.now() - t0;
      this.#s.requestsMatched += result.requests.length;
      const expiresAt = clock.now() + cfg.offerTimeoutMs;
      for (let i = 0; i < result.requests.length; i++) {
        const t = rows[result.requests[i]!]!;
        const driver = columns[result.drivers[i]!]!;
        // The order may have been cancelled or offered elsewhere while the solver ran.
        if (!this.#isCurrent(t, "queued") || this.#holding.has(driver)) continue;
        assigned.add(t);
        work.push(this.#offer(t, driver, expiresAt));
      }
    }
    for (const t of batch) if (!assigned.has(t) && this.#isCurrent(t, "queued")) t.attempts++;
    await Promise.all(work);
  }

  // ----- calls into RideService ------------------------------------------------------------------

  async #offer(t: Tracked, driver: DriverId, expiresAt: number): Promise<void> {
    const { clock, log, locations } = this.#d;
    t.phase = "inflight";
    this.#holding.add(driver);
    let out: OfferOutcome | null = null;
    try {
      out = await this.#d.rides.offer(t.id, driver, expiresAt);
    } catch (err) {
      log.warn("offer failed; the order stays for the next window", {
        orderId: t.id,
        driverId: driver,
        err: String(err),
      });
    }
    const now = clock.now();
    if (out?.status === "offered") {
      this.#s.offersMade++;
      this.#sample(now - t.since);
      t.order = out.order;
      t.version = Math.max(t.version, out.order.version);
      t.phase = "offered";
      t.offer = { id: out.offerId, driverId: driver, expiresAt, timer: null };
      this.#armTimeout(t, t.offer);
      if (locations.positionOf(driver)?.status === "free") locations.setStatus(driver, "offered");
    } else {
      this.#holding.delete(driver);
      t.phase = "queued";
      if (out?.status === "driver_busy") {
        this.#s.driverBusy++;
        this.#cooling.set(driver, now + this.config.busyCooldownMs);
      } else if (out?.status === "order_unavailable") {
        this.#replay(t);
        await this.#reconcile(t);
        return;
      }
    }
    this.#replay(t);
  }

  async #giveUp(t: Tracked): Promise<void> {
    t.phase = "inflight";
    try {
      const out = await this.#d.rides.noDriverFound(t.id);
      t.phase = "queued";
      if (out.status === "cancelled") {
        this.#s.noDriverFound++;
        this.#d.log.info("no driver found", { orderId: t.id, attempts: t.attempts });
        this.#drop(t);
        return;
      }
      this.#replay(t);
      await this.#reconcile(t);
    } catch (err) {
      this.#d.log.warn("no-driver-found failed; retried next window", { orderId: t.id, err: String(err) });
      t.phase = "queued";
      this.#replay(t);
    }
  }

  #armTimeout(t: Tracked, offer: LiveOffer): void {
    if (!this.#running) return;
    const { clock } = this.#d;
    if (offer.timer) clock.clearTimer(offer.timer);
    offer.timer = clock.setTimer(offer.expiresAt - clock.now(), () => this.#expired(t, offer));
  }

  /** The offer's time is up: tell RideService, which ignores it if it was answered meanwhile. */
  async #expired(t: Tracked, offer: LiveOffer): Promise<void> {
    offer.timer = null;
    if (!this.#running || !this.#isCurrent(t, "offered") || t.offer !== offer) return;
    const { clock } = this.#d;
    let stale = false;
    try {
      stale = (await this.#d.rides.offerTimedOut(t.id, offer.id)).status === "stale";
    } catch (err) {
      // TOO_EARLY (another process's clock is behind) or storage down: try again shortly.
      const code = err instanceof DispatchError ? err.code : "UNKNOWN";
      this.#d.log.warn("offer timeout failed; retrying", { orderId: t.id, offerId: offer.id, code });
      if (this.#running && t.offer === offer && this.#orders.get(t.id) === t) {
        offer.timer = clock.setTimer(this.config.retryMs, () => this.#expired(t, offer));
      }
      return;
    }
    // Usually the event already closed the offer in this view; if not, the store knows.
    if (t.offer === offer && this.#orders.get(t.id) === t) {
      if (stale) await this.#reconcile(t);
      else this.#offerEnded(t, "timed_out");
    }
  }

  // ----- keeping the view ------------------------------------------------------------------------

  #fresh(id: OrderId): Tracked {
    return {
      id,
      order: null,
      version: 0,
      phase: "queued",
      attempts: 0,
      passed: new Set(),
      since: this.#d.clock.now(),
      offer: null,
      driverId: null,
      early: [],
    };
  }

  #isCurrent(t: Tracked, phase: Phase): boolean {
    return this.#orders.get(t.id) === t && t.phase === phase;
  }

  #observe(event: OrderEvent): void {
    if (event.type === "order.requested") {
      if (event.payload.region === this.region) this.submit(event.orderId);
      return;
    }
    const t = this.#orders.get(event.orderId);
    if (t === undefined) return;
    if (t.phase === "inflight") {
      t.early.push(event);
      return;
    }
    // An end is final whatever else was missed.
    if (event.type === "order.cancelled" || event.type === "order.completed") {
      this.#drop(t);
      return;
    }
    // Not loaded yet: read it now rather than wait for the window.
    if (t.version === 0) {
      void this.#reconcile(t);
      return;
    }
    if (event.version <= t.version) return;
    if (event.version > t.version + 1) {
      // A gap (an event missed or still on its way): the store has the truth.
      void this.#reconcile(t);
      return;
    }
    t.version = event.version;
    switch (event.type) {
      case "order.offered":
        if (t.offer?.id !== event.payload.offerId) void this.#reconcile(t);
        return;
      case "order.offer_declined":
      case "order.offer_timed_out":
        if (t.offer?.id === event.payload.offerId) {
          this.#offerEnded(t, event.type === "order.offer_declined" ? "declined" : "timed_out");
        } else {
          t.passed.add(event.payload.driverId);
        }
        return;
      case "order.accepted":
        if (t.offer?.id === event.payload.offerId) this.#s.offersAccepted++;
        this.#assign(t, event.payload.driverId);
        return;
      default:
        return;
    }
  }

  #replay(t: Tracked): void {
    const early = t.early;
    t.early = [];
    for (const e of early) this.#observe(e);
  }

  /** Reads the order and brings this view in line with it. Never throws. */
  async #reconcile(t: Tracked): Promise<void> {
    if (t.phase === "inflight") return;
    let o: Order | null;
    try {
      o = await this.#d.orders.get(t.id);
    } catch (err) {
      this.#d.log.warn("dispatch could not read order", { orderId: t.id, err: String(err) });
      return;
    }
    // The phase may have changed while the read was under way.
    if (this.#orders.get(t.id) !== t || (t.phase as Phase) === "inflight") return;
    this.#apply(t, o);
  }

  #apply(t: Tracked, o: Order | null): void {
    if (o === null || TERMINAL_STATES.has(o.state) || o.region !== this.region) {
      this.#drop(t);
      return;
    }
    if (o.version < t.version) return;
    if (t.order === null) t.since = o.state === "searching" ? o.createdAt : t.since;
    t.order = o;
    t.version = o.version;
    for (const d of o.passedDriverIds) t.passed.add(d);
    t.attempts = Math.max(t.attempts, o.passedDriverIds.length);
    if (o.state === "searching") {
      if (t.offer) this.#closeOffer(t, true);
      if (t.phase !== "queued") t.since = this.#d.clock.now();
      t.phase = "queued";
      t.driverId = null;
    } else if (o.state === "offered" && o.offer !== null) {
      if (t.offer?.id !== o.offer.id) {
        if (t.offer) this.#closeOffer(t, true);
        // An offer this view did not make (another process, or before a restart): time it out too.
        t.offer = { id: o.offer.id, driverId: o.offer.driverId, expiresAt: o.offer.expiresAt, timer: null };
        this.#holding.add(o.offer.driverId);
        this.#armTimeout(t, t.offer);
      }
      t.phase = "offered";
    } else if (ASSIGNED_STATES.has(o.state) && o.driverId !== null) {
      this.#assign(t, o.driverId);
    }
  }

  /** The offer was declined or timed out: back to the queue without that driver. */
  #offerEnded(t: Tracked, how: "declined" | "timed_out"): void {
    const offer = t.offer;
    if (offer === null) return;
    this.#closeOffer(t, true);
    t.passed.add(offer.driverId);
    t.attempts++;
    t.phase = "queued";
    t.since = this.#d.clock.now();
    if (how === "declined") this.#s.offersDeclined++;
    else this.#s.offersTimedOut++;
  }

  #assign(t: Tracked, driver: DriverId): void {
    if (t.offer) this.#closeOffer(t, t.offer.driverId !== driver);
    t.phase = "assigned";
    t.driverId = driver;
    const { locations } = this.#d;
    // A driver who went off duty meanwhile stays offline (and so no candidate) until back.
    const status = locations.positionOf(driver)?.status;
    if (status === "free" || status === "offered") locations.setStatus(driver, "busy");
  }

  /** Forgets the live offer; `free` puts its driver back as a candidate. */
  #closeOffer(t: Tracked, free: boolean): void {
    const offer = t.offer;
    if (offer === null) return;
    if (offer.timer) this.#d.clock.clearTimer(offer.timer);
    t.offer = null;
    this.#holding.delete(offer.driverId);
    if (free) this.#setFreeIf(offer.driverId, "offered");
  }

  #drop(t: Tracked): void {
    if (this.#orders.get(t.id) !== t) return;
    this.#closeOffer(t, true);
    if (t.driverId !== null) this.#setFreeIf(t.driverId, "busy");
    this.#orders.delete(t.id);
  }

  #setFreeIf(driver: DriverId, status: "offered" | "busy"): void {
    const { locations } = this.#d;
    if (locations.positionOf(driver)?.status === status) locations.setStatus(driver, "free");
  }

  /** Re-reads the region's open orders: recovery at start, repair of missed events after. */
  async #resync(): Promise<void> {
    const open = await this.#d.orders.listOpen(this.region, this.config.maxOpen);
    const seen = new Set<OrderId>();
    for (const o of open) {
      seen.add(o.id);
      let t = this.#orders.get(o.id);
      if (t === undefined) {
        t = this.#fresh(o.id);
        this.#orders.set(o.id, t);
      }
      if (t.phase !== "inflight") this.#apply(t, o);
    }
    if (open.length < this.config.maxOpen) {
      // Tracked but no longer open: ended while an event was missed.
      const gone = [...this.#orders.values()].filter((t) => !seen.has(t.id) && t.version > 0);
      await Promise.all(gone.map((t) => this.#reconcile(t)));
    }
  }

  #sample(ms: number): void {
    if (this.#latency.length < LATENCY_SAMPLES) this.#latency.push(ms);
    else this.#latency[this.#latencyAt++ % LATENCY_SAMPLES] = ms;
  }
}

// ---------------------------------------------------------------------------------------------
// Wiring helpers

/**
 * An EventLog that hands every event, once durable, to the listeners (the dispatch loops, the
 * tracker, the surge updater) in one process. A throwing listener is logged and skipped.
 */
export function tapEvents(
  log: EventLog,
  listeners: readonly ((event: OrderEvent) => void)[],
  logger?: Logger,
): EventLog {
  return {
    async append(event) {
      await log.append(event);
      for (const l of listeners) {
        try {
          l(event);
        } catch (err) {
          logger?.warn("event listener threw", { eventId: event.id, err: String(err) });
        }
      }
    },
    readOrder: (orderId) => log.readOrder(orderId),
  };
}

/**
 * A constant-speed travel model, for tests that say they do not want the native one:
 * `travelS = distance * detour / speed`, `eta = travelS + overheadS`.
 */
export function constantSpeedEta(speedMps = 8, detour = 1.3, overheadS = 0): PickupEta {
  const travel = (a: LatLng, b: LatLng) => (haversineM(a, b) * detour) / speedMps;
  return {
    etaMany(pickup, drivers) {
      const out = new Float32Array(drivers.length / 2);
      for (let i = 0; i < out.length; i++) {
        out[i] = travel({ lat: drivers[2 * i]!, lng: drivers[2 * i + 1]! }, pickup) + overheadS;
      }
      return out;
    },
    travelS: (from, to) => travel(from, to),
  };
}

// ---------------------------------------------------------------------------------------------
// Native implementations

/** The local hour (0..23) of a time in an IANA zone; cached per quarter hour (every zone offset is a multiple). */
function hourIn(timeZone: string): (ms: number) => number {
  if (timeZone === "UTC") return (ms) => new Date(ms).getUTCHours();
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat("en-GB", { timeZone, hour: "numeric", hourCycle: "h23" });
  } catch {
    throw new DispatchError(ErrorCode.InvalidConfig, `unknown time zone ${JSON.stringify(timeZone)}`);
  }
  let bucket = Number.NaN;
  let hour = 0;
  return (ms) => {
    const b = Math.floor(ms / 900_000);
    if (b !== bucket) {
      bucket = b;
      hour = Number(format.format(ms)) % 24;
    }
    return hour;
  };
}

/** PickupEta over the native EtaModel; the model's speeds are by local hour in `timeZone`. */
export class NativePickupEta implements PickupEta {
  readonly #model: EtaModel;
  readonly #hour: (ms: number) => number;

  constructor(model: EtaModel = new EtaModel(), options: { readonly timeZone?: string } = {}) {
    this.#model = model;
    this.#hour = hourIn(options.timeZone ?? "UTC");
  }

  etaMany(pickup: LatLng, drivers: Float64Array, at: number): Float32Array {
    return this.#model.etaMany(pickup.lat, pickup.lng, drivers, this.#hour(at));
  }

  travelS(from: LatLng, to: LatLng, at: number): number {
    return this.#model.travelS(from.lat, from.lng, to.lat, to.lng, this.#hour(at));
  }
}

/**
 * Matcher over the native one: problems with at least `asyncFromEdges` candidate pairs are
 * solved on the libuv pool (solveAsync) so a big window never blocks the event loop; small ones
 * on this thread, where the hop to the pool would cost more than the solve.
 */
export class NativeMatcher implements Matcher {
  readonly native: NativeMatcherImpl;
  readonly asyncFromEdges: number;

  constructor(
    native: NativeMatcherImpl = new NativeMatcherImpl(),
    options: { readonly asyncFromEdges?: number } = {},
  ) {
    this.native = native;
    this.asyncFromEdges = options.asyncFromEdges ?? 2_000;
  }

  async solve(problem: MatchProblem): Promise<MatchResult> {
    const r =
      problem.drivers.length >= this.asyncFromEdges
        ? await this.native.solveAsync(problem)
        : this.native.solve(problem);
    return { requests: r.requests, drivers: r.drivers, costsS: r.costsS };
  }
}

// ---------------------------------------------------------------------------------------------
// The loops of a process

/**
 * The dispatch loops of the regions this process owns: one per region listed at start and, when
 * `owns(region)` says so, one started on the first request in any other region (the embedded
 * single-process default owns every region). Events go to every loop; each keeps to its own.
 */
export class DispatchPool {
  readonly #make: (region: string) => Dispatcher;
  readonly #regions: readonly string[];
  readonly #owns: (region: string) => boolean;
  readonly #log: Logger | undefined;
  readonly #loops = new Map<string, Dispatcher>();
  #running = false;

  constructor(
    make: (region: string) => Dispatcher,
    options: {
      readonly regions?: readonly string[];
      readonly owns?: (region: string) => boolean;
      readonly log?: Logger;
    } = {},
  ) {
    this.#make = make;
    this.#regions = options.regions ?? [];
    this.#owns = options.owns ?? (() => false);
    this.#log = options.log;
  }

  /** Starts (and recovers) the listed regions' loops. */
  async start(): Promise<void> {
    this.#running = true;
    await Promise.all(this.#regions.map((r) => this.#loop(r).start()));
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all([...this.#loops.values()].map((l) => l.stop()));
  }

  observe(event: OrderEvent): void {
    if (this.#running && event.type === "order.requested") {
      const region = event.payload.region;
      if (!this.#loops.has(region) && this.#owns(region)) {
        // Its recovery reads this order too; `observe` below queues it at once meanwhile.
        this.#loop(region)
          .start()
          .catch((err) => this.#log?.error("dispatch loop did not start", { region, err: String(err) }));
      }
    }
    for (const l of this.#loops.values()) l.observe(event);
  }

  get(region: string): Dispatcher | undefined {
    return this.#loops.get(region);
  }

  stats(): DispatchStats[] {
    return [...this.#loops.values()].map((l) => l.stats());
  }

  openPickups(): LatLng[] {
    return [...this.#loops.values()].flatMap((l) => l.openPickups());
  }

  #loop(region: string): Dispatcher {
    let l = this.#loops.get(region);
    if (l === undefined) {
      l = this.#make(region);
      this.#loops.set(region, l);
    }
    return l;
  }
}
