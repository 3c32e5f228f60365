import { describe, expect, it } from "vitest";
import { DEFAULT_FARE_TABLE, FlatSurge, haversineM, LinearFareModel, StraightLineRoutes } from "./pricing.js";

describe("LinearFareModel", () => {
  const model = new LinearFareModel();

  it("returns null for a class that is not offered (including inherited names)", () => {
    expect(model.tariff("limo", 1)).toBeNull();
    expect(model.tariff("toString", 1)).toBeNull();
  });

  it("clamps surge to [1, maxSurge] and stores it in thousandths", () => {
    expect(model.tariff("economy", 1.25)?.surgePermille).toBe(1250);
    expect(model.tariff("economy", 0.5)?.surgePermille).toBe(1000);
    expect(model.tariff("economy", 99)?.surgePermille).toBe(3000);
    expect(model.tariff("economy", Number.NaN)?.surgePermille).toBe(1000);
  });

  it("base + per km + per minute, exactly", () => {
    const t = model.tariff("economy", 1)!;
    // 250 + 120 * 10 km + 25 * 20 min = 1950
    expect(model.price(t, 10_000, 1_200)).toBe(1950);
    // 250 + 120 * 1.234 + 25 * 0.75 = 250 + 148.08 + 18.75 = 416.83 -> minimum 500
    expect(model.price(t, 1_234, 45)).toBe(500);
    // 250 + 120 * 3.001 + 25 * 0.5 = 622.62 -> 623
    expect(model.price(t, 3_001, 30)).toBe(623);
  });

  it("applies surge after the minimum and rounds half up", () => {
    const t = { ...model.tariff("economy", 1)!, surgePermille: 1500 };
    expect(model.price(t, 0, 0)).toBe(750);
    // 1950 * 1.333 = 2599.35 -> 2599 ; 1950 * 1.3334 not representable: permille only
    expect(model.price({ ...t, surgePermille: 1333 }, 10_000, 1_200)).toBe(2599);
    // 250 * 1.002 = 250.5 -> 251 (half up)
    expect(model.price({ ...t, surgePermille: 1002, minimumFare: 0 }, 0, 0)).toBe(251);
  });

  it("refuses a bad table at construction", () => {
    expect(() => new LinearFareModel({ ...DEFAULT_FARE_TABLE, currency: "euro" })).toThrow(/ISO 4217/);
    const bad = {
      ...DEFAULT_FARE_TABLE,
      classes: { x: { baseFare: 1.5, perKm: 1, perMinute: 1, minimumFare: 1 } },
    };
    expect(() => new LinearFareModel(bad)).toThrow(/minor units/);
  });
});

describe("routes and surge", () => {
  it("haversine of one degree of latitude is about 111 km", () => {
    expect(haversineM({ lat: 0, lng: 0 }, { lat: 1, lng: 0 })).toBeCloseTo(111_195, -1);
  });

  it("straight-line routes add the detour and use the city speed", async () => {
    const r = await new StraightLineRoutes(1.5, 36).estimate({ lat: 0, lng: 0 }, { lat: 0.01, lng: 0 });
    expect(r.distanceM).toBe(Math.round(1111.95 * 1.5));
    expect(r.durationS).toBe(Math.round(r.distanceM / 10));
  });

  it("flat surge", async () => {
    expect(await new FlatSurge(1.7).multiplierAt()).toBe(1.7);
  });
});
