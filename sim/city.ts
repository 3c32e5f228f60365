/**
 * A simulated city over real sockets: drivers (DriverClient over the driver WebSocket) cruise
 * between random waypoints streaming fixes, go online, answer offers (accept with some
 * probability after a human delay, else decline), drive to the pickup, arrive, start, drive to
 * the dropoff and complete; riders (RiderClient over HTTP and Socket.IO) order by a Poisson
 * process around hot spots or from a replayed CSV, watch their order, sometimes cancel, and rate.
 *
 * It measures what a newcomer wants to see: sockets, fixes per second, orders by outcome, the
 * time from a rider's order to the driver's offer, and from a fix to the rider's ETA push.
 * Its own failures are counted and logged, never thrown: the simulation keeps running.
 */
import type { Logger } from "../engine/logger.js";
import { DriverClient, type WebSocketFactory } from "../sdk/driver.js";
import { RiderClient } from "../sdk/rider.js";
import { type Bounds, CHICAGO, CHICAGO_HOT_SPOTS, clamp, type LatLng, offset, stepTowards } from "./geo.js";
import { type ReplayRow, replayOffsets } from "./replay.js";

type Json = Record<string, unknown>;
type Range = readonly [number, number];

export type Demand =
  | { readonly kind: "poisson"; readonly ordersPerS: number }
  | { readonly kind: "replay"; readonly rows: readonly ReplayRow[]; readonly speedup: number };

export interface CityOptions {
  /** Gateway base URLs: `http://127.0.0.1:8080` and `ws://127.0.0.1:8080`. */
  readonly httpUrl: string;
  readonly wsUrl: string;
  /** A fresh access token for simulated user `n` of a kind (drivers must have the driver role). */
  readonly session: (kind: "driver" | "rider", n: number) => Promise<string>;
  /** Opens a WebSocket (Node 20 has none built in: pass the `ws` package's). */
  readonly webSocket: WebSocketFactory;
  readonly log: Logger;
  readonly drivers?: number;
  readonly demand?: Demand;
  /** Where drivers cruise and riders order. */
  readonly bounds?: Bounds;
  readonly hotSpots?: readonly LatLng[];
  /** Share of generated pickups near a hot spot (the rest uniform in the bounds), and their spread. */
  readonly hotSpotShare?: number;
  readonly hotSpotSpreadM?: number;
  /** Driving speed, m/s (the live index rejects implied speeds near 70 m/s). */
  readonly speedMps?: Range;
  /** Time between two fixes of a driver. */
  readonly fixPeriodMs?: number;
  /** Straight-line length of generated trips, metres. */
  readonly tripM?: Range;
  readonly acceptProbability?: number;
  readonly acceptDelayMs?: Range;
  /** Share of riders who cancel, and when (after ordering) they try. */
  readonly cancelProbability?: number;
  readonly cancelAfterMs?: Range;
  /** Time at the pickup between `arrived` and `started`. */
  readonly boardingMs?: Range;
  /** Access tokens are minted again and the driver socket re-authenticated this often. */
  readonly tokenRefreshMs?: number;
  /** Uniform random numbers in [0, 1); default Math.random (pass a seeded one for repeatable runs). */
  readonly random?: () => number;
}

export interface Percentiles {
  readonly p50: number | null;
  readonly p99: number | null;
  readonly n: number;
}

export interface CityStats {
  readonly elapsedMs: number;
  readonly drivers: number;
  readonly driverSockets: number;
  readonly driversOnline: number;
  readonly fixesSent: number;
  readonly requested: number;
  /** Requested and neither completed nor cancelled yet. */
  readonly open: number;
  readonly offers: number;
  readonly declined: number;
  /** Offers accepted. */
  readonly matched: number;
  readonly completed: number;
  readonly cancelled: number;
  /** Rider Socket.IO connections: riders with an open order, and finished ones about to leave. */
  readonly riderSockets: number;
  /** Requests the replay file still holds (0 for generated demand). */
  readonly replayLeft: number;
  readonly errors: number;
  /** From the rider's POST /v1/orders to the driver's first `offer` push of that order. */
  readonly requestToOfferMs: Percentiles;
  /** From a fix's timestamp to the rider's first `eta` push computed from it. */
  readonly fixToEtaMs: Percentiles;
}

