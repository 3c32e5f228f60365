/**
 * The built-in simulated city against the composed engine, in-process over real sockets: a few
 * fast drivers in a small box and a high order rate, so that within seconds orders are offered,
 * accepted, driven, completed, and some cancelled. The simulation's counts are checked against
 * what the engine itself saw.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../engine/logger.js";
import { seededRandom } from "../sim/city.js";
import { compose, type Running } from "./compose.js";
import { defaults } from "./config.js";
import {
  normalizeSimulateArgs,
  type Simulation,
  simulateDefaults,
  simulateOptions,
  startSimulation,
} from "./simulate.js";

let running: Running;
let sim: Simulation | undefined;

beforeAll(async () => {
  running = await compose({ ...defaults, port: 0, dataDir: ":memory:" }, silentLogger);
});
afterAll(async () => {
  sim?.stop();
  await running?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("dispatch serve --simulate", () => {
  it("matches and completes orders over real sockets", async () => {
    const lines: string[] = [];
    const warnings: unknown[] = [];
    const log = { ...silentLogger, warn: (msg: string, f?: unknown) => warnings.push({ msg, f }) };
    // A box of about 700 x 700 m around the Loop; cars at 40-55 m/s (under the index's jump
    // limit), short trips, quick drivers: a ride takes a few seconds.
    sim = await startSimulation(
      running,
      { ...simulateDefaults, drivers: 6, ordersPerS: 1.5, fixPeriodMs: 250, statsEveryMs: 1_000 },
      log,
      (l) => lines.push(l),
      {
        bounds: { south: 41.876, west: -87.634, north: 41.882, east: -87.626 },
        hotSpots: [{ lat: 41.879, lng: -87.63 }],
        hotSpotSpreadM: 150,
        speedMps: [40, 55],
        tripM: [150, 400],
        acceptProbability: 0.85,
        acceptDelayMs: [100, 400],
        boardingMs: [100, 300],
        cancelProbability: 0.15,
        cancelAfterMs: [200, 2_000],
        random: seededRandom(7),
      },
    );
    expect(sim.stats().driverSockets).toBe(6);

    // About 15 s; longer only if nothing completed yet (a slow machine), up to 45 s.
    const started = Date.now();
    while (Date.now() - started < 15_000 || (sim.stats().completed < 2 && Date.now() - started < 45_000)) {
      await sleep(250);
    }
    const s = sim.stats();
    const context = `\n${lines.slice(-3).join("\n")}\nwarnings: ${JSON.stringify(warnings.slice(0, 5))}`;
    expect(s.requested, `orders were requested${context}`).toBeGreaterThan(5);
    expect(s.offers, `drivers received offers${context}`).toBeGreaterThan(0);
    expect(s.matched, `offers were accepted${context}`).toBeGreaterThan(0);
    expect(s.completed, `trips were completed${context}`).toBeGreaterThan(1);
    expect(s.completed + s.cancelled, `outcomes never exceed requests${context}`).toBeLessThanOrEqual(
      s.requested,
    );
    expect(s.errors, `the simulation ran without failures${context}`).toBe(0);
    expect(s.requestToOfferMs.n).toBeGreaterThan(0);
    expect(s.requestToOfferMs.p50).toBeGreaterThan(0);
    expect(s.fixToEtaMs.n, `riders got ETA pushes${context}`).toBeGreaterThan(0);

    // The engine saw the same: offers accepted by the drivers the simulation counted.
    const engine = running.dispatch.stats();
    const accepted = engine.reduce((n, r) => n + r.offersAccepted, 0);
    expect(accepted).toBeGreaterThanOrEqual(s.matched);
    expect(engine.reduce((n, r) => n + r.offersMade, 0)).toBeGreaterThanOrEqual(s.offers);

    // The live line was printed with the figures.
    expect(lines.some((l) => /^\[sim \d+s\] drivers 6\/6 sockets.*completed/.test(l))).toBe(true);

    sim.stop();
    sim = undefined;
  }, 90_000);
});

describe("simulate flags", () => {
  it("reads --simulate[=N] and its companions, and refuses bad values", () => {
    expect(normalizeSimulateArgs(["--simulate", "--port", "0"])).toEqual(["--simulate=", "--port", "0"]);
    expect(simulateOptions({})).toBeUndefined();
    expect(simulateOptions({ simulate: "" })).toMatchObject({ drivers: 50, speedup: 60, replay: undefined });
    expect(
      simulateOptions({ simulate: "12", "order-rate": "2", replay: "r.csv", speedup: "120", seed: "3" }),
    ).toMatchObject({ drivers: 12, ordersPerS: 2, replay: "r.csv", speedup: 120, seed: 3 });
    expect(() => simulateOptions({ simulate: "many" })).toThrow(/--simulate/);
    expect(() => simulateOptions({ simulate: "2.5" })).toThrow(/whole number/);
    expect(() => simulateOptions({ simulate: "", speedup: "0" })).toThrow(/--speedup/);
    expect(() => simulateOptions({ replay: "r.csv" })).toThrow(/needs --simulate/);
  });
});
