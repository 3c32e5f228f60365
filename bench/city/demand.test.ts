import { describe, expect, it } from "vitest";
import { mulberry32 } from "../stats.js";
import {
  arrivals,
  CHICAGO_GEOGRAPHY,
  DAY_PROFILE,
  dropoff,
  fleetShare,
  maxOrderRate,
  orderRate,
  phaseAt,
  pickup,
  type Schedule,
  timeOfDay,
  totalS,
} from "./demand.js";

const schedule: Schedule = {
  phases: [
    { name: "up", durationS: 10, fleet: "ramp-up", fixPeriodMs: 4_000 },
    { name: "hold", durationS: 20, fleet: "hold", fixPeriodMs: 1_000 },
    { name: "down", durationS: 10, fleet: "ramp-down", fixPeriodMs: 4_000 },
  ],
};

describe("fleet schedule", () => {
  it("ramps up, holds and ramps down", () => {
    expect(totalS(schedule)).toBe(40);
    expect(fleetShare(schedule, -1)).toBe(0);
    expect(fleetShare(schedule, 5)).toBeCloseTo(0.5);
    expect(fleetShare(schedule, 15)).toBe(1);
    expect(fleetShare(schedule, 35)).toBeCloseTo(0.5);
    expect(fleetShare(schedule, 45)).toBe(0);
    expect(phaseAt(schedule, 12).phase.fixPeriodMs).toBe(1_000);
    expect(phaseAt(schedule, 100).index).toBe(2);
  });
});

describe("time of day", () => {
  it("interpolates between hours and wraps at midnight", () => {
    expect(timeOfDay(8)).toBe(DAY_PROFILE[8]);
    expect(timeOfDay(8.5)).toBeCloseTo((DAY_PROFILE[8]! + DAY_PROFILE[9]!) / 2);
    expect(timeOfDay(23.5)).toBeCloseTo((DAY_PROFILE[23]! + DAY_PROFILE[0]!) / 2);
    expect(timeOfDay(26)).toBe(DAY_PROFILE[2]);
    expect(timeOfDay(18)).toBeGreaterThan(timeOfDay(4) * 5);
  });
});

describe("Poisson arrivals by thinning", () => {
  it("has the expected count for a constant rate and sorted times inside the run", () => {
    const times = arrivals(() => 5, 5, 2_000, mulberry32(1));
    expect(times.length).toBeGreaterThan(10_000 - 4 * 100);
    expect(times.length).toBeLessThan(10_000 + 4 * 100);
    expect(times.every((t, i) => t > 0 && t < 2_000 && (i === 0 || t >= times[i - 1]!))).toBe(true);
  });

  it("follows a varying rate: twice the rate, about twice the orders", () => {
    const times = arrivals((t) => (t < 1_000 ? 2 : 4), 4, 2_000, mulberry32(2));
    const early = times.filter((t) => t < 1_000).length;
    const late = times.length - early;
    expect(late / early).toBeGreaterThan(1.8);
    expect(late / early).toBeLessThan(2.2);
  });

  it("is repeatable for a seed and empty for a zero bound", () => {
    expect(arrivals(() => 1, 1, 50, mulberry32(3))).toEqual(arrivals(() => 1, 1, 50, mulberry32(3)));
    expect(arrivals(() => 1, 0, 50, mulberry32(3))).toEqual([]);
  });

  it("scales with the online fleet and the hour, bounded by maxOrderRate", () => {
    const m = { ordersPerDriverS: 0.001, drivers: 1_000, startHour: 7, hoursPerS: 0.05 };
    expect(orderRate(m, schedule, 0)).toBe(0);
    expect(orderRate(m, schedule, 15)).toBeCloseTo(timeOfDay(7.75));
    for (let t = 0; t < 40; t += 0.5) expect(orderRate(m, schedule, t)).toBeLessThanOrEqual(maxOrderRate(m));
  });
});

describe("pickups and dropoffs", () => {
  it("stay in the city and crowd around the hot spots", () => {
    const r = mulberry32(4);
    const g = CHICAGO_GEOGRAPHY;
    let nearSpot = 0;
    for (let i = 0; i < 2_000; i++) {
      const p = pickup(g, r);
      const d = dropoff(g, p, r);
      for (const q of [p, d]) {
        expect(q.lat).toBeGreaterThanOrEqual(g.bounds.south);
        expect(q.lat).toBeLessThanOrEqual(g.bounds.north);
        expect(q.lng).toBeGreaterThanOrEqual(g.bounds.west);
        expect(q.lng).toBeLessThanOrEqual(g.bounds.east);
      }
      if (g.hotSpots.some((s) => Math.abs(s.lat - p.lat) < 0.01 && Math.abs(s.lng - p.lng) < 0.013))
        nearSpot++;
    }
    // Uniform pickups would fall that close to one of 5 spots about 12% of the time.
    expect(nearSpot / 2_000).toBeGreaterThan(0.4);
  });
});