const DEFAULTS = {
  drivers: 50,
  hotSpotShare: 0.6,
  hotSpotSpreadM: 800,
  speedMps: [8, 15] as Range,
  fixPeriodMs: 4_000,
  tripM: [800, 4_000] as Range,
  acceptProbability: 0.85,
  acceptDelayMs: [1_000, 5_000] as Range,
  cancelProbability: 0.08,
  cancelAfterMs: [3_000, 40_000] as Range,
  boardingMs: [1_000, 4_000] as Range,
  tokenRefreshMs: 10 * 60_000,
};

/** The newest `cap` samples; percentiles over them. */
class Samples {
  private readonly buf: number[] = [];
  private next = 0;
  constructor(private readonly cap = 5_000) {}
  add(v: number): void {
    if (!Number.isFinite(v)) return;
    if (this.buf.length < this.cap) this.buf.push(v);
    else {
      this.buf[this.next] = v;
      this.next = (this.next + 1) % this.cap;
    }
  }
  percentiles(): Percentiles {
    if (this.buf.length === 0) return { p50: null, p99: null, n: 0 };
    const s = [...this.buf].sort((a, b) => a - b);
    const at = (p: number) => s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
    return { p50: at(50), p99: at(99), n: s.length };
  }
}

/** A small seeded generator (mulberry32) for repeatable runs. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Caches a minted token and mints a fresh one after `refreshMs`. */
function tokenSource(mint: () => Promise<string>, refreshMs: number): () => Promise<string> {
  let cached: { token: string; at: number } | undefined;
  return async () => {
    if (cached === undefined || Date.now() - cached.at > refreshMs) {
      cached = { token: await mint(), at: Date.now() };
    }
    return cached.token;
  };
}

type Phase = "idle" | "deciding" | "to_pickup" | "boarding" | "to_dropoff";

class SimDriver {
  client: DriverClient;
  pos: LatLng;
  waypoint: LatLng;
  speed: number;
  lastT = 0;
  phase: Phase = "idle";
  orderId: string | null = null;
  pickup: LatLng | null = null;
  dropoff: LatLng | null = null;
  online = false;
  /** A step (arrived, started, completed) is in flight: do not send another. */
  busy = false;
  decideTimer: ReturnType<typeof setTimeout> | undefined;
  tickTimer: ReturnType<typeof setInterval> | undefined;
  getToken: () => Promise<string>;

  constructor(
    readonly n: number,
    private readonly city: City,
  ) {
    this.pos = city.randomPoint();
    this.waypoint = city.randomPoint();
    this.speed = city.between(city.o.speedMps);
    this.getToken = tokenSource(() => city.o.session("driver", n), city.o.tokenRefreshMs);
    this.client = new DriverClient({
      url: city.o.wsUrl,
      getToken: this.getToken,
      webSocket: city.o.webSocket,
      requestTimeoutMs: 15_000,
    });
    this.client.on("offer", (m) => this.onOffer(m));
    this.client.on("offer_closed", (m) => {
      if (this.phase === "deciding" && m.orderId === this.orderId) this.toIdle();
    });
    this.client.on("order", (m) => {
      const order = m.order as Json | undefined;
      if (order?.id === this.orderId && order?.state === "cancelled") this.toIdle();
    });
    // After a reconnect the driver is offline in the engine's eyes until it says otherwise.
    this.client.on("welcome", () => {
      if (this.online) this.city.guard("driver status", this.client.setStatus("online"));
    });
  }

  async start(): Promise<void> {
    await this.client.connect();
    if (this.city.stopped) return this.client.close();
    this.sendFix();
    await this.client.setStatus("online");
    this.online = true;
    if (this.city.stopped) return this.client.close();
    // Spread the fixes of all drivers over the period.
    const period = this.city.o.fixPeriodMs;
    const first = setTimeout(() => {
      this.tickTimer = setInterval(() => this.tick(period), period);
      this.tick(period);
    }, this.city.random() * period);
    this.tickTimer = first as unknown as ReturnType<typeof setInterval>;
  }

