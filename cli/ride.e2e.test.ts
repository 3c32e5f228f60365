/**
 * One full ride end to end over real sockets, through the composed engine as `dispatch serve`
 * runs it (embedded defaults, no external services): a driver goes online and streams fixes over
 * the driver WebSocket, a rider quotes and orders over HTTP and watches the order on Socket.IO,
 * the dispatch loop offers the order, the driver accepts, drives to the pickup (the rider sees the
 * ETA fall), picks up, drives to the dropoff and completes; the bill comes from the real track
 * and both sides rate each other.
 *
 * No timed assertions: every wait is generous and names what it waited for.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { silentLogger } from "../engine/logger.js";
import { DriverClient, type WebSocketLike } from "../sdk/driver.js";
import { RiderClient } from "../sdk/rider.js";
import { signIn } from "../test/support/sessions.js";
import { compose, type Running } from "./compose.js";
import { defaults } from "./config.js";

type Json = Record<string, unknown>;

let running: Running;
let base: string;

beforeAll(async () => {
  running = await compose({ ...defaults, port: 0, dataDir: ":memory:" }, silentLogger);
  base = `http://127.0.0.1:${running.gateway.port}`;
});
afterAll(() => running?.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `cond` holds; fails with `what` after `ms`. */
async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** Moves `from` towards `to` by at most `stepM` metres (flat-earth: fine over a few km). */
function stepTowards(from: { lat: number; lng: number }, to: { lat: number; lng: number }, stepM: number) {
  const mPerDegLat = 111_320;
  const mPerDegLng = 111_320 * Math.cos((from.lat * Math.PI) / 180);
  const dy = (to.lat - from.lat) * mPerDegLat;
  const dx = (to.lng - from.lng) * mPerDegLng;
  const d = Math.hypot(dx, dy);
  if (d <= stepM) return { at: { ...to }, remainingM: 0 };
  const f = stepM / d;
  return {
    at: { lat: from.lat + (dy * f) / mPerDegLat, lng: from.lng + (dx * f) / mPerDegLng },
    remainingM: d - stepM,
  };
}

