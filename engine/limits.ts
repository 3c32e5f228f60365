/**
 * Ports of the request guards every gateway process must share to be of use: rate limits and
 * idempotency keys. In one process an in-process implementation serves; with REDIS_URL the
 * Redis ones make all gateways count and remember together (storage/redis).
 */

export interface RateLimit {
  /** Units allowed per window. */
  readonly limit: number;
  readonly windowMs: number;
}

export interface RateDecision {
  readonly allowed: boolean;
  /** Units still available right after this decision (0 when refused). */
  readonly remaining: number;
  /** When refused: how long until a request of the same cost would pass (ms); else 0. */
  readonly retryAfterMs: number;
}

/**
 * A sliding-window limit per key (the previous fixed window weighted by its remaining overlap,
 * plus the current one). `take` checks and counts in one atomic step: of concurrent callers
 * only as many pass as the limit allows, whichever process they run in. Refused requests are
 * not counted. Time is the caller's `now` (ms), so tests are deterministic; every process of a
 * deployment must pass clock time.
 */
export interface RateLimiter {
  take(key: string, rule: RateLimit, now: number, cost?: number): Promise<RateDecision>;
}

export type IdempotencyClaim<R> =
  /** The key was free and is now ours: run the request, then complete() or abandon(). */
  | { readonly status: "new"; readonly token: string }
  /** Another request with this key is running. Ask the client to retry a little later. */
  | { readonly status: "pending" }
  /** The request ran before; here is its response. */
  | { readonly status: "done"; readonly response: R }
  /** The key was used for a different request (another fingerprint). */
  | { readonly status: "mismatch" };

/** Every store's retention of a stored response and hold of an uncompleted claim, unless configured. */
export const idempotencyDefaults = { ttlMs: 86_400_000, pendingTtlMs: 30_000 } as const;

/**
 * Idempotency keys of client requests: the first request with a key runs, a retry gets the
 * stored response. `begin` claims the key atomically (of concurrent begins exactly one gets
 * `new`); a claim not completed within the pending time expires and the key is free again;
 * `complete` stores the response for the retention time if the claim is still the caller's
 * (false otherwise); `abandon` frees the caller's claim. `scope` separates callers (a user id),
 * so one user's key never meets another's.
 */
export interface IdempotencyStore {
  begin<R = unknown>(scope: string, key: string, fingerprint: string): Promise<IdempotencyClaim<R>>;
  complete(
    scope: string,
    key: string,
    token: string,
    fingerprint: string,
    response: unknown,
  ): Promise<boolean>;
  abandon(scope: string, key: string, token: string): Promise<boolean>;
}

/**
 * Time until estimate + cost <= limit, assuming no other traffic: first within this window, as
 * the previous window's weight fades; else in the next one, as this window's count fades.
 */
export function retryAfter(
  limit: number,
  w: number,
  elapsed: number,
  prev: number,
  cur: number,
  cost: number,
): number {
  const room = limit - cost;
  if (room < 0) return Number.POSITIVE_INFINITY; // the cost alone exceeds the limit
  if (cur <= room && prev > 0) {
    // prev * (w - e) / w + cur <= room  <=>  e >= w * (1 - (room - cur) / prev)
    const e = w * (1 - (room - cur) / prev);
    if (e < w) return Math.max(1, Math.ceil(e - elapsed));
  }
  // Next window: cur * (w - e) / w <= room  <=>  e >= w * (1 - room / cur)
  const e = cur > 0 ? Math.max(0, w * (1 - room / cur)) : 0;
  return Math.max(1, Math.ceil(w - elapsed + e));
}