  stop(): void {
    clearTimeout(this.tickTimer);
    clearInterval(this.tickTimer);
    clearTimeout(this.decideTimer);
    this.client.close();
  }

  private toIdle(): void {
    clearTimeout(this.decideTimer);
    this.phase = "idle";
    this.orderId = null;
    this.pickup = null;
    this.dropoff = null;
    this.busy = false;
  }

  private sendFix(): void {
    const t = Math.max(this.lastT + 1, Date.now());
    this.lastT = t;
    this.client.sendFix({
      lat: this.pos.lat,
      lng: this.pos.lng,
      t,
      speed: this.phase === "boarding" ? 0 : this.speed,
    });
    this.city.fixesSent++;
  }

  tick(periodMs: number): void {
    if (this.city.stopped) return;
    const stepM = (this.speed * periodMs) / 1000;
    switch (this.phase) {
      case "idle":
      case "deciding": {
        const s = stepTowards(this.pos, this.waypoint, stepM);
        this.pos = s.at;
        if (s.arrived) {
          this.waypoint = this.city.randomPoint();
          this.speed = this.city.between(this.city.o.speedMps);
        }
        break;
      }
      case "to_pickup": {
        const s = stepTowards(this.pos, this.pickup!, stepM);
        this.pos = s.at;
        if (s.arrived && !this.busy) this.arrive();
        break;
      }
      case "boarding":
        break;
      case "to_dropoff": {
        const s = stepTowards(this.pos, this.dropoff!, stepM);
        this.pos = s.at;
        if (s.arrived && !this.busy) this.complete();
        break;
      }
    }
    this.sendFix();
  }

  private onOffer(m: Json): void {
    const order = m.order as { id?: string; pickup?: LatLng; dropoff?: LatLng } | undefined;
    if (!order?.id || !order.pickup || !order.dropoff) return;
    this.city.offerReceived(order.id);
    const orderId = order.id;
    if (this.phase !== "idle") {
      this.city.guard("decline (busy)", this.client.declineOffer(orderId, "busy"));
      return;
    }
    this.phase = "deciding";
    this.orderId = orderId;
    const expiresAt = typeof m.expiresAt === "number" ? m.expiresAt : Date.now() + 10_000;
    const delay = Math.max(
      0,
      Math.min(this.city.between(this.city.o.acceptDelayMs), expiresAt - Date.now() - 500),
    );
    const accept = this.city.random() < this.city.o.acceptProbability;
    this.decideTimer = setTimeout(() => {
      if (this.city.stopped || this.phase !== "deciding" || this.orderId !== orderId) return;
      if (!accept) {
        this.city.declined++;
        this.toIdle();
        this.city.guard("decline", this.client.declineOffer(orderId, "simulated"), [
          "NOT_FOUND",
          "OFFER_EXPIRED",
        ]);
        return;
      }
      this.client.acceptOffer(orderId).then(
        () => {
          if (this.orderId !== orderId) return;
          this.city.matched++;
          this.phase = "to_pickup";
          this.pickup = order.pickup!;
          this.dropoff = order.dropoff!;
        },
        (err: unknown) => {
          if (this.orderId === orderId) this.toIdle();
          this.city.failed("accept", err, ["NOT_FOUND", "OFFER_EXPIRED", "ILLEGAL_TRANSITION", "CONFLICT"]);
        },
      );
    }, delay);
  }

  private step(what: string, call: () => Promise<unknown>, then: () => void): void {
    const orderId = this.orderId;
    this.busy = true;
    call().then(
      () => {
        this.busy = false;
        if (this.orderId === orderId) then();
      },
      (err: unknown) => {
        // The order moved on without us (the rider cancelled): back to cruising.
        if (this.orderId === orderId) this.toIdle();
        this.city.failed(what, err, ["ILLEGAL_TRANSITION", "NOT_FOUND", "CONFLICT"]);
      },
    );
  }

