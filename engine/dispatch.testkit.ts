/**
 * Test kit for the dispatch, tracking and surge suites: a RideService on the memory harness with
 * the manual clock, the native live index, ETA model and matcher, and the event tap that feeds
 * the loops. Test-only (no vitest import), not part of the engine's API.
 */
import { randomUUID } from "node:crypto";
import { memoryRideHarness, type RideHarness } from "../storage/memory/harness.js";
import {
  type DispatchConfig,
  Dispatcher,
  type DispatchHooks,
  NativeMatcher,
  NativePickupEta,
  type PickupEta,
  tapEvents,
} from "./dispatch.js";
import { DispatchError, ErrorCode } from "./errors.js";
import { NativeLocations, singleFix } from "./locations.js";
import { silentLogger } from "./logger.js";
import {
  ASSIGNED_STATES,
  type DriverId,
  type LatLng,
  type Order,
  type OrderEvent,
  type OrderId,
} from "./model.js";
import type { EventLog } from "./ports.js";
import type { RideConfigInput } from "./rides.js";
import { LiveTracker, type TrackingConfig } from "./tracking.js";

export const BERLIN: LatLng = { lat: 52.52, lng: 13.405 };

/** The point `eastM` metres east and `northM` metres north of `p` (flat-earth, fine below ~20 km). */
export function offset(p: LatLng, eastM: number, northM: number): LatLng {
  const mPerDegLat = 111_320;
  return {
    lat: p.lat + northM / mPerDegLat,
    lng: p.lng + eastM / (mPerDegLat * Math.cos((p.lat * Math.PI) / 180)),
  };
}

export interface WorldOptions {
  readonly dispatch?: Partial<DispatchConfig>;
  readonly tracking?: Partial<TrackingConfig>;
  readonly rides?: RideConfigInput;
  /** The native EtaModel unless a test says otherwise. */
  readonly eta?: PickupEta;
  /**
   * Seeded randomness: every order-store and driver-record call then yields a random number of
   * microtask turns (0..3) before and after it, so concurrent callers interleave differently.
   */
  readonly jitter?: () => number;
  /**
   * With `jitter`: the share of those calls that fail with a temporary UNAVAILABLE, half before
   * they happen and half after (the write landed, the reply was lost).
   */
  readonly faultRate?: number;
}

/** Every async method of the port yields 0..max turns before and after the real (atomic) call. */
function jittered<T extends object>(port: T, rand: () => number, faultRate = 0, max = 3): T {
  const unavailable = () => new DispatchError(ErrorCode.Unavailable, "injected fault", { temporary: true });
  const hops = async (n: number) => {
    for (let i = 0; i < n; i++) await Promise.resolve();
  };
  return new Proxy(port, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      return async (...args: unknown[]) => {
        await hops(Math.floor(rand() * (max + 1)));
        const fault = rand() < faultRate ? (rand() < 0.5 ? "before" : "after") : null;
        if (fault === "before") throw unavailable();
        const result = await value.apply(target, args);
        await hops(Math.floor(rand() * (max + 1)));
        if (fault === "after") throw unavailable();
        return result;
      };
    },
  });
}

export class World {
  readonly h: RideHarness;
  readonly locations = new NativeLocations();
  readonly eta: PickupEta;
  readonly matcher = new NativeMatcher();
  readonly tracker: LiveTracker;
  readonly dispatchers: Dispatcher[] = [];
  /** Every event appended, in order (through the tap). */
  readonly events: OrderEvent[] = [];
  readonly #listeners: ((e: OrderEvent) => void)[] = [];
  readonly #options: WorldOptions;

  constructor(options: WorldOptions = {}) {
    this.#options = options;
    const listeners = this.#listeners;
    this.h = memoryRideHarness({
      config: { maxOfferMs: 60_000, ...options.rides },
      wrap: <T extends object>(port: T, name: string): T => {
        if (name === "events") return tapEvents(port as unknown as EventLog, listeners) as unknown as T;
        return options.jitter ? jittered(port, options.jitter, options.faultRate) : port;
      },
    });
    this.eta = options.eta ?? new NativePickupEta();
    listeners.push((e) => this.events.push(e));
    this.tracker = new LiveTracker(
      {
        clock: this.h.clock,
        log: silentLogger,
        orders: this.h.orders,
        locations: this.locations,
        eta: this.eta,
        notifier: this.h.notifier,
      },
      options.tracking,
    );
    listeners.push((e) => this.tracker.observe(e));
  }

  get clock() {
    return this.h.clock;
  }

  get service() {
    return this.h.service;
  }

