/**
 * Randomized test of the whole dispatch path: many drivers and riders on the native index, the
 * loop with its windows and offer timeouts on the manual clock, and random behaviour (requests,
 * accepts, declines, offers left to time out, rider and driver cancels, trip steps, moves) whose
 * calls run concurrently with the windows, over storage that yields at random. After every step:
 *
 * - the invariants hold (a driver bound to at most one order and holding exactly it; an order
 *   with at most one driver and a shape that fits its state);
 * - no order is lost: every open order is followed by the loop, in the phase its state says;
 * - the index status of every driver says what binds it (offered, busy) or free.
 *
 * At the end everybody behaves until the dust settles: every order is completed or cancelled and
 * no driver is left held. Seeded, so a failure names a reproducible seed.
 */
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../test/support/random.js";
import type { Dispatcher } from "./dispatch.js";
import { BERLIN, checkInvariants, offset, World } from "./dispatch.testkit.js";
import { DispatchError } from "./errors.js";
import {
  ASSIGNED_STATES,
  type DriverId,
  type LatLng,
  type Order,
  type OrderId,
  TERMINAL_STATES,
} from "./model.js";

/** Refusals a racing actor may get (UNAVAILABLE only when faults are injected). Anything else fails the run. */
const EXPECTED = new Set([
  "NOT_FOUND",
  "ILLEGAL_TRANSITION",
  "OFFER_EXPIRED",
  "TOO_EARLY",
  "CONFLICT",
  "UNAVAILABLE",
]);

function fail(message: string): never {
  throw new Error(message);
}

/**
 * Open orders are followed by the loop; unless `lenient`, in the phase their state says, and every
 * driver's index status says what binds it. With injected faults a lost reply can leave the view
 * behind the store until the next window or resync mends it, so only "not lost" is checked then.
 */
function checkView(
  w: World,
  d: Dispatcher,
  where: string,
  lenient = false,
  unseen = new Map<OrderId, number>(),
): void {
  const bound = new Map<DriverId, "offered" | "busy">();
  const now = w.clock.now();
  for (const o of w.h.orders.all()) {
    const view = d.view(o.id);
    // An event lost with its reply (faults only) is made good by the next resync.
    const late = () => {
      const since = unseen.get(o.id) ?? now;
      unseen.set(o.id, since);
      return !lenient || now - since > d.config.resyncMs + d.config.windowMs;
    };
    if (TERMINAL_STATES.has(o.state)) {
      if (view !== null && late())
        fail(`${where}: ended order ${o.id} (${o.state}) still followed as ${view.phase}`);
      if (view === null) unseen.delete(o.id);
      continue;
    }
    if (view === null) {
      if (late()) fail(`${where}: open order ${o.id} (${o.state}) is lost to the loop`);
      continue;
    }
    unseen.delete(o.id);
    if (lenient) continue;
    const want = o.state === "searching" ? "queued" : o.state === "offered" ? "offered" : "assigned";
    if (view.phase !== want) fail(`${where}: order ${o.id} is ${o.state} but followed as ${view.phase}`);
    if (o.state === "offered") bound.set(o.offer!.driverId, "offered");
    if (ASSIGNED_STATES.has(o.state)) bound.set(o.driverId!, "busy");
  }
  if (lenient) return;
  for (let i = 0; i < DRIVERS; i++) {
    const id = `d${i}` as DriverId;
    const status = w.locations.positionOf(id)?.status;
    const want = bound.get(id) ?? "free";
    if (status !== want) fail(`${where}: driver ${id} is ${status} in the index, should be ${want}`);
  }
}

const DRIVERS = 25;
const MAX_ORDERS = 70;

