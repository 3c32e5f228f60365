/**
 * The ports of the ride engine: what it needs from the world, stated as contracts. Each doc
 * comment is the contract every implementation honours (memory now; PostgreSQL, Redis, Kafka and
 * the native addon later); `engine/contracts/` holds the shared test suites that check it.
 *
 * Anything a real database or network would serve returns a Promise. Failures of the backing
 * service reject with a DispatchError (code UNAVAILABLE, `temporary: true`); "not found" and
 * lost races are never errors but the values documented on each method.
 */
import type {
  DriverId,
  IdempotencyKey,
  LatLng,
  Order,
  OrderEvent,
  OrderEventType,
  OrderId,
  Quote,
  RiderId,
  Tariff,
} from "./model.js";
import type { DriverOrderView, RiderOrderView } from "./views.js";

// ---------------------------------------------------------------------------------------------
// Time and logs

/** Opaque handle of a scheduled callback; `dueAt` is the clock time it is due. */
export interface TimerHandle {
  readonly dueAt: number;
}

/**
 * Wall time and timers, injected so windows and timeouts are tested deterministically.
 *
 * - `now()` is milliseconds since the Unix epoch; it never goes backwards.
 * - `setTimer(delayMs, fn)` calls `fn` once, no earlier than `now() + max(0, delayMs)`. Timers due
 *   at the same time fire in the order they were set. `fn` must not throw; a returned promise is
 *   not awaited (it must handle its own rejection).
 * - `clearTimer(h)` cancels a pending timer; clearing a fired or cleared one is a no-op.
 */
export interface Clock {
  now(): number;
  setTimer(delayMs: number, fn: () => void): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** The structured logger port lives in logger.ts (shared with the gateway); listed here for completeness. */
export type { LogFields, Logger } from "./logger.js";

// ---------------------------------------------------------------------------------------------
// Orders

export type CasResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly current: T | null };

export type CreateOrderResult =
  /** Stored as given. */
  | { readonly status: "created"; readonly order: Order }
  /** An order with the same (riderId, idempotencyKey) exists; it is returned unchanged. */
  | { readonly status: "replayed"; readonly order: Order }
  /** Another order (other idempotency key) was made from the same quote; nothing was stored. */
  | { readonly status: "quote_used"; readonly order: Order };

/** Newest first; `before` continues a page strictly after (older than) the given order. */
export interface OrderPage {
  readonly limit: number;
  readonly before?: { readonly createdAt: number; readonly id: OrderId };
}

/**
 * The durable record of orders; the source of truth for an order's state and its driver.
 *
 * - Atomicity: `create` and `compareAndSet` are each atomic, linearizable per order. Uniqueness of
 *   (riderId, idempotencyKey) and of quoteId holds across all callers and processes.
 * - Versions: a created order has version 1; `compareAndSet(id, v, next)` stores `next` only if
 *   the stored version is `v`, and `next.version` must be `v + 1`. The immutable fields (id,
 *   riderId, idempotencyKey, quoteId, region, createdAt) must not change; a violation is a caller
 *   bug and rejects with INTERNAL.
 * - Returned orders are snapshots: a later write never changes an object already returned, and
 *   callers never mutate them (an implementation may hand out frozen objects).
 * - "Not found" is `null` (get, getByIdempotencyKey) or `{ ok: false, current: null }` (CAS).
 * - Durability: once a call resolves, the write survives a crash of the calling process.
 */
export interface OrderStore {
  /** Stores a new order unless (riderId, idempotencyKey) or quoteId is taken; see CreateOrderResult. */
  create(order: Order): Promise<CreateOrderResult>;
  get(id: OrderId): Promise<Order | null>;
  getByIdempotencyKey(riderId: RiderId, key: IdempotencyKey): Promise<Order | null>;
  /** Replaces the order iff its stored version is `expectedVersion`; otherwise returns the current one. */
  compareAndSet(id: OrderId, expectedVersion: number, next: Order): Promise<CasResult<Order>>;
  /** The rider's orders, newest first (createdAt desc, then id desc). */
  listByRider(riderId: RiderId, page: OrderPage): Promise<Order[]>;
  /** Orders assigned to the driver (driverId set), newest first; offers alone do not count. */
  listByDriver(driverId: DriverId, page: OrderPage): Promise<Order[]>;
  /** Not yet completed or cancelled orders of a region, oldest first (createdAt asc, then id asc). */
  listOpen(region: string, limit: number): Promise<Order[]>;
}

// ---------------------------------------------------------------------------------------------
// Drivers

/**
 * What a driver is bound to: an offer (until it is answered or expires) or an active order.
 * `offerId` matches `Order.offer.id` / `Order.acceptedOfferId` of the order that holds the driver.
 */
