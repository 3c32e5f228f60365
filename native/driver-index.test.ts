import { cellToParent, latLngToCell } from "h3-js";
import { describe, expect, it } from "vitest";
import { CHICAGO, codeOf, haversineM, mulberry32, randomPoint } from "./harness.js";
import { DriverIndex, type DriverStatus, UPSERT_OUTCOMES } from "./index.js";

interface Driver {
  id: string;
  lat: number;
  lng: number;
  status: DriverStatus;
  vehicleClass: number;
}

/** A random city: `n` drivers in the Chicago box, about 60% free, three vehicle classes. */
function city(seed: number, n: number): { index: DriverIndex; drivers: Driver[] } {
  const rand = mulberry32(seed);
  const index = new DriverIndex();
  const drivers: Driver[] = [];
  const statuses: DriverStatus[] = ["offline", "offered", "busy"];
  for (let i = 0; i < n; i++) {
    const [lat, lng] = randomPoint(rand);
    const status = rand() < 0.6 ? "free" : statuses[Math.floor(rand() * 3)]!;
    const vehicleClass = Math.floor(rand() * 3);
    const id = `driver-${i}`;
    index.upsert(id, { lat, lng, timeMs: 1_000 });
    index.setStatus(id, status);
    index.setClass(id, vehicleClass);
    drivers.push({ id, lat, lng, status, vehicleClass });
  }
  return { index, drivers };
}

/** What a scan over every driver gives: free, in class, within radius, by distance then handle. */
function bruteForce(
  index: DriverIndex,
  drivers: Driver[],
  lat: number,
  lng: number,
  k: number,
  radiusM: number,
  vehicleClass?: number,
): { id: string; distanceM: number }[] {
  return drivers
    .filter((d) => d.status === "free" && (vehicleClass === undefined || d.vehicleClass === vehicleClass))
    .map((d) => ({ id: d.id, handle: index.handleOf(d.id)!, distanceM: haversineM(lat, lng, d.lat, d.lng) }))
    .filter((d) => d.distanceM <= radiusM)
    .sort((a, b) => a.distanceM - b.distanceM || a.handle - b.handle)
    .slice(0, k)
    .map(({ id, distanceM }) => ({ id, distanceM }));
}

describe("DriverIndex.nearest", () => {
  it("agrees with a brute-force haversine scan on a random city", () => {
    const { index, drivers } = city(7, 5_000);
    const rand = mulberry32(8);
    let compared = 0;
    for (let q = 0; q < 400; q++) {
      // Some queries fall outside the city, where the radius decides.
      const lat = CHICAGO.lat[0] - 0.05 + rand() * 0.47;
      const lng = CHICAGO.lng[0] - 0.05 + rand() * 0.52;
      const k = [1, 5, 10, 50][q % 4]!;
      const radiusM = [300, 3_000, 20_000, Number.POSITIVE_INFINITY][Math.floor(q / 4) % 4]!;
      const vehicleClass = q % 3 === 0 ? q % 2 : undefined;
      const got = index.nearest(lat, lng, { k, radiusM, vehicleClass });
      const want = bruteForce(index, drivers, lat, lng, k, radiusM, vehicleClass);
      expect(got.map((n) => n.id)).toEqual(want.map((n) => n.id));
      for (let i = 0; i < got.length; i++) {
        expect(got[i]!.distanceM).toBeCloseTo(want[i]!.distanceM, 6);
        expect(got[i]!.handle).toBe(index.handleOf(got[i]!.id));
      }
      compared += got.length;
    }
    expect(compared).toBeGreaterThan(4_000);
  });

  it("nearestMany answers every point as nearest does, in flat arrays", () => {
    const { index } = city(11, 2_000);
    const rand = mulberry32(12);
    const n = 200;
    const points = new Float64Array(2 * n);
    for (let i = 0; i < n; i++) [points[2 * i], points[2 * i + 1]] = randomPoint(rand);
    const batch = index.nearestMany(points, { k: 7, radiusM: 2_000, vehicleClass: 1 });
    expect(batch.k).toBe(7);
    expect(batch.counts.length).toBe(n);
    expect(batch.handles.length).toBe(n * 7);
    for (let i = 0; i < n; i++) {
      const one = index.nearest(points[2 * i]!, points[2 * i + 1]!, {
        k: 7,
        radiusM: 2_000,
        vehicleClass: 1,
      });
      expect(batch.counts[i]).toBe(one.length);
      for (let j = 0; j < one.length; j++) {
        expect(index.idOf(batch.handles[i * 7 + j]!)).toBe(one[j]!.id);
        expect(batch.distancesM[i * 7 + j]).toBe(one[j]!.distanceM);
      }
    }
  });

  it("finds nothing for k = 0, in an empty index, or beyond the radius; a huge k is capped", () => {
    const index = new DriverIndex();
    expect(index.nearest(41.9, -87.7, { k: 10, radiusM: 1_000 })).toEqual([]);
    index.upsert("a", { lat: 41.9, lng: -87.7, timeMs: 0 });
    index.setStatus("a", "free");
    expect(index.nearest(41.9, -87.7, { k: 0, radiusM: 1_000 })).toEqual([]);
    expect(index.nearest(42.0, -87.7, { k: 10, radiusM: 1_000 })).toEqual([]);
    expect(index.nearest(42.0, -87.7, { k: 2 ** 32 - 1, radiusM: Number.POSITIVE_INFINITY })).toHaveLength(1);
  });
});

