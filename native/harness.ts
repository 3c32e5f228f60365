/**
 * Test helpers for the native tests: a seeded PRNG, a random city, a plain-JS haversine to
 * cross-check against, and the code of a thrown DispatchError. Not part of the build.
 */
import { expect } from "vitest";
import { DispatchError } from "../engine/errors.js";

export { mulberry32 } from "../test/support/random.js";

/** A Chicago-sized box: about 41 x 35 km. */
export const CHICAGO = { lat: [41.65, 42.02], lng: [-87.94, -87.52] } as const;

export function randomPoint(rand: () => number): [number, number] {
  return [
    CHICAGO.lat[0] + rand() * (CHICAGO.lat[1] - CHICAGO.lat[0]),
    CHICAGO.lng[0] + rand() * (CHICAGO.lng[1] - CHICAGO.lng[0]),
  ];
}

/** Great-circle distance in metres, as the core computes it (mean Earth radius). */
export function haversineM(lat1: number, lng1: number, lat2: number, lng2: number): number {
  const R = 6_371_008.8;
  const rad = Math.PI / 180;
  const dp = (lat2 - lat1) * rad;
  const dl = (lng2 - lng1) * rad;
  const a = Math.sin(dp / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dl / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** The code of the DispatchError `fn` throws (failing if it throws anything else). */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DispatchError);
    return (err as DispatchError).code;
  }
  return undefined;
}

/** The code of the DispatchError the promise rejects with. */
export async function asyncCodeOf(promise: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await promise();
  } catch (err) {
    expect(err).toBeInstanceOf(DispatchError);
    return (err as DispatchError).code;
  }
  return undefined;
}
