/**
 * Which drivers are online, shared by every gateway. A driver is online in one group (a region,
 * or "all") while its heartbeats keep coming; it drops out `ttlMs` after the last one without
 * anyone having to notice the disconnect.
 *
 * Layout, under `prefix` (all keys share the `{presence}` hash tag, so the Lua scripts touch one
 * Redis Cluster slot):
 *   {presence}:group:<group>    sorted set: driver id -> time its presence expires (ms)
 *   {presence}:driver:<id>      the driver's current group (expires with the presence)
 * Redis cannot expire members of a set one by one, so the score carries the expiry and readers
 * count only members whose score is in the future; `prune` deletes the rest.
 *
 * Times are the caller's clock (the engine's injected Clock): gateways must agree to well within
 * the TTL, which NTP gives.
 */
import type { Redis } from "ioredis";
import { LuaScript } from "./script.js";

export interface PresenceOptions {
  readonly prefix: string;
  /** How long one heartbeat keeps a driver online (default 30 s). */
  readonly ttlMs?: number;
}

// KEYS: driver key, new group key. ARGV: driver id, group name, expires at, ttl ms, group key prefix.
// Moves the driver out of its previous group when it changed, then marks it in the new one.
const HEARTBEAT = new LuaScript(`
local previous = redis.call('GET', KEYS[1])
if previous and previous ~= ARGV[2] then
  redis.call('ZREM', ARGV[5] .. previous, ARGV[1])
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[4] * 2)
return 1
`);

// KEYS: driver key. ARGV: driver id, group key prefix.
const LEAVE = new LuaScript(`
local previous = redis.call('GET', KEYS[1])
if previous then redis.call('ZREM', ARGV[2] .. previous, ARGV[1]) end
redis.call('DEL', KEYS[1])
return previous and 1 or 0
`);

export class RedisPresence {
  readonly #redis: Redis;
  readonly #groupPrefix: string;
  readonly #driverPrefix: string;
  readonly #ttlMs: number;

  constructor(redis: Redis, options: PresenceOptions) {
    this.#redis = redis;
    this.#groupPrefix = `${options.prefix}{presence}:group:`;
    this.#driverPrefix = `${options.prefix}{presence}:driver:`;
    this.#ttlMs = options.ttlMs ?? 30_000;
  }

  /** Marks the driver online in `group` until `now + ttlMs`, leaving any other group. */
  async heartbeat(driverId: string, now: number, group = "all"): Promise<void> {
    await HEARTBEAT.run(
      this.#redis,
      [this.#driverPrefix + driverId, this.#groupPrefix + group],
      [driverId, group, now + this.#ttlMs, this.#ttlMs, this.#groupPrefix],
    );
  }

  /** Takes the driver offline at once (it said goodbye). */
  async leave(driverId: string): Promise<void> {
    await LEAVE.run(this.#redis, [this.#driverPrefix + driverId], [driverId, this.#groupPrefix]);
  }

  /** The group the driver is online in at `now`, or null. */
  async groupOf(driverId: string, now: number): Promise<string | null> {
    const group = await this.#redis.get(this.#driverPrefix + driverId);
    if (group === null) return null;
    const expires = await this.#redis.zscore(this.#groupPrefix + group, driverId);
    return expires !== null && Number(expires) > now ? group : null;
  }

  async isOnline(driverId: string, now: number): Promise<boolean> {
    return (await this.groupOf(driverId, now)) !== null;
  }

  /** Drivers online in the group at `now`, soonest to expire first; at most `limit`. */
  async online(group: string, now: number, limit?: number): Promise<string[]> {
    const key = this.#groupPrefix + group;
    return limit === undefined
      ? this.#redis.zrangebyscore(key, `(${now}`, "+inf")
      : this.#redis.zrangebyscore(key, `(${now}`, "+inf", "LIMIT", 0, Math.max(0, limit));
  }

  async count(group: string, now: number): Promise<number> {
    return this.#redis.zcount(this.#groupPrefix + group, `(${now}`, "+inf");
  }

  /** Deletes the group's members that expired by `now`; returns how many. */
  async prune(group: string, now: number): Promise<number> {
    return this.#redis.zremrangebyscore(this.#groupPrefix + group, "-inf", now);
  }
}