describe("DriverIndex cells and supply", () => {
  it("puts drivers in the cells h3-js computes and counts free supply per cell like JS does", () => {
    const { index, drivers } = city(21, 3_000);
    for (const d of drivers.slice(0, 500)) {
      expect(index.get(d.id)!.cell.toString(16)).toBe(latLngToCell(d.lat, d.lng, 9));
    }
    for (const [res, vehicleClass] of [
      [9, undefined],
      [7, undefined],
      [7, 2],
    ] as const) {
      const want = new Map<string, number>();
      for (const d of drivers) {
        if (d.status !== "free" || (vehicleClass !== undefined && d.vehicleClass !== vehicleClass)) continue;
        const cell = cellToParent(latLngToCell(d.lat, d.lng, 9), res);
        want.set(cell, (want.get(cell) ?? 0) + 1);
      }
      const got = index.supplyByCell(res, vehicleClass);
      const gotMap = new Map<string, number>();
      got.cells.forEach((c, i) => {
        gotMap.set(c.toString(16), got.counts[i]!);
      });
      expect(gotMap).toEqual(want);
      expect([...got.cells]).toEqual([...got.cells].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      const total = [...want.values()].reduce((a, b) => a + b, 0);
      expect(index.supplyInCells(got.cells, vehicleClass)).toBe(total);
    }
  });
});

describe("DriverIndex fixes", () => {
  it("upsertMany applies a batch in place and reports every outcome", () => {
    const index = new DriverIndex({ jumpConfirmFixes: 3 });
    const [a, b, c] = ["a", "b", "c"].map((id) => index.handleFor(id)) as [number, number, number];
    const handles = Uint32Array.of(a, b, a, b, c, a);
    const latLngs = Float64Array.of(
      41.9,
      -87.7, // a: first fix
      41.8,
      -87.6, // b: first fix
      41.9001,
      -87.7, // a: 11 m in 4 s
      41.8,
      -87.6, // b: same time again: stale
      Number.NaN,
      -87.6, // c: malformed
      42.5,
      -87.7, // a: 66 km in 4 s: a jump
    );
    const timesMs = Float64Array.of(0, 0, 4_000, 0, 0, 8_000);
    const headingsDeg = Float32Array.of(90, Number.NaN, 95, 0, 0, 0);
    const outcomes = new Uint8Array(6);
    const summary = index.upsertMany({ handles, latLngs, timesMs, headingsDeg, outcomes });
    expect([...outcomes].map((o) => UPSERT_OUTCOMES[o])).toEqual([
      "applied",
      "applied",
      "applied",
      "stale",
      "invalid",
      "jump",
    ]);
    expect(summary).toEqual({ applied: 3, stale: 1, jump: 1, invalid: 1, relocated: 0 });
    expect(index.size).toBe(2);
    const state = index.get("a")!;
    expect(state).toMatchObject({ id: "a", handle: a, lat: 41.9001, lng: -87.7, timeMs: 4_000 });
    expect(state.headingDeg).toBeCloseTo(95, 5);
    expect(state.speedMps).toBeNull();
    expect(state.status).toBe("offline");
    expect(index.get("b")!.headingDeg).toBeNull();
    expect(index.get("c")).toBeNull();
    // Without an outcomes buffer the batch still applies.
    expect(
      index.upsertMany({
        handles: Uint32Array.of(b),
        latLngs: Float64Array.of(41.8, -87.6),
        timesMs: Float64Array.of(9),
      }),
    ).toEqual({ applied: 1, stale: 0, jump: 0, invalid: 0, relocated: 0 });
  });

  it("relocates after consistent jumps, and single upserts say what happened", () => {
    const index = new DriverIndex();
    expect(index.upsert("d", { lat: 41.9, lng: -87.7, timeMs: 0, headingDeg: 10, speedMps: 8 })).toBe(
      "applied",
    );
    expect(index.upsert("d", { lat: 41.9, lng: -87.7, timeMs: 0 })).toBe("stale");
    expect(index.upsert("d", { lat: 42.5, lng: -87.7, timeMs: 1_000 })).toBe("jump");
    expect(index.upsert("d", { lat: 42.5001, lng: -87.7, timeMs: 2_000 })).toBe("jump");
    expect(index.upsert("d", { lat: 42.5002, lng: -87.7, timeMs: 3_000 })).toBe("relocated");
    expect(index.get("d")).toMatchObject({ lat: 42.5002, timeMs: 3_000, headingDeg: null, speedMps: null });
  });

  it("status and class strings round-trip and filter queries", () => {
    const index = new DriverIndex();
    index.upsert("x", { lat: 41.9, lng: -87.7, timeMs: 0 });
    for (const status of ["free", "offered", "busy", "offline"] as const) {
      index.setStatus("x", status);
      expect(index.get("x")!.status).toBe(status);
    }
    index.setStatus("x", "free");
    index.setClass("x", 4);
    expect(index.get("x")!.vehicleClass).toBe(4);
    expect(index.nearest(41.9, -87.7, { k: 1, radiusM: 10, vehicleClass: 4 })).toHaveLength(1);
    expect(index.nearest(41.9, -87.7, { k: 1, radiusM: 10, vehicleClass: 3 })).toHaveLength(0);
    index.setStatus("x", "busy");
    expect(index.nearest(41.9, -87.7, { k: 1, radiusM: 10 })).toHaveLength(0);
  });
});

describe("DriverIndex handles", () => {
  it("maps ids to dense handles and reuses a handle after remove", () => {
    const index = new DriverIndex();
    expect(index.handleFor("a")).toBe(0);
    expect(index.handleFor("b")).toBe(1);
    expect(index.handleFor("a")).toBe(0);
    index.upsert("a", { lat: 41.9, lng: -87.7, timeMs: 0 });
    index.upsert("b", { lat: 41.9, lng: -87.7, timeMs: 0 });
    index.remove("a");
    expect(index.handleOf("a")).toBeUndefined();
    expect(index.idOf(0)).toBeUndefined();
    expect(index.get("a")).toBeNull();
    expect(index.size).toBe(1);
    // The freed handle goes to the next new driver, who starts from scratch.
    index.upsert("c", { lat: 41.8, lng: -87.6, timeMs: 5 });
    expect(index.handleOf("c")).toBe(0);
    expect(index.get("c")).toMatchObject({ lat: 41.8, status: "offline", vehicleClass: 0 });
    // A handle issued but never given a fix is released by remove too.
    index.handleFor("ghost");
    index.remove("ghost");
    expect(index.handleOf("ghost")).toBeUndefined();
    expect(index.handleCount).toBe(2);
  });

  it("expire forgets stale drivers, returns their ids and releases their handles", () => {
    const index = new DriverIndex({ expireAfterMs: 60_000 });
    index.upsert("old", { lat: 41.9, lng: -87.7, timeMs: 0 });
    index.upsert("new", { lat: 41.9, lng: -87.7, timeMs: 50_000 });
    expect(index.expire(70_000)).toEqual(["old"]);
    expect(index.get("old")).toBeNull();
    expect(index.handleOf("old")).toBeUndefined();
    expect(index.get("new")).not.toBeNull();
    expect(index.handleFor("newer")).toBe(0);
    expect(index.expire(70_000)).toEqual([]);
  });

  it("several indexes live side by side, each with its own drivers", () => {
    const indexes = Array.from({ length: 50 }, (_, i) => new DriverIndex({ resolution: 7 + (i % 3) }));
    indexes.forEach((ix, i) => {
      ix.upsert("same-id", { lat: 41.9, lng: -87.7 + i * 1e-3, timeMs: i });
      ix.setStatus("same-id", "free");
    });
    indexes.forEach((ix, i) => {
      expect(ix.resolution).toBe(7 + (i % 3));
      expect(ix.size).toBe(1);
      expect(ix.get("same-id")!.lng).toBe(-87.7 + i * 1e-3);
      expect(ix.nearest(41.9, -87.7 + i * 1e-3, { k: 1, radiusM: 1 })).toHaveLength(1);
    });
  });

  it("a failed first upsert leaves no handle behind", () => {
    const index = new DriverIndex();
    expect(codeOf(() => index.upsert("bad", { lat: 95, lng: 0, timeMs: 0 }))).toBe("INVALID_COORDINATE");
    expect(index.handleOf("bad")).toBeUndefined();
    expect(index.handleFor("good")).toBe(0);
  });
});

describe("DriverIndex bad arguments", () => {
  const index = new DriverIndex();
  index.upsert("a", { lat: 41.9, lng: -87.7, timeMs: 0 });
  const a = index.handleOf("a")!;
  const fixes = (n: number) => ({
    handles: new Uint32Array(n).fill(a),
    latLngs: new Float64Array(2 * n).fill(41.9),
    timesMs: new Float64Array(n),
  });

  it("NaN and out-of-range coordinates: INVALID_COORDINATE", () => {
    expect(codeOf(() => index.upsert("a", { lat: Number.NaN, lng: 0, timeMs: 1 }))).toBe(
      "INVALID_COORDINATE",
    );
    expect(codeOf(() => index.upsert("a", { lat: 0, lng: 181, timeMs: 1 }))).toBe("INVALID_COORDINATE");
    expect(codeOf(() => index.nearest(91, 0, { k: 1, radiusM: 1 }))).toBe("INVALID_COORDINATE");
    expect(codeOf(() => index.nearest(0, Number.POSITIVE_INFINITY, { k: 1, radiusM: 1 }))).toBe(
      "INVALID_COORDINATE",
    );
    expect(
      codeOf(() => index.nearestMany(Float64Array.of(41, -87, Number.NaN, 0), { k: 1, radiusM: 1 })),
    ).toBe("INVALID_COORDINATE");
    expect(() => index.nearestMany(Float64Array.of(41, -87, 95, 0), { k: 1, radiusM: 1 })).toThrow(/point 1/);
  });

  it("mismatched lengths: LENGTH_MISMATCH, before anything is applied", () => {
    const before = index.get("a");
    expect(codeOf(() => index.upsertMany({ ...fixes(2), timesMs: new Float64Array(3) }))).toBe(
      "LENGTH_MISMATCH",
    );
    expect(codeOf(() => index.upsertMany({ ...fixes(2), latLngs: new Float64Array(3) }))).toBe(
      "LENGTH_MISMATCH",
    );
    expect(codeOf(() => index.upsertMany({ ...fixes(2), headingsDeg: new Float32Array(1) }))).toBe(
      "LENGTH_MISMATCH",
    );
    expect(codeOf(() => index.upsertMany({ ...fixes(2), outcomes: new Uint8Array(1) }))).toBe(
      "LENGTH_MISMATCH",
    );
    expect(codeOf(() => index.nearestMany(Float64Array.of(41, -87, 42), { k: 1, radiusM: 1 }))).toBe(
      "LENGTH_MISMATCH",
    );
    expect(index.get("a")).toEqual(before);
  });

  it("unknown drivers and handles: UNKNOWN_HANDLE", () => {
    expect(codeOf(() => index.setStatus("nobody", "free"))).toBe("UNKNOWN_HANDLE");
    expect(codeOf(() => index.setClass("nobody", 1))).toBe("UNKNOWN_HANDLE");
    expect(codeOf(() => index.remove("nobody"))).toBe("UNKNOWN_HANDLE");
    index.handleFor("no-fix-yet");
    expect(codeOf(() => index.setStatus("no-fix-yet", "free"))).toBe("UNKNOWN_HANDLE");
    expect(codeOf(() => index.upsertMany({ ...fixes(2), handles: Uint32Array.of(a, 999) }))).toBe(
      "UNKNOWN_HANDLE",
    );
    expect(() => index.upsertMany({ ...fixes(2), handles: Uint32Array.of(a, 999) })).toThrow(/handles\[1\]/);
    expect(index.get("nobody")).toBeNull();
  });

  it("wrong JS types and values out of their domain: INVALID_ARGUMENT", () => {
    const bad = <T>(v: unknown) => v as T;
    expect(codeOf(() => index.upsertMany({ ...fixes(1), handles: bad([a]) }))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => index.upsertMany({ ...fixes(1), latLngs: bad(new Float32Array(2)) }))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(codeOf(() => index.upsertMany(bad(null)))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => index.upsert(bad(42), { lat: 0, lng: 0, timeMs: 0 }))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => index.upsert("a", bad({ lat: "41", lng: 0, timeMs: 0 })))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => index.upsert("a", { lat: 41, lng: -87, timeMs: Number.NaN }))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(codeOf(() => index.upsert("a", { lat: 41, lng: -87, timeMs: 5, headingDeg: 400 }))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(codeOf(() => index.upsert("a", { lat: 41, lng: -87, timeMs: 5, speedMps: -1 }))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(codeOf(() => index.setStatus("a", bad("flying")))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => index.setClass("a", 256))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => index.setClass("a", 1.5))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => index.nearest(41, -87, { k: bad("10"), radiusM: 1 }))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => index.nearest(41, -87, { k: -1, radiusM: 1 }))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => index.nearest(41, -87, { k: 1, radiusM: Number.NaN }))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => index.nearest(41, -87, { k: 1, radiusM: -5 }))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => index.nearest(41, -87, { k: 1, radiusM: 1, vehicleClass: -1 }))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(codeOf(() => index.nearest(bad("41"), -87, { k: 1, radiusM: 1 }))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => index.nearestMany(Float64Array.of(41, -87), { k: 1025, radiusM: 1 }))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(codeOf(() => index.expire(Number.NaN))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => index.supplyInCells(BigUint64Array.of(12345n)))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => new DriverIndex(bad({ maxSpeedMps: "fast" })))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => new DriverIndex({ maxSpeedMps: -1 }))).toBe("INVALID_ARGUMENT");
    const tiny = new DriverIndex({ maxHandles: 1 });
    tiny.handleFor("p");
    expect(codeOf(() => tiny.handleFor("q"))).toBe("INVALID_ARGUMENT");
  });

  it("bad resolutions: INVALID_RESOLUTION", () => {
    expect(codeOf(() => new DriverIndex({ resolution: 16 }))).toBe("INVALID_RESOLUTION");
    expect(codeOf(() => new DriverIndex({ resolution: 8.5 }))).toBe("INVALID_RESOLUTION");
    expect(codeOf(() => index.supplyByCell(10))).toBe("INVALID_RESOLUTION");
    expect(codeOf(() => index.supplyByCell(-1))).toBe("INVALID_RESOLUTION");
  });

  it("an outcomes buffer that aliases an input is refused", () => {
    const f = fixes(2);
    const outcomes = new Uint8Array(f.timesMs.buffer, 0, 2);
    expect(codeOf(() => index.upsertMany({ ...f, outcomes }))).toBe("INVALID_ARGUMENT");
  });
});