export interface DriverHold {
  readonly kind: "offer" | "active";
  readonly orderId: OrderId;
  readonly offerId: string;
  /** For an offer, the time it expires; null for an active order. */
  readonly expiresAt: number | null;
}

export interface DriverAssignment {
  readonly driverId: DriverId;
  /** 0 for a driver never written, +1 on every change. */
  readonly version: number;
  readonly hold: DriverHold | null;
}

/**
 * One record per driver saying what holds it, so that a driver holds at most one offer or one
 * active order across all processes. The engine takes a hold before an order may point at the
 * driver and lets it go only after the order stopped pointing at it.
 *
 * - `get` of an unknown driver returns `{ version: 0, hold: null }` (never null).
 * - `compareAndSet(d, v, hold)` is atomic: it writes and bumps the version only if the stored
 *   version is `v` (0 = never written), else returns the current record.
 * - Records do not expire by themselves; the engine decides when a hold is stale.
 */
export interface DriverAssignments {
  get(driverId: DriverId): Promise<DriverAssignment>;
  compareAndSet(
    driverId: DriverId,
    expectedVersion: number,
    hold: DriverHold | null,
  ): Promise<CasResult<DriverAssignment>>;
}

// ---------------------------------------------------------------------------------------------
// Events and notifications

/**
 * The domain event log (Kafka topic, embedded table).
 *
 * - `append` is idempotent by event id: appending an id already present is a no-op, so a retry
 *   after an unclear failure is safe. Resolves once the event is durable.
 * - `readOrder` returns the events of one order ordered by `version` (ascending), whatever order
 *   concurrent appends arrived in; an unknown order gives `[]`.
 * - Durable is not yet readable: through Kafka an event is durable once the broker acknowledged
 *   it, and `readOrder` sees it once the persister has written it (normally well under a second).
 */
export interface EventLog {
  append(event: OrderEvent): Promise<void>;
  readOrder(orderId: OrderId): Promise<OrderEvent[]>;
}

/** A driver's last applied position as pushed to the rider of its order; heading null when unknown. */
export interface DriverPin {
  readonly lat: number;
  readonly lng: number;
  readonly heading: number | null;
}

export type RiderMessage =
  | {
      readonly type: "order";
      readonly event: OrderEventType;
      readonly order: RiderOrderView;
    }
  /**
   * Live ETA (engine/tracking.ts): while the driver approaches, to the pickup; during the trip, to
   * the dropoff. Coalesced per rider; `at` is the time of the fix it was computed from.
   */
  | {
      readonly type: "eta";
      readonly orderId: OrderId;
      readonly leg: "pickup" | "dropoff";
      readonly driver: DriverPin;
      readonly etaS: number;
      readonly distanceM: number;
      readonly at: number;
    }
  /** A hint that the driver is within a few tens of metres of the pickup (the driver still confirms arrival). */
  | {
      readonly type: "near_pickup";
      readonly orderId: OrderId;
      readonly distanceM: number;
      readonly at: number;
    };

export type DriverMessage =
  | {
      readonly type: "offer";
      readonly order: DriverOrderView;
      readonly offerId: string;
      readonly expiresAt: number;
    }
  | {
      readonly type: "offer_closed";
      readonly orderId: OrderId;
      readonly offerId: string;
      readonly reason: "declined" | "timed_out" | "cancelled";
    }
  | { readonly type: "order"; readonly event: OrderEventType; readonly order: DriverOrderView }
  /** The driver is within a few tens of metres of the pickup: a hint to confirm arrival. */
  | {
      readonly type: "near_pickup";
      readonly orderId: OrderId;
      readonly distanceM: number;
      readonly at: number;
    };

export type AdminMessage = { readonly type: "order_event"; readonly event: OrderEvent };

/**
 * Pushes to connected users (Socket.IO rooms, the driver socket, Redis fan-out across nodes).
 *
 * - Best effort, at most once: a user who is offline misses the push and catches up by reading
 *   the order. Never throws and never blocks; delivery happens after the call returns.
 * - Messages to one recipient are delivered in call order.
 */
export interface Notifier {
  toRider(riderId: RiderId, message: RiderMessage): void;
  toDriver(driverId: DriverId, message: DriverMessage): void;
  toAdmins(message: AdminMessage): void;
}

// ---------------------------------------------------------------------------------------------
// Quotes and prices

/**
 * Turns a quote into a tamper-proof token and back. Pure and local (no I/O).
 *
 * - `verify(sign(q))` deep-equals `q`. Any other string (altered in any byte, signed with an
 *   unknown key, malformed) throws QUOTE_INVALID. Expiry is not checked here: the caller compares
 *   `expiresAt` with its clock.
 * - Old keys may verify during a rotation; only the current key signs.
 */
export interface QuoteSigner {
  sign(quote: Quote): string;
  verify(token: string): Quote;
}

