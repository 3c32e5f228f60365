/**
 * The in-process IdempotencyStore: the Redis protocol (claim, complete, abandon; a pending claim
 * expires) on a Map, for a single gateway process. Expired entries are dropped as they are met
 * and in a sweep every few hundred calls.
 */
import { randomUUID } from "node:crypto";
import { type IdempotencyClaim, type IdempotencyStore, idempotencyDefaults } from "../../engine/limits.js";

interface Entry {
  s: "pending" | "done";
  fp: string;
  token?: string;
  response?: unknown;
  expiresAt: number;
}

export class MemoryIdempotency implements IdempotencyStore {
  readonly #entries = new Map<string, Entry>();
  readonly #ttlMs: number;
  readonly #pendingTtlMs: number;
  readonly #now: () => number;
  #calls = 0;

  constructor(options: { ttlMs?: number; pendingTtlMs?: number; now?: () => number } = {}) {
    this.#ttlMs = options.ttlMs ?? idempotencyDefaults.ttlMs;
    this.#pendingTtlMs = options.pendingTtlMs ?? idempotencyDefaults.pendingTtlMs;
    this.#now = options.now ?? Date.now;
  }

  #live(k: string): Entry | undefined {
    const e = this.#entries.get(k);
    if (e !== undefined && e.expiresAt <= this.#now()) {
      this.#entries.delete(k);
      return undefined;
    }
    return e;
  }

  async begin<R = unknown>(scope: string, key: string, fingerprint: string): Promise<IdempotencyClaim<R>> {
    if (++this.#calls % 256 === 0) {
      const t = this.#now();
      for (const [k, e] of this.#entries) if (e.expiresAt <= t) this.#entries.delete(k);
    }
    const k = `${scope}:${key}`;
    const cur = this.#live(k);
    if (cur === undefined) {
      const token = randomUUID();
      this.#entries.set(k, {
        s: "pending",
        fp: fingerprint,
        token,
        expiresAt: this.#now() + this.#pendingTtlMs,
      });
      return { status: "new", token };
    }
    if (cur.fp !== fingerprint) return { status: "mismatch" };
    return cur.s === "done"
      ? { status: "done", response: structuredClone(cur.response) as R }
      : { status: "pending" };
  }

  async complete(
    scope: string,
    key: string,
    token: string,
    fingerprint: string,
    response: unknown,
  ): Promise<boolean> {
    const k = `${scope}:${key}`;
    const cur = this.#live(k);
    if (cur === undefined || cur.s !== "pending" || cur.token !== token) return false;
    this.#entries.set(k, {
      s: "done",
      fp: fingerprint,
      response: structuredClone(response),
      expiresAt: this.#now() + this.#ttlMs,
    });
    return true;
  }

  async abandon(scope: string, key: string, token: string): Promise<boolean> {
    const k = `${scope}:${key}`;
    const cur = this.#live(k);
    if (cur === undefined || cur.s !== "pending" || cur.token !== token) return false;
    this.#entries.delete(k);
    return true;
  }
}
