import { describe, expect, it } from "vitest";
import { BERLIN, offset, World } from "./dispatch.testkit.js";
import type { DriverId, LatLng, OrderId } from "./model.js";
import type { RiderMessage } from "./ports.js";
import { haversineM } from "./pricing.js";
import { DEFAULT_TRACKING_CONFIG } from "./tracking.js";

type Eta = Extract<RiderMessage, { type: "eta" }>;

/** A world with one order accepted by d1, who starts `startM` metres east of the pickup. */
async function accepted(startM: number, pickup: LatLng = BERLIN) {
  const w = new World();
  const d = w.dispatcher();
  await d.start();
  w.addDriver("d1", offset(pickup, startM, 0));
  const id = await w.request("r1", pickup, offset(pickup, -3_000, 0));
  await w.run(2_000);
  const pushes: { now: number; m: RiderMessage }[] = [];
  w.h.notifier.onRider("r1", (m) => pushes.push({ now: w.clock.now(), m }));
  await w.service.accept("d1", id);
  const etas = () => pushes.filter((p) => p.m.type === "eta") as { now: number; m: Eta }[];
  return { w, id, pushes, etas };
}

describe("live ETA", () => {
  it("pushes at most once per push interval per rider, with the driver's position and a falling ETA", async () => {
    const { w, id, etas } = await accepted(2_000);
    // The first ETA goes out at acceptance, from the position the index has.
    expect(etas()).toHaveLength(1);
    const metres = (x: number) => Math.round(haversineM(offset(BERLIN, x, 0), BERLIN));
    expect(etas()[0]!.m).toMatchObject({ orderId: id, leg: "pickup", distanceM: metres(2_000) });
    await w.service.depart("d1", id);
    // Drive west towards the pickup at 12.5 m/s, a fix every 200 ms, for 100 s.
    const t0 = w.clock.now();
    for (let i = 1; i <= 500; i++) {
      await w.run(200);
      w.fix("d1", offset(BERLIN, 2_000 - i * 2.5, 0), 270);
    }
    await w.run(1_000); // let the trailing push out
    const list = etas();
    // 500 fixes over 100 s: one push per interval, never two within one.
    const interval = DEFAULT_TRACKING_CONFIG.pushIntervalMs;
    expect(list.length).toBeGreaterThanOrEqual(Math.floor(100_000 / interval));
    expect(list.length).toBeLessThanOrEqual(Math.ceil(100_000 / interval) + 2);
    const gaps = list.slice(1).map((p, i) => p.now - list[i]!.now);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(interval);
    // Falling ETA and distance; the last push carries the newest fix.
    for (let i = 1; i < list.length; i++) {
      expect(list[i]!.m.etaS).toBeLessThanOrEqual(list[i - 1]!.m.etaS);
      expect(list[i]!.m.distanceM).toBeLessThanOrEqual(list[i - 1]!.m.distanceM);
    }
    expect(list[0]!.m.etaS).toBeGreaterThan(list.at(-1)!.m.etaS + 100);
    const last = list.at(-1)!.m;
    expect(last.at).toBe(t0 + 100_000);
    expect(last.driver.heading).toBe(270);
    expect(last.distanceM).toBe(metres(750));
    expect(haversineM(last.driver, offset(BERLIN, 750, 0))).toBeLessThan(0.01);
    await w.stop();
  });

  it("pushes each fix of a jittery 1 Hz app at once: none waits for the next push slot", async () => {
    const { w, etas } = await accepted(2_000);
    const before = etas().length;
    const jitter = [1_020, 980, 1_000, 960, 1_040, 990, 1_010, 970, 1_030, 1_000];
    const sentAt: number[] = [];
    let x = 2_000;
    for (const gap of jitter) {
      await w.run(gap);
      x -= 12;
      w.fix("d1", offset(BERLIN, x, 0), 270);
      sentAt.push(w.clock.now());
    }
    await w.run(2_000);
    const pushed = etas().slice(before);
    // One push per fix, sent the moment the fix was applied, carrying it.
    expect(pushed.map((p) => p.now)).toEqual(sentAt);
    expect(pushed.map((p) => p.m.at)).toEqual(sentAt);
    await w.stop();
  });

  it("hints near_pickup once, to rider and driver, when the driver comes within 50 m", async () => {
    const { w, id, pushes } = await accepted(300);
    const toDriver: unknown[] = [];
    w.h.notifier.onDriver("d1", (m) => toDriver.push(m));
    for (let x = 280; x >= 0; x -= 20) {
      await w.run(2_000);
      w.fix("d1", offset(BERLIN, x, 0));
    }
    const near = pushes.filter((p) => p.m.type === "near_pickup");
    expect(near).toHaveLength(1);
    expect(near[0]!.m).toMatchObject({ orderId: id, distanceM: 40 });
    expect(toDriver.filter((m) => (m as { type: string }).type === "near_pickup")).toEqual([
      expect.objectContaining({ orderId: id, distanceM: 40 }),
    ]);
    // Arrival stays the driver's call: the order is still waiting for it.
    expect((await w.order(id)).state).toBe("accepted");
    // Once the driver confirms, ETA pushes stop until the trip starts.
    await w.service.arrived("d1", id);
    const before = pushes.length;
    await w.run(2_000);
    w.fix("d1", offset(BERLIN, 5, 0));
    await w.run(2_000);
    expect(pushes.slice(before).filter((p) => p.m.type === "eta")).toEqual([]);
    await w.stop();
  });

  it("sends near_pickup at acceptance when the driver is already there", async () => {
    const { w, pushes } = await accepted(20);
    expect(pushes.filter((p) => p.m.type === "near_pickup")).toHaveLength(1);
    await w.stop();
  });
});

