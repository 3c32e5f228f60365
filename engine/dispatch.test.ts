import { describe, expect, it, vi } from "vitest";
import { Matcher } from "../native/index.js";
import { DEFAULT_DISPATCH_CONFIG, DispatchPool, dispatchConfig } from "./dispatch.js";
import { BERLIN, checkInvariants, offset, World } from "./dispatch.testkit.js";
import type { DispatchError } from "./errors.js";
import type { DriverId, OrderId } from "./model.js";

const rider = (id: string) => ({ role: "rider", id }) as const;

describe("dispatch config", () => {
  it("fills defaults and names a bad value", () => {
    expect(dispatchConfig()).toEqual(DEFAULT_DISPATCH_CONFIG);
    expect(() => dispatchConfig({ windowMs: 0 })).toThrow(/windowMs/);
    expect(() => dispatchConfig({ radiiM: [4000, 2000] })).toThrow(/radiiM/);
    try {
      dispatchConfig({ offerTimeoutMs: 1.5 });
    } catch (err) {
      expect((err as DispatchError).code).toBe("INVALID_CONFIG");
    }
  });
});

describe("the dispatch window", () => {
  it("gathers the requests of one window and solves them together", async () => {
    const w = new World();
    const d = w.dispatcher();
    await d.start();
    const t0 = w.clock.now();
    w.addDriver("d1", offset(BERLIN, 300, 0));
    w.addDriver("d2", offset(BERLIN, -300, 0));
    await w.run(500);
    const a = await w.request("r1", BERLIN);
    await w.run(1_000);
    const b = await w.request("r2", offset(BERLIN, 0, 200));
    expect(w.offersFor(a)).toEqual([]);
    await w.run(500);
    // Both offered at the window's end, from one solve.
    expect(w.offersFor(a).map((o) => o.at)).toEqual([t0 + 2_000]);
    expect(w.offersFor(b).map((o) => o.at)).toEqual([t0 + 2_000]);
    const s = d.stats();
    expect(s).toMatchObject({ windowsRun: 1, lastBatch: 2, requestsMatched: 2, offersMade: 2, offered: 2 });
    // Waited 1.5 s and 0.5 s in searching before the offer.
    expect(s.offerLatencyMs).toMatchObject({ p50: 500, p99: 1_500, samples: 2 });
    // The offered drivers are no longer free in the index.
    expect(w.locations.positionOf("d1" as DriverId)?.status).toBe("offered");
    expect(w.locations.positionOf("d2" as DriverId)?.status).toBe("offered");
    // A request after the window fired waits for the next one.
    w.addDriver("d3", offset(BERLIN, 0, 500));
    const c = await w.request("r3", BERLIN);
    await w.run(1_999);
    expect(w.offersFor(c)).toEqual([]);
    await w.run(1);
    expect(w.offersFor(c).map((o) => o.driverId)).toEqual(["d3"]);
    checkInvariants(w.h, "end");
    await w.stop();
  });

  it("assigns globally: the pairing with the least total pickup, where nearest-first does worse", async () => {
    // On a line: D2 --- R1 - D1 -- R2, 300 m units. Nearest-first gives R1 its nearest (D1) and
    // leaves R2 the far D2 (300 + 1800 m); the optimum crosses over (900 + 600 m).
    const w = new World();
    const d = w.dispatcher();
    await d.start();
    const R1 = BERLIN;
    const R2 = offset(BERLIN, 900, 0);
    w.addDriver("D1", offset(BERLIN, 300, 0));
    w.addDriver("D2", offset(BERLIN, -900, 0));
    const a = await w.request("r1", R1);
    const b = await w.request("r2", R2);
    await w.run(2_000);
    expect(w.offersFor(a).map((o) => o.driverId)).toEqual(["D2"]);
    expect(w.offersFor(b).map((o) => o.driverId)).toEqual(["D1"]);

    // The same costs through the native greedy baseline pick the worse pairing.
    const eta = (from: { lat: number; lng: number }, to: typeof R1) =>
      w.eta.etaMany(to, Float64Array.of(from.lat, from.lng), w.clock.now())[0]!;
    const D1 = offset(BERLIN, 300, 0);
    const D2 = offset(BERLIN, -900, 0);
    const input = {
      offsets: Uint32Array.of(0, 2, 4),
      drivers: Uint32Array.of(1, 2, 1, 2),
      costsS: Float32Array.of(eta(D1, R1), eta(D2, R1), eta(D1, R2), eta(D2, R2)),
      maxPickupS: Float32Array.of(Infinity, Infinity),
    };
    const m = new Matcher();
    const greedy = m.solveGreedy(input);
    const optimal = m.solve(input);
    expect(Array.from(greedy.drivers)).toEqual([1, 2]);
    expect(Array.from(optimal.drivers)).toEqual([2, 1]);
    expect(optimal.totalPickupS).toBeLessThan(greedy.totalPickupS);
    await w.stop();
  });
});

