/**
 * Rate limits shared by all gateways: a sliding-window counter in Redis, checked and counted in
 * one Lua script so concurrent gateways never both take the last unit.
 *
 * The window slides by weighting the previous fixed window's count by how much of it still
 * overlaps (Cloudflare's approximation): estimate = previous * (1 - elapsed / window) + current.
 * A request of `cost` passes when estimate + cost <= limit and is then counted; refused requests
 * are not counted, so a client hammering a limit does not lock itself out for longer.
 *
 * Keys: `<prefix>rl:{<key>}:<window index>`; both windows of one key share a hash tag (one
 * Redis Cluster slot) and expire two windows after they start.
 */
import type { Redis } from "ioredis";
import { type RateDecision, type RateLimit, type RateLimiter, retryAfter } from "../../engine/limits.js";
import { LuaScript } from "./script.js";

export type { RateDecision, RateLimit };

// KEYS: current window, previous window. ARGV: limit, window ms, elapsed ms in window, cost.
// Returns {allowed, previous count, current count after}.
const TAKE = new LuaScript(`
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local elapsed = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local estimate = prev * (window - elapsed) / window + cur
if estimate + cost > limit then
  return {0, prev, cur}
end
cur = redis.call('INCRBY', KEYS[1], cost)
if cur == cost then redis.call('PEXPIRE', KEYS[1], window * 2) end
return {1, prev, cur}
`);

export class RedisRateLimiter implements RateLimiter {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, options: { readonly prefix: string }) {
    this.#redis = redis;
    this.#prefix = `${options.prefix}rl:`;
  }

  /** Counts `cost` units against `key` at time `now` if the limit allows it. */
  async take(key: string, rule: RateLimit, now: number, cost = 1): Promise<RateDecision> {
    const { limit, windowMs: w } = rule;
    const index = Math.floor(now / w);
    const elapsed = now - index * w;
    const base = `${this.#prefix}{${key}}:`;
    const [allowed, prev, cur] = (await TAKE.run(
      this.#redis,
      [`${base}${index}`, `${base}${index - 1}`],
      [limit, w, elapsed, cost],
    )) as [number, number, number];
    const estimate = (prev * (w - elapsed)) / w + cur;
    if (allowed === 1)
      return { allowed: true, remaining: Math.max(0, Math.floor(limit - estimate)), retryAfterMs: 0 };
    return { allowed: false, remaining: 0, retryAfterMs: retryAfter(limit, w, elapsed, prev, cur, cost) };
  }
}
