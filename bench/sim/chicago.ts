/**
 * Demand replayed from real Chicago taxi trips (../shared/data/chicago-taxi-trips-sample.csv.gz,
 * when present): pickup and dropoff points of the sample (census-tract or community-area
 * centroids), drawn at random with replacement and given Poisson arrival times. Only trips with
 * both ends inside a box around the centre (which stays in the harness's one-degree region
 * "41:-88") and at least 500 m long are used.
 */
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { mulberry32 } from "../stats.js";
import { type CityConfig, DEFAULT_CITY, distM, type Point, type Request } from "./city.js";

export const CHICAGO_BOX = { lat: [41.75, 41.99], lng: [-87.8, -87.55] } as const;

export const CHICAGO_CITY: CityConfig = {
  ...DEFAULT_CITY,
  origin: { lat: CHICAGO_BOX.lat[0], lng: CHICAGO_BOX.lng[0] },
  // North-south extent of the box (the larger side); only used for uniform draws.
  sizeM: 27_000,
  hotSpots: [],
  hotShare: 0,
};

export interface Trip {
  readonly pickup: Point;
  readonly dropoff: Point;
}

function toPoint(city: CityConfig, lat: number, lng: number): Point {
  const mPerDegLat = 111_320;
  return {
    x: (lng - city.origin.lng) * mPerDegLat * Math.cos((city.origin.lat * Math.PI) / 180),
    y: (lat - city.origin.lat) * mPerDegLat,
  };
}

/** The usable trips of the sample (CSV columns 6..9: pickup lat, lng, dropoff lat, lng). */
export function loadChicagoTrips(path: string, city: CityConfig = CHICAGO_CITY): Trip[] {
  const text = gunzipSync(readFileSync(path)).toString("utf8");
  const lines = text.split("\n");
  const header = lines[0]?.split(",") ?? [];
  const want = ["pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude"];
  if (want.some((w, i) => header[6 + i] !== w)) throw new Error(`unexpected header in ${path}`);
  const inBox = (lat: number, lng: number) =>
    lat >= CHICAGO_BOX.lat[0] &&
    lat < CHICAGO_BOX.lat[1] &&
    lng >= CHICAGO_BOX.lng[0] &&
    lng <= CHICAGO_BOX.lng[1];
  const out: Trip[] = [];
  for (const line of lines.slice(1)) {
    // The columns before these are plain numbers, so a comma split is safe up to here.
    const f = line.split(",", 10);
    if (f.length < 10 || f.slice(6, 10).some((s) => s === "")) continue;
    const [plat, plng, dlat, dlng] = f.slice(6, 10).map(Number) as [number, number, number, number];
    if (![plat, plng, dlat, dlng].every(Number.isFinite)) continue;
    if (!inBox(plat, plng) || !inBox(dlat, dlng)) continue;
    const trip = { pickup: toPoint(city, plat, plng), dropoff: toPoint(city, dlat, dlng) };
    if (distM(trip.pickup, trip.dropoff) >= 500) out.push(trip);
  }
  return out;
}

export function meanReplayTripM(trips: readonly Trip[]): number {
  let sum = 0;
  for (const t of trips) sum += distM(t.pickup, t.dropoff);
  return sum / trips.length;
}

/** Poisson arrivals at `perHour` over [0, durationMs), each a trip of the sample drawn at random. */
export function replayDemand(
  trips: readonly Trip[],
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
    const trip = trips[Math.floor(rand() * trips.length)]!;
    out.push({
      i: out.length,
      atMs: Math.round(t),
      pickup: trip.pickup,
      dropoff: trip.dropoff,
      tripM: distM(trip.pickup, trip.dropoff),
    });
  }
}

/** Drivers start at the dropoff points of randomly drawn sample trips. */
export function replayStarts(trips: readonly Trip[], seed: number, n: number): Point[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => trips[Math.floor(rand() * trips.length)]!.dropoff);
}