describe("offers that end", () => {
  it("re-enters the next window without a driver who let the offer time out", async () => {
    const w = new World();
    const d = w.dispatcher();
    await d.start();
    const t0 = w.clock.now();
    w.addDriver("near", offset(BERLIN, 300, 0));
    w.addDriver("far", offset(BERLIN, 1_200, 0));
    const id = await w.request("r1", BERLIN);
    await w.run(2_000);
    expect(d.offerOf(id)).toMatchObject({ driverId: "near", expiresAt: t0 + 17_000 });
    await w.run(14_999);
    expect((await w.order(id)).state).toBe("offered");
    await w.run(1); // t0 + 17 s: the timeout
    const o = await w.order(id);
    expect(o.state).toBe("searching");
    expect(o.passedDriverIds).toEqual(["near"]);
    expect(w.locations.positionOf("near" as DriverId)?.status).toBe("free");
    await w.run(1_000); // the next window, t0 + 18 s
    expect(w.offersFor(id)).toEqual([
      { driverId: "near", at: t0 + 2_000 },
      { driverId: "far", at: t0 + 18_000 },
    ]);
    expect(d.stats()).toMatchObject({ offersTimedOut: 1, offersMade: 2 });
    expect(d.view(id)).toMatchObject({ phase: "offered", attempts: 1, passed: ["near"] });
    checkInvariants(w.h, "end");
    await w.stop();
  });

  it("re-enters the next window without a driver who declined (even with one candidate per request)", async () => {
    const w = new World();
    // k = 1: the nearest driver, who declined, must not crowd out the next one.
    const d = w.dispatcher("52:13", { candidates: 1 });
    await d.start();
    const t0 = w.clock.now();
    w.addDriver("near", offset(BERLIN, 300, 0));
    w.addDriver("far", offset(BERLIN, 1_200, 0));
    const id = await w.request("r1", BERLIN);
    await w.run(3_000);
    await w.service.decline("near", id);
    expect(w.locations.positionOf("near" as DriverId)?.status).toBe("free");
    expect(d.offerOf(id)).toBeNull();
    await w.run(1_000); // t0 + 4 s
    expect(w.offersFor(id).map((o) => [o.driverId, o.at])).toEqual([
      ["near", t0 + 2_000],
      ["far", t0 + 4_000],
    ]);
    // The declining driver is free again and gets the next request.
    const other = await w.request("r2", offset(BERLIN, 200, 0));
    await w.run(2_000);
    expect(w.offersFor(other).map((o) => o.driverId)).toEqual(["near"]);
    expect(d.stats()).toMatchObject({ offersDeclined: 1, offersMade: 3 });
    // The expired timer of the declined offer finds nothing to do.
    await w.run(20_000);
    checkInvariants(w.h, "end");
    await w.stop();
  });

  it("marks an accepting driver busy and frees them when the trip ends", async () => {
    const w = new World();
    const d = w.dispatcher();
    await d.start();
    w.addDriver("d1", offset(BERLIN, 300, 0));
    const id = await w.request("r1", BERLIN);
    await w.run(2_000);
    await w.service.accept("d1", id);
    expect(w.locations.positionOf("d1" as DriverId)?.status).toBe("busy");
    expect(d.view(id)?.phase).toBe("assigned");
    expect(d.stats()).toMatchObject({ offersAccepted: 1 });
    // No timeout fires for an accepted offer.
    await w.run(20_000);
    expect((await w.order(id)).state).toBe("accepted");
    await w.service.arrived("d1", id);
    await w.service.start("d1", id);
    await w.service.complete("d1", id, { distanceM: 4_000, durationS: 600 });
    expect(w.locations.positionOf("d1" as DriverId)?.status).toBe("free");
    expect(d.view(id)).toBeNull();
    await w.stop();
  });
});