describe("a full ride over real sockets", () => {
  it("quote, order, offer, accept, live ETA, pickup, trip, completion with a bill, ratings", async () => {
    const pickup = { lat: 41.8781, lng: -87.6298 };
    const dropoff = { lat: 41.8835, lng: -87.6298 }; // ~600 m north
    let pos = { lat: 41.8745, lng: -87.6298 }; // ~400 m south of the pickup
    let t = Date.now();
    const speed = 40; // m/s: brisk for a test, well under the index's jump limit
    const periodMs = 200;

    // ----- the driver goes online near the pickup ---------------------------------------------
    const d = await signIn(running, "+13125550101", "driver");
    const driver = new DriverClient({
      url: `ws://127.0.0.1:${running.gateway.port}`,
      getToken: async () => d.token,
      webSocket: (u) => new WebSocket(u) as unknown as WebSocketLike,
    });
    const offers: Json[] = [];
    const driverPushes: Json[] = [];
    driver.on("offer", (m) => offers.push(m));
    driver.on("order", (m) => driverPushes.push(m));
    expect(await driver.connect()).toMatchObject({ type: "welcome", driverId: d.id });
    const fix = async () => {
      t = Math.max(t + 1, Date.now());
      const ack = await driver.request({ type: "fix", lat: pos.lat, lng: pos.lng, t, speed });
      expect(ack, "the index applied the fix").toMatchObject({ applied: 1, dropped: 0 });
    };
    await fix();
    expect(await driver.setStatus("online")).toMatchObject({ type: "ack" });
    await fix();

    // ----- the rider quotes, orders and watches -------------------------------------------------
    const r = await signIn(running, "+17735550102");
    const rider = new RiderClient({ url: base, getToken: async () => r.token });
    await rider.connect();
    const updates: Json[] = [];
    const etas: Json[] = [];
    rider.on("order.update", (m) => updates.push(m));
    rider.on("eta", (m) => etas.push(m));
    const quote = await rider.quote(pickup, dropoff);
    expect(quote).toMatchObject({ currency: expect.any(String), fare: expect.any(Number) });
    const order = (await rider.order(quote.token as string)) as Json & { id: string };
    expect(order.state).toBe("searching");
    expect(await rider.watchOrder(order.id)).toMatchObject({ ok: true });

    // ----- the offer arrives within a dispatch window or a few; the driver accepts --------------
    await until("the driver's offer push", () => offers.length > 0, 15_000);
    const offer = offers[0] as { order: { id: string }; offerId: string; expiresAt: number };
    expect(offer.order.id).toBe(order.id);
    expect(offer.offerId).toEqual(expect.any(String));
    const accepted = await driver.acceptOffer(order.id);
    expect(accepted).toMatchObject({
      type: "ack",
      result: { id: order.id, state: "accepted", riderId: r.id },
    });
    const stateSeen = (state: string) => () =>
      updates.some((u) => (u.order as Json | undefined)?.state === state);
    await until("the rider's order.update 'accepted'", stateSeen("accepted"));

    // ----- the driver drives to the pickup; the rider's ETA falls ------------------------------
    for (let left = Number.POSITIVE_INFINITY; left > 0; ) {
      const s = stepTowards(pos, pickup, (speed * periodMs) / 1000);
      pos = s.at;
      left = s.remainingM;
      await fix();
      await sleep(periodMs);
    }
    await until("at least three pickup ETA pushes", () => etas.filter((e) => e.leg === "pickup").length >= 3);
    const pickupEtas = etas.filter((e) => e.leg === "pickup") as unknown as {
      orderId: string;
      etaS: number;
      distanceM: number;
      at: number;
    }[];
    expect(pickupEtas.every((e) => e.orderId === order.id)).toBe(true);
    expect(pickupEtas.at(-1)!.etaS, "the ETA to the pickup falls as the driver approaches").toBeLessThan(
      pickupEtas[0]!.etaS,
    );
    expect(pickupEtas.at(-1)!.distanceM).toBeLessThan(pickupEtas[0]!.distanceM);
    for (let i = 1; i < pickupEtas.length; i++) {
      expect(pickupEtas[i]!.at, "ETA pushes never go back to older fixes").toBeGreaterThanOrEqual(
        pickupEtas[i - 1]!.at,
      );
    }

    // ----- arrived, started, the trip, completed -------------------------------------------------
    expect(await driver.arrived(order.id)).toMatchObject({ result: { state: "arrived" } });
    await until("the rider's order.update 'arrived'", stateSeen("arrived"));
    expect(await driver.started(order.id)).toMatchObject({ result: { state: "in_progress" } });
    await until("the rider's order.update 'in_progress'", stateSeen("in_progress"));
    for (let left = Number.POSITIVE_INFINITY; left > 0; ) {
      const s = stepTowards(pos, dropoff, (speed * periodMs) / 1000);
      pos = s.at;
      left = s.remainingM;
      await fix();
      await sleep(periodMs);
    }
    await until("a dropoff ETA push", () => etas.some((e) => e.leg === "dropoff"));
    const done = await driver.completed(order.id);
    expect(done).toMatchObject({ result: { state: "completed" } });
    await until("the rider's order.update 'completed'", stateSeen("completed"));

    // Every state change reached the rider, in order.
    const states = updates
      .map((u) => (u.order as Json).state as string)
      .filter((s, i, all) => i === 0 || all[i - 1] !== s);
    const wanted = ["accepted", "arrived", "in_progress", "completed"];
    expect(states.filter((s) => wanted.includes(s))).toEqual(wanted);
    expect(driverPushes.length, "the driver's socket saw its order change too").toBeGreaterThan(0);

    // ----- the bill is priced on the real track --------------------------------------------------
    const final = (await rider.get(order.id)) as Json & {
      trip: { distanceM: number; durationS: number };
      bill: { total: number; tripFare: number; currency: string };
    };
    expect(final.state).toBe("completed");
    // ~600 m driven (the track counts steps of at least 10 m, so allow some slack either way).
    expect(final.trip.distanceM).toBeGreaterThan(450);
    expect(final.trip.distanceM).toBeLessThan(800);
    expect(final.trip.durationS).toBeGreaterThan(0);
    expect(final.bill.tripFare).toBeGreaterThan(0);
    expect(final.bill.total).toBeGreaterThanOrEqual(final.bill.tripFare);
    expect(final.bill.currency).toBe(quote.currency);

    // ----- both sides rate each other ------------------------------------------------------------
    expect(await rider.rate(order.id, 5)).toMatchObject({ myRating: 5 });
    const driverRating = await fetch(`${base}/v1/orders/${order.id}/rating`, {
      method: "POST",
      headers: { authorization: `Bearer ${d.token}`, "content-type": "application/json" },
      body: JSON.stringify({ stars: 4, as: "driver" }),
    });
    expect(driverRating.status).toBe(200);
    expect(await driverRating.json()).toMatchObject({ myRating: 4 });
    // Stored: both views show them on a fresh read.
    expect(await rider.get(order.id)).toMatchObject({ myRating: 5 });
    const asDriver = await fetch(`${base}/v1/orders/${order.id}?as=driver`, {
      headers: { authorization: `Bearer ${d.token}` },
    });
    expect(await asDriver.json()).toMatchObject({ state: "completed", myRating: 4 });
    // Rating twice is refused.
    await expect(rider.rate(order.id, 1)).rejects.toMatchObject({ code: expect.any(String) });

    rider.close();
    driver.close();
  }, 120_000);
});