async function scenario(seed: number, steps: number, faultRate = 0, owners = 1) {
  const rand = mulberry32(seed);
  const lenient = faultRate > 0;
  const pick = <T>(list: readonly T[]): T | undefined => list[Math.floor(rand() * list.length)];
  const somewhere = (): LatLng => offset(BERLIN, (rand() - 0.5) * 8_000, (rand() - 0.5) * 8_000);
  const w = new World({
    jitter: rand,
    faultRate,
    dispatch: { offerTimeoutMs: 10_000, maxSearchMs: 90_000, maxAttempts: 40, resyncMs: 10_000 },
  });
  // Two owners of one region model a failover overlap: both loops act on the same orders.
  const loops = Array.from({ length: owners }, () => w.dispatcher());
  for (const l of loops) await l.start();
  const d = loops[0]!;
  const check = (where: string, lenientNow: boolean) => {
    for (const [i, l] of loops.entries()) checkView(w, l, `${where} (loop ${i})`, lenientNow, unseens[i]!);
  };
  const unseens = loops.map(() => new Map<OrderId, number>());
  const positions = new Map<DriverId, LatLng>();
  for (let i = 0; i < DRIVERS; i++) {
    const p = somewhere();
    positions.set(w.addDriver(`d${i}`, p), p);
  }
  const orders: OrderId[] = [];
  const s = w.service;
  const refused: Record<string, number> = {};
  const pending: Promise<unknown>[] = [];
  const act = (p: Promise<unknown>) =>
    pending.push(
      p.catch((err) => {
        if (!(err instanceof DispatchError) || !EXPECTED.has(err.code)) throw err;
        refused[err.code] = (refused[err.code] ?? 0) + 1;
      }),
    );
  const all = () => w.h.orders.all();
  const offeredTo = (driver: DriverId) =>
    all().find((o) => o.state === "offered" && o.offer!.driverId === driver);
  const tripOf = (driver: DriverId) =>
    all().find((o) => ASSIGNED_STATES.has(o.state) && o.driverId === driver);
  const progress = (o: Order, driver: DriverId) => {
    switch (o.state) {
      case "accepted":
        return rand() < 0.7 ? s.depart(driver, o.id) : s.arrived(driver, o.id);
      case "driver_arriving":
        return s.arrived(driver, o.id);
      case "arrived":
        return s.start(driver, o.id);
      default:
        return s.complete(driver, o.id, w.tracker.trackOf(o.id) ?? { distanceM: 1_000, durationS: 300 });
    }
  };

  for (let step = 0; step < steps; step++) {
    const where = `seed ${seed} step ${step}`;
    const actions = 1 + Math.floor(rand() * 3);
    for (let a = 0; a < actions; a++) {
      const r = rand();
      const driver = `d${Math.floor(rand() * DRIVERS)}` as DriverId;
      if (r < 0.18) {
        if (orders.length < MAX_ORDERS) {
          act(w.request(`r${Math.floor(rand() * 30)}`, somewhere()).then((id) => orders.push(id)));
        }
      } else if (r < 0.45) {
        const o = offeredTo(driver);
        const x = rand();
        // Accept, decline, or say nothing and let the offer time out.
        if (o && x < 0.5) act(s.accept(driver, o.id));
        else if (o && x < 0.8) act(s.decline(driver, o.id));
      } else if (r < 0.52) {
        const id = pick(orders);
        const o = id && all().find((x) => x.id === id);
        if (o && !TERMINAL_STATES.has(o.state)) act(s.cancel({ role: "rider", id: o.riderId }, o.id));
      } else if (r < 0.7) {
        const o = tripOf(driver);
        if (o && rand() < 0.05 && o.state !== "in_progress")
          act(s.cancel({ role: "driver", id: driver }, o.id));
        else if (o) act(progress(o, driver));
      } else {
        // A fix 0..60 m away (the index drops it as stale if the clock has not moved).
        const p = offset(positions.get(driver)!, (rand() - 0.5) * 120, (rand() - 0.5) * 120);
        positions.set(driver, p);
        w.fix(driver, p);
      }
    }
    // Time passes (windows, timeouts) while the calls above are still under way.
    const ms = rand() < 0.6 ? Math.floor(rand() * 2_500) : 0;
    await w.run(ms);
    await Promise.all(pending.splice(0));
    await w.run(0);
    checkInvariants(w.h, where);
    check(where, lenient);
  }

  // Everybody behaves: offers are accepted, trips driven to the end, until nothing is open.
  for (let round = 0; round < 400; round++) {
    const open = all().filter((o) => !TERMINAL_STATES.has(o.state));
    if (open.length === 0) break;
    for (const o of open) {
      if (o.state === "offered") act(s.accept(o.offer!.driverId, o.id));
      else if (ASSIGNED_STATES.has(o.state)) act(progress(o, o.driverId!));
    }
    await Promise.all(pending.splice(0));
    await w.run(1_000);
    checkInvariants(w.h, `seed ${seed} settle ${round}`);
    check(`seed ${seed} settle ${round}`, lenient);
  }
  // One more resync: it mends what a lost event (faults) left behind.
  await w.run(d.config.resyncMs);
  check(`seed ${seed} final`, false);
  const final = all();
  expect(final.filter((o) => !TERMINAL_STATES.has(o.state))).toEqual([]);
  // Every acknowledged request is there (with faults a request may land although its reply was lost).
  for (const id of orders) expect(final.some((o) => o.id === id)).toBe(true);
  // A release that failed leaves a stale hold for takeover; none may point at a live binding.
  const left = w.h.drivers.held();
  if (lenient)
    expect(left.every((a) => TERMINAL_STATES.has(final.find((o) => o.id === a.hold!.orderId)!.state))).toBe(
      true,
    );
  else expect(left).toEqual([]);
  // Nothing binds anybody any more, and the index knows it.
  for (let i = 0; i < DRIVERS; i++) expect(w.locations.positionOf(`d${i}` as DriverId)?.status).toBe("free");
  for (const l of loops) expect(l.stats()).toMatchObject({ searching: 0, offered: 0 });
  const stats = d.stats();
  const perLoop = loops.map((l) => l.stats());
  const completed = final.filter((o) => o.state === "completed").length;
  await w.stop();
  return { stats, perLoop, completed, cancelled: final.length - completed, refused };
}