describe("search radius and giving up", () => {
  it("widens the radius with each attempt: 2 km, 4 km, 8 km", async () => {
    const w = new World();
    const d = w.dispatcher("52:13", { radiiM: [2_000, 4_000, 8_000] });
    await d.start();
    const t0 = w.clock.now();
    const A = BERLIN;
    const B = offset(BERLIN, 0, -20_000);
    w.addDriver("three-km", offset(A, 0, 3_000));
    w.addDriver("seven-km", offset(B, 0, -7_000));
    const a = await w.request("r1", A);
    const b = await w.request("r2", B);
    await w.run(2_000);
    expect(w.offersFor(a)).toEqual([]);
    expect(w.offersFor(b)).toEqual([]);
    await w.run(2_000);
    expect(w.offersFor(a)).toEqual([{ driverId: "three-km", at: t0 + 4_000 }]);
    expect(w.offersFor(b)).toEqual([]);
    await w.run(2_000);
    expect(w.offersFor(b)).toEqual([{ driverId: "seven-km", at: t0 + 6_000 }]);
    await w.stop();
  });

  it("cancels as no_driver_found after the attempt limit", async () => {
    const w = new World();
    const d = w.dispatcher("52:13", { maxAttempts: 3 });
    await d.start();
    const t0 = w.clock.now();
    w.addDriver("too-far", offset(BERLIN, 0, 30_000));
    const id = await w.request("r1", BERLIN);
    await w.run(6_000); // three empty windows
    expect((await w.order(id)).state).toBe("searching");
    await w.run(2_000);
    const o = await w.order(id);
    expect(o).toMatchObject({ state: "cancelled", cancelReason: "no_driver_found", cancelledAt: t0 + 8_000 });
    expect(d.stats()).toMatchObject({ noDriverFound: 1, searching: 0 });
    expect(
      w.h.notifier.sent.some(
        (m) => m.to === "rider" && m.message.type === "order" && m.message.event === "order.cancelled",
      ),
    ).toBe(true);
    await w.stop();
  });

  it("cancels as no_driver_found after the longest search time, counting declines as attempts", async () => {
    const w = new World();
    const d = w.dispatcher("52:13", { maxSearchMs: 20_000 });
    await d.start();
    const t0 = w.clock.now();
    w.addDriver("d1", offset(BERLIN, 300, 0));
    const id = await w.request("r1", BERLIN);
    await w.run(2_000);
    await w.service.decline("d1", id);
    // d1 passed; nobody else: empty windows until the search time is up at t0 + 20 s.
    await w.run(17_999);
    expect((await w.order(id)).state).toBe("searching");
    await w.run(2_001);
    expect(await w.order(id)).toMatchObject({ state: "cancelled", cancelReason: "no_driver_found" });
    expect((await w.order(id)).cancelledAt).toBe(t0 + 20_000);
    await w.stop();
  });
});

