import { describe, expect, it } from "vitest";
import { sampleOrder } from "./contracts/fixtures.js";
import { DispatchError } from "./errors.js";
import { type DriverId, ORDER_STATES, type Order, type OrderState } from "./model.js";
import {
  applyCommand,
  applyRating,
  cancellationFee,
  EVENT_OF,
  nextState,
  noShowAllowedAt,
  ORDER_ACTIONS,
  type OrderAction,
  type OrderCommand,
  TRANSITIONS,
  waitingFee,
} from "./orders.js";

const T0 = 1_700_000_000_000;
const D = "driver-1" as DriverId;
const fees = sampleOrder().fees;

/** An order as it looks in `state` after the usual path there. */
function orderIn(state: OrderState): Order {
  const o = sampleOrder({ state, createdAt: T0 - 60_000, updatedAt: T0 - 60_000 });
  const offer = { id: "offer-1", driverId: D, offeredAt: T0 - 1000, expiresAt: T0 + 10_000 };
  switch (state) {
    case "searching":
      return o;
    case "offered":
      return { ...o, version: 2, offer };
    case "accepted":
    case "driver_arriving":
      return { ...o, version: 3, driverId: D, acceptedOfferId: "offer-1", acceptedAt: T0 - 500 };
    case "arrived":
      return {
        ...o,
        version: 4,
        driverId: D,
        acceptedOfferId: "offer-1",
        acceptedAt: T0 - 500,
        arrivedAt: T0 - 400_000,
      };
    case "in_progress":
    case "completed":
      return {
        ...o,
        version: 5,
        driverId: D,
        acceptedOfferId: "offer-1",
        acceptedAt: T0 - 900_000,
        arrivedAt: T0 - 800_000,
        startedAt: T0 - 700_000,
      };
    case "cancelled":
      return { ...o, version: 2, cancelledAt: T0 - 10, cancelReason: "by_rider" };
  }
}

function commandFor(action: OrderAction): OrderCommand {
  switch (action) {
    case "offer":
      return { action, offerId: "offer-2", driverId: D, expiresAt: T0 + 15_000 };
    case "complete":
      return { action, distanceM: 5200, durationS: 780, tripFare: 1234 };
    default:
      return { action } as OrderCommand;
  }
}

/** A time at which the action's own guard (expiry, no-show wait) passes. */
function nowFor(action: OrderAction): number {
  return action === "offer_timeout" ? T0 + 10_000 : T0;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DispatchError);
    return (err as DispatchError).code;
  }
  return undefined;
}

describe("transition table", () => {
  it("matches the documented lifecycle", () => {
    expect(TRANSITIONS).toMatchInlineSnapshot(`
      {
        "accepted": {
          "arrive": "arrived",
          "cancel_by_driver": "cancelled",
          "cancel_by_rider": "cancelled",
          "depart": "driver_arriving",
        },
        "arrived": {
          "cancel_by_driver": "cancelled",
          "cancel_by_rider": "cancelled",
          "no_show": "cancelled",
          "start": "in_progress",
        },
        "cancelled": {},
        "completed": {},
        "driver_arriving": {
          "arrive": "arrived",
          "cancel_by_driver": "cancelled",
          "cancel_by_rider": "cancelled",
        },
        "in_progress": {
          "complete": "completed",
        },
        "offered": {
          "accept": "accepted",
          "cancel_by_rider": "cancelled",
          "decline": "searching",
          "offer_timeout": "searching",
        },
        "searching": {
          "cancel_by_rider": "cancelled",
          "no_driver_found": "cancelled",
          "offer": "offered",
        },
      }
    `);
  });

  const pairs = ORDER_STATES.flatMap((s) => ORDER_ACTIONS.map((a) => [s, a] as const));

  it.each(pairs.filter(([s, a]) => nextState(s, a) !== null))(
    "%s --%s--> legal: next state, version + 1, one event with a fresh id",
    (state, action) => {
      const before = orderIn(state);
      const frozen = structuredClone(before);
      const now = nowFor(action);
      const { order, event } = applyCommand(before, commandFor(action), now, "event-id-1");
      expect(before).toEqual(frozen);
      expect(order.state).toBe(nextState(state, action));
      expect(order.version).toBe(before.version + 1);
      expect(order.updatedAt).toBe(now);
      expect(event).toMatchObject({
        id: "event-id-1",
        type: EVENT_OF[action],
        orderId: before.id,
        version: order.version,
        state: order.state,
        at: now,
      });
      // Shape invariants of every state.
      expect(order.offer !== null).toBe(order.state === "offered");
      if (["accepted", "driver_arriving", "arrived", "in_progress", "completed"].includes(order.state)) {
        expect(order.driverId).toBe(D);
      }
      if (order.state === "completed" || order.state === "cancelled") expect(order.bill).not.toBeNull();
    },
  );

  it.each(pairs.filter(([s, a]) => nextState(s, a) === null))(
    "%s --%s--> illegal: ILLEGAL_TRANSITION, input untouched",
    (state, action) => {
      const before = orderIn(state);
      const frozen = structuredClone(before);
      expect(codeOf(() => applyCommand(before, commandFor(action), nowFor(action), "e"))).toBe(
        "ILLEGAL_TRANSITION",
      );
      expect(before).toEqual(frozen);
    },
  );
});

