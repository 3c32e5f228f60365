/**
 * What travels through the persistence pipeline (Kafka topics or the embedded log) and how it is
 * checked on the way out. Producers are our own processes, but a topic is a public surface: any
 * client with access can write to it, and an old producer may write an old shape. So the consumer
 * side validates every record and turns what does not fit into a reason (the dead-letter header),
 * never into an exception that would stop a partition.
 *
 * On the wire a record is the JSON of its value; the topic says which kind it is.
 */
import type { FixBatch } from "../../engine/locations.js";
import { ORDER_STATES, type OrderEvent, type OrderEventType } from "../../engine/model.js";
import type { PricePoint } from "../../engine/ports.js";

export type RecordKind = "fix" | "event" | "price";

/** One GPS fix as persisted (the `driver_locations` row). Nulls are unknown values. */
export interface FixRecord {
  readonly driverId: string;
  /** Device time, ms since the epoch. */
  readonly at: number;
  readonly lat: number;
  readonly lng: number;
  readonly heading: number | null;
  readonly speedMps: number | null;
  readonly accuracyM: number | null;
}

/** A validated record, ready for the database. */
export type PipelineRecord =
  | { readonly kind: "fix"; readonly fix: FixRecord }
  | { readonly kind: "event"; readonly event: OrderEvent }
  | { readonly kind: "price"; readonly price: PricePoint };

/**
 * A record as it comes out of a log: its kind (from the topic) and its value, either already a
 * JavaScript value (embedded log) or bytes/text holding JSON (Kafka).
 */
export interface RawRecord {
  readonly kind: RecordKind;
  readonly value: unknown;
}

export type Checked =
  | { readonly ok: true; readonly record: PipelineRecord }
  | { readonly ok: false; readonly reason: string };

// Compile-time complete: a new event type that is missing here fails the build.
const EVENT_TYPES: ReadonlySet<string> = new Set(
  Object.keys({
    "order.requested": true,
    "order.offered": true,
    "order.offer_declined": true,
    "order.offer_timed_out": true,
    "order.accepted": true,
    "order.driver_arriving": true,
    "order.driver_arrived": true,
    "order.started": true,
    "order.completed": true,
    "order.cancelled": true,
    "order.rated": true,
  } satisfies Record<OrderEventType, true>),
);
const STATES: ReadonlySet<string> = new Set(ORDER_STATES);
const CELL = /^[0-9a-f]{15}$/;
/** 1970 to 9999: what timestamptz holds and Date prints as ISO-8601. */
const MAX_MS = 253_402_300_799_999;
const MAX_ID = 200;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A text column value: non-empty, bounded, and no NUL (PostgreSQL refuses NUL in text). */
function idText(v: unknown): v is string {
  return typeof v === "string" && v.length > 0 && v.length <= MAX_ID && !v.includes("\u0000");
}

function time(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= MAX_MS;
}

function inRange(v: unknown, lo: number, hi: number): v is number {
  return typeof v === "number" && v >= lo && v <= hi; // NaN fails both comparisons
}

/** Absent or null gives null; else a finite number in range; undefined when invalid. */
function optional(v: unknown, lo: number, hi: number): number | null | undefined {
  if (v === null || v === undefined) return null;
  return inRange(v, lo, hi) ? v : undefined;
}

function decode(value: unknown): { ok: true; value: unknown } | { ok: false; reason: string } {
  if (value === null || value === undefined) return { ok: false, reason: "empty value" };
  if (typeof value === "string" || value instanceof Uint8Array) {
    const text = typeof value === "string" ? value : Buffer.from(value).toString("utf8");
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch (err) {
      return { ok: false, reason: `unparseable JSON: ${(err as Error).message}` };
    }
  }
  return { ok: true, value };
}

function checkFix(v: Obj): Checked {
  if (!idText(v.driverId)) return { ok: false, reason: "fix: driverId must be a non-empty string" };
  if (!time(v.at)) return { ok: false, reason: "fix: at must be whole ms since the epoch" };
  if (!inRange(v.lat, -90, 90) || !inRange(v.lng, -180, 180))
    return { ok: false, reason: "fix: lat/lng out of range" };
  const heading = optional(v.heading, 0, 360);
  const speedMps = optional(v.speedMps, 0, 1_000);
  const accuracyM = optional(v.accuracyM, 0, 1e6);
  if (heading === undefined || speedMps === undefined || accuracyM === undefined)
    return { ok: false, reason: "fix: heading, speedMps or accuracyM out of range" };
  return {
    ok: true,
    record: {
      kind: "fix",
      fix: { driverId: v.driverId, at: v.at, lat: v.lat, lng: v.lng, heading, speedMps, accuracyM },
    },
  };
}