describe("races", () => {
  it("never gives a driver two offers when two regions' windows race for it", async () => {
    const w = new World();
    // The one-degree grid: latitude 52.0 is the border between regions 51:13 and 52:13.
    const north = w.dispatcher("52:13");
    const south = w.dispatcher("51:13");
    await north.start();
    await south.start();
    w.addDriver("border", { lat: 52.0, lng: 13.4 });
    const a = await w.request("r1", { lat: 52.0005, lng: 13.4 });
    const b = await w.request("r2", { lat: 51.9995, lng: 13.4 });
    // Fire both windows without awaiting either, so their steps interleave.
    w.clock.advance(2_000);
    await Promise.all([north.idle(), south.idle()]);
    await w.run(0);
    checkInvariants(w.h, "after the race");
    expect(w.offersTo("border")).toHaveLength(1);
    expect(north.stats().driverBusy + south.stats().driverBusy).toBe(1);
    const [won, lost] = w.offersFor(a).length === 1 ? [a, b] : [b, a];
    expect((await w.order(won)).state).toBe("offered");
    expect((await w.order(lost)).state).toBe("searching");
    // The loser gets the next free driver in a later window.
    w.addDriver("late", { lat: 52.0, lng: 13.41 });
    await w.run(2_000);
    expect(w.offersFor(lost).map((o) => o.driverId)).toEqual(["late"]);
    checkInvariants(w.h, "end");
    await w.stop();
  });

  it("keeps the invariants when two owners of one region overlap (failover)", async () => {
    const w = new World();
    const one = w.dispatcher("52:13");
    const two = w.dispatcher("52:13");
    await one.start();
    await two.start();
    w.addDriver("d1", offset(BERLIN, 300, 0));
    w.addDriver("d2", offset(BERLIN, -300, 0));
    const a = await w.request("r1", BERLIN);
    const b = await w.request("r2", offset(BERLIN, 0, 300));
    w.clock.advance(2_000);
    await Promise.all([one.idle(), two.idle()]);
    await w.run(0);
    checkInvariants(w.h, "after the race");
    expect(w.offersFor(a)).toHaveLength(1);
    expect(w.offersFor(b)).toHaveLength(1);
    // Both owners follow the offers and time them out; one call wins, the other is stale.
    expect(one.offerOf(a)?.offerId).toBe(two.offerOf(a)?.offerId);
    await w.run(15_000);
    checkInvariants(w.h, "after the timeouts");
    expect(w.events.filter((e) => e.type === "order.offer_timed_out")).toHaveLength(2);
    await w.run(2_000);
    // Each order was re-offered to the other driver once.
    expect(w.offersFor(a).map((o) => o.driverId)).toHaveLength(2);
    expect(new Set(w.offersFor(a).map((o) => o.driverId)).size).toBe(2);
    checkInvariants(w.h, "end");
    await w.stop();
  });

  it("skips a driver the RideService reports busy and keeps the order for the next window", async () => {
    const w = new World();
    const d = w.dispatcher("52:13", { busyCooldownMs: 10_000 });
    await d.start();
    w.addDriver("taken", offset(BERLIN, 100, 0));
    w.addDriver("other", offset(BERLIN, 1_500, 0));
    // Another region's order holds "taken", and nothing told this index.
    const elsewhere = await w.request("r0", { lat: 48.1, lng: 11.5 });
    expect((await w.service.offer(elsewhere, "taken", w.clock.now() + 30_000)).status).toBe("offered");
    w.locations.setStatus("taken" as DriverId, "free");
    const id = await w.request("r1", BERLIN);
    await w.run(2_000);
    expect(d.stats().driverBusy).toBe(1);
    expect((await w.order(id)).state).toBe("searching");
    expect((await w.order(id)).passedDriverIds).toEqual([]);
    await w.run(2_000);
    expect(w.offersFor(id).map((o) => o.driverId)).toEqual(["other"]);
    checkInvariants(w.h, "end");
    await w.stop();
  });

  it("frees the driver when the rider cancels while offered", async () => {
    const w = new World();
    const d = w.dispatcher();
    await d.start();
    w.addDriver("d1", offset(BERLIN, 300, 0));
    const id = await w.request("r1", BERLIN);
    await w.run(2_000);
    expect((await w.order(id)).state).toBe("offered");
    await w.service.cancel(rider("r1"), id);
    expect(d.view(id)).toBeNull();
    expect(w.locations.positionOf("d1" as DriverId)?.status).toBe("free");
    expect(w.h.drivers.held()).toEqual([]);
    const next = await w.request("r2", BERLIN);
    await w.run(2_000);
    expect(w.offersFor(next).map((o) => o.driverId)).toEqual(["d1"]);
    // The cancelled offer's timer is gone: nothing is timed out at its expiry.
    await w.run(15_000);
    expect(w.events.filter((e) => e.type === "order.offer_timed_out" && e.orderId === id)).toEqual([]);
    checkInvariants(w.h, "end");
    await w.stop();
  });

  it("handles a cancel that lands while its offer call is still under way", async () => {
    const w = new World();
    const s = w.service;
    // The rider cancels between the offer's write and its return to the loop.
    const hooks = {
      offer: async (orderId: string, driverId: string, expiresAt: number) => {
        const out = await s.offer(orderId, driverId, expiresAt);
        await s.cancel(rider("r1"), orderId);
        return out;
      },
      offerTimedOut: s.offerTimedOut.bind(s),
      noDriverFound: s.noDriverFound.bind(s),
    };
    const d = w.dispatcher("52:13", {}, hooks);
    await d.start();
    w.addDriver("d1", offset(BERLIN, 300, 0));
    const id = await w.request("r1", BERLIN);
    await w.run(2_000);
    expect((await w.order(id)).state).toBe("cancelled");
    expect(d.view(id)).toBeNull();
    expect(d.stats().offered).toBe(0);
    expect(w.locations.positionOf("d1" as DriverId)?.status).toBe("free");
    checkInvariants(w.h, "end");
    await w.stop();
  });
});

