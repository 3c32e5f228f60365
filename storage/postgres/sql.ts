/** Small conversions shared by the repositories (see db.ts for why they are needed). */

/** Milliseconds since the epoch as a timestamptz parameter (null stays null). */
export function tsParam(ms: number): Date;
export function tsParam(ms: number | null): Date | null;
export function tsParam(ms: number | null): Date | null {
  return ms === null ? null : new Date(ms);
}

/** A timestamptz column back to milliseconds; the stored values are whole milliseconds. */
export function msOf(value: Date): number;
export function msOf(value: Date | null): number | null;
export function msOf(value: Date | null): number | null {
  return value === null ? null : value.getTime();
}

/** A JSONB parameter: SQL NULL for null, else the JSON text (cast with `::jsonb` in the SQL). */
export function jsonParam(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

/** bytea from pg (Buffer) or PGlite (Uint8Array) as a Buffer. */
export function bufferOf(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/**
 * Freezes a value built from a row, all the way down. The ports hand out snapshots that callers
 * must not mutate; frozen, an attempt fails loudly instead of silently diverging from the store.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
