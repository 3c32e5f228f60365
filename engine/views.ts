/**
 * What each participant may see of an order. The stored record holds things no single user may
 * see (other drivers that passed on the order, the rating the other side gave, the idempotency
 * key), so nothing leaves the engine except through these projections.
 */
import type { Bill, CancelReason, DriverId, LatLng, Order, OrderId, OrderState, RiderId } from "./model.js";

interface CommonView {
  readonly id: OrderId;
  readonly state: OrderState;
  readonly version: number;
  readonly vehicleClass: string;
  readonly pickup: LatLng;
  readonly dropoff: LatLng;
  readonly currency: string;
  readonly estimatedFare: number;
  readonly estimatedDistanceM: number;
  readonly estimatedDurationS: number;
  readonly createdAt: number;
  readonly acceptedAt: number | null;
  readonly arrivedAt: number | null;
  readonly startedAt: number | null;
  readonly completedAt: number | null;
  readonly cancelledAt: number | null;
  readonly cancelReason: CancelReason | null;
  readonly trip: { readonly distanceM: number; readonly durationS: number } | null;
  readonly bill: Bill | null;
}

export interface RiderOrderView extends CommonView {
  /** The assigned driver (from acceptance on); never the driver of a pending offer. */
  readonly driverId: DriverId | null;
  /** Until this time (exclusive) the rider may cancel for free; null before acceptance (always free). */
  readonly freeCancellationUntil: number | null;
  /** The stars this rider gave, if any. */
  readonly myRating: number | null;
}

export interface DriverOrderView extends CommonView {
  /** Only once this driver is assigned; an offer shows the trip, not the person. */
  readonly riderId: RiderId | null;
  /** Set while this driver holds the order's offer. */
  readonly offerExpiresAt: number | null;
  /** From this time on the driver may cancel as no-show; set once arrived. */
  readonly noShowAllowedAt: number | null;
  /** The stars this driver gave, if any. */
  readonly myRating: number | null;
}

function common(o: Order): CommonView {
  return {
    id: o.id,
    state: o.state,
    version: o.version,
    vehicleClass: o.vehicleClass,
    pickup: o.pickup,
    dropoff: o.dropoff,
    currency: o.tariff.currency,
    estimatedFare: o.estimate.fare,
    estimatedDistanceM: o.estimate.distanceM,
    estimatedDurationS: o.estimate.durationS,
    createdAt: o.createdAt,
    acceptedAt: o.acceptedAt,
    arrivedAt: o.arrivedAt,
    startedAt: o.startedAt,
    completedAt: o.completedAt,
    cancelledAt: o.cancelledAt,
    cancelReason: o.cancelReason,
    trip: o.trip,
    bill: o.bill,
  };
}

export function riderView(o: Order): RiderOrderView {
  return {
    ...common(o),
    driverId: o.driverId,
    freeCancellationUntil: o.acceptedAt === null ? null : o.acceptedAt + o.fees.freeCancelWindowMs,
    myRating: o.ratingByRider,
  };
}

/** The view for `driverId`; callers have checked the driver may see the order at all. */
export function driverView(o: Order, driverId: DriverId): DriverOrderView {
  const offered = o.offer !== null && o.offer.driverId === driverId;
  const assigned = o.driverId === driverId;
  return {
    ...common(o),
    riderId: assigned ? o.riderId : null,
    offerExpiresAt: offered ? o.offer!.expiresAt : null,
    noShowAllowedAt: assigned && o.arrivedAt !== null ? o.arrivedAt + o.fees.noShowAfterMs : null,
    myRating: assigned ? o.ratingByDriver : null,
  };
}