describe("recovery", () => {
  it("rebuilds from listOpen: searching orders rejoin, live offers are timed out, trips are followed", async () => {
    const w = new World();
    const first = w.dispatcher();
    await first.start();
    const t0 = w.clock.now();
    w.addDriver("d1", offset(BERLIN, 300, 0));
    w.addDriver("d3", offset(BERLIN, 0, 5_000));
    const offered = await w.request("r1", BERLIN);
    const lonely = await w.request("r2", offset(BERLIN, 0, 40_000));
    const trip = await w.request("r3", offset(BERLIN, 0, 5_100));
    await w.run(2_000);
    await w.service.accept("d3", trip);
    expect((await w.order(offered)).state).toBe("offered");
    // The process dies: nothing of its memory survives, the stores do.
    await first.stop();

    const second = w.dispatcher();
    await second.start();
    expect(second.view(offered)).toMatchObject({ phase: "offered" });
    expect(second.view(lonely)).toMatchObject({ phase: "queued" });
    expect(second.view(trip)).toMatchObject({ phase: "assigned" });
    w.addDriver("d2", offset(BERLIN, 900, 0));
    await w.run(15_000); // t0 + 17 s: the recovered offer times out
    expect((await w.order(offered)).passedDriverIds).toEqual(["d1"]);
    await w.run(2_000);
    expect(w.offersFor(offered).map((o) => o.driverId)).toEqual(["d1", "d2"]);
    w.addDriver("d4", offset(BERLIN, 0, 40_500));
    await w.run(2_000);
    expect(w.offersFor(lonely).map((o) => o.driverId)).toEqual(["d4"]);
    // The recovered trip frees its driver when it ends.
    await w.service.cancel({ role: "driver", id: "d3" }, trip);
    expect(w.locations.positionOf("d3" as DriverId)?.status).toBe("free");
    expect(w.clock.now()).toBe(t0 + 21_000);
    checkInvariants(w.h, "end");
    await w.stop();
  });

  it("repairs a missed event on the next resync", async () => {
    const w = new World();
    // No event tap for this loop: it only learns from its own calls and the resync.
    const d = w.dispatcher("52:13", { resyncMs: 5_000 });
    await d.start();
    w.addDriver("d1", offset(BERLIN, 300, 0));
    const id = await w.request("r1", BERLIN);
    await w.run(2_000);
    // Pretend the cancel event never reached the loop: cancel on a second harness-free path.
    const o = await w.order(id);
    const res = await w.h.orders.compareAndSet(id as OrderId, o.version, {
      ...o,
      version: o.version + 1,
      state: "cancelled",
      offer: null,
      cancelledAt: w.clock.now(),
      cancelReason: "by_rider",
    });
    expect(res.ok).toBe(true);
    expect(d.view(id)?.phase).toBe("offered");
    await w.run(3_000); // resync at t0 + 5 s
    expect(d.view(id)).toBeNull();
    expect(w.locations.positionOf("d1" as DriverId)?.status).toBe("free");
    await w.stop();
  });
});

