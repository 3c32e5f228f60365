/**
 * The order state machine, pure: no I/O, no clock, no ids of its own. Given an order, a command,
 * the time and a fresh event id it returns the next order and the event, or throws a coded
 * DispatchError and leaves the input untouched. `rides.ts` adds storage, authorization, driver
 * holds and notifications around it.
 */
import { DispatchError, ErrorCode } from "./errors.js";
import type {
  Bill,
  CancelReason,
  DriverId,
  FeePolicy,
  IdempotencyKey,
  Order,
  OrderEvent,
  OrderEventPayloads,
  OrderEventType,
  OrderId,
  OrderState,
  Quote,
} from "./model.js";

export const ORDER_ACTIONS = [
  "offer",
  "decline",
  "offer_timeout",
  "accept",
  "depart",
  "arrive",
  "start",
  "complete",
  "cancel_by_rider",
  "cancel_by_driver",
  "no_show",
  "no_driver_found",
] as const;
export type OrderAction = (typeof ORDER_ACTIONS)[number];

/**
 * (from, action) -> to. Anything not listed is illegal. An order is created in `searching`.
 * `arrive` is allowed straight from `accepted` because a driver may already be at the pickup.
 */
export const TRANSITIONS: { readonly [S in OrderState]: { readonly [A in OrderAction]?: OrderState } } = {
  searching: { offer: "offered", cancel_by_rider: "cancelled", no_driver_found: "cancelled" },
  offered: {
    accept: "accepted",
    decline: "searching",
    offer_timeout: "searching",
    cancel_by_rider: "cancelled",
  },
  accepted: {
    depart: "driver_arriving",
    arrive: "arrived",
    cancel_by_rider: "cancelled",
    cancel_by_driver: "cancelled",
  },
  driver_arriving: { arrive: "arrived", cancel_by_rider: "cancelled", cancel_by_driver: "cancelled" },
  arrived: {
    start: "in_progress",
    cancel_by_rider: "cancelled",
    cancel_by_driver: "cancelled",
    no_show: "cancelled",
  },
  in_progress: { complete: "completed" },
  completed: {},
  cancelled: {},
};

/** The event each action emits. */
export const EVENT_OF: { readonly [A in OrderAction]: OrderEventType } = {
  offer: "order.offered",
  decline: "order.offer_declined",
  offer_timeout: "order.offer_timed_out",
  accept: "order.accepted",
  depart: "order.driver_arriving",
  arrive: "order.driver_arrived",
  start: "order.started",
  complete: "order.completed",
  cancel_by_rider: "order.cancelled",
  cancel_by_driver: "order.cancelled",
  no_show: "order.cancelled",
  no_driver_found: "order.cancelled",
};

export function nextState(from: OrderState, action: OrderAction): OrderState | null {
  return TRANSITIONS[from][action] ?? null;
}

export type OrderCommand =
  | {
      readonly action: "offer";
      readonly offerId: string;
      readonly driverId: DriverId;
      readonly expiresAt: number;
    }
  | { readonly action: "decline" }
  | { readonly action: "offer_timeout" }
  | { readonly action: "accept" }
  | { readonly action: "depart" }
  | { readonly action: "arrive" }
  | { readonly action: "start" }
  | {
      readonly action: "complete";
      readonly distanceM: number;
      readonly durationS: number;
      readonly tripFare: number;
    }
  | { readonly action: "cancel_by_rider" }
  | { readonly action: "cancel_by_driver" }
  | { readonly action: "no_show" }
  | { readonly action: "no_driver_found" };

export interface Step {
  readonly order: Order;
  readonly event: OrderEvent;
}

// ---------------------------------------------------------------------------------------------
// Fee rules. Every window is half-open: "inside" means elapsed < window.

const MINUTE_MS = 60_000;

/** Free before acceptance and while less than the window has passed since it; the fee after. */
export function cancellationFee(fees: FeePolicy, acceptedAt: number | null, now: number): number {
  if (acceptedAt === null) return 0;
  return now - acceptedAt < fees.freeCancelWindowMs ? 0 : fees.cancellationFee;
}

/** Per full minute waited beyond the free time, between arrival and start. */
export function waitingFee(fees: FeePolicy, arrivedAt: number, startedAt: number): number {
  const beyond = startedAt - arrivedAt - fees.freeWaitingMs;
  if (beyond < 0) return 0;
  return Math.floor(beyond / MINUTE_MS) * fees.waitingFeePerMinute;
}

