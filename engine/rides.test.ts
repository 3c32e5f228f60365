import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { memoryRideHarness, type RideHarness } from "../storage/memory/harness.js";
import { DispatchError } from "./errors.js";
import type { LogFields } from "./logger.js";
import type { DriverId, OrderId, OrderState } from "./model.js";
import { nextState, type OrderAction } from "./orders.js";
import { DEFAULT_FEES, rideConfig } from "./rides.js";
import type { DriverOrderView } from "./views.js";

const P = { lat: 52.52, lng: 13.405 };
const Q = { lat: 52.5, lng: 13.45 };
const FEES = DEFAULT_FEES;
const OFFER_MS = 15_000;
const rider = (id = "r1") => ({ role: "rider", id }) as const;
const driver = (id = "d1") => ({ role: "driver", id }) as const;
const key = () => randomUUID();

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(DispatchError);
    return (err as DispatchError).code;
  }
  return undefined;
}

async function requested(h: RideHarness, riderId = "r1") {
  const q = await h.service.quote(riderId, P, Q, "economy");
  return h.service.requestRide(riderId, q.token, key());
}

async function offered(h: RideHarness, driverId = "d1", riderId = "r1") {
  const o = await requested(h, riderId);
  const out = await h.service.offer(o.id, driverId, h.clock.now() + OFFER_MS);
  if (out.status !== "offered") throw new Error(`offer failed: ${out.status}`);
  return { id: o.id, offerId: out.offerId };
}

async function reach(h: RideHarness, state: OrderState, driverId = "d1") {
  if (state === "searching") return { id: (await requested(h)).id, offerId: "" };
  const o = await offered(h, driverId);
  const s = h.service;
  if (state === "offered") return o;
  if (state === "cancelled") {
    await s.cancel(rider(), o.id);
    return o;
  }
  await s.accept(driverId, o.id);
  if (state === "accepted") return o;
  await s.depart(driverId, o.id);
  if (state === "driver_arriving") return o;
  await s.arrived(driverId, o.id);
  if (state === "arrived") return o;
  await s.start(driverId, o.id);
  if (state === "in_progress") return o;
  await s.complete(driverId, o.id, { distanceM: 5000, durationS: 900 });
  return o;
}

/** Everything a refused call must leave untouched. */
async function snapshot(h: RideHarness, id: string) {
  return {
    order: await h.orders.get(id as OrderId),
    events: await h.events.readOrder(id as OrderId),
    held: h.drivers.held(),
    sent: h.notifier.sent.length,
  };
}