function hasNul(v: unknown): boolean {
  // jsonb refuses \u0000 anywhere; the text form of the payload shows it as the escape.
  return JSON.stringify(v).includes("\\u0000");
}

function checkEvent(v: Obj): Checked {
  if (!idText(v.id)) return { ok: false, reason: "event: id must be a non-empty string" };
  if (!idText(v.orderId)) return { ok: false, reason: "event: orderId must be a non-empty string" };
  if (!Number.isInteger(v.version) || (v.version as number) < 1 || (v.version as number) > 2 ** 31 - 1)
    return { ok: false, reason: "event: version must be an integer >= 1" };
  if (typeof v.type !== "string" || !EVENT_TYPES.has(v.type))
    return { ok: false, reason: "event: unknown type" };
  if (typeof v.state !== "string" || !STATES.has(v.state))
    return { ok: false, reason: "event: unknown state" };
  if (!time(v.at)) return { ok: false, reason: "event: at must be whole ms since the epoch" };
  if (!isObj(v.payload) || hasNul(v.payload))
    return { ok: false, reason: "event: payload must be a JSON object" };
  const event = {
    id: v.id,
    type: v.type,
    orderId: v.orderId,
    version: v.version,
    state: v.state,
    at: v.at,
    payload: v.payload,
  } as unknown as OrderEvent;
  return { ok: true, record: { kind: "event", event } };
}

function checkPrice(v: Obj): Checked {
  if (typeof v.cell !== "string" || !CELL.test(v.cell))
    return { ok: false, reason: "price: cell must be an H3 index in lower-case hex" };
  if (!time(v.at)) return { ok: false, reason: "price: at must be whole ms since the epoch" };
  if (!inRange(v.multiplier, 1, 1_000)) return { ok: false, reason: "price: multiplier must be in 1..1000" };
  return { ok: true, record: { kind: "price", price: { cell: v.cell, at: v.at, multiplier: v.multiplier } } };
}

/** Decodes (when bytes or text) and validates one record; never throws. */
export function checkRecord(raw: RawRecord): Checked {
  const d = decode(raw.value);
  if (!d.ok) return d;
  if (!isObj(d.value)) return { ok: false, reason: `${raw.kind}: value must be a JSON object` };
  switch (raw.kind) {
    case "fix":
      return checkFix(d.value);
    case "event":
      return checkEvent(d.value);
    case "price":
      return checkPrice(d.value);
    default:
      return { ok: false, reason: `unknown record kind ${String(raw.kind)}` };
  }
}

/** The FixOutcome codes of fixes the index applied (Applied, Relocated): only those are persisted. */
const APPLIED = 0;
const RELOCATED = 4;

/**
 * The fixes of one driver's batch as records, oldest first; with `outcomes` (the index's
 * FixResult.outcomes) only the applied ones. Copies everything it needs, so the caller may reuse
 * its buffers at once.
 */
export function fixRecords(driverId: string, batch: FixBatch, outcomes?: Uint8Array): FixRecord[] {
  const out: FixRecord[] = [];
  const n = batch.timesMs.length;
  for (let i = 0; i < n; i++) {
    if (outcomes !== undefined) {
      const o = outcomes[i];
      if (o !== APPLIED && o !== RELOCATED) continue;
    }
    const heading = batch.headings?.[i];
    const speed = batch.speeds?.[i];
    out.push({
      driverId,
      at: Math.round(batch.timesMs[i]!),
      lat: batch.latLngs[2 * i]!,
      lng: batch.latLngs[2 * i + 1]!,
      heading: heading === undefined || Number.isNaN(heading) ? null : heading,
      speedMps: speed === undefined || Number.isNaN(speed) ? null : speed,
      accuracyM: null,
    });
  }
  return out;
}

/** The key that keeps related records in one partition, in order. */
export function keyOf(record: PipelineRecord): string {
  switch (record.kind) {
    case "fix":
      return record.fix.driverId;
    case "event":
      return record.event.orderId;
    case "price":
      return record.price.cell;
  }
}