/** The first instant the driver may cancel as no-show. */
export function noShowAllowedAt(fees: FeePolicy, arrivedAt: number): number {
  return arrivedAt + fees.noShowAfterMs;
}

function bill(
  currency: string,
  parts: Partial<Pick<Bill, "tripFare" | "waitingFee" | "cancellationFee" | "noShowFee">>,
): Bill {
  const tripFare = parts.tripFare ?? 0;
  const waiting = parts.waitingFee ?? 0;
  const cancel = parts.cancellationFee ?? 0;
  const noShow = parts.noShowFee ?? 0;
  return {
    currency,
    tripFare,
    waitingFee: waiting,
    cancellationFee: cancel,
    noShowFee: noShow,
    total: tripFare + waiting + cancel + noShow,
  };
}

// ---------------------------------------------------------------------------------------------
// Transitions

function event<T extends OrderEventType>(
  type: T,
  order: Order,
  id: string,
  at: number,
  payload: OrderEventPayloads[T],
): OrderEvent {
  return {
    id,
    type,
    orderId: order.id,
    version: order.version,
    state: order.state,
    at,
    payload,
  } as OrderEvent;
}

/** A fresh order in `searching`, made from a verified quote. */
export function createOrder(input: {
  readonly id: OrderId;
  readonly quote: Quote;
  readonly idempotencyKey: IdempotencyKey;
  readonly region: string;
  readonly fees: FeePolicy;
  readonly now: number;
  readonly eventId: string;
}): Step {
  const { quote, now } = input;
  const order: Order = {
    id: input.id,
    version: 1,
    state: "searching",
    riderId: quote.riderId,
    idempotencyKey: input.idempotencyKey,
    quoteId: quote.id,
    region: input.region,
    vehicleClass: quote.tariff.vehicleClass,
    pickup: quote.pickup,
    dropoff: quote.dropoff,
    estimate: { distanceM: quote.distanceM, durationS: quote.durationS, fare: quote.fare },
    tariff: quote.tariff,
    fees: input.fees,
    offer: null,
    driverId: null,
    acceptedOfferId: null,
    passedDriverIds: [],
    createdAt: now,
    updatedAt: now,
    acceptedAt: null,
    arrivedAt: null,
    startedAt: null,
    completedAt: null,
    cancelledAt: null,
    cancelReason: null,
    trip: null,
    bill: null,
    ratingByRider: null,
    ratingByDriver: null,
  };
  return {
    order,
    event: event("order.requested", order, input.eventId, now, {
      riderId: order.riderId,
      quoteId: order.quoteId,
      region: order.region,
      vehicleClass: order.vehicleClass,
      estimatedFare: quote.fare,
      currency: quote.tariff.currency,
    }),
  };
}

function illegal(order: Order, action: string): DispatchError {
  return new DispatchError(ErrorCode.IllegalTransition, `cannot ${action} an order that is ${order.state}`);
}

/**
 * Applies one command. Throws ILLEGAL_TRANSITION when the table has no entry, OFFER_EXPIRED for
 * an accept at or after the offer's expiry, TOO_EARLY for a timeout before it or a no-show before
 * the wait is over, INVALID_ARGUMENT for an offer that expires at or before `now`.
 */
