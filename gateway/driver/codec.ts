/**
 * The driver socket's wire format (docs/protocol.md is the reference for app developers).
 *
 * Text frames are JSON objects with a `type`. Binary frames carry GPS fixes only, the hot path,
 * in one layout for one fix or a batch after a reconnect (all little-endian):
 *
 *   header  4 bytes   u8 kind = 1 (fixes), u8 version = 1, u16 count (1..MAX_BATCH)
 *   record 32 bytes   f64 lat (deg), f64 lng (deg), f64 t (ms since the Unix epoch),
 *                     f32 heading (deg from north, NaN = unknown), f32 speed (m/s, NaN = unknown)
 *
 * Decoding validates shape and ranges once, here (STYLE 9); what comes out is trusted.
 */
import { DispatchError, ErrorCode } from "../../engine/errors.js";

export const BINARY_KIND_FIXES = 1;
export const BINARY_VERSION = 1;
export const HEADER_BYTES = 4;
export const RECORD_BYTES = 32;
/** A reconnecting app sends what it buffered; more than this is split by the SDK. */
export const MAX_BATCH = 500;

/** Fixes in flat columns, the shape the native index takes in one call. */
export interface FixBatch {
  count: number;
  /** Interleaved lat, lng. */
  latLngs: Float64Array;
  timesMs: Float64Array;
  headings: Float32Array;
  speeds: Float32Array;
}

export type DriverStatus = "online" | "offline" | "break";
export type TripEvent = "arrived" | "started" | "completed";

export type DriverMessage =
  | { type: "fixes"; id?: string; fixes: FixBatch }
  | { type: "status"; id?: string; status: DriverStatus }
  | { type: "offer.accept"; id?: string; orderId: string }
  | { type: "offer.decline"; id?: string; orderId: string; reason?: string }
  | { type: "trip.arrived" | "trip.started" | "trip.completed"; id?: string; orderId: string }
  | { type: "auth"; id?: string; token: string }
  | { type: "ping"; id?: string };

export type DriverMessageType = DriverMessage["type"] | "fix";

const invalid = (msg: string) => new DispatchError(ErrorCode.InvalidArgument, msg);
const badCoordinate = (msg: string) => new DispatchError(ErrorCode.InvalidCoordinate, msg);

function allocBatch(count: number): FixBatch {
  return {
    count,
    latLngs: new Float64Array(count * 2),
    timesMs: new Float64Array(count),
    headings: new Float32Array(count),
    speeds: new Float32Array(count),
  };
}

function checkFix(lat: number, lng: number, t: number, heading: number, speed: number, i: number): void {
  if (!Number.isFinite(lat) || lat < -90 || lat > 90 || !Number.isFinite(lng) || lng < -180 || lng > 180) {
    throw badCoordinate(
      `fix ${i}: (${lat}, ${lng}) is not a latitude in [-90, 90] and longitude in [-180, 180]`,
    );
  }
  // 2001-09-09 .. 2286-11-20: a timestamp in ms, not seconds or microseconds.
  if (!Number.isFinite(t) || t < 1e12 || t > 1e13) {
    throw invalid(`fix ${i}: t must be milliseconds since the Unix epoch`);
  }
  if (!Number.isNaN(heading) && !(heading >= 0 && heading < 360)) {
    throw invalid(`fix ${i}: heading must be in [0, 360) degrees`);
  }
  if (!Number.isNaN(speed) && !(speed >= 0 && speed <= 150)) {
    throw invalid(`fix ${i}: speed must be in [0, 150] m/s`);
  }
}

/** Decodes a binary fixes frame. */
export function decodeBinary(frame: ArrayBuffer): FixBatch {
  if (frame.byteLength < HEADER_BYTES) throw invalid("binary frame shorter than its 4-byte header");
  const view = new DataView(frame);
  const kind = view.getUint8(0);
  const version = view.getUint8(1);
  const count = view.getUint16(2, true);
  if (kind !== BINARY_KIND_FIXES) throw invalid(`unknown binary frame kind ${kind}`);
  if (version !== BINARY_VERSION) throw invalid(`unsupported binary frame version ${version}`);
  if (count < 1 || count > MAX_BATCH) throw invalid(`fix count ${count} outside 1..${MAX_BATCH}`);
  if (frame.byteLength !== HEADER_BYTES + count * RECORD_BYTES) {
    throw invalid(
      `binary frame of ${frame.byteLength} bytes does not hold ${count} fixes of ${RECORD_BYTES} bytes`,
    );
  }
  const b = allocBatch(count);
  for (let i = 0, o = HEADER_BYTES; i < count; i++, o += RECORD_BYTES) {
    const lat = view.getFloat64(o, true);
    const lng = view.getFloat64(o + 8, true);
    const t = view.getFloat64(o + 16, true);
    const heading = view.getFloat32(o + 24, true);
    const speed = view.getFloat32(o + 28, true);
    checkFix(lat, lng, t, heading, speed, i);
    b.latLngs[2 * i] = lat;
    b.latLngs[2 * i + 1] = lng;
    b.timesMs[i] = t;
    b.headings[i] = heading;
    b.speeds[i] = speed;
  }
  return b;
}

