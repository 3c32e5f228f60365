import { cellToChildren, latLngToCell } from "h3-js";
import { describe, expect, it } from "vitest";
import { codeOf, mulberry32 } from "./harness.js";
import { SurgeState, type TariffInput, TariffTable } from "./index.js";

const ECONOMY: TariffInput = { baseMinor: 250, perKmMinor: 120, perMinuteMinor: 30, minimumMinor: 700 };

/** The module doc's formula, in BigInt where the core uses integers. */
function jsQuote(t: Required<TariffInput>, distanceM: number, durationS: number, surge: number) {
  const divRound = (num: bigint, den: bigint) => (num + den / 2n) / den;
  const distanceMinor = Math.round((t.perKmMinor * distanceM) / 1000);
  const timeMinor = Math.round((t.perMinuteMinor * durationS) / 60);
  const fare = BigInt(Math.max(t.minimumMinor, t.baseMinor + distanceMinor + timeMinor));
  const bp = BigInt(Math.round(surge * 10_000));
  const step = BigInt(t.roundingMinor);
  const total = divRound(fare * bp, 10_000n * step) * step;
  return { distanceMinor, timeMinor, fareMinor: Number(fare), totalMinor: Number(total) };
}

describe("TariffTable", () => {
  it("quotes what the documented formula gives, with parts that add up", () => {
    const rand = mulberry32(1);
    const table = new TariffTable();
    for (let t = 0; t < 200; t++) {
      const tariff = {
        baseMinor: Math.floor(rand() * 1_000),
        perKmMinor: Math.floor(rand() * 500),
        perMinuteMinor: Math.floor(rand() * 100),
        minimumMinor: Math.floor(rand() * 2_000),
        roundingMinor: [1, 5, 50][t % 3]!,
      };
      table.set(t % 4, tariff);
      const distanceM = Math.round(rand() * 30_000 * 100) / 100;
      const durationS = Math.round(rand() * 3_600);
      const surge = 1 + Math.round(rand() * 20) / 10;
      const q = table.quote(t % 4, distanceM, durationS, surge);
      expect(q).toMatchObject(jsQuote(tariff, distanceM, durationS, surge));
      expect(q.fareMinor + q.surgeMinor + q.roundingMinor).toBe(q.totalMinor);
      expect(q.minimumApplied).toBe(tariff.minimumMinor > tariff.baseMinor + q.distanceMinor + q.timeMinor);
      expect(q.surgeMultiplier).toBe(surge);
    }
  });

  it("keeps tariffs by class: set, get, remove, classes; surge defaults to 1", () => {
    const table = new TariffTable();
    table.set(2, { ...ECONOMY, baseMinor: 500 });
    table.set(1, ECONOMY);
    expect(table.classes()).toEqual([1, 2]);
    expect(table.get(1)).toEqual({ ...ECONOMY, roundingMinor: 1 });
    expect(table.get(3)).toBeNull();
    expect(table.quote(1, 10_000, 1_200).totalMinor).toBe(2_050);
    expect(table.quote(1, 10_000, 1_200, 1.3).totalMinor).toBe(2_665);
    expect(table.remove(2)).toBe(true);
    expect(table.remove(2)).toBe(false);
    expect(table.classes()).toEqual([1]);
  });

  it("rejects bad arguments with coded errors", () => {
    const table = new TariffTable();
    table.set(1, ECONOMY);
    const bad = <T>(v: unknown) => v as T;
    expect(codeOf(() => table.quote(3, 1, 1))).toBe("UNKNOWN_VEHICLE_CLASS");
    expect(codeOf(() => table.quote(1, Number.NaN, 1))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => table.quote(1, -1, 1))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => table.quote(1, 1, 1, 0.5))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => table.quote(1, 1, 1, 101))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => table.quote(256, 1, 1))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => table.quote(bad("1"), 1, 1))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => table.set(1, { ...ECONOMY, baseMinor: 2.5 }))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => table.set(1, { ...ECONOMY, baseMinor: -1 }))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => table.set(1, { ...ECONOMY, roundingMinor: 0 }))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => table.set(1, { ...ECONOMY, perKmMinor: bad(undefined) }))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => table.set(1, bad(null)))).toBe("INVALID_ARGUMENT");
    expect(table.get(1)).toEqual({ ...ECONOMY, roundingMinor: 1 });
  });
});