describe("transition details", () => {
  it("offer records the offer; it must expire after now", () => {
    const o = orderIn("searching");
    const { order, event } = applyCommand(o, commandFor("offer"), T0, "e");
    expect(order.offer).toEqual({ id: "offer-2", driverId: D, offeredAt: T0, expiresAt: T0 + 15_000 });
    expect(event.payload).toEqual({ driverId: D, offerId: "offer-2", expiresAt: T0 + 15_000 });
    const late = { action: "offer", offerId: "x", driverId: D, expiresAt: T0 } as const;
    expect(codeOf(() => applyCommand(o, late, T0, "e"))).toBe("INVALID_ARGUMENT");
  });

  it("accept is allowed just before expiry and refused at it", () => {
    const o = orderIn("offered");
    const { order } = applyCommand(o, { action: "accept" }, T0 + 9_999, "e");
    expect(order).toMatchObject({
      driverId: D,
      acceptedOfferId: "offer-1",
      acceptedAt: T0 + 9_999,
      offer: null,
    });
    expect(codeOf(() => applyCommand(o, { action: "accept" }, T0 + 10_000, "e"))).toBe("OFFER_EXPIRED");
  });

  it("an offer times out at its expiry, not a millisecond before (TOO_EARLY, temporary)", () => {
    const o = orderIn("offered");
    try {
      applyCommand(o, { action: "offer_timeout" }, T0 + 9_999, "e");
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code: "TOO_EARLY", temporary: true });
    }
    const { order } = applyCommand(o, { action: "offer_timeout" }, T0 + 10_000, "e");
    expect(order).toMatchObject({ state: "searching", offer: null, passedDriverIds: [D] });
  });

  it("decline puts the order back to searching and remembers the driver", () => {
    const { order, event } = applyCommand(orderIn("offered"), { action: "decline" }, T0, "e");
    expect(order).toMatchObject({ state: "searching", offer: null, passedDriverIds: [D], driverId: null });
    expect(event.payload).toEqual({ driverId: D, offerId: "offer-1" });
  });

  it("a rider cancelling an offered order does not count the driver as passed", () => {
    const { order } = applyCommand(orderIn("offered"), { action: "cancel_by_rider" }, T0, "e");
    expect(order).toMatchObject({
      state: "cancelled",
      offer: null,
      passedDriverIds: [],
      cancelReason: "by_rider",
    });
  });

  it("complete bills the trip fare plus the waiting fee", () => {
    const o = orderIn("in_progress"); // waited 100 s: free
    const { order, event } = applyCommand(o, commandFor("complete"), T0, "e");
    expect(order.bill).toEqual({
      currency: "EUR",
      tripFare: 1234,
      waitingFee: 0,
      cancellationFee: 0,
      noShowFee: 0,
      total: 1234,
    });
    expect(order.trip).toEqual({ distanceM: 5200, durationS: 780 });
    expect(event.type === "order.completed" && event.payload.bill.total).toBe(1234);
    const waited = { ...o, startedAt: o.arrivedAt! + fees.freeWaitingMs + 2 * 60_000 + 5 };
    expect(applyCommand(waited, commandFor("complete"), T0, "e").order.bill).toMatchObject({
      waitingFee: 100,
      total: 1334,
    });
  });

  it("cancellations carry reason, driver and bill in the event", () => {
    const { event } = applyCommand(orderIn("accepted"), { action: "cancel_by_driver" }, T0, "e");
    expect(event).toMatchObject({
      type: "order.cancelled",
      payload: { reason: "by_driver", driverId: D, bill: { total: 0 } },
    });
  });
});

