import { describe, expect, it } from "vitest";
import { parseReplayCsv, parseTime, replayOffsets } from "./replay.js";

describe("parseReplayCsv", () => {
  it("reads ISO and epoch-second times, skips and counts bad rows, sorts by time", () => {
    const csv = [
      "request_time,pickup_lat,pickup_lng,dropoff_lat,dropoff_lng",
      "2026-11-27T08:00:10Z,41.88,-87.63,41.90,-87.65",
      "1795766400,41.89,-87.64,41.87,-87.62", // 2026-11-27T08:00:00Z as epoch seconds
      "", // blank lines are not rows
      "yesterday,41.88,-87.63,41.90,-87.65", // bad time
      "2026-11-27T08:00:20Z,91,-87.63,41.90,-87.65", // latitude out of range
      "2026-11-27T08:00:20Z,41.88,,41.90,-87.65", // missing coordinate
      "2026-11-27T08:00:20Z,41.88,-87.63,41.90", // too few fields
      "2026-11-27T08:00:20Z,41.88,abc,41.90,-87.65", // not a number
      "2026-11-27T08:00:20Z,NaN,-87.63,41.90,-87.65", // NaN
      "1795766405.5,41.885,-87.635,41.905,-87.655", // decimal epoch seconds
    ].join("\r\n");
    const r = parseReplayCsv(csv);
    expect(r.skipped).toBe(6);
    expect(r.problems).toHaveLength(6);
    expect(r.problems[0]).toMatch(/^line 5: request_time "yesterday"/);
    expect(r.rows.map((x) => x.at)).toEqual([
      Date.UTC(2026, 10, 27, 8, 0, 0),
      Date.UTC(2026, 10, 27, 8, 0, 5, 500),
      Date.UTC(2026, 10, 27, 8, 0, 10),
    ]);
    expect(r.rows[0]).toEqual({
      at: Date.UTC(2026, 10, 27, 8),
      pickup: { lat: 41.89, lng: -87.64 },
      dropoff: { lat: 41.87, lng: -87.62 },
    });
  });

  it("finds the columns by name, in any order, with extra and quoted columns", () => {
    const csv = [
      '"trip_id",dropoff_lng,dropoff_lat,request_time,pickup_lng,pickup_lat,"note"',
      '7,-87.65,41.90,2026-11-27T08:00:00Z,-87.63,41.88,"late, rainy"',
    ].join("\n");
    const r = parseReplayCsv(csv);
    expect(r.skipped).toBe(0);
    expect(r.rows).toEqual([
      {
        at: Date.UTC(2026, 10, 27, 8),
        pickup: { lat: 41.88, lng: -87.63 },
        dropoff: { lat: 41.9, lng: -87.65 },
      },
    ]);
  });

  it("refuses a header without a required column and an empty file", () => {
    expect(() => parseReplayCsv("request_time,pickup_lat,pickup_lng,dropoff_lat\n")).toThrow(/dropoff_lng/);
    expect(() => parseReplayCsv("\n\n")).toThrow(/empty/);
  });

  it("keeps only the first ten reasons but counts every bad row", () => {
    const bad = Array.from({ length: 25 }, () => "never,1,2,3,4");
    const r = parseReplayCsv(
      ["request_time,pickup_lat,pickup_lng,dropoff_lat,dropoff_lng", ...bad].join("\n"),
    );
    expect(r.rows).toEqual([]);
    expect(r.skipped).toBe(25);
    expect(r.problems).toHaveLength(10);
  });
});

describe("parseTime", () => {
  it("accepts ISO dates and epoch seconds, nothing else", () => {
    expect(parseTime("2026-11-27")).toBe(Date.UTC(2026, 10, 27));
    expect(parseTime("2026-11-27T09:30:00+01:00")).toBe(Date.UTC(2026, 10, 27, 8, 30));
    expect(parseTime("0")).toBe(0);
    expect(parseTime("")).toBeNaN();
    expect(parseTime("11/27/2026")).toBeNaN();
    expect(parseTime("2026-13-45T00:00:00Z")).toBeNaN();
  });
});

describe("replayOffsets", () => {
  it("compresses the gaps by the speedup, from the first request", () => {
    const rows = [0, 60_000, 600_000].map((at) => ({
      at: 1_000_000 + at,
      pickup: { lat: 0, lng: 0 },
      dropoff: { lat: 0, lng: 0 },
    }));
    expect(replayOffsets(rows, 60)).toEqual([0, 1_000, 10_000]);
    expect(replayOffsets([], 60)).toEqual([]);
    expect(() => replayOffsets(rows, 0)).toThrow(/speedup/);
  });
});