/** Encodes fixes as a binary frame (the SDK and the bench use this). */
export function encodeBinary(
  fixes: { lat: number; lng: number; t: number; heading?: number; speed?: number }[],
): ArrayBuffer {
  const buf = new ArrayBuffer(HEADER_BYTES + fixes.length * RECORD_BYTES);
  const view = new DataView(buf);
  view.setUint8(0, BINARY_KIND_FIXES);
  view.setUint8(1, BINARY_VERSION);
  view.setUint16(2, fixes.length, true);
  fixes.forEach((f, i) => {
    const o = HEADER_BYTES + i * RECORD_BYTES;
    view.setFloat64(o, f.lat, true);
    view.setFloat64(o + 8, f.lng, true);
    view.setFloat64(o + 16, f.t, true);
    view.setFloat32(o + 24, f.heading ?? Number.NaN, true);
    view.setFloat32(o + 28, f.speed ?? Number.NaN, true);
  });
  return buf;
}

const num = (v: unknown): number => (typeof v === "number" ? v : Number.NaN);
const optNum = (v: unknown, name: string, i: number): number => {
  if (v === undefined || v === null) return Number.NaN;
  if (typeof v !== "number") throw invalid(`fix ${i}: ${name} must be a number`);
  return v;
};

function jsonFix(o: unknown, i: number): [number, number, number, number, number] {
  if (o === null || typeof o !== "object" || Array.isArray(o)) throw invalid(`fix ${i} must be an object`);
  const f = o as Record<string, unknown>;
  if (typeof f.lat !== "number" || typeof f.lng !== "number") {
    throw badCoordinate(`fix ${i}: lat and lng must be numbers`);
  }
  if (typeof f.t !== "number") throw invalid(`fix ${i}: t must be a number (ms since the Unix epoch)`);
  const r: [number, number, number, number, number] = [
    num(f.lat),
    num(f.lng),
    num(f.t),
    optNum(f.heading, "heading", i),
    optNum(f.speed, "speed", i),
  ];
  checkFix(...r, i);
  return r;
}

function str(o: Record<string, unknown>, key: string, max = 128): string {
  const v = o[key];
  if (typeof v !== "string" || v.length === 0 || v.length > max) {
    throw invalid(`${key} must be a non-empty string of at most ${max} characters`);
  }
  return v;
}

/** The message's correlation id, if it has a usable one (echoed in acks and errors). */
export function correlationId(o: unknown): string | undefined {
  if (o === null || typeof o !== "object") return undefined;
  const id = (o as { id?: unknown }).id;
  return typeof id === "string" && id.length > 0 && id.length <= 64 ? id : undefined;
}

/** Decodes a JSON text frame. Throws a coded DispatchError naming what is wrong. */
export function decodeText(text: string): DriverMessage {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw invalid("frame is not valid JSON");
  }
  if (o === null || typeof o !== "object" || Array.isArray(o)) throw invalid("frame must be a JSON object");
  const m = o as Record<string, unknown>;
  const id = correlationId(m);
  if (m.id !== undefined && id === undefined) throw invalid("id must be a string of 1..64 characters");
  const withId = <T extends object>(v: T): T & { id?: string } => (id === undefined ? v : { ...v, id });
  switch (m.type) {
    case "fix": {
      const b = allocBatch(1);
      const [lat, lng, t, heading, speed] = jsonFix(m, 0);
      b.latLngs[0] = lat;
      b.latLngs[1] = lng;
      b.timesMs[0] = t;
      b.headings[0] = heading;
      b.speeds[0] = speed;
      return withId({ type: "fixes", fixes: b });
    }
    case "fixes": {
      if (!Array.isArray(m.fixes) || m.fixes.length < 1 || m.fixes.length > MAX_BATCH) {
        throw invalid(`fixes must be an array of 1..${MAX_BATCH} fixes`);
      }
      const b = allocBatch(m.fixes.length);
      m.fixes.forEach((f, i) => {
        const [lat, lng, t, heading, speed] = jsonFix(f, i);
        b.latLngs[2 * i] = lat;
        b.latLngs[2 * i + 1] = lng;
        b.timesMs[i] = t;
        b.headings[i] = heading;
        b.speeds[i] = speed;
      });
      return withId({ type: "fixes", fixes: b });
    }
    case "status": {
      if (m.status !== "online" && m.status !== "offline" && m.status !== "break") {
        throw invalid("status must be one of online, offline, break");
      }
      return withId({ type: "status", status: m.status });
    }
    case "offer.accept":
      return withId({ type: "offer.accept", orderId: str(m, "orderId") });
    case "offer.decline": {
      const reason = m.reason === undefined ? undefined : str(m, "reason", 200);
      return withId({ type: "offer.decline", orderId: str(m, "orderId"), ...(reason ? { reason } : {}) });
    }
    case "trip.arrived":
    case "trip.started":
    case "trip.completed":
      return withId({ type: m.type, orderId: str(m, "orderId") });
    case "auth":
      return withId({ type: "auth", token: str(m, "token", 4096) });
    case "ping":
      return withId({ type: "ping" });
    default:
      throw invalid(
        typeof m.type === "string"
          ? `unknown message type ${JSON.stringify(m.type.slice(0, 40))}`
          : "type must be a string",
      );
  }
}