  private arrive(): void {
    const orderId = this.orderId!;
    this.step(
      "arrived",
      () => this.client.arrived(orderId),
      () => {
        this.phase = "boarding";
        setTimeout(() => {
          if (this.city.stopped || this.orderId !== orderId || this.phase !== "boarding") return;
          this.step(
            "started",
            () => this.client.started(orderId),
            () => {
              this.phase = "to_dropoff";
            },
          );
        }, this.city.between(this.city.o.boardingMs));
      },
    );
  }

  private complete(): void {
    const orderId = this.orderId!;
    this.step(
      "completed",
      () => this.client.completed(orderId),
      () => {
        this.city.finish(orderId, "completed");
        this.toIdle();
        this.waypoint = this.city.randomPoint();
        if (this.city.random() < 0.7) this.city.guard("driver rating", this.city.rateAsDriver(this, orderId));
      },
    );
  }
}

export class City {
  readonly o: Required<Omit<CityOptions, "demand" | "random">> & { demand: Demand };
  readonly random: () => number;
  private readonly drivers: SimDriver[] = [];
  private readonly riders = new Map<string, RiderClient>();
  private readonly orderedAt = new Map<string, number>();
  private readonly finished = new Set<string>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private readonly requestToOffer = new Samples();
  private readonly fixToEta = new Samples();
  private readonly errorKinds = new Map<string, number>();
  private startedAt = 0;
  private riderSeq = 0;
  private replayNext = 0;
  stopped = false;
  fixesSent = 0;
  requested = 0;
  offers = 0;
  declined = 0;
  matched = 0;
  completed = 0;
  cancelled = 0;
  errors = 0;

  constructor(options: CityOptions) {
    this.o = {
      ...DEFAULTS,
      bounds: CHICAGO,
      hotSpots: CHICAGO_HOT_SPOTS,
      demand: { kind: "poisson", ordersPerS: 1 / 3 },
      ...stripUndefined(options),
    } as City["o"];
    this.random = options.random ?? Math.random;
  }

  between([lo, hi]: Range): number {
    return lo + (hi - lo) * this.random();
  }

  randomPoint(): LatLng {
    const b = this.o.bounds;
    return { lat: this.between([b.south, b.north]), lng: this.between([b.west, b.east]) };
  }

  /** A pickup: near a hot spot (normal spread) or uniform in the bounds. */
  randomPickup(): LatLng {
    const spots = this.o.hotSpots;
    if (spots.length === 0 || this.random() >= this.o.hotSpotShare) return this.randomPoint();
    const spot = spots[Math.floor(this.random() * spots.length)]!;
    const gauss = () => Math.sqrt(-2 * Math.log(1 - this.random())) * Math.cos(2 * Math.PI * this.random());
    return clamp(
      offset(spot, gauss() * this.o.hotSpotSpreadM, gauss() * this.o.hotSpotSpreadM),
      this.o.bounds,
    );
  }

  randomDropoff(pickup: LatLng): LatLng {
    const d = this.between(this.o.tripM);
    const a = this.random() * 2 * Math.PI;
    return clamp(offset(pickup, d * Math.cos(a), d * Math.sin(a)), this.o.bounds);
  }

  /** Connects the drivers (in small batches) and starts the demand. Resolves once they are up. */
  async start(): Promise<void> {
    this.startedAt = Date.now();
    for (let i = 0; i < this.o.drivers; i++) this.drivers.push(new SimDriver(i, this));
    for (let i = 0; i < this.drivers.length; i += 20) {
      await Promise.all(
        this.drivers
          .slice(i, i + 20)
          .map((d) => d.start().catch((err: unknown) => this.failed("driver start", err))),
      );
      if (this.stopped) return;
    }
    this.scheduleDemand();
  }