  /** A dispatch loop for `region` (the harness's one-degree grid), observing every event. */
  dispatcher(
    region = "52:13",
    config: Partial<DispatchConfig> = {},
    hooks: DispatchHooks = this.h.service,
  ): Dispatcher {
    const d = new Dispatcher(
      {
        region,
        clock: this.h.clock,
        log: silentLogger,
        rides: hooks,
        orders: this.h.orders,
        locations: this.locations,
        eta: this.eta,
        matcher: this.matcher,
      },
      { ...this.#options.dispatch, ...config },
    );
    this.dispatchers.push(d);
    this.#listeners.push((e) => d.observe(e));
    return d;
  }

  /** A driver on duty at `at`: one fix now, class, status free. */
  addDriver(id: string, at: LatLng, vehicleClass = "economy"): DriverId {
    const d = id as DriverId;
    this.fix(d, at);
    this.locations.setVehicleClass(d, vehicleClass);
    this.locations.setStatus(d, "free");
    return d;
  }

  /** One fix of the driver at the clock's now, through the GPS-in path (index, then tracker). */
  fix(driverId: string, at: LatLng, heading = Number.NaN): void {
    const batch = singleFix(at.lat, at.lng, this.h.clock.now(), heading);
    const r = this.locations.applyFixes(driverId as DriverId, batch);
    this.tracker.onFixes(driverId as DriverId, batch, r);
  }

  async request(
    riderId: string,
    pickup: LatLng,
    dropoff: LatLng = offset(pickup, 3_000, 2_000),
  ): Promise<OrderId> {
    const q = await this.h.service.quote(riderId, pickup, dropoff, "economy");
    return (await this.h.service.requestRide(riderId, q.token, randomUUID())).id;
  }

  async order(id: string): Promise<Order> {
    const o = await this.h.orders.get(id as OrderId);
    if (o === null) throw new Error(`order ${id} not found`);
    return o;
  }

  /** Moves the manual clock, running every timer due (windows, offer timeouts, pushes) to completion. */
  async run(ms: number): Promise<void> {
    await this.h.clock.advanceAsync(ms);
    await Promise.all(this.dispatchers.map((d) => d.idle()));
  }

  /** Offers pushed to a driver so far, oldest first. */
  offersTo(driverId: string): { orderId: OrderId; offerId: string; at: number }[] {
    const out: { orderId: OrderId; offerId: string; at: number }[] = [];
    for (const e of this.events) {
      if (e.type === "order.offered" && e.payload.driverId === driverId) {
        out.push({ orderId: e.orderId, offerId: e.payload.offerId, at: e.at });
      }
    }
    return out;
  }

  /** Offers made for an order, oldest first: [driverId, at]. */
  offersFor(orderId: string): { driverId: DriverId; at: number }[] {
    return this.events
      .filter((e) => e.orderId === orderId && e.type === "order.offered")
      .map((e) => ({ driverId: (e.payload as { driverId: DriverId }).driverId, at: e.at }));
  }

  async stop(): Promise<void> {
    for (const d of this.dispatchers) await d.stop();
    this.tracker.stop();
  }
}

function fail(message: string): never {
  throw new Error(message);
}

/**
 * The invariants of DESIGN.md, checked on the stores: a driver is bound (pending offer or
 * assigned trip) to at most one order and holds exactly that in DriverAssignments; an order has at
 * most one driver and a shape that fits its state. Plain checks (no expect) to run after every step.
 */
export function checkInvariants(h: RideHarness, where: string): void {
  const holds = new Map(h.drivers.held().map((a) => [a.driverId, a.hold!]));
  const bound = new Map<DriverId, Order[]>();
  const bind = (d: DriverId, o: Order) => bound.set(d, [...(bound.get(d) ?? []), o]);
  for (const o of h.orders.all()) {
    const bad = (what: string) => fail(`${where}: order ${o.id} in ${o.state} ${what}`);
    if (o.state === "searching") {
      if (o.offer !== null || o.driverId !== null) bad("has an offer or a driver");
    } else if (o.state === "offered") {
      if (o.offer === null || o.driverId !== null) bad("lacks its offer or has a driver");
      // Even past its expiry an offer binds its driver until it is timed out.
      bind(o.offer!.driverId, o);
    } else if (ASSIGNED_STATES.has(o.state)) {
      if (o.offer !== null || o.driverId === null || o.acceptedOfferId === null) bad("lacks its driver");
      bind(o.driverId!, o);
    } else if (o.offer !== null) {
      bad("still has an offer");
    }
  }
  for (const [driver, list] of bound) {
    if (list.length > 1) fail(`${where}: driver ${driver} bound to ${list.map((o) => `${o.id}:${o.state}`)}`);
    const o = list[0]!;
    const offerId = o.state === "offered" ? o.offer!.id : o.acceptedOfferId;
    const hold = holds.get(driver);
    if (hold?.orderId !== o.id || hold.offerId !== offerId) {
      fail(`${where}: driver ${driver} bound to ${o.id} (${o.state}) but holds ${JSON.stringify(hold)}`);
    }
  }
}