describe("big windows", () => {
  it("solves a big window off the event loop and gives each driver at most one request", async () => {
    const w = new World();
    const solveAsync = vi.spyOn(w.matcher.native, "solveAsync");
    const d = w.dispatcher();
    await d.start();
    let seed = 7;
    const rand = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    for (let i = 0; i < 300; i++)
      w.addDriver(`d${i}`, offset(BERLIN, (rand() - 0.5) * 4_000, (rand() - 0.5) * 4_000));
    for (let i = 0; i < 250; i++)
      await w.request(`r${i}`, offset(BERLIN, (rand() - 0.5) * 4_000, (rand() - 0.5) * 4_000));
    await w.run(2_000);
    expect(solveAsync).toHaveBeenCalledTimes(1);
    const s = d.stats();
    expect(s.lastBatch).toBe(250);
    expect(s.offersMade).toBe(s.requestsMatched);
    expect(s.offersMade).toBeGreaterThan(230);
    const drivers = w.events
      .filter((e) => e.type === "order.offered")
      .map((e) => (e.payload as { driverId: string }).driverId);
    expect(new Set(drivers).size).toBe(drivers.length);
    checkInvariants(w.h, "end");
    await w.stop();
  });
});

describe("the pool of a process's loops", () => {
  it("starts a loop for a region on its first request when it owns it, and recovers listed ones", async () => {
    const w = new World();
    w.addDriver("d1", offset(BERLIN, 300, 0));
    const early = await w.request("r0", BERLIN); // before anything runs
    const make = (region: string) => w.dispatcher(region);
    const pool = new DispatchPool(make, { regions: ["52:13"], owns: (r) => r === "48:11" });
    // The World feeds every loop it made; the pool is fed nothing else here.
    await pool.start();
    expect(pool.get("52:13")?.view(early)?.phase).toBe("queued");
    const munich = await w.request("r1", { lat: 48.14, lng: 11.58 });
    pool.observe(w.events.at(-1)!);
    expect(pool.get("48:11")).toBeDefined();
    const paris = await w.request("r2", { lat: 48.85, lng: 2.35 });
    pool.observe(w.events.at(-1)!);
    expect(pool.get("48:2")).toBeUndefined();
    await w.run(0);
    expect(pool.get("48:11")?.view(munich)?.phase).toBe("queued");
    expect(pool.openPickups()).toHaveLength(2);
    await w.run(2_000);
    expect(w.offersFor(early).map((o) => o.driverId)).toEqual(["d1"]);
    expect(
      pool
        .stats()
        .map((s) => s.region)
        .sort(),
    ).toEqual(["48:11", "52:13"]);
    expect((await w.order(paris)).state).toBe("searching");
    await pool.stop();
    await w.stop();
  });
});
