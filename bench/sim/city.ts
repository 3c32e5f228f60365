/**
 * The simulated city of the `quality` bench: a square area, a few demand hot spots, Poisson
 * arrivals and straight-line trips. Pure and seeded: the same seed gives the same demand and the
 * same initial driver positions, so two dispatch algorithms can be run on identical inputs.
 *
 * Positions are metres east / north of the area's south-west corner; `toLatLng` maps them onto
 * the map (flat-earth, fine at this size) so the engine sees real coordinates.
 */
import { offset } from "../../engine/dispatch.testkit.js";
import type { LatLng } from "../../engine/model.js";
import { mulberry32 } from "../stats.js";

export type Rand = () => number;

export interface HotSpot {
  readonly x: number;
  readonly y: number;
  /** Gaussian spread, metres. */
  readonly sigmaM: number;
  /** Relative weight among the hot spots. */
  readonly weight: number;
}

export interface CityConfig {
  /** South-west corner on the map. */
  readonly origin: LatLng;
  /** Side of the square area, metres. */
  readonly sizeM: number;
  readonly hotSpots: readonly HotSpot[];
  /** Share of pickups drawn around a hot spot; the rest are uniform over the area. */
  readonly hotShare: number;
  /** Trip length (straight line) is uniform in [minTripM, maxTripM] before fitting the area. */
  readonly minTripM: number;
  readonly maxTripM: number;
  /** Vehicle speed in the simulation (straight line), m/s. */
  readonly speedMps: number;
}

/**
 * 12 x 12 km (so that trips of up to 8 km fit from most points), inside the one-degree region
 * "52:13" of the memory harness (south-west of central Berlin); three hot spots.
 */
export const DEFAULT_CITY: CityConfig = {
  origin: { lat: 52.45, lng: 13.25 },
  sizeM: 12_000,
  hotSpots: [
    { x: 6_000, y: 6_500, sigmaM: 900, weight: 0.5 },
    { x: 2_500, y: 3_000, sigmaM: 600, weight: 0.3 },
    { x: 9_500, y: 2_000, sigmaM: 700, weight: 0.2 },
  ],
  hotShare: 0.6,
  minTripM: 2_000,
  maxTripM: 8_000,
  speedMps: 9,
};

export interface Point {
  readonly x: number;
  readonly y: number;
}

export interface Request {
  /** Index in arrival order. */
  readonly i: number;
  /** Arrival, ms after the simulation start. */
  readonly atMs: number;
  readonly pickup: Point;
  readonly dropoff: Point;
  /** Straight-line pickup-to-dropoff distance, metres. */
  readonly tripM: number;
}

export function toLatLng(city: CityConfig, p: Point): LatLng {
  return offset(city.origin, p.x, p.y);
}

export function distM(a: Point, b: Point): number {
  return Math.hypot(a.x - b.x, a.y - b.y);
}

function gaussian(rand: Rand): number {
  // Box-Muller; 1 - u keeps log away from 0.
  const u = 1 - rand();
  const v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

export function uniformPoint(city: CityConfig, rand: Rand): Point {
  return { x: rand() * city.sizeM, y: rand() * city.sizeM };
}

export function pickupPoint(city: CityConfig, rand: Rand): Point {
  if (city.hotSpots.length === 0 || rand() >= city.hotShare) return uniformPoint(city, rand);
  const total = city.hotSpots.reduce((s, h) => s + h.weight, 0);
  let pick = rand() * total;
  let spot = city.hotSpots[city.hotSpots.length - 1]!;
  for (const h of city.hotSpots) {
    pick -= h.weight;
    if (pick < 0) {
      spot = h;
      break;
    }
  }
  return {
    x: clamp(spot.x + gaussian(rand) * spot.sigmaM, 0, city.sizeM),
    y: clamp(spot.y + gaussian(rand) * spot.sigmaM, 0, city.sizeM),
  };
}

/**
 * A dropoff at a length drawn uniformly in [minTripM, maxTripM] in a random direction; up to 32
 * directions are tried for the dropoff to fall inside the area, then the length shrinks by 10%
 * and the directions are tried again (so trips from near an edge are a little shorter).
 */
export function dropoffPoint(city: CityConfig, rand: Rand, from: Point): Point {
  let length = city.minTripM + rand() * (city.maxTripM - city.minTripM);
  for (;;) {
    for (let tries = 0; tries < 32; tries++) {
      const a = rand() * 2 * Math.PI;
      const x = from.x + length * Math.cos(a);
      const y = from.y + length * Math.sin(a);
      if (x >= 0 && x <= city.sizeM && y >= 0 && y <= city.sizeM) return { x, y };
    }
    length *= 0.9;
  }
}

/** Mean straight-line trip length of this city's demand, estimated from `samples` draws. */
export function meanTripM(city: CityConfig, seed: number, samples = 20_000): number {
  const rand = mulberry32(seed);
  let sum = 0;
  for (let i = 0; i < samples; i++) {
    const p = pickupPoint(city, rand);
    sum += distM(p, dropoffPoint(city, rand, p));
  }
  return sum / samples;
}

/** Poisson arrivals at `perHour` over [0, durationMs), each with its pickup and dropoff. */
export function generateDemand(
  city: CityConfig,
  seed: number,
  perHour: number,
  durationMs: number,
): Request[] {
  const rand = mulberry32(seed);
  const out: Request[] = [];
  const meanGapMs = 3_600_000 / perHour;
  let t = 0;
  for (;;) {
    t += -Math.log(1 - rand()) * meanGapMs;
    if (t >= durationMs) return out;
    const pickup = pickupPoint(city, rand);
    const dropoff = dropoffPoint(city, rand, pickup);
    // Whole milliseconds: the engine's clock is integral.
    out.push({ i: out.length, atMs: Math.round(t), pickup, dropoff, tripM: distM(pickup, dropoff) });
  }
}

/** Initial driver positions, uniform over the area. */
export function driverStarts(city: CityConfig, seed: number, n: number): Point[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => uniformPoint(city, rand));
}