const SEEDS = 30;
const FAULT_SEEDS = 20;

describe("randomized dispatch", () => {
  it(`keeps the invariants and loses no order over ${SEEDS} seeded runs`, async () => {
    let offers = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = await scenario(seed, 300);
      // Each run did exercise the paths it is about.
      expect(r.stats.offersMade).toBeGreaterThan(20);
      expect(r.stats.offersAccepted).toBeGreaterThan(5);
      expect(r.stats.offersDeclined + r.stats.offersTimedOut).toBeGreaterThan(3);
      expect(r.completed).toBeGreaterThan(5);
      offers += r.stats.offersMade;
    }
    expect(offers).toBeGreaterThan(SEEDS * 30);
  }, 120_000);

  it(`keeps them with storage calls failing before or after they land, over ${FAULT_SEEDS} seeded runs`, async () => {
    let unavailable = 0;
    for (let seed = 1001; seed <= 1000 + FAULT_SEEDS; seed++) {
      const r = await scenario(seed, 300, 0.03);
      expect(r.completed).toBeGreaterThan(3);
      unavailable += r.refused.UNAVAILABLE ?? 0;
    }
    expect(unavailable).toBeGreaterThan(0);
  }, 120_000);

  it("keeps them when two owners of the region overlap (failover), over 10 seeded runs", async () => {
    const offers = [0, 0];
    for (let seed = 2001; seed <= 2010; seed++) {
      const r = await scenario(seed, 300, 0, 2);
      expect(r.completed).toBeGreaterThan(3);
      r.perLoop.forEach((s, i) => {
        offers[i]! += s.offersMade;
      });
    }
    // Both loops did act on the shared orders.
    expect(Math.min(...offers)).toBeGreaterThan(20);
  }, 120_000);
});
