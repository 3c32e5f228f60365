import { describe, expect, it } from "vitest";
import { cellsOf, SurgeState } from "../native/index.js";
import { MemoryPriceHistory } from "../storage/memory/price-history.js";
import { ManualClock } from "./clock.js";
import { NativeLocations, singleFix } from "./locations.js";
import { silentLogger } from "./logger.js";
import type { DriverId, LatLng } from "./model.js";
import type { AreaMessage, AreaNotifier, HeatMapMessage, PricePoint } from "./ports.js";
import { type DemandForecast, SurgePricing } from "./surge.js";

const BERLIN: LatLng = { lat: 52.52, lng: 13.405 };
const CELL = cellsOf(Float64Array.of(BERLIN.lat, BERLIN.lng), 7)[0]!;
const HEX = CELL.toString(16);
/** A point in another res-7 cell, some 20 km away. */
const FAR: LatLng = { lat: 52.7, lng: 13.405 };

class RecordingArea implements AreaNotifier {
  readonly area: AreaMessage[] = [];
  readonly drivers: HeatMapMessage[] = [];
  toArea(cell: string, message: AreaMessage): void {
    expect(message.cell).toBe(cell);
    this.area.push(message);
  }
  toDrivers(message: HeatMapMessage): void {
    this.drivers.push(message);
  }
}

function setup(options: { forecast?: DemandForecast; history?: MemoryPriceHistory } = {}) {
  const clock = new ManualClock();
  const locations = new NativeLocations();
  const pickups: LatLng[] = [];
  const area = new RecordingArea();
  const history = options.history ?? new MemoryPriceHistory();
  // Every update weighs the new value at one half; x2.0 at most; shown in steps of 0.1.
  const model = new SurgeState({ alpha: 0.5, maxMultiplier: 2, sensitivity: 0.5, threshold: 1, step: 0.1 });
  const surge = new SurgePricing(
    {
      clock,
      log: silentLogger,
      locations,
      openPickups: () => pickups,
      model,
      area,
      history,
      ...(options.forecast ? { forecast: options.forecast } : {}),
    },
    { intervalMs: 30_000 },
  );
  let n = 0;
  const driver = (at: LatLng, status: "free" | "busy" = "free") => {
    const id = `d${n++}` as DriverId;
    locations.applyFixes(id, singleFix(at.lat, at.lng, clock.now()));
    locations.setStatus(id, status);
    return id;
  };
  const demand = (count: number, at: LatLng = BERLIN) => {
    pickups.length = 0;
    for (let i = 0; i < count; i++) pickups.push({ lat: at.lat + i * 1e-5, lng: at.lng });
  };
  /** One update, 30 s after the last (points of one cell are unique by time). */
  const round = async () => {
    clock.advance(30_000);
    await surge.update();
  };
  return { clock, locations, area, history, surge, driver, demand, round };
}

describe("surge", () => {
  it("rises with demand against low supply, is capped, pushed and recorded", async () => {
    const s = setup();
    s.driver(BERLIN);
    s.driver(BERLIN, "busy"); // not supply
    s.driver(FAR);
    s.demand(10);
    s.surge.start();
    const seen: number[] = [];
    for (let i = 0; i < 8; i++) {
      await s.clock.advanceAsync(30_000);
      seen.push(await s.surge.multiplierAt(BERLIN, "economy"));
    }
    // 10 requests against 1 free driver: raw 5.5, capped at 2, smoothed by half each round.
    expect(seen).toEqual([1.5, 1.8, 1.9, 1.9, 2, 2, 2, 2]);
    expect(await s.surge.multiplierAt(FAR, "economy")).toBe(1);
    // Each change went to the area's riders and, as the whole map, to drivers; then recorded.
    expect(s.area.area.map((m) => m.multiplier)).toEqual([1.5, 1.8, 1.9, 2]);
    expect(s.area.area.every((m) => m.cell === HEX)).toBe(true);
    expect(s.area.drivers.map((m) => m.cells)).toEqual([
      [{ cell: HEX, multiplier: 1.5 }],
      [{ cell: HEX, multiplier: 1.8 }],
      [{ cell: HEX, multiplier: 1.9 }],
      [{ cell: HEX, multiplier: 2 }],
    ]);
    const start = s.clock.now() - 8 * 30_000;
    expect(s.history.list(HEX).map((p) => [p.multiplier, p.at - start])).toEqual([
      [1.5, 30_000],
      [1.8, 60_000],
      [1.9, 90_000],
      [2, 150_000],
    ]);
    expect(s.surge.heatMap()).toEqual([{ cell: HEX, multiplier: 2 }]);
    s.surge.stop();
  });

  it("stays at x1.0 when supply meets demand", async () => {
    const s = setup();
    for (let i = 0; i < 10; i++) s.driver({ lat: BERLIN.lat, lng: BERLIN.lng + i * 1e-5 });
    s.demand(10);
    await s.round();
    await s.round();
    expect(await s.surge.multiplierAt(BERLIN, "economy")).toBe(1);
    expect(s.area.area).toEqual([]);
    expect(s.area.drivers).toEqual([]);
  });

  it("decays back to x1.0 when the demand is gone, and says so", async () => {
    const s = setup();
    s.demand(10);
    for (let i = 0; i < 6; i++) await s.round();
    expect(await s.surge.multiplierAt(BERLIN, "economy")).toBe(2);
    s.demand(0);
    const seen: number[] = [];
    for (let i = 0; i < 6; i++) {
      await s.round();
      seen.push(await s.surge.multiplierAt(BERLIN, "economy"));
    }
    expect(seen).toEqual([1.5, 1.2, 1.1, 1.1, 1, 1]);
    expect(s.area.area.at(-1)).toMatchObject({ cell: HEX, multiplier: 1 });
    expect(s.area.drivers.at(-1)?.cells).toEqual([]);
    expect(s.history.list(HEX).at(-1)?.multiplier).toBe(1);
    expect(s.surge.heatMap()).toEqual([]);
  });

  it("adds the forecast to the open requests", async () => {
    const forecast: DemandForecast = {
      expected: (res) => {
        expect(res).toBe(7);
        return { cells: BigUint64Array.of(CELL), expected: Float64Array.of(5) };
      },
    };
    const s = setup({ forecast });
    s.driver(BERLIN);
    s.demand(0);
    await s.round();
    // 5 expected against 1 free driver: raw 3 -> capped 2 -> first smoothing step 1.5.
    expect(await s.surge.multiplierAt(BERLIN, "economy")).toBe(1.5);
  });

  it("keeps price points while the history store is down and writes them later, in order", async () => {
    let down = true;
    const inner = new MemoryPriceHistory();
    const history = Object.assign(new MemoryPriceHistory(), {
      append: async (points: readonly PricePoint[]) => {
        if (down) throw new Error("store down");
        await inner.append(points);
      },
      list: (cell?: string) => inner.list(cell),
    });
    const s = setup({ history });
    s.demand(10);
    await s.round();
    await s.round();
    expect(s.surge.stats().pendingHistory).toBe(2);
    down = false;
    await s.round();
    expect(inner.list(HEX).map((p) => p.multiplier)).toEqual([1.5, 1.8, 1.9]);
    expect(s.surge.stats().pendingHistory).toBe(0);
  });
});