describe("the ride lifecycle", () => {
  it("goes quote -> request -> offer -> accept -> depart -> arrive -> start -> complete", async () => {
    const h = memoryRideHarness();
    const s = h.service;
    const q = await s.quote("r1", P, Q, "economy");
    expect(q).toMatchObject({
      vehicleClass: "economy",
      currency: "EUR",
      surge: 1,
      expiresAt: h.clock.now() + 300_000,
    });
    expect(q.fare).toBe(h.fares.price(h.fares.tariff("economy", 1)!, q.distanceM, q.durationS));

    const o = await s.requestRide("r1", q.token, key());
    expect(o).toMatchObject({ state: "searching", estimatedFare: q.fare, driverId: null, version: 1 });

    h.clock.advance(1000);
    const out = await s.offer(o.id, "d1", h.clock.now() + OFFER_MS);
    expect(out.status).toBe("offered");
    expect(((await s.getOrder(driver(), o.id)) as DriverOrderView).offerExpiresAt).toBe(
      h.clock.now() + OFFER_MS,
    );

    h.clock.advance(3000);
    const acc = await s.accept("d1", o.id);
    expect(acc).toMatchObject({ state: "accepted", riderId: "r1", acceptedAt: h.clock.now() });
    expect(h.drivers.held()).toMatchObject([{ driverId: "d1", hold: { kind: "active", orderId: o.id } }]);

    h.clock.advance(1000);
    expect((await s.depart("d1", o.id)).state).toBe("driver_arriving");
    h.clock.advance(240_000);
    const arr = await s.arrived("d1", o.id);
    expect(arr).toMatchObject({ state: "arrived", noShowAllowedAt: h.clock.now() + FEES.noShowAfterMs });
    h.clock.advance(FEES.freeWaitingMs + 2 * 60_000 + 30_000); // 2 full minutes beyond the free wait
    expect((await s.start("d1", o.id)).state).toBe("in_progress");
    h.clock.advance(900_000);
    const done = await s.complete("d1", o.id, { distanceM: 6100.4, durationS: 899.6 });
    const tariff = (await h.orders.get(o.id))!.tariff;
    const tripFare = h.fares.price(tariff, 6100, 900);
    expect(done.bill).toEqual({
      currency: "EUR",
      tripFare,
      waitingFee: 2 * FEES.waitingFeePerMinute,
      cancellationFee: 0,
      noShowFee: 0,
      total: tripFare + 2 * FEES.waitingFeePerMinute,
    });
    expect(done.trip).toEqual({ distanceM: 6100, durationS: 900 });
    expect(h.drivers.held()).toEqual([]);

    const events = await h.events.readOrder(o.id);
    expect(events.map((e) => e.type)).toEqual([
      "order.requested",
      "order.offered",
      "order.accepted",
      "order.driver_arriving",
      "order.driver_arrived",
      "order.started",
      "order.completed",
    ]);
    expect(events.map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(new Set(events.map((e) => e.id)).size).toBe(7);
    expect(events.at(-1)!.at).toBe(h.clock.now());

    // The rider hears of every transition, the driver of the ones concerning them, admins of all.
    const toRider = h.notifier.sent.filter((m) => m.to === "rider");
    expect(toRider.map((m) => m.to === "rider" && m.message.type === "order" && m.message.event)).toEqual(
      events.map((e) => e.type),
    );
    const toDriver = h.notifier.sent
      .filter((m) => m.to === "driver")
      .map((m) => m.to === "driver" && m.message);
    expect(toDriver.map((m) => m && (m.type === "order" ? m.event : m.type))).toEqual([
      "offer",
      "order.accepted",
      "order.driver_arriving",
      "order.driver_arrived",
      "order.started",
      "order.completed",
    ]);
    expect(h.notifier.sent.filter((m) => m.to === "admins")).toHaveLength(7);
  });

  it("a driver already at the pickup may arrive straight from accepted", async () => {
    const h = memoryRideHarness();
    const o = await reach(h, "accepted");
    expect((await h.service.arrived("d1", o.id)).state).toBe("arrived");
  });

  it("the final fare uses the tariff locked in the quote, not today's surge", async () => {
    const h = memoryRideHarness();
    h.surge.multiplier = 2;
    const q = await h.service.quote("r1", P, Q, "economy");
    expect(q.surge).toBe(2);
    const o = await h.service.requestRide("r1", q.token, key());
    h.surge.multiplier = 1;
    await h.service.offer(o.id, "d1", h.clock.now() + OFFER_MS);
    await h.service.accept("d1", o.id);
    await h.service.arrived("d1", o.id);
    await h.service.start("d1", o.id);
    const done = await h.service.complete("d1", o.id, { distanceM: 10_000, durationS: 1200 });
    // (250 + 1200 + 500) * 2
    expect(done.bill?.tripFare).toBe(3900);
  });
});

describe("every action in every state", () => {
  type Act = {
    action: OrderAction;
    run: (h: RideHarness, id: string, offerId: string) => Promise<unknown>;
    /** Dispatch hooks report refusals as data rather than throwing. */
    refusedAsData?: (result: unknown) => boolean;
    /** Repeating it once done answers with the current order and changes nothing. */
    idempotent?: boolean;
  };
  const acts: Act[] = [
    {
      action: "offer",
      run: (h, id) => h.service.offer(id, "d2", h.clock.now() + OFFER_MS),
      refusedAsData: (r) => (r as { status: string }).status !== "offered",
    },
    { action: "accept", run: (h, id) => h.service.accept("d1", id), idempotent: true },
    { action: "decline", run: (h, id) => h.service.decline("d1", id) },
    {
      action: "offer_timeout",
      run: async (h, id, offerId) => {
        h.clock.advance(OFFER_MS);
        return h.service.offerTimedOut(id, offerId || "no-offer");
      },
      refusedAsData: (r) => (r as { status: string }).status === "stale",
    },
    { action: "depart", run: (h, id) => h.service.depart("d1", id) },
    { action: "arrive", run: (h, id) => h.service.arrived("d1", id) },
    { action: "start", run: (h, id) => h.service.start("d1", id) },
    { action: "complete", run: (h, id) => h.service.complete("d1", id, { distanceM: 1000, durationS: 100 }) },
    { action: "cancel_by_rider", run: (h, id) => h.service.cancel(rider(), id) },
    { action: "cancel_by_driver", run: (h, id) => h.service.cancel(driver(), id) },
    {
      action: "no_show",
      run: async (h, id) => {
        h.clock.advance(FEES.noShowAfterMs);
        return h.service.cancel(driver(), id, { noShow: true });
      },
    },
    {
      action: "no_driver_found",
      run: (h, id) => h.service.noDriverFound(id),
      refusedAsData: (r) => (r as { status: string }).status === "stale",
    },
  ];
  const states: OrderState[] = [
    "searching",
    "offered",
    "accepted",
    "driver_arriving",
    "arrived",
    "in_progress",
    "completed",
    "cancelled",
  ];
  const cases = states.flatMap((s) => acts.map((a) => [s, a.action, a] as const));

  it.each(cases)("%s + %s follows the table", async (state, action, act) => {
    const h = memoryRideHarness();
    const o = await reach(h, state);
    const before = await snapshot(h, o.id);
    const legal = nextState(state, action);
    if (legal !== null) {
      const result = await act.run(h, o.id, o.offerId);
      expect(act.refusedAsData?.(result) ?? false).toBe(false);
      const after = (await h.orders.get(o.id as OrderId))!;
      expect(after.state).toBe(legal);
      expect(after.version).toBe(before.order!.version + 1);
      const events = await h.events.readOrder(o.id as OrderId);
      expect(events).toHaveLength(before.events.length + 1);
      expect(events.at(-1)!.state).toBe(legal);
      const riderHeard = h.notifier.sent.slice(before.sent).filter((m) => m.to === "rider");
      expect(riderHeard).toHaveLength(1);
      return;
    }
    let refusal: string;
    try {
      const result = await act.run(h, o.id, o.offerId);
      refusal = act.idempotent ? "replay" : "data";
      if (!act.idempotent) expect(act.refusedAsData?.(result)).toBe(true);
    } catch (err) {
      expect(err).toBeInstanceOf(DispatchError);
      refusal = (err as DispatchError).code;
    }
    expect(["data", "replay", "ILLEGAL_TRANSITION", "NOT_FOUND", "OFFER_EXPIRED"]).toContain(refusal);
    expect({ ...(await snapshot(h, o.id)), sent: 0 }).toEqual({ ...before, sent: 0 });
    expect(h.notifier.sent.length).toBe(before.sent);
  });
});

describe("quotes", () => {
  it("a tampered token is QUOTE_INVALID and stores nothing", async () => {
    const h = memoryRideHarness();
    const q = await h.service.quote("r1", P, Q, "economy");
    const [v, kid, payload, sig] = q.token.split(".") as [string, string, string, string];
    const data = JSON.parse(Buffer.from(payload, "base64url").toString());
    const cheap = Buffer.from(JSON.stringify({ ...data, fare: 1 })).toString("base64url");
    expect(await codeOf(h.service.requestRide("r1", `${v}.${kid}.${cheap}.${sig}`, key()))).toBe(
      "QUOTE_INVALID",
    );
    expect(await codeOf(h.service.requestRide("r1", `${q.token}x`, key()))).toBe("QUOTE_INVALID");
    expect(await codeOf(h.service.requestRide("r1", "not-a-token", key()))).toBe("QUOTE_INVALID");
    expect(await h.orders.listByRider("r1" as never, { limit: 10 })).toEqual([]);
  });

  it("valid 1 ms before expiry, QUOTE_EXPIRED at it", async () => {
    const h = memoryRideHarness();
    const a = await h.service.quote("r1", P, Q, "economy");
    const b = await h.service.quote("r1", P, Q, "economy");
    h.clock.advanceTo(a.expiresAt - 1);
    expect((await h.service.requestRide("r1", a.token, key())).state).toBe("searching");
    h.clock.advance(1);
    expect(await codeOf(h.service.requestRide("r1", b.token, key()))).toBe("QUOTE_EXPIRED");
  });

  it("a used quote cannot make a second order (QUOTE_USED)", async () => {
    const h = memoryRideHarness();
    const q = await h.service.quote("r1", P, Q, "economy");
    const o = await h.service.requestRide("r1", q.token, key());
    expect(await codeOf(h.service.requestRide("r1", q.token, key()))).toBe("QUOTE_USED");
    expect((await h.orders.listByRider("r1" as never, { limit: 10 })).map((x) => x.id)).toEqual([o.id]);
  });

  it("another rider's quote is FORBIDDEN", async () => {
    const h = memoryRideHarness();
    const q = await h.service.quote("r1", P, Q, "economy");
    expect(await codeOf(h.service.requestRide("r2", q.token, key()))).toBe("FORBIDDEN");
    expect(await h.orders.listByRider("r2" as never, { limit: 10 })).toEqual([]);
  });

  it("an unknown vehicle class is INVALID_ARGUMENT", async () => {
    const h = memoryRideHarness();
    expect(await codeOf(h.service.quote("r1", P, Q, "limousine"))).toBe("INVALID_ARGUMENT");
  });
});

describe("idempotent requests", () => {
  it("a replay returns the same order and changes nothing", async () => {
    const h = memoryRideHarness();
    const q = await h.service.quote("r1", P, Q, "economy");
    const k = key();
    const a = await h.service.requestRide("r1", q.token, k);
    const b = await h.service.requestRide("r1", q.token, k);
    expect(b).toEqual(a);
    expect(await h.events.readOrder(a.id)).toHaveLength(1);
  });

  it("concurrent replays make one order", async () => {
    const h = memoryRideHarness();
    const q = await h.service.quote("r1", P, Q, "economy");
    const k = key();
    const all = await Promise.all(Array.from({ length: 10 }, () => h.service.requestRide("r1", q.token, k)));
    expect(new Set(all.map((o) => o.id)).size).toBe(1);
    expect(await h.orders.listByRider("r1" as never, { limit: 20 })).toHaveLength(1);
    expect(h.events.all()).toHaveLength(1);
  });

  it("a replay after the quote expired still returns the order, as it is now", async () => {
    const h = memoryRideHarness();
    const q = await h.service.quote("r1", P, Q, "economy");
    const k = key();
    const a = await h.service.requestRide("r1", q.token, k);
    await h.service.cancel(rider(), a.id);
    h.clock.advance(3_600_000);
    expect(await h.service.requestRide("r1", q.token, k)).toMatchObject({ id: a.id, state: "cancelled" });
  });

  it("the same key with another quote is CONFLICT", async () => {
    const h = memoryRideHarness();
    const k = key();
    const q1 = await h.service.quote("r1", P, Q, "economy");
    const q2 = await h.service.quote("r1", P, Q, "comfort");
    await h.service.requestRide("r1", q1.token, k);
    expect(await codeOf(h.service.requestRide("r1", q2.token, k))).toBe("CONFLICT");
  });
});

describe("privacy and participants", () => {
  it("a rider can neither see nor cancel another rider's order (NOT_FOUND, unchanged)", async () => {
    const h = memoryRideHarness();
    const o = await requested(h, "r1");
    const before = await snapshot(h, o.id);
    expect(await codeOf(h.service.getOrder(rider("r2"), o.id))).toBe("NOT_FOUND");
    expect(await codeOf(h.service.cancel(rider("r2"), o.id))).toBe("NOT_FOUND");
    expect(await codeOf(h.service.getOrder(rider("r2"), "no-such-order"))).toBe("NOT_FOUND");
    expect(await snapshot(h, o.id)).toEqual(before);
    expect((await h.service.history(rider("r2"))).orders).toEqual([]);
  });

  it("a driver sees an order only while offered it or once assigned", async () => {
    const h = memoryRideHarness();
    const o = await offered(h, "d1");
    expect(await codeOf(h.service.getOrder(driver("d2"), o.id))).toBe("NOT_FOUND");
    expect(await codeOf(h.service.accept("d2", o.id))).toBe("NOT_FOUND");
    expect(await codeOf(h.service.arrived("d2", o.id))).toBe("NOT_FOUND");
    const offerView = await h.service.getOrder(driver("d1"), o.id);
    expect(offerView).toMatchObject({ state: "offered", riderId: null });
    await h.service.decline("d1", o.id);
    expect(await codeOf(h.service.getOrder(driver("d1"), o.id))).toBe("NOT_FOUND");
    await h.service.offer(o.id, "d2", h.clock.now() + OFFER_MS);
    await h.service.accept("d2", o.id);
    expect(await h.service.getOrder(driver("d2"), o.id)).toMatchObject({ state: "accepted", riderId: "r1" });
  });

  it("views leave out what the viewer may not see", async () => {
    const h = memoryRideHarness();
    const o = await reach(h, "completed");
    await h.service.rate(driver(), o.id, 2);
    const seen = await h.service.getOrder(rider(), o.id);
    const keys = Object.keys(seen);
    for (const hidden of [
      "passedDriverIds",
      "idempotencyKey",
      "ratingByDriver",
      "offer",
      "acceptedOfferId",
      "riderId",
    ]) {
      expect(keys).not.toContain(hidden);
    }
    expect(seen.myRating).toBeNull();
    expect(JSON.stringify(seen)).not.toContain('"stars"');
  });

  it("a rider's view never names the driver of a pending offer", async () => {
    const h = memoryRideHarness();
    // An id that no random UUID in the view can contain by chance ("d1" can: "cfd1-...").
    const o = await offered(h, "driver-of-a-pending-offer");
    const seen = await h.service.getOrder(rider(), o.id);
    expect(seen).toMatchObject({ state: "offered", driverId: null });
    expect(JSON.stringify(seen)).not.toContain("driver-of-a-pending-offer");
  });
});

describe("ratings", () => {
  it("only after completion, only participants, 1..5, once per side", async () => {
    const h = memoryRideHarness();
    const open = await reach(h, "in_progress");
    expect(await codeOf(h.service.rate(rider(), open.id, 5))).toBe("ILLEGAL_TRANSITION");
    await h.service.complete("d1", open.id, { distanceM: 1, durationS: 1 });
    expect(await codeOf(h.service.rate(rider("r2"), open.id, 5))).toBe("NOT_FOUND");
    expect(await codeOf(h.service.rate(driver("d2"), open.id, 5))).toBe("NOT_FOUND");
    for (const bad of [0, 6, 4.5, Number.NaN, "5" as unknown as number]) {
      expect(await codeOf(h.service.rate(rider(), open.id, bad))).toBe("INVALID_ARGUMENT");
    }
    expect(await h.service.rate(rider(), open.id, 5)).toMatchObject({ myRating: 5 });
    expect(await codeOf(h.service.rate(rider(), open.id, 4))).toBe("CONFLICT");
    expect(await h.service.rate(driver(), open.id, 3)).toMatchObject({ myRating: 3 });
    expect(await codeOf(h.service.rate(driver(), open.id, 3))).toBe("CONFLICT");
    const stored = (await h.orders.get(open.id as OrderId))!;
    expect(stored).toMatchObject({ ratingByRider: 5, ratingByDriver: 3 });
    expect(
      (await h.events.readOrder(open.id as OrderId)).filter((e) => e.type === "order.rated"),
    ).toHaveLength(2);
  });

  it("a cancelled order cannot be rated", async () => {
    const h = memoryRideHarness();
    const o = await reach(h, "accepted");
    await h.service.cancel(driver(), o.id);
    expect(await codeOf(h.service.rate(rider(), o.id, 1))).toBe("ILLEGAL_TRANSITION");
    expect(await codeOf(h.service.rate(driver(), o.id, 1))).toBe("ILLEGAL_TRANSITION");
  });
});

describe("fees through the service", () => {
  it("rider cancellation is free before acceptance, and until the window after it", async () => {
    const h = memoryRideHarness();
    const early = await offered(h);
    h.clock.advance(10_000);
    expect((await h.service.cancel(rider(), early.id)).bill?.total).toBe(0);

    const inside = await reach(h, "accepted");
    h.clock.advance(FEES.freeCancelWindowMs - 1);
    const a = await h.service.cancel(rider(), inside.id);
    expect(a.bill).toMatchObject({ cancellationFee: 0, total: 0 });

    const outside = await reach(h, "driver_arriving", "d2");
    h.clock.advance(FEES.freeCancelWindowMs);
    const b = await h.service.cancel(rider(), outside.id);
    expect(b).toMatchObject({ state: "cancelled", cancelReason: "by_rider" });
    expect(b.bill).toMatchObject({ cancellationFee: FEES.cancellationFee, total: FEES.cancellationFee });
  });

  it("the freeCancellationUntil the rider sees is the first charged instant", async () => {
    const h = memoryRideHarness();
    const o = await reach(h, "accepted");
    const view = await h.service.getOrder(rider(), o.id);
    expect(view).toMatchObject({ freeCancellationUntil: h.clock.now() + FEES.freeCancelWindowMs });
  });

  it("waiting fee: none 1 ms short of the first full paid minute, one minute at it", async () => {
    const h = memoryRideHarness();
    const a = await reach(h, "arrived");
    h.clock.advance(FEES.freeWaitingMs + 60_000 - 1);
    await h.service.start("d1", a.id);
    const da = await h.service.complete("d1", a.id, { distanceM: 0, durationS: 0 });
    expect(da.bill?.waitingFee).toBe(0);

    const b = await reach(h, "arrived");
    h.clock.advance(FEES.freeWaitingMs + 60_000);
    await h.service.start("d1", b.id);
    const db = await h.service.complete("d1", b.id, { distanceM: 0, durationS: 0 });
    expect(db.bill?.waitingFee).toBe(FEES.waitingFeePerMinute);
  });

  it("no-show: TOO_EARLY (temporary) 1 ms before, then allowed with the fee, driver freed", async () => {
    const h = memoryRideHarness();
    const o = await reach(h, "arrived");
    h.clock.advance(FEES.noShowAfterMs - 1);
    const before = await snapshot(h, o.id);
    await expect(h.service.cancel(driver(), o.id, { noShow: true })).rejects.toMatchObject({
      code: "TOO_EARLY",
      temporary: true,
    });
    expect(await snapshot(h, o.id)).toEqual(before);
    h.clock.advance(1);
    const done = await h.service.cancel(driver(), o.id, { noShow: true });
    expect(done).toMatchObject({ state: "cancelled", cancelReason: "no_show" });
    expect(done.bill).toMatchObject({ noShowFee: FEES.noShowFee, total: FEES.noShowFee });
    expect(h.drivers.held()).toEqual([]);
  });

  it("a driver's own cancellation costs the rider nothing", async () => {
    const h = memoryRideHarness();
    const o = await reach(h, "arrived");
    h.clock.advance(3_600_000);
    expect((await h.service.cancel(driver(), o.id)).bill).toMatchObject({ total: 0 });
  });

  it("fee values come from config and are snapshotted into the order", async () => {
    const h = memoryRideHarness({ config: { fees: { cancellationFee: 999, freeCancelWindowMs: 1000 } } });
    const o = await reach(h, "accepted");
    h.clock.advance(1000);
    expect((await h.service.cancel(rider(), o.id)).bill?.cancellationFee).toBe(999);
    expect(() => rideConfig({ fees: { noShowFee: -1 } })).toThrow(/fees.noShowFee/);
    expect(() => rideConfig({ quoteTtlMs: 1.5 })).toThrow(/quoteTtlMs/);
  });
});

describe("offers and driver holds", () => {
  it("a driver with a live offer or an active order is busy; a driver is freed by decline", async () => {
    const h = memoryRideHarness();
    const a = await offered(h, "d1");
    const b = await requested(h);
    expect(await h.service.offer(b.id, "d1", h.clock.now() + OFFER_MS)).toEqual({ status: "driver_busy" });
    await h.service.accept("d1", a.id);
    expect(await h.service.offer(b.id, "d1", h.clock.now() + OFFER_MS)).toEqual({ status: "driver_busy" });
    const c = await offered(h, "d2");
    await h.service.decline("d2", c.id);
    expect((await h.service.offer(b.id, "d2", h.clock.now() + OFFER_MS)).status).toBe("offered");
  });

  it("an order holds one offer at a time", async () => {
    const h = memoryRideHarness();
    const o = await offered(h, "d1");
    expect(await h.service.offer(o.id, "d2", h.clock.now() + OFFER_MS)).toEqual({
      status: "order_unavailable",
      state: "offered",
    });
    expect(h.drivers.held().map((x) => x.driverId)).toEqual(["d1"]);
  });

  it("timeout: TOO_EARLY before expiry; at expiry back to searching, driver told and freed", async () => {
    const h = memoryRideHarness();
    const o = await offered(h, "d1");
    h.clock.advance(OFFER_MS - 1);
    expect(await codeOf(h.service.offerTimedOut(o.id, o.offerId))).toBe("TOO_EARLY");
    h.clock.advance(1);
    expect(await codeOf(h.service.accept("d1", o.id))).toBe("OFFER_EXPIRED");
    const out = await h.service.offerTimedOut(o.id, o.offerId);
    expect(out.status === "timed_out" && out.order).toMatchObject({
      state: "searching",
      passedDriverIds: ["d1"],
    });
    expect(h.drivers.held()).toEqual([]);
    expect(h.notifier.sent.at(-1)).toMatchObject({
      to: "driver",
      id: "d1",
      message: { type: "offer_closed", reason: "timed_out", offerId: o.offerId },
    });
    expect(await codeOf(h.service.accept("d1", o.id))).toBe("OFFER_EXPIRED");
    expect(await h.service.offerTimedOut(o.id, o.offerId)).toEqual({ status: "stale" });
  });

  it("a stale timer of an older offer does not touch a newer one", async () => {
    const h = memoryRideHarness();
    const o = await offered(h, "d1");
    await h.service.decline("d1", o.id);
    const again = await h.service.offer(o.id, "d1", h.clock.now() + OFFER_MS);
    h.clock.advance(OFFER_MS - 1);
    expect(await h.service.offerTimedOut(o.id, o.offerId)).toEqual({ status: "stale" });
    expect(again.status === "offered" && (await h.service.accept("d1", o.id)).state).toBe("accepted");
  });

  it("an expired offer not yet timed out keeps the driver (conservative) until the timeout runs", async () => {
    const h = memoryRideHarness();
    const o = await offered(h, "d1");
    const b = await requested(h);
    h.clock.advance(OFFER_MS + 1);
    expect(await h.service.offer(b.id, "d1", h.clock.now() + OFFER_MS)).toEqual({ status: "driver_busy" });
    await h.service.offerTimedOut(o.id, o.offerId);
    expect((await h.service.offer(b.id, "d1", h.clock.now() + OFFER_MS)).status).toBe("offered");
  });

  it("rider cancellation of an offered order withdraws the offer and frees the driver", async () => {
    const h = memoryRideHarness();
    const o = await offered(h, "d1");
    await h.service.cancel(rider(), o.id);
    expect(h.drivers.held()).toEqual([]);
    expect(h.notifier.sent.filter((m) => m.to === "driver").at(-1)).toMatchObject({
      message: { type: "offer_closed", reason: "cancelled" },
    });
    expect(await codeOf(h.service.accept("d1", o.id))).toBe("NOT_FOUND");
  });

  it("accept is idempotent for the driver who got it, also when repeated concurrently", async () => {
    const h = memoryRideHarness();
    const o = await offered(h, "d1");
    const all = await Promise.all(Array.from({ length: 5 }, () => h.service.accept("d1", o.id)));
    expect(new Set(all.map((v) => v.state))).toEqual(new Set(["accepted"]));
    expect(
      (await h.events.readOrder(o.id as OrderId)).filter((e) => e.type === "order.accepted"),
    ).toHaveLength(1);
    expect(h.drivers.held()).toMatchObject([{ driverId: "d1", hold: { kind: "active" } }]);
  });

  it("offer expiry must be after now and within maxOfferMs", async () => {
    const h = memoryRideHarness();
    const o = await requested(h);
    const before = await snapshot(h, o.id);
    const now = h.clock.now();
    for (const bad of [now, now - 1, now + 60_001, Number.NaN, 1.5 + now]) {
      expect(await codeOf(h.service.offer(o.id, "d1", bad))).toBe("INVALID_ARGUMENT");
    }
    expect(await snapshot(h, o.id)).toEqual(before);
    expect(await codeOf(h.service.offer("no-such-order", "d1", now + 1000))).toBe("NOT_FOUND");
    expect(h.drivers.held()).toEqual([]);
  });

  it("no driver found cancels a searching order and tells the rider", async () => {
    const h = memoryRideHarness();
    const o = await requested(h);
    const out = await h.service.noDriverFound(o.id);
    expect(out.status === "cancelled" && out.order).toMatchObject({ cancelReason: "no_driver_found" });
    expect(h.notifier.sent.filter((m) => m.to === "rider").at(-1)).toMatchObject({
      message: { event: "order.cancelled", order: { cancelReason: "no_driver_found" } },
    });
    expect(await h.service.noDriverFound(o.id)).toEqual({ status: "stale", state: "cancelled" });
  });
});

describe("stale holds left by a crash", () => {
  const plant = async (
    h: RideHarness,
    d: string,
    hold: Parameters<RideHarness["drivers"]["compareAndSet"]>[2],
  ) => {
    const cur = await h.drivers.get(d as DriverId);
    await h.drivers.compareAndSet(d as DriverId, cur.version, hold);
  };

  it("an active hold on an order that no longer points at the driver is taken over (and logged)", async () => {
    const logs: string[] = [];
    const log = {
      debug() {},
      info() {},
      error() {},
      warn: (m: string, _f?: LogFields) => logs.push(m),
    };
    const h = memoryRideHarness({ log });
    const old = await requested(h);
    await h.service.cancel(rider(), old.id);
    await plant(h, "d1", { kind: "active", orderId: old.id, offerId: "ghost", expiresAt: null });
    const o = await requested(h);
    expect((await h.service.offer(o.id, "d1", h.clock.now() + OFFER_MS)).status).toBe("offered");
    expect(logs).toContain("took over a stale driver hold");
  });

  it("an unreferenced offer hold counts until it expires (it may be an offer being made)", async () => {
    const h = memoryRideHarness();
    const o = await requested(h);
    await plant(h, "d1", {
      kind: "offer",
      orderId: "elsewhere" as OrderId,
      offerId: "x",
      expiresAt: h.clock.now() + 5000,
    });
    expect(await h.service.offer(o.id, "d1", h.clock.now() + OFFER_MS)).toEqual({ status: "driver_busy" });
    h.clock.advance(5000);
    expect((await h.service.offer(o.id, "d1", h.clock.now() + OFFER_MS)).status).toBe("offered");
  });

  it("accept after the driver's hold vanished is OFFER_EXPIRED and changes nothing", async () => {
    const h = memoryRideHarness();
    const o = await offered(h, "d1");
    await plant(h, "d1", null);
    const before = await snapshot(h, o.id);
    expect(await codeOf(h.service.accept("d1", o.id))).toBe("OFFER_EXPIRED");
    expect(await snapshot(h, o.id)).toEqual(before);
  });
});

describe("history", () => {
  it("pages a rider's and a driver's orders newest first", async () => {
    const h = memoryRideHarness();
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      made.push((await reach(h, "completed")).id);
      h.clock.advance(1000);
    }
    await requested(h, "r2");
    const p1 = await h.service.history(rider(), { limit: 2 });
    const p2 = await h.service.history(rider(), { limit: 2, cursor: p1.next! });
    const p3 = await h.service.history(rider(), { limit: 2, cursor: p2.next! });
    expect([...p1.orders, ...p2.orders, ...p3.orders].map((o) => o.id)).toEqual([...made].reverse());
    expect(p3.next).toBeNull();
    const d = await h.service.history(driver(), { limit: 10 });
    expect(d.orders.map((o) => o.id)).toEqual([...made].reverse());
    expect((await h.service.history(driver("d9"))).orders).toEqual([]);
  });

  it("refuses a bad limit or cursor", async () => {
    const h = memoryRideHarness();
    expect(await codeOf(h.service.history(rider(), { limit: 0 }))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(h.service.history(rider(), { limit: 101 }))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(h.service.history(rider(), { cursor: "garbage!" }))).toBe("INVALID_ARGUMENT");
  });
});