/**
 * The fare calculator (a TS linear model now, the Rust pricing module later). Pure and
 * synchronous: the same inputs always give the same outputs.
 *
 * - `tariff` returns the terms for a vehicle class with the surge applied (clamped to the model's
 *   limits), or `null` when the class is not offered.
 * - `price` is the fare in integer minor units for a trip under a tariff (which may come from an
 *   old quote, so it must use only the tariff's figures), never below the tariff's minimum with
 *   surge applied.
 */
export interface FareModel {
  tariff(vehicleClass: string, surge: number): Tariff | null;
  price(tariff: Tariff, distanceM: number, durationS: number): number;
}

/** Route length and duration between two points (straight line now, the Rust ETA model later). */
export interface RouteEstimator {
  /** Whole metres and seconds, both >= 0. */
  estimate(from: LatLng, to: LatLng): Promise<{ distanceM: number; durationS: number }>;
}

/** Current surge multiplier at a pickup (flat now, the supply/demand model later). >= 1, finite. */
export interface SurgeSource {
  multiplierAt(pickup: LatLng, vehicleClass: string): Promise<number>;
}

// ---------------------------------------------------------------------------------------------
// Surge fan-out and price history (engine/surge.ts)

/** One area cell's shown surge multiplier. `cell` is the H3 index (resolution 7) in lower-case hex. */
export interface CellMultiplier {
  readonly cell: string;
  readonly multiplier: number;
}

/** Sent to the riders watching one area cell when its multiplier changes. */
export type AreaMessage = {
  readonly type: "surge";
  readonly cell: string;
  readonly multiplier: number;
  readonly at: number;
};

/** The whole current heat map (cells above x1.0), so a receiver that drops stale ones loses nothing. */
export type HeatMapMessage = {
  readonly type: "heat_map";
  readonly cells: readonly CellMultiplier[];
  readonly at: number;
};

/**
 * Area-wide pushes (Socket.IO area rooms, the driver socket with coalescing). Same delivery rules
 * as Notifier: best effort, never throws, never blocks, in call order per recipient.
 *
 * - `toArea(cell, m)` reaches every rider watching that area cell (room = the cell's hex id).
 * - `toDrivers(m)` reaches every connected driver; a driver that has an older heat map still
 *   queued may get only the newest.
 */
export interface AreaNotifier {
  toArea(cell: string, message: AreaMessage): void;
  toDrivers(message: HeatMapMessage): void;
}

export interface PricePoint {
  /** H3 cell (resolution 7), lower-case hex. */
  readonly cell: string;
  /** The multiplier shown from `at` on (1 when a surge ended). */
  readonly multiplier: number;
  readonly at: number;
}

/**
 * History of shown surge multipliers per cell (the `price_history` table).
 *
 * - `append` stores every point of the batch or none; resolves once durable. Points of one cell
 *   arrive in time order; appending a (cell, at) already present is a no-op (a retry is safe).
 */
export interface PriceHistory {
  append(points: readonly PricePoint[]): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Driver statistics (engine/driver-stats.ts)

/** What one counted event says about a driver (engine/driver-stats.ts maps events to these). */
export const DRIVER_STAT_KINDS = [
  "offered",
  "accepted",
  "declined",
  "timed_out",
  "cancelled_by_driver",
  "completed",
] as const;
export type DriverStatKind = (typeof DRIVER_STAT_KINDS)[number];

/** A driver's counters and the rates derived from them. */
export interface DriverStats {
  readonly offered: number;
  readonly accepted: number;
  readonly declined: number;
  readonly timedOut: number;
  readonly cancelledByDriver: number;
  readonly completed: number;
  /** accepted / offered; null while nothing was offered. */
  readonly acceptanceRate: number | null;
  /** cancelledByDriver / accepted; null while nothing was accepted. */
  readonly cancellationRate: number | null;
}

/**
 * Per-driver counts of offers and their outcomes, fed from the event stream (each event counts
 * at most once, so a redelivered or replayed event changes nothing).
 *
 * - `record(driverId, kind, eventId, at)` adds 1 to the driver's `kind` counter unless `eventId`
 *   was already recorded (whatever driver or kind it was recorded with: the first one wins).
 *   Atomic: concurrent calls, from any process, never lose or double a count. Resolves once
 *   durable. `at` is the event's time (kept for audits; it does not affect the figures).
 * - `get(driverId)` returns the current counters and rates: acceptanceRate = accepted / offered,
 *   cancellationRate = cancelledByDriver / accepted, each null when its denominator is 0. An
 *   unknown driver gets all zeros and null rates (never null, never an error).
 * - Rates are plain ratios of the counters, not clamped: events recorded out of order may
 *   briefly give more acceptances than offers.
 */
export interface DriverStatsStore {
  record(driverId: DriverId, kind: DriverStatKind, eventId: string, at: number): Promise<void>;
  get(driverId: DriverId): Promise<DriverStats>;
}
