import { latLngToCell } from "h3-js";
import { describe, expect, it } from "vitest";
import { codeOf, haversineM, mulberry32, randomPoint } from "./harness.js";
import { EtaModel } from "./index.js";

/** The core's documented defaults (m/s by hour). */
const SPEEDS = [
  11.0, 11.5, 12.0, 12.0, 11.5, 10.5, 9.0, 6.0, 5.0, 6.0, 7.5, 7.5, 7.0, 7.0, 7.5, 7.0, 6.0, 5.0, 5.0, 6.0,
  8.0, 9.0, 10.0, 10.5,
];

describe("EtaModel", () => {
  it("computes distance x detour / hourly speed (+ overhead), as the formula says", () => {
    const model = new EtaModel();
    const rand = mulberry32(1);
    for (let i = 0; i < 500; i++) {
      const [aLat, aLng] = randomPoint(rand);
      const [bLat, bLng] = randomPoint(rand);
      const hour = i % 24;
      const travel = (haversineM(aLat, aLng, bLat, bLng) * 1.3) / SPEEDS[hour]!;
      expect(model.travelS(aLat, aLng, bLat, bLng, hour)).toBeCloseTo(travel, 6);
      expect(model.etaS(aLat, aLng, bLat, bLng, hour)).toBeCloseTo(travel + 30, 6);
      // Symmetric.
      expect(model.etaS(bLat, bLng, aLat, aLng, hour)).toBeCloseTo(travel + 30, 6);
    }
  });

  it("etaMany gives etaS per target, as float32", () => {
    const model = new EtaModel({
      detourFactor: 1.5,
      pickupOverheadS: 10,
      hourlySpeedMps: SPEEDS.map((s) => s * 2),
    });
    const rand = mulberry32(2);
    const targets = new Float64Array(2 * 300);
    for (let i = 0; i < 300; i++) [targets[2 * i], targets[2 * i + 1]] = randomPoint(rand);
    const etas = model.etaMany(41.88, -87.63, targets, 17);
    expect(etas).toBeInstanceOf(Float32Array);
    expect(etas.length).toBe(300);
    for (let i = 0; i < 300; i++) {
      const one = model.etaS(41.88, -87.63, targets[2 * i]!, targets[2 * i + 1]!, 17);
      expect(etas[i]).toBe(Math.fround(one));
      expect(one).toBeCloseTo(
        (haversineM(41.88, -87.63, targets[2 * i]!, targets[2 * i + 1]!) * 1.5) / 10 + 10,
        6,
      );
    }
    expect(model.etaMany(0, 0, new Float64Array(0), 0).length).toBe(0);
  });

  it("slows or speeds areas by the harmonic mean of the endpoints' multipliers", () => {
    const slow = BigInt(`0x${latLngToCell(41.88, -87.63, 6)}`);
    const model = new EtaModel({ areaCells: BigUint64Array.of(slow), areaMultipliers: Float64Array.of(0.5) });
    const plain = new EtaModel();
    const inside =
      model.travelS(41.88, -87.63, 41.95, -87.7, 12) / plain.travelS(41.88, -87.63, 41.95, -87.7, 12);
    // Half the speed at one end: 2 / (1/0.5 + 1/1) = 2/3 of the speed, 1.5 times the time.
    expect(inside).toBeCloseTo(1.5, 9);
  });

  it("rejects bad arguments with coded errors", () => {
    const model = new EtaModel();
    const bad = <T>(v: unknown) => v as T;
    expect(codeOf(() => model.etaS(Number.NaN, 0, 1, 1, 3))).toBe("INVALID_COORDINATE");
    expect(codeOf(() => model.travelS(0, 0, 91, 1, 3))).toBe("INVALID_COORDINATE");
    expect(codeOf(() => model.etaMany(0, 0, Float64Array.of(1, 1, 0, 200), 3))).toBe("INVALID_COORDINATE");
    expect(() => model.etaMany(0, 0, Float64Array.of(1, 1, 0, 200), 3)).toThrow(/target 1/);
    expect(codeOf(() => model.etaMany(0, 0, Float64Array.of(1, 1, 1), 3))).toBe("LENGTH_MISMATCH");
    expect(codeOf(() => model.etaS(0, 0, 1, 1, 24))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => model.etaS(0, 0, 1, 1, 7.5))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => model.etaS(0, 0, 1, 1, bad("7")))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => model.etaMany(0, 0, bad([1, 1]), 3))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => new EtaModel({ detourFactor: 0.5 }))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => new EtaModel({ hourlySpeedMps: [10] }))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => new EtaModel({ hourlySpeedMps: bad("fast") }))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => new EtaModel({ areaResolution: 16 }))).toBe("INVALID_RESOLUTION");
    expect(
      codeOf(
        () => new EtaModel({ areaCells: BigUint64Array.of(1n, 2n), areaMultipliers: Float64Array.of(1) }),
      ),
    ).toBe("LENGTH_MISMATCH");
    expect(
      codeOf(
        () => new EtaModel({ areaCells: BigUint64Array.of(12345n), areaMultipliers: Float64Array.of(1) }),
      ),
    ).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => new EtaModel(bad(5)))).toBe("INVALID_ARGUMENT");
  });
});