describe("validation at the edge", () => {
  it("bad input gets a clear coded error and stores nothing", async () => {
    const h = memoryRideHarness();
    const s = h.service;
    const q = await s.quote("r1", P, Q, "economy");
    const cases: Array<[Promise<unknown>, string]> = [
      [s.quote("r1", { lat: Number.NaN, lng: 0 }, Q, "economy"), "INVALID_COORDINATE"],
      [s.quote("r1", P, { lat: 0, lng: 181 }, "economy"), "INVALID_COORDINATE"],
      [s.quote("r1", null as never, Q, "economy"), "INVALID_ARGUMENT"],
      [s.quote("", P, Q, "economy"), "INVALID_ARGUMENT"],
      [s.quote("r1", P, Q, "ECONOMY"), "INVALID_ARGUMENT"],
      [s.requestRide("r1", q.token, "short"), "INVALID_ARGUMENT"],
      [s.requestRide("r1", 42 as never, key()), "INVALID_ARGUMENT"],
      [s.requestRide("x".repeat(129), q.token, key()), "INVALID_ARGUMENT"],
      [s.cancel({ role: "admin", id: "a" } as never, "o1"), "INVALID_ARGUMENT"],
      [s.getOrder(rider(), "bad id"), "INVALID_ARGUMENT"],
      [s.complete("d1", "o1", { distanceM: -1, durationS: 1 }), "INVALID_ARGUMENT"],
      [s.complete("d1", "o1", { distanceM: 1, durationS: Number.POSITIVE_INFINITY }), "INVALID_ARGUMENT"],
      [s.complete("d1", "o1", null as never), "INVALID_ARGUMENT"],
      [s.offerTimedOut("o1", ""), "INVALID_ARGUMENT"],
    ];
    for (const [p, code] of cases) expect(await codeOf(p)).toBe(code);
    expect(await codeOf(s.quote("r1", { lat: 91, lng: 0 }, Q, "economy"))).toBe("INVALID_COORDINATE");
    await expect(s.quote("r1", { lat: 91, lng: 0 }, Q, "economy")).rejects.toThrow(/pickup\.lat/);
    expect(h.events.all()).toEqual([]);
    expect(h.notifier.sent).toEqual([]);
  });
});

describe("failing neighbours", () => {
  it("a throwing notifier or a failing event log does not undo or fail a transition", async () => {
    const errors: string[] = [];
    const log = {
      debug() {},
      info() {},
      warn: (m: string) => errors.push(m),
      error: (m: string) => errors.push(m),
    };
    const h = memoryRideHarness({
      log,
      wrap: (port, name) =>
        name !== "events"
          ? port
          : ({
              append: async () => {
                throw new DispatchError("UNAVAILABLE", "log down", { temporary: true });
              },
              readOrder: async () => [],
            } as unknown as typeof port),
    });
    h.notifier.onRider("r1", () => {
      throw new Error("socket gone");
    });
    const o = await requested(h);
    expect((await h.orders.get(o.id))!.state).toBe("searching");
    expect(errors).toContain("event append failed");
    expect(errors).toContain("notification listener threw");
  });
});
