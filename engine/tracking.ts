/**
 * Live ETA and trip tracks (DESIGN flow 5). While a driver approaches (accepted,
 * driver_arriving) every applied fix updates the rider's ETA to the pickup; during the trip
 * (in_progress) to the dropoff. Pushes are coalesced per rider order: at most one per
 * `pushIntervalMs`, always carrying the newest fix (a trailing push follows a burst).
 *
 * Arrival is the driver's to confirm (RideService.arrived): the engine cannot tell a driver
 * waiting at the kerb from one stuck at the lights 40 m away. When a fix comes within
 * `nearPickupM` of the pickup, both sides get one `near_pickup` hint (the rider to come out, the
 * driver's app to offer the "arrived" button).
 *
 * During in_progress the applied fixes are summed into the real track, so completion can price
 * the real trip: `trackOf(orderId)` gives what `RideService.complete` takes.
 *
 * GPS-in calls, in this order, without awaiting anything:
 * `const r = locations.applyFixes(driverId, batch); tracker.onFixes(driverId, batch, r);`
 */
import type { PickupEta } from "./dispatch.js";
import { type FixBatch, FixOutcome, type FixResult, type LiveLocations } from "./locations.js";
import type { Logger } from "./logger.js";
import type { DriverId, LatLng, Order, OrderEvent, OrderId, RiderId } from "./model.js";
import type { Clock, Notifier, OrderStore, TimerHandle } from "./ports.js";
import { haversineM } from "./pricing.js";

export interface TrackingConfig {
  /** Least time between two ETA pushes to one rider order. */
  readonly pushIntervalMs: number;
  /** A fix this close to the pickup (metres) sends the `near_pickup` hint, once per order. */
  readonly nearPickupM: number;
  /**
   * GPS noise filter of the trip track: a fix counts only once it is this far (metres) from the
   * last counted one, so a car standing still does not collect distance.
   */
  readonly minStepM: number;
}

export const DEFAULT_TRACKING_CONFIG: TrackingConfig = {
  // "About one a second" (DESIGN flow 5), but not exactly the 1 Hz at which many apps send: a
  // 1 s spacing held each jittery 1 Hz fix (and each 0.875 s fix of the city bench) for up to a
  // second, waiting for the next tick. 750 ms lets any cadence of 0.75 s or slower through at
  // once and still coalesces bursts (reconnect batches, 5-10 Hz GPS) to at most 1.33 a second.
  pushIntervalMs: 750,
  nearPickupM: 50,
  minStepM: 10,
};

export interface TrackingDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly orders: Pick<OrderStore, "get">;
  readonly locations: Pick<LiveLocations, "positionOf">;
  readonly eta: Pick<PickupEta, "travelS">;
  readonly notifier: Notifier;
}

/** What completion prices: whole metres and seconds. */
export interface Track {
  readonly distanceM: number;
  readonly durationS: number;
}

type Leg = "pickup" | "waiting" | "dropoff";

interface Trip {
  readonly orderId: OrderId;
  readonly riderId: RiderId;
  readonly driverId: DriverId;
  readonly pickup: LatLng;
  readonly dropoff: LatLng;
  version: number;
  leg: Leg;
  /** Newest applied fix (mutated in place: no allocation per fix). */
  readonly last: { lat: number; lng: number; heading: number | null; at: number; known: boolean };
  lastPushAt: number;
  timer: TimerHandle | null;
  nearSent: boolean;
  startedAt: number | null;
  /** Last fix counted into the track. */
  anchor: { lat: number; lng: number } | null;
  distanceM: number;
}

export class LiveTracker {
  readonly config: TrackingConfig;
  readonly #d: TrackingDeps;
  readonly #byDriver = new Map<DriverId, Trip>();
  readonly #byOrder = new Map<OrderId, Trip>();
  /** Orders being read; true when an event arrived meanwhile (read again). */
  readonly #loading = new Map<OrderId, boolean>();
  #pushes = 0;

  constructor(deps: TrackingDeps, config: Partial<TrackingConfig> = {}) {
    this.#d = deps;
    this.config = { ...DEFAULT_TRACKING_CONFIG, ...config };
  }

  /** Order lifecycle input (see `tapEvents`). Cheap and synchronous; never throws. */
  observe(event: OrderEvent): void {
    try {
      this.#observe(event);
    } catch (err) {
      this.#d.log.error("tracking observe failed", { eventId: event.id, err: String(err) });
    }
  }

