/**
 * What the city bench asks of the gateway, as pure functions of time and a seeded random source:
 * the fleet schedule (ramp up, hold, ramp down; the fix period of each phase), the riders'
 * time-of-day profile and their order times as a non-homogeneous Poisson process (by thinning),
 * and pickups around hot spots.
 */
import { type Bounds, CHICAGO, CHICAGO_HOT_SPOTS, clamp, type LatLng, offset } from "../../sim/geo.js";

export type Rand = () => number;

export interface Phase {
  readonly name: string;
  readonly durationS: number;
  /** How the share of the fleet online moves over the phase. */
  readonly fleet: "ramp-up" | "hold" | "ramp-down";
  /** Time between two fixes of one driver in this phase. */
  readonly fixPeriodMs: number;
}

export interface Schedule {
  readonly phases: readonly Phase[];
}

export function totalS(s: Schedule): number {
  return s.phases.reduce((a, p) => a + p.durationS, 0);
}

/** The phase at `tS` seconds into the run and how far through it (0..1); the last phase after the end. */
export function phaseAt(s: Schedule, tS: number): { phase: Phase; index: number; progress: number } {
  let start = 0;
  for (let i = 0; i < s.phases.length; i++) {
    const p = s.phases[i]!;
    if (tS < start + p.durationS || i === s.phases.length - 1) {
      const progress = p.durationS > 0 ? Math.min(1, Math.max(0, (tS - start) / p.durationS)) : 1;
      return { phase: p, index: i, progress };
    }
    start += p.durationS;
  }
  throw new RangeError("a schedule needs at least one phase");
}

/** Share of the fleet that should be online at `tS` (0..1). */
export function fleetShare(s: Schedule, tS: number): number {
  if (tS < 0) return 0;
  const { phase, progress } = phaseAt(s, tS);
  if (tS >= totalS(s)) return phase.fleet === "ramp-down" ? 0 : 1;
  switch (phase.fleet) {
    case "ramp-up":
      return progress;
    case "hold":
      return 1;
    case "ramp-down":
      return 1 - progress;
  }
}

/**
 * Relative demand by hour of day (mean about 1): a quiet night, a morning peak at 8, a lunch
 * bump and an evening peak at 18-19 — the shape of published city taxi data (e.g. NYC TLC).
 */
export const DAY_PROFILE: readonly number[] = [
  0.55, 0.4, 0.3, 0.22, 0.2, 0.3, 0.6, 1.1, 1.5, 1.3, 1.05, 1.05, 1.15, 1.1, 1.05, 1.15, 1.35, 1.6, 1.7, 1.5,
  1.25, 1.1, 0.95, 0.75,
];

/** Demand multiplier at a clock hour (fractional, wraps at 24), linear between the hourly values. */
export function timeOfDay(hour: number, profile: readonly number[] = DAY_PROFILE): number {
  const h = ((hour % 24) + 24) % 24;
  const i = Math.floor(h);
  const a = profile[i % profile.length]!;
  const b = profile[(i + 1) % profile.length]!;
  return a + (b - a) * (h - i);
}

export interface DemandModel {
  /** Orders per second per online driver at a time-of-day multiplier of 1. */
  readonly ordersPerDriverS: number;
  /** Drivers of the whole fleet (all generators) at full strength. */
  readonly drivers: number;
  /** Clock hour at the start of the run, and simulated hours per second of run. */
  readonly startHour: number;
  readonly hoursPerS: number;
}

/** Orders per second at `tS`: fleet online x per-driver demand x time of day. */
export function orderRate(m: DemandModel, s: Schedule, tS: number): number {
  return m.ordersPerDriverS * m.drivers * fleetShare(s, tS) * timeOfDay(m.startHour + m.hoursPerS * tS);
}

/** The highest rate `orderRate` can take (a bound for thinning). */
export function maxOrderRate(m: DemandModel): number {
  const peak = Math.max(...DAY_PROFILE);
  return m.ordersPerDriverS * m.drivers * peak;
}

/**
 * Order times (seconds into the run) of a non-homogeneous Poisson process with intensity
 * `rate(t)` bounded by `rateMax`, up to `endS` (Lewis-Shedler thinning).
 */
export function arrivals(
  rate: (tS: number) => number,
  rateMax: number,
  endS: number,
  random: Rand,
): number[] {
  const out: number[] = [];
  if (!(rateMax > 0)) return out;
  let t = 0;
  for (;;) {
    t += -Math.log(1 - random()) / rateMax;
    if (t >= endS) return out;
    if (random() * rateMax < rate(t)) out.push(t);
  }
}

export interface Geography {
  readonly bounds: Bounds;
  readonly hotSpots: readonly LatLng[];
  /** Share of pickups near a hot spot, and their spread (metres, Gaussian). */
  readonly hotShare: number;
  readonly spreadM: number;
  /** Straight-line trip length, metres. */
  readonly tripM: readonly [number, number];
}

export const CHICAGO_GEOGRAPHY: Geography = {
  bounds: CHICAGO,
  hotSpots: CHICAGO_HOT_SPOTS,
  hotShare: 0.6,
  spreadM: 700,
  tripM: [800, 3_000],
};

export function uniformPoint(g: Geography, random: Rand): LatLng {
  const b = g.bounds;
  return { lat: b.south + (b.north - b.south) * random(), lng: b.west + (b.east - b.west) * random() };
}

export function pickup(g: Geography, random: Rand): LatLng {
  if (g.hotSpots.length === 0 || random() >= g.hotShare) return uniformPoint(g, random);
  const spot = g.hotSpots[Math.floor(random() * g.hotSpots.length)]!;
  const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return clamp(offset(spot, gauss() * g.spreadM, gauss() * g.spreadM), g.bounds);
}

export function dropoff(g: Geography, from: LatLng, random: Rand): LatLng {
  const d = g.tripM[0] + (g.tripM[1] - g.tripM[0]) * random();
  const a = random() * 2 * Math.PI;
  return clamp(offset(from, d * Math.cos(a), d * Math.sin(a)), g.bounds);
}
