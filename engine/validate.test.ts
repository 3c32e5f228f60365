import { describe, expect, it } from "vitest";
import * as v from "./validate.js";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe("edge validation", () => {
  it("coordinates: finite and in range, else INVALID_COORDINATE naming the field", () => {
    expect(v.latLng({ lat: -90, lng: 180 }, "pickup")).toEqual({ lat: -90, lng: 180 });
    for (const bad of [
      { lat: Number.NaN, lng: 0 },
      { lat: 0, lng: Number.POSITIVE_INFINITY },
      { lat: 90.0001, lng: 0 },
      { lat: 0, lng: -180.5 },
      { lat: "1", lng: 0 },
      { lng: 0 },
    ]) {
      expect(codeOf(() => v.latLng(bad, "pickup"))).toBe("INVALID_COORDINATE");
    }
    expect(() => v.latLng({ lat: 100, lng: 0 }, "dropoff")).toThrow(/dropoff\.lat/);
    expect(codeOf(() => v.latLng(null, "pickup"))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => v.latLng([1, 2], "pickup"))).toBe("INVALID_COORDINATE");
  });

  it("ids: 1..128 safe characters", () => {
    expect(v.riderId("rider_1.a:b-c")).toBe("rider_1.a:b-c");
    expect(v.id("x".repeat(128), "id")).toHaveLength(128);
    for (const bad of ["", "x".repeat(129), "a b", "a/b", "é", "a\nb", 7, null, undefined]) {
      expect(codeOf(() => v.driverId(bad))).toBe("INVALID_ARGUMENT");
    }
    expect(() => v.orderId("")).toThrow(/orderId/);
  });

  it("idempotency keys: 16..128 of [A-Za-z0-9_-]", () => {
    expect(v.idempotencyKey("0f8fad5b-d9cb-469f-a165-70867728950e")).toBeTruthy();
    for (const bad of ["short-key", "x".repeat(129), "has space in it 12345", "a.b.c.d.e.f.g.h.i.j"]) {
      expect(codeOf(() => v.idempotencyKey(bad))).toBe("INVALID_ARGUMENT");
    }
  });

  it("stars: integers 1..5 only", () => {
    for (const ok of [1, 2, 3, 4, 5]) expect(v.stars(ok)).toBe(ok);
    for (const bad of [0, 6, 3.5, Number.NaN, "5", null, -1])
      expect(codeOf(() => v.stars(bad))).toBe("INVALID_ARGUMENT");
  });

  it("actors: a known role and a valid id", () => {
    expect(v.actor({ role: "rider", id: "r1" })).toEqual({ role: "rider", id: "r1" });
    for (const bad of [null, { role: "admin", id: "a" }, { role: "driver", id: "" }, "rider"]) {
      expect(codeOf(() => v.actor(bad))).toBe("INVALID_ARGUMENT");
    }
  });

  it("measures and integers", () => {
    expect(v.measure(12.6, "d", 100)).toBe(13);
    for (const bad of [-1, 101, Number.NaN, "1"])
      expect(codeOf(() => v.measure(bad, "d", 100))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => v.integer(1.5, "n", 0, 10))).toBe("INVALID_ARGUMENT");
  });

  it("vehicle classes: lower-case names", () => {
    expect(v.vehicleClass("economy")).toBe("economy");
    for (const bad of ["Economy", "", "1x", "a".repeat(33)])
      expect(codeOf(() => v.vehicleClass(bad))).toBe("INVALID_ARGUMENT");
  });
});
