/**
 * Signed quotes. A token is `q1.<kid>.<payload>.<sig>`: payload is base64url of the canonical JSON
 * of the quote (keys sorted, no spaces), sig is base64url HMAC-SHA256 over `q1.<kid>.<payload>`
 * with the key named `kid`. The signature covers the exact payload bytes, so verification never
 * re-encodes; canonical encoding only makes one quote always give one token.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { DispatchError, ErrorCode } from "./errors.js";
import type { LatLng, Quote, QuoteId, RiderId, Tariff } from "./model.js";
import type { QuoteSigner } from "./ports.js";

const VERSION = "q1";
const KID = /^[A-Za-z0-9_-]{1,32}$/;
const B64URL = /^[A-Za-z0-9_-]+$/;
const MIN_KEY_BYTES = 32;
const MAX_TOKEN_CHARS = 4096;

type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json };

/** JSON with object keys sorted at every level and no whitespace. Numbers must be finite. */
export function canonicalJson(value: Json): string {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value))
      throw new DispatchError(ErrorCode.Internal, "canonical JSON cannot hold a non-finite number");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v: Json) => canonicalJson(v)).join(",")}]`;
  const obj = value as { readonly [k: string]: Json };
  const keys = Object.keys(obj).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k] as Json)}`).join(",")}}`;
}

export interface QuoteSignerOptions {
  /** Name of the signing key; goes into every token. */
  readonly keyId: string;
  /** At least 32 bytes (a string is taken as UTF-8). */
  readonly key: string | Uint8Array;
  /** Retired keys that still verify during a rotation, by id. */
  readonly previousKeys?: Readonly<Record<string, string | Uint8Array>>;
}

function keyBytes(kid: string, key: string | Uint8Array): Buffer {
  if (!KID.test(kid)) {
    throw new DispatchError(
      ErrorCode.InvalidConfig,
      `quote key id ${JSON.stringify(kid)} must be 1..32 of A-Z a-z 0-9 _ -`,
    );
  }
  const bytes = typeof key === "string" ? Buffer.from(key, "utf8") : Buffer.from(key);
  if (bytes.length < MIN_KEY_BYTES) {
    throw new DispatchError(
      ErrorCode.InvalidConfig,
      `quote key ${kid} has ${bytes.length} bytes, needs at least ${MIN_KEY_BYTES}`,
    );
  }
  return bytes;
}

export class HmacQuoteSigner implements QuoteSigner {
  readonly #kid: string;
  readonly #keys = new Map<string, Buffer>();

  constructor(options: QuoteSignerOptions) {
    this.#kid = options.keyId;
    for (const [kid, key] of Object.entries(options.previousKeys ?? {}))
      this.#keys.set(kid, keyBytes(kid, key));
    this.#keys.set(options.keyId, keyBytes(options.keyId, options.key));
  }

  sign(quote: Quote): string {
    const payload = Buffer.from(canonicalJson(quote as unknown as Json), "utf8").toString("base64url");
    const head = `${VERSION}.${this.#kid}.${payload}`;
    return `${head}.${this.#mac(this.#keys.get(this.#kid)!, head).toString("base64url")}`;
  }

  verify(token: string): Quote {
    if (typeof token !== "string" || token.length > MAX_TOKEN_CHARS) throw bad("not a quote token");
    const parts = token.split(".");
    if (parts.length !== 4) throw bad("not a quote token");
    const [version, kid, payload, sig] = parts as [string, string, string, string];
    if (version !== VERSION) throw bad("unknown quote token version");
    const key = this.#keys.get(kid);
    if (key === undefined) throw bad("quote signed with an unknown key");
    if (!B64URL.test(payload) || !B64URL.test(sig)) throw bad("quote token is not base64url");
    const given = Buffer.from(sig, "base64url");
    const expected = this.#mac(key, `${version}.${kid}.${payload}`);
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      throw bad("quote signature mismatch");
    let data: unknown;
    try {
      data = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    } catch {
      throw bad("quote payload is not JSON");
    }
    // Only we sign, so a bad shape means a bug or a leaked key; refuse rather than trust it.
    return parseQuote(data);
  }

  #mac(key: Buffer, data: string): Buffer {
    return createHmac("sha256", key).update(data, "utf8").digest();
  }
}

function bad(message: string): DispatchError {
  return new DispatchError(ErrorCode.QuoteInvalid, message);
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad(`quote ${what} is not an object`);
  return v as Record<string, unknown>;
}
function int(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)
    throw bad(`quote ${what} is not a non-negative integer`);
  return v;
}
function str(v: unknown, what: string): string {
  if (typeof v !== "string" || v.length === 0 || v.length > 128) throw bad(`quote ${what} is not a string`);
  return v;
}
function point(v: unknown, what: string): LatLng {
  const p = obj(v, what);
  const { lat, lng } = p;
  if (
    typeof lat !== "number" ||
    typeof lng !== "number" ||
    !(Math.abs(lat) <= 90) ||
    !(Math.abs(lng) <= 180)
  ) {
    throw bad(`quote ${what} is not a coordinate`);
  }
  return { lat, lng };
}

function parseQuote(data: unknown): Quote {
  const q = obj(data, "payload");
  const t = obj(q.tariff, "tariff");
  const tariff: Tariff = {
    vehicleClass: str(t.vehicleClass, "tariff.vehicleClass"),
    currency: str(t.currency, "tariff.currency"),
    baseFare: int(t.baseFare, "tariff.baseFare"),
    perKm: int(t.perKm, "tariff.perKm"),
    perMinute: int(t.perMinute, "tariff.perMinute"),
    minimumFare: int(t.minimumFare, "tariff.minimumFare"),
    surgePermille: int(t.surgePermille, "tariff.surgePermille"),
  };
  return {
    id: str(q.id, "id") as QuoteId,
    riderId: str(q.riderId, "riderId") as RiderId,
    pickup: point(q.pickup, "pickup"),
    dropoff: point(q.dropoff, "dropoff"),
    distanceM: int(q.distanceM, "distanceM"),
    durationS: int(q.durationS, "durationS"),
    tariff,
    fare: int(q.fare, "fare"),
    issuedAt: int(q.issuedAt, "issuedAt"),
    expiresAt: int(q.expiresAt, "expiresAt"),
  };
}
