/**
 * The ride domain's data: ids, places, money, quotes, orders and their events. Plain data only
 * (no methods, no classes) so every storage adapter can persist it as it is and tests can compare
 * it with `toEqual`. Money is always an integer number of minor units (cents) of `currency`.
 */

declare const brand: unique symbol;
/** A string (or number) that passed validation at the edge; see `validate.ts`. */
export type Brand<T, B extends string> = T & { readonly [brand]: B };

export type RiderId = Brand<string, "RiderId">;
export type DriverId = Brand<string, "DriverId">;
export type OrderId = Brand<string, "OrderId">;
export type QuoteId = Brand<string, "QuoteId">;
export type IdempotencyKey = Brand<string, "IdempotencyKey">;

/** WGS84 degrees, finite, lat in [-90, 90], lng in [-180, 180] (checked by `latLng`). */
export interface LatLng {
  readonly lat: number;
  readonly lng: number;
}

/** Who does something to an order. The gateway builds it from the authenticated token. */
export type Actor =
  | { readonly role: "rider"; readonly id: RiderId }
  | { readonly role: "driver"; readonly id: DriverId };

/**
 * The price terms locked into a quote and then into the order: the final fare is computed from
 * these figures and the real track, whatever the fare model says by then.
 */
export interface Tariff {
  readonly vehicleClass: string;
  /** ISO 4217 code. */
  readonly currency: string;
  readonly baseFare: number;
  readonly perKm: number;
  readonly perMinute: number;
  /** Floor of the fare before surge. */
  readonly minimumFare: number;
  /** Surge as an integer in thousandths (1000 = x1.0) so the signed encoding stays exact. */
  readonly surgePermille: number;
}

/** Fee rules, snapshotted into each order when it is created so a config change never rewrites a ride. */
export interface FeePolicy {
  /** After acceptance the rider may cancel for free while less than this has passed. */
  readonly freeCancelWindowMs: number;
  readonly cancellationFee: number;
  /** Waiting at the pickup (arrived -> started) is free for this long. */
  readonly freeWaitingMs: number;
  /** Charged per full minute waited beyond the free time. */
  readonly waitingFeePerMinute: number;
  /** The driver may cancel as no-show once the rider is this late at the pickup. */
  readonly noShowAfterMs: number;
  readonly noShowFee: number;
}

/** What the rider owes for an order that ended. All amounts in minor units of `currency`. */
export interface Bill {
  readonly currency: string;
  readonly tripFare: number;
  readonly waitingFee: number;
  readonly cancellationFee: number;
  readonly noShowFee: number;
  readonly total: number;
}

/** A price offer to one rider for one trip; travels signed (see `QuoteSigner`). */
export interface Quote {
  readonly id: QuoteId;
  readonly riderId: RiderId;
  readonly pickup: LatLng;
  readonly dropoff: LatLng;
  /** Estimated route, whole metres and seconds. */
  readonly distanceM: number;
  readonly durationS: number;
  readonly tariff: Tariff;
  /** The estimated fare shown to the rider. */
  readonly fare: number;
  readonly issuedAt: number;
  /** Valid while `now < expiresAt`. */
  readonly expiresAt: number;
}

export const ORDER_STATES = [
  "searching",
  "offered",
  "accepted",
  "driver_arriving",
  "arrived",
  "in_progress",
  "completed",
  "cancelled",
] as const;
export type OrderState = (typeof ORDER_STATES)[number];

/** States in which the order has an assigned driver that has not finished yet. */
export const ASSIGNED_STATES: ReadonlySet<OrderState> = new Set([
  "accepted",
  "driver_arriving",
  "arrived",
  "in_progress",
]);
export const TERMINAL_STATES: ReadonlySet<OrderState> = new Set(["completed", "cancelled"]);

export type CancelReason = "by_rider" | "by_driver" | "no_driver_found" | "no_show";

/** The one outstanding offer of an order. `id` is unique per offer and also tags the driver's hold. */
export interface Offer {
  readonly id: string;
  readonly driverId: DriverId;
  readonly offeredAt: number;
  /** The driver may accept while `now < expiresAt`. */
  readonly expiresAt: number;
}

export interface Order {
  readonly id: OrderId;
  /** 1 on creation, +1 on every change; the compare-and-set key. */
  readonly version: number;
  readonly state: OrderState;
  readonly riderId: RiderId;
  readonly idempotencyKey: IdempotencyKey;
  readonly quoteId: QuoteId;
  /** Dispatch partition of the pickup (an H3 parent cell or a city). */
  readonly region: string;
  readonly vehicleClass: string;
  readonly pickup: LatLng;
  readonly dropoff: LatLng;
  readonly estimate: { readonly distanceM: number; readonly durationS: number; readonly fare: number };
  readonly tariff: Tariff;
  readonly fees: FeePolicy;
  /** Set exactly in state `offered`. */
  readonly offer: Offer | null;
  /** Set from `accepted` on and kept after the end, for history. */
  readonly driverId: DriverId | null;
  /** Id of the offer the driver accepted; tags the driver's active hold. */
  readonly acceptedOfferId: string | null;
  /** Drivers that declined or let an offer lapse, oldest first; the dispatcher skips them. */
  readonly passedDriverIds: readonly DriverId[];
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly acceptedAt: number | null;
  readonly arrivedAt: number | null;
  readonly startedAt: number | null;
  readonly completedAt: number | null;
  readonly cancelledAt: number | null;
  readonly cancelReason: CancelReason | null;
  /** The real track, reported at completion. */
  readonly trip: { readonly distanceM: number; readonly durationS: number } | null;
  /** Set when the order ends (completed or cancelled), total possibly 0. */
  readonly bill: Bill | null;
  /** Stars given by the rider (to the driver) and by the driver (to the rider). */
  readonly ratingByRider: number | null;
  readonly ratingByDriver: number | null;
}

export interface OrderEventPayloads {
  "order.requested": {
    readonly riderId: RiderId;
    readonly quoteId: QuoteId;
    readonly region: string;
    readonly vehicleClass: string;
    readonly estimatedFare: number;
    readonly currency: string;
  };
  "order.offered": { readonly driverId: DriverId; readonly offerId: string; readonly expiresAt: number };
  "order.offer_declined": { readonly driverId: DriverId; readonly offerId: string };
  "order.offer_timed_out": { readonly driverId: DriverId; readonly offerId: string };
  "order.accepted": { readonly driverId: DriverId; readonly offerId: string };
  "order.driver_arriving": { readonly driverId: DriverId };
  "order.driver_arrived": { readonly driverId: DriverId };
  "order.started": { readonly driverId: DriverId };
  "order.completed": {
    readonly driverId: DriverId;
    readonly distanceM: number;
    readonly durationS: number;
    readonly bill: Bill;
  };
  "order.cancelled": {
    readonly reason: CancelReason;
    readonly driverId: DriverId | null;
    readonly bill: Bill;
  };
  "order.rated": { readonly by: "rider" | "driver"; readonly stars: number };
}
export type OrderEventType = keyof OrderEventPayloads;

/**
 * One domain event. `id` is unique (a UUID) so consumers can de-duplicate; `version` is the
 * order's version after the change, so the events of one order are totally ordered by it.
 */
export type OrderEvent = {
  [T in OrderEventType]: {
    readonly id: string;
    readonly type: T;
    readonly orderId: OrderId;
    readonly version: number;
    /** The order's state after the change. */
    readonly state: OrderState;
    readonly at: number;
    readonly payload: OrderEventPayloads[T];
  };
}[OrderEventType];