describe("trip track", () => {
  it("sums the applied fixes of the trip, ignores jitter and dropped fixes, and prices completion with it", async () => {
    const { w, id, etas } = await accepted(0);
    await w.service.arrived("d1", id);
    await w.run(60_000);
    await w.service.start("d1", id);
    const started = w.clock.now();
    expect(w.tracker.trackOf(id)).toEqual({ distanceM: 0, durationS: 0 });
    // Standing 30 s at the pickup with 3 m of GPS jitter: no distance.
    for (let i = 0; i < 30; i++) {
      await w.run(1_000);
      w.fix("d1", offset(BERLIN, i % 2 === 0 ? 3 : -3, i % 3 === 0 ? 2 : -2));
    }
    expect(w.tracker.trackOf(id)?.distanceM).toBe(0);
    // 1 km west then 1 km south at 10 m/s, a fix a second; one stale and one jump fix on the way.
    let p = BERLIN;
    for (let i = 1; i <= 200; i++) {
      await w.run(1_000);
      p = i <= 100 ? offset(BERLIN, -10 * i, 0) : offset(BERLIN, -1_000, -10 * (i - 100));
      w.fix("d1", p);
      if (i === 50) {
        // A copy of this fix's time (stale) and a point 5 km away one second later (jump).
        const r1 = w.locations.applyFixes("d1" as DriverId, {
          latLngs: Float64Array.of(p.lat + 0.001, p.lng),
          timesMs: Float64Array.of(w.clock.now()),
        });
        expect(r1).toMatchObject({ applied: 0, dropped: 1 });
      }
      if (i === 120) {
        const far = offset(p, 5_000, 0);
        const batch = {
          latLngs: Float64Array.of(far.lat, far.lng),
          timesMs: Float64Array.of(w.clock.now() + 500),
        };
        const r = w.locations.applyFixes("d1" as DriverId, batch);
        expect(r).toMatchObject({ applied: 0, dropped: 1, jumps: 1 });
        w.tracker.onFixes("d1" as DriverId, batch, r);
      }
    }
    const track = w.tracker.trackOf(id)!;
    expect(Math.abs(track.distanceM - 2_000)).toBeLessThan(25);
    expect(track.durationS).toBe((w.clock.now() - started) / 1_000);
    // During the trip the ETA is to the dropoff (3 km west of the pickup), and falling.
    const drop = etas().filter((e) => e.m.leg === "dropoff");
    expect(drop.length).toBeGreaterThan(150);
    expect(drop.at(-1)!.m.etaS).toBeLessThan(drop[0]!.m.etaS);
    const view = await w.service.complete("d1", id, track);
    expect(view.trip).toEqual(track);
    const o = await w.order(id as OrderId);
    expect(o.bill!.tripFare).toBe(w.h.fares.price(o.tariff, track.distanceM, track.durationS));
    // The trip is over: no track any more.
    expect(w.tracker.trackOf(id)).toBeNull();
    await w.stop();
  });

  it("has no track for an order it does not follow or that has not started", async () => {
    const { w, id } = await accepted(500);
    expect(w.tracker.trackOf(id)).toBeNull();
    expect(w.tracker.trackOf("nope")).toBeNull();
    await w.stop();
  });

  it("picks up a trip in progress from a snapshot after a restart", async () => {
    const { w, id } = await accepted(0);
    await w.service.arrived("d1", id);
    await w.service.start("d1", id);
    const o = await w.order(id);
    w.tracker.stop();
    expect(w.tracker.trackOf(id)).toBeNull();
    w.tracker.track(o);
    await w.run(10_000);
    w.fix("d1", offset(BERLIN, -100, 0));
    expect(w.tracker.trackOf(id)).toEqual({ distanceM: 100, durationS: 10 });
    await w.stop();
  });
});
