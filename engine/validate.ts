/**
 * Checks at the edge of the engine: raw input from the gateway becomes a validated value or a
 * coded DispatchError with a message naming the field. Nothing past these functions re-checks.
 */
import { DispatchError, ErrorCode } from "./errors.js";
import type { Actor, DriverId, IdempotencyKey, LatLng, OrderId, RiderId } from "./model.js";

const ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const IDEMPOTENCY_KEY = /^[A-Za-z0-9_-]{16,128}$/;
const VEHICLE_CLASS = /^[a-z][a-z0-9_]{0,31}$/;

function invalid(message: string): DispatchError {
  return new DispatchError(ErrorCode.InvalidArgument, message);
}

/** Shows a bad value in an error message without echoing something huge. */
function show(value: unknown): string {
  if (typeof value === "string")
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === "number" || typeof value === "boolean" || value === null || value === undefined) {
    return String(value);
  }
  return typeof value;
}

/** An id: 1..128 characters of `[A-Za-z0-9_.:-]` (safe as a Redis key part, a log field, a URL segment). */
export function id<T extends string>(value: unknown, what: string): T {
  if (typeof value !== "string" || !ID.test(value)) {
    throw invalid(`${what} must be 1..128 characters of A-Z a-z 0-9 _ . : - (got ${show(value)})`);
  }
  return value as T;
}

export const riderId = (value: unknown): RiderId => id<RiderId>(value, "riderId");
export const driverId = (value: unknown): DriverId => id<DriverId>(value, "driverId");
export const orderId = (value: unknown): OrderId => id<OrderId>(value, "orderId");

/** 16..128 characters of `[A-Za-z0-9_-]`; a UUID fits. Long enough that two requests never collide by chance. */
export function idempotencyKey(value: unknown): IdempotencyKey {
  if (typeof value !== "string" || !IDEMPOTENCY_KEY.test(value)) {
    throw invalid(`idempotencyKey must be 16..128 characters of A-Z a-z 0-9 _ - (got ${show(value)})`);
  }
  return value as IdempotencyKey;
}

export function vehicleClass(value: unknown): string {
  if (typeof value !== "string" || !VEHICLE_CLASS.test(value)) {
    throw invalid(`vehicleClass must be a lower-case name like "economy" (got ${show(value)})`);
  }
  return value;
}

/** A point: an object with finite `lat` in [-90, 90] and `lng` in [-180, 180]. Returns a fresh copy. */
export function latLng(value: unknown, what: string): LatLng {
  if (typeof value !== "object" || value === null) {
    throw invalid(`${what} must be an object { lat, lng } (got ${show(value)})`);
  }
  const { lat, lng } = value as { lat?: unknown; lng?: unknown };
  if (typeof lat !== "number" || !Number.isFinite(lat) || lat < -90 || lat > 90) {
    throw new DispatchError(
      ErrorCode.InvalidCoordinate,
      `${what}.lat must be a finite number in [-90, 90] (got ${show(lat)})`,
    );
  }
  if (typeof lng !== "number" || !Number.isFinite(lng) || lng < -180 || lng > 180) {
    throw new DispatchError(
      ErrorCode.InvalidCoordinate,
      `${what}.lng must be a finite number in [-180, 180] (got ${show(lng)})`,
    );
  }
  return { lat, lng };
}

/** Stars: an integer 1..5. */
export function stars(value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 5) {
    throw invalid(`rating must be an integer from 1 to 5 (got ${show(value)})`);
  }
  return value;
}

/** A non-negative finite number no larger than `max`, rounded to an integer. */
export function measure(value: unknown, what: string, max: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > max) {
    throw invalid(`${what} must be a finite number in [0, ${max}] (got ${show(value)})`);
  }
  return Math.round(value);
}

/** An integer in [min, max]. */
export function integer(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(`${what} must be an integer in [${min}, ${max}] (got ${show(value)})`);
  }
  return value;
}

export function actor(value: unknown): Actor {
  if (typeof value !== "object" || value === null)
    throw invalid(`actor must be { role, id } (got ${show(value)})`);
  const { role, id: raw } = value as { role?: unknown; id?: unknown };
  if (role === "rider") return { role, id: riderId(raw) };
  if (role === "driver") return { role, id: driverId(raw) };
  throw invalid(`actor.role must be "rider" or "driver" (got ${show(role)})`);
}