describe("DriverIndex.upsertOne", () => {
  it("applies, drops stale and malformed fixes by code, and refuses unknown handles", () => {
    const index = new DriverIndex();
    const h = index.handleFor("d-one");
    const t0 = Date.UTC(2026, 10, 27);
    expect(UPSERT_OUTCOMES[index.upsertOne(h, 41.88, -87.63, t0, 90, 10)]).toBe("applied");
    expect(index.get("d-one")).toMatchObject({
      lat: 41.88,
      lng: -87.63,
      timeMs: t0,
      headingDeg: 90,
      speedMps: 10,
    });
    expect(UPSERT_OUTCOMES[index.upsertOne(h, 41.8801, -87.63, t0)]).toBe("stale");
    expect(UPSERT_OUTCOMES[index.upsertOne(h, Number.NaN, -87.63, t0 + 1000)]).toBe("invalid");
    expect(UPSERT_OUTCOMES[index.upsertOne(h, 41.88, 200, t0 + 1000)]).toBe("invalid");
    expect(UPSERT_OUTCOMES[index.upsertOne(h, 41.95, -87.63, t0 + 1000)]).toBe("jump");
    expect(index.get("d-one")).toMatchObject({ lat: 41.88, timeMs: t0 });
    expect(() => index.upsertOne(h + 1, 41.88, -87.63, t0 + 2000)).toThrowError(
      expect.objectContaining({ code: "UNKNOWN_HANDLE" }),
    );
  });
});