describe("fee rules at their boundaries", () => {
  const accepted = T0;

  it("cancellation: free before acceptance whatever the time", () => {
    expect(cancellationFee(fees, null, T0 + 10 * 3_600_000)).toBe(0);
  });

  it("cancellation: free 1 ms inside the window, charged at the window", () => {
    expect(cancellationFee(fees, accepted, accepted + fees.freeCancelWindowMs - 1)).toBe(0);
    expect(cancellationFee(fees, accepted, accepted + fees.freeCancelWindowMs)).toBe(fees.cancellationFee);
  });

  it("cancellation through the machine: inside the window free, outside the fee", () => {
    const o = { ...orderIn("accepted"), acceptedAt: accepted };
    const inside = applyCommand(
      o,
      { action: "cancel_by_rider" },
      accepted + fees.freeCancelWindowMs - 1,
      "e",
    );
    expect(inside.order.bill).toMatchObject({ cancellationFee: 0, total: 0 });
    const outside = applyCommand(o, { action: "cancel_by_rider" }, accepted + fees.freeCancelWindowMs, "e");
    expect(outside.order.bill).toMatchObject({ cancellationFee: 500, total: 500 });
  });

  it("waiting: nothing during the free time, per full minute after it", () => {
    const arrived = T0;
    const free = fees.freeWaitingMs;
    expect(waitingFee(fees, arrived, arrived)).toBe(0);
    expect(waitingFee(fees, arrived, arrived + free - 1)).toBe(0);
    expect(waitingFee(fees, arrived, arrived + free)).toBe(0);
    expect(waitingFee(fees, arrived, arrived + free + 59_999)).toBe(0);
    expect(waitingFee(fees, arrived, arrived + free + 60_000)).toBe(50);
    expect(waitingFee(fees, arrived, arrived + free + 10 * 60_000 + 1)).toBe(500);
  });

  it("no-show: TOO_EARLY 1 ms before the wait is over, allowed at it, with the fee", () => {
    const o = { ...orderIn("arrived"), arrivedAt: T0 };
    const at = noShowAllowedAt(fees, T0);
    expect(at).toBe(T0 + fees.noShowAfterMs);
    expect(codeOf(() => applyCommand(o, { action: "no_show" }, at - 1, "e"))).toBe("TOO_EARLY");
    const { order } = applyCommand(o, { action: "no_show" }, at, "e");
    expect(order).toMatchObject({ state: "cancelled", cancelReason: "no_show" });
    expect(order.bill).toMatchObject({ noShowFee: 500, total: 500 });
  });
});

describe("ratings", () => {
  it("only after completion", () => {
    for (const s of ORDER_STATES.filter((x) => x !== "completed")) {
      expect(codeOf(() => applyRating(orderIn(s), "rider", 5, T0, "e"))).toBe("ILLEGAL_TRANSITION");
    }
  });

  it("once per side; each side independent; emits order.rated", () => {
    const done = orderIn("completed");
    const a = applyRating(done, "rider", 4, T0, "e1");
    expect(a.order).toMatchObject({ ratingByRider: 4, ratingByDriver: null, version: done.version + 1 });
    expect(a.event).toMatchObject({
      type: "order.rated",
      payload: { by: "rider", stars: 4 },
      version: a.order.version,
    });
    expect(codeOf(() => applyRating(a.order, "rider", 5, T0, "e2"))).toBe("CONFLICT");
    const b = applyRating(a.order, "driver", 2, T0, "e3");
    expect(b.order).toMatchObject({ ratingByRider: 4, ratingByDriver: 2 });
    expect(codeOf(() => applyRating(b.order, "driver", 2, T0, "e4"))).toBe("CONFLICT");
  });
});
