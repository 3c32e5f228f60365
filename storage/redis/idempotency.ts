/**
 * Idempotency keys of client requests, shared by every gateway: the first request with a key
 * runs, a retry with the same key gets the stored response instead of running again.
 *
 * Protocol: `begin` claims the key (SET NX, with a short TTL while the request runs) and returns
 * a token; `complete` stores the response under the key for `ttlMs` if the claim is still ours;
 * `abandon` frees the key after a failure so a retry may run. A claim whose holder died expires
 * after `pendingTtlMs` and the key is free again.
 *
 * The request's fingerprint (a hash of its method, path and body, made by the caller) is stored
 * with the key: the same key with a different request is a client bug, reported as "mismatch"
 * rather than answered with the wrong response.
 *
 * Key: `<prefix>idem:<scope>:<key>`, where scope separates callers (e.g. the user id), so one
 * user's key never meets another's.
 */
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { type IdempotencyClaim, type IdempotencyStore, idempotencyDefaults } from "../../engine/limits.js";
import { LuaScript } from "./script.js";

export type { IdempotencyClaim };

export interface IdempotencyOptions {
  readonly prefix: string;
  /** How long a stored response is kept (default 24 h). */
  readonly ttlMs?: number;
  /** How long a claim holds without completion (default 30 s). */
  readonly pendingTtlMs?: number;
}

interface Stored {
  s: "pending" | "done";
  fp: string;
  token?: string;
  response?: unknown;
}

// KEYS: the key. ARGV: token, stored JSON, ttl ms. Replaces our own claim only.
const COMPLETE = new LuaScript(`
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local cur = cjson.decode(raw)
if cur.s ~= 'pending' or cur.token ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`);

// KEYS: the key. ARGV: token. Deletes our own claim only.
const ABANDON = new LuaScript(`
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local cur = cjson.decode(raw)
if cur.s ~= 'pending' or cur.token ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`);

export class RedisIdempotency implements IdempotencyStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #ttlMs: number;
  readonly #pendingTtlMs: number;

  constructor(redis: Redis, options: IdempotencyOptions) {
    this.#redis = redis;
    this.#prefix = `${options.prefix}idem:`;
    this.#ttlMs = options.ttlMs ?? idempotencyDefaults.ttlMs;
    this.#pendingTtlMs = options.pendingTtlMs ?? idempotencyDefaults.pendingTtlMs;
  }

  #key(scope: string, key: string): string {
    return `${this.#prefix}${scope}:${key}`;
  }

  async begin<R = unknown>(scope: string, key: string, fingerprint: string): Promise<IdempotencyClaim<R>> {
    const k = this.#key(scope, key);
    for (let attempt = 0; attempt < 3; attempt++) {
      const token = randomUUID();
      const claim: Stored = { s: "pending", fp: fingerprint, token };
      if ((await this.#redis.set(k, JSON.stringify(claim), "PX", this.#pendingTtlMs, "NX")) === "OK")
        return { status: "new", token };
      const raw = await this.#redis.get(k);
      if (raw === null) continue; // expired or abandoned between the two calls: try to claim again
      const cur = JSON.parse(raw) as Stored;
      if (cur.fp !== fingerprint) return { status: "mismatch" };
      return cur.s === "done" ? { status: "done", response: cur.response as R } : { status: "pending" };
    }
    return { status: "pending" };
  }

  /** Stores the response; false when the claim was lost (expired and taken by another request). */
  async complete(
    scope: string,
    key: string,
    token: string,
    fingerprint: string,
    response: unknown,
  ): Promise<boolean> {
    const stored: Stored = { s: "done", fp: fingerprint, response };
    return (
      (await COMPLETE.run(
        this.#redis,
        [this.#key(scope, key)],
        [token, JSON.stringify(stored), this.#ttlMs],
      )) === 1
    );
  }

  /** Frees a claim after the request failed, so that a retry runs it. */
  async abandon(scope: string, key: string, token: string): Promise<boolean> {
    return (await ABANDON.run(this.#redis, [this.#key(scope, key)], [token])) === 1;
  }
}