  /** Stops every timer and closes every socket. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const d of this.drivers) d.stop();
    for (const r of this.riders.values()) r.close();
    this.riders.clear();
  }

  private later(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
  }

  private scheduleDemand(): void {
    const demand = this.o.demand;
    if (demand.kind === "poisson") {
      if (!(demand.ordersPerS > 0)) return;
      const next = () => {
        this.later((-Math.log(1 - this.random()) / demand.ordersPerS) * 1000, () => {
          const pickup = this.randomPickup();
          this.guard("ride", this.ride(pickup, this.randomDropoff(pickup)));
          next();
        });
      };
      next();
      return;
    }
    const offsets = replayOffsets(demand.rows, demand.speedup);
    const t0 = Date.now();
    const next = () => {
      if (this.replayNext >= demand.rows.length) {
        this.o.log.info("replay finished", { requests: demand.rows.length });
        return;
      }
      this.later(Math.max(0, t0 + offsets[this.replayNext]! - Date.now()), () => {
        // Every request due by now (many may share a second after compression).
        while (this.replayNext < demand.rows.length && t0 + offsets[this.replayNext]! <= Date.now()) {
          const row = demand.rows[this.replayNext++]!;
          this.guard("ride", this.ride(row.pickup, row.dropoff));
        }
        next();
      });
    };
    next();
  }

  /** One rider's whole life: quote, order, watch, maybe cancel, rate. */
  async ride(pickup: LatLng, dropoff: LatLng): Promise<void> {
    const n = this.riderSeq++;
    const rider = new RiderClient({
      url: this.o.httpUrl,
      getToken: tokenSource(() => this.o.session("rider", n), this.o.tokenRefreshMs),
    });
    const quote = await rider.quote(pickup, dropoff);
    const t0 = Date.now();
    const order = (await rider.order(String(quote.token))) as Json & { id: string };
    if (this.stopped) return;
    const orderId = order.id;
    this.requested++;
    this.orderedAt.set(orderId, t0);
    this.riders.set(orderId, rider);
    try {
      await rider.connect();
      if (this.stopped) return rider.close();
      rider.on("order.update", (m) => {
        const state = (m.order as Json | undefined)?.state;
        if (state === "cancelled") this.finish(orderId, "cancelled");
        else if (state === "completed") {
          this.finish(orderId, "completed");
          if (this.random() < 0.8)
            this.guard("rider rating", rider.rate(orderId, this.random() < 0.8 ? 5 : 4), [
              "ILLEGAL_TRANSITION",
            ]);
        }
      });
      // Only the first push of each fix counts: a leg change re-sends the newest fix, however old.
      let lastAt = 0;
      rider.on("eta", (m) => {
        if (typeof m.at !== "number" || m.at <= lastAt) return;
        lastAt = m.at;
        this.fixToEta.add(Date.now() - m.at);
      });
      await rider.watchOrder(orderId);
      // Whatever happened before the watch began.
      const now = (await rider.get(orderId)) as Json;
      if (now.state === "cancelled" || now.state === "completed") this.finish(orderId, now.state);
    } catch (err) {
      this.failed("rider watch", err);
    }
    if (this.random() < this.o.cancelProbability) {
      this.later(this.between(this.o.cancelAfterMs), () => {
        if (this.finished.has(orderId)) return;
        rider.cancel(orderId).then(
          () => this.finish(orderId, "cancelled"),
          // Too late (the trip started or ended): not a failure of the simulation.
          (err: unknown) => this.failed("cancel", err, ["ILLEGAL_TRANSITION", "CONFLICT"]),
        );
      });
    }
  }

  /** The driver's side of the rating (the rider's is in `ride`). */
  async rateAsDriver(d: SimDriver, orderId: string): Promise<void> {
    const res = await fetch(`${this.o.httpUrl}/v1/orders/${encodeURIComponent(orderId)}/rating`, {
      method: "POST",
      headers: { authorization: `Bearer ${await d.getToken()}`, "content-type": "application/json" },
      body: JSON.stringify({ stars: this.random() < 0.9 ? 5 : 3, as: "driver" }),
    });
    await res.body?.cancel();
    if (!res.ok && res.status !== 409) throw new Error(`driver rating answered ${res.status}`);
  }

  offerReceived(orderId: string): void {
    this.offers++;
    const t0 = this.orderedAt.get(orderId);
    if (t0 !== undefined) {
      this.requestToOffer.add(Date.now() - t0);
      // Only the first offer of an order counts: later ones follow a decline or a timeout.
      this.orderedAt.delete(orderId);
    }
  }