export function applyCommand(order: Order, cmd: OrderCommand, now: number, eventId: string): Step {
  const to = nextState(order.state, cmd.action);
  if (to === null) throw illegal(order, cmd.action.replaceAll("_", " "));
  const base = { ...order, version: order.version + 1, state: to, updatedAt: now };
  const currency = order.tariff.currency;
  let next: Order;
  let ev: (o: Order) => OrderEvent;

  switch (cmd.action) {
    case "offer": {
      if (!(cmd.expiresAt > now)) {
        throw new DispatchError(
          ErrorCode.InvalidArgument,
          `offer expiresAt ${cmd.expiresAt} is not after now ${now}`,
        );
      }
      const offer = { id: cmd.offerId, driverId: cmd.driverId, offeredAt: now, expiresAt: cmd.expiresAt };
      next = { ...base, offer };
      ev = (o) =>
        event("order.offered", o, eventId, now, {
          driverId: offer.driverId,
          offerId: offer.id,
          expiresAt: offer.expiresAt,
        });
      break;
    }
    case "decline":
    case "offer_timeout": {
      const offer = order.offer!;
      if (cmd.action === "offer_timeout" && now < offer.expiresAt) {
        throw new DispatchError(
          ErrorCode.TooEarly,
          `offer ${offer.id} expires at ${offer.expiresAt}, now is ${now}`,
          {
            temporary: true,
          },
        );
      }
      next = { ...base, offer: null, passedDriverIds: [...order.passedDriverIds, offer.driverId] };
      const type = cmd.action === "decline" ? "order.offer_declined" : "order.offer_timed_out";
      ev = (o) => event(type, o, eventId, now, { driverId: offer.driverId, offerId: offer.id });
      break;
    }
    case "accept": {
      const offer = order.offer!;
      if (now >= offer.expiresAt) {
        throw new DispatchError(ErrorCode.OfferExpired, `offer ${offer.id} expired at ${offer.expiresAt}`);
      }
      next = { ...base, offer: null, driverId: offer.driverId, acceptedOfferId: offer.id, acceptedAt: now };
      ev = (o) => event("order.accepted", o, eventId, now, { driverId: offer.driverId, offerId: offer.id });
      break;
    }
    case "depart":
      next = base;
      ev = (o) => event("order.driver_arriving", o, eventId, now, { driverId: order.driverId! });
      break;
    case "arrive":
      next = { ...base, arrivedAt: now };
      ev = (o) => event("order.driver_arrived", o, eventId, now, { driverId: order.driverId! });
      break;
    case "start":
      next = { ...base, startedAt: now };
      ev = (o) => event("order.started", o, eventId, now, { driverId: order.driverId! });
      break;
    case "complete": {
      const b = bill(currency, {
        tripFare: cmd.tripFare,
        waitingFee: waitingFee(order.fees, order.arrivedAt!, order.startedAt!),
      });
      const trip = { distanceM: cmd.distanceM, durationS: cmd.durationS };
      next = { ...base, completedAt: now, trip, bill: b };
      ev = (o) => event("order.completed", o, eventId, now, { driverId: order.driverId!, ...trip, bill: b });
      break;
    }
    case "no_show": {
      const allowedAt = noShowAllowedAt(order.fees, order.arrivedAt!);
      if (now < allowedAt) {
        throw new DispatchError(
          ErrorCode.TooEarly,
          `no-show may be declared from ${allowedAt}, now is ${now}`,
          {
            temporary: true,
          },
        );
      }
      ({ next, ev } = cancelled(
        order,
        base,
        "no_show",
        bill(currency, { noShowFee: order.fees.noShowFee }),
        now,
        eventId,
      ));
      break;
    }
    case "cancel_by_rider": {
      const fee = cancellationFee(order.fees, order.acceptedAt, now);
      ({ next, ev } = cancelled(
        order,
        base,
        "by_rider",
        bill(currency, { cancellationFee: fee }),
        now,
        eventId,
      ));
      break;
    }
    case "cancel_by_driver":
      ({ next, ev } = cancelled(order, base, "by_driver", bill(currency, {}), now, eventId));
      break;
    case "no_driver_found":
      ({ next, ev } = cancelled(order, base, "no_driver_found", bill(currency, {}), now, eventId));
      break;
  }
  return { order: next, event: ev(next) };
}

function cancelled(
  order: Order,
  base: Order,
  reason: CancelReason,
  b: Bill,
  now: number,
  eventId: string,
): { next: Order; ev: (o: Order) => OrderEvent } {
  // A pending offer dies with the order; the offered driver did not pass on it.
  const next: Order = { ...base, offer: null, cancelledAt: now, cancelReason: reason, bill: b };
  return {
    next,
    ev: (o) => event("order.cancelled", o, eventId, now, { reason, driverId: order.driverId, bill: b }),
  };
}

/**
 * Records a rating. Only after completion (ILLEGAL_TRANSITION before) and once per side
 * (CONFLICT on the second). Who may rate is the caller's check.
 */
export function applyRating(
  order: Order,
  by: "rider" | "driver",
  stars: number,
  now: number,
  eventId: string,
): Step {
  if (order.state !== "completed") throw illegal(order, "rate");
  const field = by === "rider" ? "ratingByRider" : "ratingByDriver";
  if (order[field] !== null) {
    throw new DispatchError(ErrorCode.Conflict, `the ${by} already rated order ${order.id}`);
  }
  const next: Order = { ...order, version: order.version + 1, updatedAt: now, [field]: stars };
  return { order: next, event: event("order.rated", next, eventId, now, { by, stars }) };
}
