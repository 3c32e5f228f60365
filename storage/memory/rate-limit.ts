/**
 * The in-process RateLimiter: the same sliding-window estimate as the Redis one (so both pass
 * one contract), counted in a Map. Enough for one gateway process; with several, use Redis.
 */
import { type RateDecision, type RateLimit, type RateLimiter, retryAfter } from "../../engine/limits.js";

interface Windows {
  index: number;
  cur: number;
  prev: number;
}

export class MemoryRateLimiter implements RateLimiter {
  readonly #keys = new Map<string, Windows>();
  #lastSweep = 0;

  async take(key: string, rule: RateLimit, now: number, cost = 1): Promise<RateDecision> {
    const { limit, windowMs: w } = rule;
    const index = Math.floor(now / w);
    const elapsed = now - index * w;
    this.#sweep(now, w);
    let s = this.#keys.get(key);
    if (s === undefined) {
      s = { index, cur: 0, prev: 0 };
      this.#keys.set(key, s);
    } else if (s.index !== index) {
      // Roll forward: the old current window is the previous one only if it is adjacent.
      s.prev = s.index === index - 1 ? s.cur : 0;
      s.cur = 0;
      s.index = index;
    }
    const estimate = (s.prev * (w - elapsed)) / w + s.cur;
    if (estimate + cost > limit) {
      return {
        allowed: false,
        remaining: 0,
        retryAfterMs: retryAfter(limit, w, elapsed, s.prev, s.cur, cost),
      };
    }
    s.cur += cost;
    return { allowed: true, remaining: Math.max(0, Math.floor(limit - estimate - cost)), retryAfterMs: 0 };
  }

  /** Forgets keys idle for two windows, at most once a window, so the map does not grow without bound. */
  #sweep(now: number, w: number): void {
    if (now - this.#lastSweep < w) return;
    this.#lastSweep = now;
    const index = Math.floor(now / w);
    for (const [k, s] of this.#keys) if (s.index < index - 1) this.#keys.delete(k);
  }
}
