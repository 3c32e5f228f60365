/**
 * Embedded pricing: a linear fare model, straight-line routes and a flat surge. The Rust pricing,
 * ETA and surge modules will implement the same ports; until then these keep the service whole.
 */
import { DispatchError, ErrorCode } from "./errors.js";
import type { LatLng, Tariff } from "./model.js";
import type { FareModel, RouteEstimator, SurgeSource } from "./ports.js";

/** Rates of one vehicle class, in minor units. */
export interface ClassRates {
  readonly baseFare: number;
  readonly perKm: number;
  readonly perMinute: number;
  readonly minimumFare: number;
}

export interface FareTable {
  readonly currency: string;
  /** Surge is clamped to [1, maxSurge]. */
  readonly maxSurge: number;
  readonly classes: Readonly<Record<string, ClassRates>>;
}

export const DEFAULT_FARE_TABLE: FareTable = {
  currency: "EUR",
  maxSurge: 3,
  classes: {
    economy: { baseFare: 250, perKm: 120, perMinute: 25, minimumFare: 500 },
    comfort: { baseFare: 350, perKm: 160, perMinute: 35, minimumFare: 700 },
    xl: { baseFare: 450, perKm: 200, perMinute: 40, minimumFare: 900 },
  },
};

function checkTable(table: FareTable): void {
  const fail = (m: string) => new DispatchError(ErrorCode.InvalidConfig, `fare table: ${m}`);
  if (!/^[A-Z]{3}$/.test(table.currency))
    throw fail(`currency ${JSON.stringify(table.currency)} is not an ISO 4217 code`);
  if (!(Number.isFinite(table.maxSurge) && table.maxSurge >= 1))
    throw fail("maxSurge must be a finite number >= 1");
  for (const [name, r] of Object.entries(table.classes)) {
    for (const [k, v] of Object.entries(r)) {
      if (!Number.isSafeInteger(v) || v < 0)
        throw fail(`${name}.${k} must be a non-negative integer (minor units)`);
    }
  }
}

/**
 * fare = round_half_up(max(minimum, base + perKm * km + perMinute * min) * surge). Computed in
 * exact integer arithmetic (BigInt), so the same inputs give the same cents on every machine.
 */
export class LinearFareModel implements FareModel {
  constructor(readonly table: FareTable = DEFAULT_FARE_TABLE) {
    checkTable(table);
  }

  tariff(vehicleClass: string, surge: number): Tariff | null {
    const rates = Object.hasOwn(this.table.classes, vehicleClass)
      ? this.table.classes[vehicleClass]
      : undefined;
    if (rates === undefined) return null;
    const s = Number.isFinite(surge) ? Math.min(this.table.maxSurge, Math.max(1, surge)) : 1;
    return { vehicleClass, currency: this.table.currency, ...rates, surgePermille: Math.round(s * 1000) };
  }

  price(tariff: Tariff, distanceM: number, durationS: number): number {
    // Everything in 1/60000 of a minor unit: metres/1000 and seconds/60 become integers.
    const raw =
      BigInt(tariff.baseFare) * 60_000n +
      BigInt(tariff.perKm) * BigInt(Math.round(distanceM)) * 60n +
      BigInt(tariff.perMinute) * BigInt(Math.round(durationS)) * 1_000n;
    const floor = BigInt(tariff.minimumFare) * 60_000n;
    const scaled = (raw > floor ? raw : floor) * BigInt(tariff.surgePermille);
    const denominator = 60_000_000n;
    return Number((scaled * 2n + denominator) / (denominator * 2n));
  }
}

const EARTH_RADIUS_M = 6_371_008.8;

export function haversineM(a: LatLng, b: LatLng): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLng = (b.lng - a.lng) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Great-circle distance times a detour factor, at a constant city speed. */
export class StraightLineRoutes implements RouteEstimator {
  constructor(
    readonly detour = 1.3,
    readonly speedKmh = 25,
  ) {}

  async estimate(from: LatLng, to: LatLng): Promise<{ distanceM: number; durationS: number }> {
    const distanceM = Math.round(haversineM(from, to) * this.detour);
    return { distanceM, durationS: Math.round(distanceM / ((this.speedKmh * 1000) / 3600)) };
  }
}

export class FlatSurge implements SurgeSource {
  constructor(public multiplier = 1) {}
  async multiplierAt(): Promise<number> {
    return this.multiplier;
  }
}