  #observe(event: OrderEvent): void {
    switch (event.type) {
      case "order.accepted":
      case "order.driver_arriving":
      case "order.driver_arrived":
      case "order.started": {
        const trip = this.#byOrder.get(event.orderId);
        if (trip === undefined || event.version !== trip.version + 1) this.#load(event.orderId);
        else
          this.#step(
            trip,
            event.type === "order.started" ? "dropoff" : legOf(event.type),
            event.version,
            event.at,
          );
        return;
      }
      case "order.completed":
      case "order.cancelled":
        this.#untrack(event.orderId);
        return;
      default:
        return;
    }
  }

  /** Starts (or refreshes) tracking from an order snapshot: recovery after a restart, tests. */
  track(order: Order): void {
    const leg = legOfState(order.state);
    if (leg === null || order.driverId === null) {
      this.#untrack(order.id);
      return;
    }
    let trip = this.#byOrder.get(order.id);
    if (trip !== undefined && trip.version >= order.version) return;
    if (trip === undefined) {
      trip = {
        orderId: order.id,
        riderId: order.riderId,
        driverId: order.driverId,
        pickup: order.pickup,
        dropoff: order.dropoff,
        version: 0,
        // Stepped to the real leg below, which sends the first ETA.
        leg: "waiting",
        last: { lat: 0, lng: 0, heading: null, at: 0, known: false },
        lastPushAt: Number.NEGATIVE_INFINITY,
        timer: null,
        nearSent: false,
        startedAt: null,
        anchor: null,
        distanceM: 0,
      };
      // A driver is on one order at a time; a newer one replaces an old leftover.
      const old = this.#byDriver.get(order.driverId);
      if (old) this.#untrack(old.orderId);
      this.#byOrder.set(order.id, trip);
      this.#byDriver.set(order.driverId, trip);
      const pos = this.#d.locations.positionOf(order.driverId);
      if (pos !== null)
        Object.assign(trip.last, {
          lat: pos.lat,
          lng: pos.lng,
          heading: pos.heading,
          at: pos.at,
          known: true,
        });
    }
    this.#step(trip, leg, order.version, order.startedAt ?? this.#d.clock.now());
  }

  /**
   * The hot path, after `locations.applyFixes`: the driver's applied fixes of this batch. Never
   * awaits, never throws, allocates nothing for drivers not on an order.
   */
  onFixes(driverId: DriverId, batch: FixBatch, result: FixResult): void {
    const trip = this.#byDriver.get(driverId);
    if (trip === undefined || result.applied === 0) return;
    try {
      const { latLngs, timesMs, headings } = batch;
      const minStep = this.config.minStepM;
      for (let i = 0; i < result.outcomes.length; i++) {
        const o = result.outcomes[i];
        if (o !== FixOutcome.Applied && o !== FixOutcome.Relocated) continue;
        const lat = latLngs[2 * i]!;
        const lng = latLngs[2 * i + 1]!;
        const h = headings?.[i];
        const last = trip.last;
        last.lat = lat;
        last.lng = lng;
        last.heading = h === undefined || Number.isNaN(h) ? null : h;
        last.at = timesMs[i]!;
        last.known = true;
        if (trip.leg === "dropoff") {
          if (trip.anchor === null) trip.anchor = { lat, lng };
          else {
            const step = haversineM(trip.anchor, last);
            if (step >= minStep) {
              trip.distanceM += step;
              trip.anchor.lat = lat;
              trip.anchor.lng = lng;
            }
          }
        }
      }
      this.#checkNear(trip);
      if (trip.leg !== "waiting") this.#schedulePush(trip);
    } catch (err) {
      this.#d.log.error("tracking failed on a fix", { driverId, err: String(err) });
    }
  }

  /**
   * The real track of a trip in progress: distance summed over its applied fixes, duration from
   * the start to now. Null when this tracker does not follow the order or it has not started.
   */
  trackOf(orderId: string): Track | null {
    const trip = this.#byOrder.get(orderId as OrderId);
    if (trip === undefined || trip.startedAt === null) return null;
    return {
      distanceM: Math.round(trip.distanceM),
      durationS: Math.max(0, Math.round((this.#d.clock.now() - trip.startedAt) / 1000)),
    };
  }

  /** Orders followed now, and ETA pushes sent so far. */
  stats(): { tracked: number; pushes: number } {
    return { tracked: this.#byOrder.size, pushes: this.#pushes };
  }

  /** Cancels pending pushes and forgets every trip. */
  stop(): void {
    for (const id of [...this.#byOrder.keys()]) this.#untrack(id);
  }

  // ----- internals -------------------------------------------------------------------------------

  #step(trip: Trip, leg: Leg, version: number, at: number): void {
    trip.version = Math.max(trip.version, version);
    if (leg === trip.leg && (leg !== "dropoff" || trip.startedAt !== null)) return;
    trip.leg = leg;
    if (leg === "waiting" && trip.timer) {
      this.#d.clock.clearTimer(trip.timer);
      trip.timer = null;
    }
    if (leg === "dropoff" && trip.startedAt === null) {
      trip.startedAt = at;
      trip.distanceM = 0;
      trip.anchor = trip.last.known ? { lat: trip.last.lat, lng: trip.last.lng } : null;
    }
    // A first ETA at once, from the position the index has.
    if (leg !== "waiting" && trip.last.known) {
      this.#checkNear(trip);
      this.#schedulePush(trip);
    }
  }

  #checkNear(trip: Trip): void {
    if (trip.leg !== "pickup" || trip.nearSent || !trip.last.known) return;
    const d = haversineM(trip.last, trip.pickup);
    if (d <= this.config.nearPickupM) this.#nearPickup(trip, d);
  }

  #load(orderId: OrderId): void {
    if (this.#loading.has(orderId)) {
      this.#loading.set(orderId, true);
      return;
    }
    this.#loading.set(orderId, false);
    void this.#d.orders
      .get(orderId)
      .then(
        (o) => {
          if (o === null) this.#untrack(orderId);
          else this.track(o);
        },
        (err) => this.#d.log.warn("tracking could not read order", { orderId, err: String(err) }),
      )
      .finally(() => {
        const again = this.#loading.get(orderId);
        this.#loading.delete(orderId);
        if (again) this.#load(orderId);
      });
  }

  #untrack(orderId: OrderId): void {
    const trip = this.#byOrder.get(orderId);
    if (trip === undefined) return;
    if (trip.timer) this.#d.clock.clearTimer(trip.timer);
    this.#byOrder.delete(orderId);
    if (this.#byDriver.get(trip.driverId) === trip) this.#byDriver.delete(trip.driverId);
  }

  #schedulePush(trip: Trip): void {
    if (trip.timer) return; // a trailing push is due; it will carry this fix
    const { clock } = this.#d;
    const due = trip.lastPushAt + this.config.pushIntervalMs;
    const now = clock.now();
    if (now >= due) this.#push(trip);
    else
      trip.timer = clock.setTimer(due - now, () => {
        trip.timer = null;
        if (this.#byOrder.get(trip.orderId) === trip && trip.leg !== "waiting") this.#push(trip);
      });
  }

  #push(trip: Trip): void {
    const { clock, eta, notifier } = this.#d;
    const now = clock.now();
    const target = trip.leg === "dropoff" ? trip.dropoff : trip.pickup;
    const { last } = trip;
    let etaS: number;
    try {
      etaS = Math.max(0, Math.round(eta.travelS(last, target, now)));
    } catch (err) {
      this.#d.log.warn("eta failed", { orderId: trip.orderId, err: String(err) });
      return;
    }
    trip.lastPushAt = now;
    this.#pushes++;
    notifier.toRider(trip.riderId, {
      type: "eta",
      orderId: trip.orderId,
      leg: trip.leg === "dropoff" ? "dropoff" : "pickup",
      driver: { lat: last.lat, lng: last.lng, heading: last.heading },
      etaS,
      distanceM: Math.round(haversineM(last, target)),
      at: last.at,
    });
  }

  #nearPickup(trip: Trip, distance: number): void {
    trip.nearSent = true;
    const at = this.#d.clock.now();
    const distanceM = Math.round(distance);
    this.#d.notifier.toRider(trip.riderId, { type: "near_pickup", orderId: trip.orderId, distanceM, at });
    this.#d.notifier.toDriver(trip.driverId, { type: "near_pickup", orderId: trip.orderId, distanceM, at });
  }
}

function legOf(type: "order.accepted" | "order.driver_arriving" | "order.driver_arrived"): Leg {
  return type === "order.driver_arrived" ? "waiting" : "pickup";
}

function legOfState(state: Order["state"]): Leg | null {
  switch (state) {
    case "accepted":
    case "driver_arriving":
      return "pickup";
    case "arrived":
      return "waiting";
    case "in_progress":
      return "dropoff";
    default:
      return null;
  }
}