describe("SurgeState", () => {
  const hot = latLngToCell(41.88, -87.63, 7);
  const calm = latLngToCell(41.95, -87.7, 7);
  const big = (cell: string) => BigInt(`0x${cell}`);

  it("rises, smooths, caps and decays as the formula says, by h3-js cells", () => {
    const surge = new SurgeState();
    // Ratio 5: raw = 1 + 0.5 * (5 - 1) = 3; smoothed 1 + 0.3 * (3 - 1) = 1.6.
    surge.update(BigUint64Array.of(big(hot), big(calm)), Float64Array.of(10, 1), Float64Array.of(2, 5));
    expect(surge.multiplier(hot)).toBeCloseTo(1.6, 12);
    expect(surge.multiplier(big(hot))).toBeCloseTo(1.6, 12);
    expect(surge.multiplier(calm)).toBe(1);
    expect(surge.multiplierAt(41.88, -87.63)).toBeCloseTo(1.6, 12);
    // A finer cell reads through its parent.
    expect(surge.multiplier(cellToChildren(hot, 9)[0]!)).toBeCloseTo(1.6, 12);
    expect([...surge.multipliers(BigUint64Array.of(big(hot), big(calm)))]).toEqual([
      surge.multiplier(hot),
      1,
    ]);
    const surging = surge.surging();
    expect([...surging.cells].map((c) => c.toString(16))).toEqual([hot]);
    expect(surge.size).toBe(1);
    let expected = 1.6;
    for (let i = 0; i < 10; i++) {
      surge.update(BigUint64Array.of(big(hot)), Float64Array.of(1_000), Float64Array.of(0));
      expected += 0.3 * (3 - expected);
    }
    expect(surge.multiplier(hot)).toBeCloseTo(Math.min(3, 1 + Math.round((expected - 1) / 0.1) * 0.1), 9);
    for (let i = 0; i < 100; i++)
      surge.update(new BigUint64Array(0), new Float64Array(0), new Float64Array(0));
    expect(surge.multiplier(hot)).toBe(1);
    expect(surge.size).toBe(0);
  });

  it("rejects bad arguments with coded errors, all or nothing", () => {
    const surge = new SurgeState({ resolution: 7, maxMultiplier: 2 });
    surge.update(BigUint64Array.of(big(hot)), Float64Array.of(10), Float64Array.of(1));
    const before = surge.multiplier(hot);
    const bad = <T>(v: unknown) => v as T;
    const one = (v: number) => Float64Array.of(v);
    expect(codeOf(() => surge.update(BigUint64Array.of(big(hot)), Float64Array.of(1, 2), one(1)))).toBe(
      "LENGTH_MISMATCH",
    );
    expect(codeOf(() => surge.update(BigUint64Array.of(7n), one(1), one(1)))).toBe("INVALID_ARGUMENT");
    const fine = big(latLngToCell(41.88, -87.63, 8));
    expect(codeOf(() => surge.update(BigUint64Array.of(fine), one(1), one(1)))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => surge.update(BigUint64Array.of(big(hot)), one(Number.NaN), one(1)))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(codeOf(() => surge.update(BigUint64Array.of(big(hot)), one(1), one(-1)))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => surge.update(bad([1n]), one(1), one(1)))).toBe("INVALID_ARGUMENT");
    expect(surge.multiplier(hot)).toBe(before);
    expect(codeOf(() => surge.multiplier(3n))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => surge.multiplier(-1n))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => surge.multiplier("not a cell"))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => surge.multiplier(bad(5)))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => surge.multipliers(BigUint64Array.of(big(hot), 3n)))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => surge.multiplierAt(Number.NaN, 0))).toBe("INVALID_COORDINATE");
    expect(codeOf(() => new SurgeState({ resolution: 16 }))).toBe("INVALID_RESOLUTION");
    expect(codeOf(() => new SurgeState({ alpha: 0 }))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => new SurgeState(bad({ alpha: "0.3" })))).toBe("INVALID_ARGUMENT");
  });
});
