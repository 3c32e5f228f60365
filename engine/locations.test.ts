import { describe, expect, it } from "vitest";
import { cellsOf } from "../native/index.js";
import { ManualClock } from "./clock.js";
import { DispatchError } from "./errors.js";
import { expireSilentDrivers, FixOutcome, NativeLocations, singleFix } from "./locations.js";
import type { DriverId, LatLng } from "./model.js";
import { haversineM } from "./pricing.js";

const P: LatLng = { lat: 52.52, lng: 13.405 };
const east = (m: number): LatLng => ({
  lat: P.lat,
  lng: P.lng + m / (111_320 * Math.cos((P.lat * Math.PI) / 180)),
});
const D = (id: string) => id as DriverId;
const T0 = Date.UTC(2025, 0, 1);

function batch(points: [LatLng, number][]) {
  return {
    latLngs: Float64Array.from(points.flatMap(([p]) => [p.lat, p.lng])),
    timesMs: Float64Array.from(points.map(([, t]) => t)),
  };
}

describe("NativeLocations", () => {
  it("applies a driver's batch in order, dropping stale fixes and implausible jumps", () => {
    const l = new NativeLocations();
    const r = l.applyFixes(
      D("d1"),
      batch([
        [P, T0],
        [east(100), T0 + 10_000],
        [east(50), T0 + 5_000], // older than the last applied: stale
        [east(20_000), T0 + 11_000], // 20 km in a second: jump
        [east(150), T0 + 20_000],
      ]),
    );
    expect(r).toMatchObject({ applied: 3, dropped: 2, jumps: 1 });
    expect(Array.from(r.outcomes)).toEqual([
      FixOutcome.Applied,
      FixOutcome.Applied,
      FixOutcome.Stale,
      FixOutcome.Jump,
      FixOutcome.Applied,
    ]);
    const pos = l.positionOf(D("d1"))!;
    expect(haversineM(pos, east(150))).toBeLessThan(0.01);
    expect(pos).toMatchObject({ at: T0 + 20_000, status: "offline", vehicleClass: null, heading: null });
    // A malformed fix is dropped, the rest of the batch goes on.
    const bad = l.applyFixes(
      D("d1"),
      batch([
        [{ lat: 91, lng: 0 }, T0 + 21_000],
        [east(160), T0 + 22_000],
      ]),
    );
    expect(bad).toMatchObject({ applied: 1, dropped: 1, jumps: 0 });
    expect(() =>
      l.applyFixes(D("d1"), { latLngs: new Float64Array(3), timesMs: new Float64Array(2) }),
    ).toThrow(DispatchError);
  });

  it("finds the k nearest free drivers of a class within the radius, exactly", () => {
    const l = new NativeLocations();
    const add = (id: string, at: LatLng, cls: string, status: "free" | "busy" | "offline" = "free") => {
      l.applyFixes(D(id), singleFix(at.lat, at.lng, T0));
      l.setVehicleClass(D(id), cls);
      l.setStatus(D(id), status);
    };
    add("a", east(100), "economy");
    add("b", east(300), "economy");
    add("c", east(200), "comfort");
    add("d", east(50), "economy", "busy");
    add("e", east(2_500), "economy");
    add("f", east(400), "economy", "offline");
    expect(l.nearestFree(P, "economy", 5, 2_000).map((n) => n.driverId)).toEqual(["a", "b"]);
    expect(l.nearestFree(P, "economy", 1, 2_000).map((n) => n.driverId)).toEqual(["a"]);
    expect(l.nearestFree(P, "economy", 5, 3_000).map((n) => n.driverId)).toEqual(["a", "b", "e"]);
    expect(l.nearestFree(P, "comfort", 5, 3_000).map((n) => n.driverId)).toEqual(["c"]);
    expect(l.nearestFree(P, "xl", 5, 3_000)).toEqual([]);
    const [first] = l.nearestFree(P, "economy", 1, 2_000);
    expect(first!.distanceM).toBeCloseTo(haversineM(P, east(100)), 3);
    const many = l.nearestFreeMany(
      Float64Array.of(P.lat, P.lng, east(2_400).lat, east(2_400).lng),
      "economy",
      2,
      1_000,
    );
    expect(many.map((list) => list.map((n) => n.driverId))).toEqual([["a", "b"], ["e"]]);
    expect(l.positionOf(D("c"))?.vehicleClass).toBe("comfort");
  });

  it("counts free drivers per area cell", () => {
    const l = new NativeLocations();
    for (const [id, status] of [
      ["a", "free"],
      ["b", "free"],
      ["c", "busy"],
    ] as const) {
      l.applyFixes(D(id), singleFix(P.lat, P.lng, T0));
      l.setStatus(D(id), status);
      l.setVehicleClass(D(id), id === "b" ? "comfort" : "economy");
    }
    const cell = cellsOf(Float64Array.of(P.lat, P.lng), 7)[0]!;
    const all = l.supplyByCell(7);
    expect(Array.from(all.cells)).toEqual([cell]);
    expect(Array.from(all.counts)).toEqual([2]);
    expect(Array.from(l.supplyByCell(7, "comfort").counts)).toEqual([1]);
    expect(l.supplyByCell(7, "xl").cells).toHaveLength(0);
  });

  it("answers 'not found' for unknown drivers without throwing, and expires silent ones", () => {
    const l = new NativeLocations();
    expect(l.positionOf(D("ghost"))).toBeNull();
    expect(l.setStatus(D("ghost"), "free")).toBe(false);
    expect(l.setVehicleClass(D("ghost"), "economy")).toBe(false);
    expect(l.remove(D("ghost"))).toBe(false);
    // A new id whose only fix is invalid is not kept.
    l.applyFixes(D("bad"), singleFix(95, 0, T0));
    expect(l.positionOf(D("bad"))).toBeNull();
    expect(l.size).toBe(0);

    const clock = new ManualClock(T0);
    l.applyFixes(D("quiet"), singleFix(P.lat, P.lng, T0));
    const expired: string[][] = [];
    const stop = expireSilentDrivers(l, clock, 30_000, (ids) => expired.push(ids));
    clock.advance(90_000);
    l.applyFixes(D("chatty"), singleFix(P.lat, P.lng, clock.now()));
    clock.advance(60_000); // index default: forgotten after 120 s of silence
    expect(expired).toEqual([["quiet"]]);
    expect(l.positionOf(D("quiet"))).toBeNull();
    expect(l.positionOf(D("chatty"))).not.toBeNull();
    stop();
    expect(clock.pending).toBe(0);
    expect(l.remove(D("chatty"))).toBe(true);
    expect(l.size).toBe(0);
  });
});