  finish(orderId: string, outcome: "completed" | "cancelled"): void {
    if (this.finished.has(orderId)) return;
    this.finished.add(orderId);
    this.orderedAt.delete(orderId);
    if (outcome === "completed") this.completed++;
    else this.cancelled++;
    const rider = this.riders.get(orderId);
    if (rider) {
      // Leave time for the rating to go out before the socket closes (stop() closes it sooner).
      this.later(5_000, () => {
        rider.close();
        this.riders.delete(orderId);
      });
    }
  }

  /** Awaits `p`, counting and logging a failure instead of throwing it. */
  guard(what: string, p: Promise<unknown>, expected: readonly string[] = []): void {
    p.catch((err: unknown) => this.failed(what, err, expected));
  }

  /** Counts an error (unless its code is an expected race) and logs the first few of each kind. */
  failed(what: string, err: unknown, expected: readonly string[] = []): void {
    if (this.stopped) return;
    const code = (err as { code?: unknown })?.code;
    if (typeof code === "string" && expected.includes(code)) return;
    this.errors++;
    const key = `${what}:${String(code ?? "")}`;
    const seen = (this.errorKinds.get(key) ?? 0) + 1;
    this.errorKinds.set(key, seen);
    if (seen <= 5 || seen % 100 === 0) {
      this.o.log.warn("simulation step failed", {
        step: what,
        code: typeof code === "string" ? code : undefined,
        error: (err as Error)?.message ?? String(err),
        occurrences: seen,
      });
    }
  }

  stats(): CityStats {
    const demand = this.o.demand;
    return {
      elapsedMs: this.startedAt === 0 ? 0 : Date.now() - this.startedAt,
      drivers: this.drivers.length,
      driverSockets: this.drivers.filter((d) => d.client.connected).length,
      driversOnline: this.drivers.filter((d) => d.online && d.client.connected).length,
      fixesSent: this.fixesSent,
      requested: this.requested,
      open: this.requested - this.completed - this.cancelled,
      offers: this.offers,
      declined: this.declined,
      matched: this.matched,
      completed: this.completed,
      cancelled: this.cancelled,
      riderSockets: this.riders.size,
      replayLeft: demand.kind === "replay" ? demand.rows.length - this.replayNext : 0,
      errors: this.errors,
      requestToOfferMs: this.requestToOffer.percentiles(),
      fixToEtaMs: this.fixToEta.percentiles(),
    };
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const ms = (v: number | null) =>
  v === null ? "-" : v >= 1000 ? `${(v / 1000).toFixed(1)}s` : `${Math.round(v)}ms`;

/** One line of live figures; `prev` (the previous snapshot) gives the rates. */
export function formatStats(s: CityStats, prev: CityStats | null): string {
  const dt = prev === null ? s.elapsedMs : s.elapsedMs - prev.elapsedMs;
  const fixes = prev === null ? s.fixesSent : s.fixesSent - prev.fixesSent;
  const fps = dt > 0 ? (fixes * 1000) / dt : 0;
  const o = s.requestToOfferMs;
  const e = s.fixToEtaMs;
  return (
    `[sim ${Math.round(s.elapsedMs / 1000)}s] drivers ${s.driverSockets}/${s.drivers} sockets, ${s.driversOnline} online` +
    ` | fixes ${fps.toFixed(1)}/s` +
    ` | orders ${s.requested} requested, ${s.open} open, ${s.offers} offers, ${s.matched} matched,` +
    ` ${s.declined} declined, ${s.completed} completed, ${s.cancelled} cancelled` +
    (s.replayLeft > 0 ? `, ${s.replayLeft} to replay` : "") +
    ` | request->offer p50 ${ms(o.p50)} p99 ${ms(o.p99)} (n=${o.n})` +
    ` | fix->eta p50 ${ms(e.p50)} p99 ${ms(e.p99)} (n=${e.n})` +
    ` | errors ${s.errors}`
  );
}
