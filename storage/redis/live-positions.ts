/**
 * Live driver positions in Redis, written behind the GPS hot path (DESIGN flow 1).
 *
 * `write()` is synchronous and never touches the network: it puts the fix into a map keyed by
 * driver (a newer fix replaces an older one still waiting), and a flush sends the map as one
 * pipeline every `flushIntervalMs` or as soon as `maxBatch` drivers wait. Memory is therefore
 * bounded by the number of drivers, whatever Redis does: while `maxInFlight` pipelines are
 * outstanding, fixes keep coalescing instead of piling up. A failed pipeline is reported to
 * `onError` and dropped; the next fix (seconds later) rewrites the position.
 *
 * Layout, under `prefix`:
 *   live:geo          GEO set of every driver's last position (for GEOSEARCH)
 *   live:pos:<id>     hash {lat, lng, t} of one driver, expiring `ttlMs` after its last fix
 * GEO members cannot expire one by one, so the per-driver hash is what says a driver is live:
 * `nearby` skips (and removes) members whose hash has expired; `prune` sweeps them all.
 *
 * The readers are for rebuilding a region's native index after failover and for admin views,
 * not the hot path. Coordinates come back exactly as written (from the hash, not the GEO set's
 * 52-bit geohash).
 */
import type { Redis } from "ioredis";
import { LuaScript } from "./script.js";

/**
 * KEYS: the GEO set, then one position hash per driver (`<prefix><driver id>`).
 * ARGV: ttl ms, prefix length, then "lat,lng,t" per driver in KEYS order (one argument a driver
 * halves what the client encodes). GEOADD goes in chunks
 * because Lua's unpack has a stack limit.
 */
const STORE = new LuaScript(`
local ttl = tonumber(ARGV[1])
local cut = tonumber(ARGV[2]) + 1
local geo = {}
for k = 2, #KEYS do
  local key = KEYS[k]
  local lat, lng, t = string.match(ARGV[k + 1], '^([^,]+),([^,]+),([^,]+)$')
  redis.call('HSET', key, 'lat', lat, 'lng', lng, 't', t)
  redis.call('PEXPIRE', key, ttl)
  geo[#geo + 1] = lng
  geo[#geo + 1] = lat
  geo[#geo + 1] = string.sub(key, cut)
end
for j = 1, #geo, 3000 do
  redis.call('GEOADD', KEYS[1], unpack(geo, j, math.min(j + 2999, #geo)))
end
return #KEYS - 1
`);

export interface LivePosition {
  readonly driverId: string;
  readonly lat: number;
  readonly lng: number;
  /** Time of the fix, ms since the epoch. */
  readonly t: number;
}

export interface NearbyDriver extends LivePosition {
  /** Great-circle distance from the search point, metres (Redis's haversine). */
  readonly distanceM: number;
}

export interface LivePositionsOptions {
  /** Key prefix, e.g. "dispatch:". */
  readonly prefix: string;
  /** Longest a fix waits before it is sent (default 50 ms). */
  readonly flushIntervalMs?: number;
  /** Drivers waiting that trigger a flush at once (default 500). */
  readonly maxBatch?: number;
  /** A driver without a fix for this long is no longer live (default 60 s). */
  readonly ttlMs?: number;
  /** Pipelines outstanding at once before fixes are held back to coalesce (default 4). */
  readonly maxInFlight?: number;
  /** Told of every failed flush and how many fixes it lost. Must not throw. */
  readonly onError?: (err: unknown, dropped: number) => void;
  /**
   * Told of the drivers whose fixes a successful pipeline just stored (for measuring the
   * write-behind delay). Must not throw; absent costs nothing.
   */
  readonly onFlushed?: (driverIds: Iterable<string>) => void;
}

export interface LivePositionsStats {
  /** Fixes accepted by write(). */
  written: number;
  /** Fixes replaced by a newer one of the same driver before they were sent. */
  coalesced: number;
  /** Fixes older than one already waiting for the same driver (ignored). */
  stale: number;
  /** Fixes sent in successful pipelines. */
  flushed: number;
  /** Fixes lost with failed pipelines. */
  dropped: number;
  flushes: number;
}

interface Fix {
  lat: number;
  lng: number;
  t: number;
}

export class RedisLivePositions {
  readonly #redis: Redis;
  readonly #geoKey: string;
  readonly #posPrefix: string;
  readonly #intervalMs: number;
  readonly #maxBatch: number;
  readonly #ttlMs: number;
  readonly #maxInFlight: number;
  readonly #onError: (err: unknown, dropped: number) => void;
  readonly #onFlushed: ((driverIds: Iterable<string>) => void) | undefined;
  #queue = new Map<string, Fix>();
  #timer: NodeJS.Timeout | undefined;
  readonly #inFlight = new Set<Promise<void>>();
  #closed = false;
  readonly stats: LivePositionsStats = {
    written: 0,
    coalesced: 0,
    stale: 0,
    flushed: 0,
    dropped: 0,
    flushes: 0,
  };

  constructor(redis: Redis, options: LivePositionsOptions) {
    this.#redis = redis;
    this.#geoKey = `${options.prefix}live:geo`;
    this.#posPrefix = `${options.prefix}live:pos:`;
    this.#intervalMs = options.flushIntervalMs ?? 50;
    this.#maxBatch = options.maxBatch ?? 500;
    this.#ttlMs = options.ttlMs ?? 60_000;
    this.#maxInFlight = options.maxInFlight ?? 4;
    this.#onError = options.onError ?? (() => {});
    this.#onFlushed = options.onFlushed;
  }

  /**
   * Queues a fix (already validated at the edge: finite, in range). Returns at once; never
   * throws for Redis trouble. After close() fixes are ignored.
   */
  write(driverId: string, lat: number, lng: number, t: number): void {
    if (this.#closed) return;
    this.stats.written++;
    const waiting = this.#queue.get(driverId);
    if (waiting !== undefined) {
      if (waiting.t > t) {
        this.stats.stale++;
        return;
      }
      this.stats.coalesced++;
      waiting.lat = lat;
      waiting.lng = lng;
      waiting.t = t;
      return;
    }
    this.#queue.set(driverId, { lat, lng, t });
    if (this.#queue.size >= this.#maxBatch) this.#send();
    else this.#timer ??= setTimeout(() => this.#send(), this.#intervalMs).unref();
  }

  /** Sends whatever waits now and resolves when every pipeline sent so far has finished. */
  async flush(): Promise<void> {
    this.#send(true);
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  /** Flushes and stops; later writes are ignored. Does not close the Redis client. */
  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
  }

  #send(force = false): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#queue.size === 0) return;
    if (!force && this.#inFlight.size >= this.#maxInFlight) {
      // Redis is behind: keep coalescing and try again shortly.
      this.#timer = setTimeout(() => this.#send(), this.#intervalMs).unref();
      return;
    }
    const batch = this.#queue;
    this.#queue = new Map();
    const p = this.#store(batch).finally(() => this.#inFlight.delete(p));
    this.#inFlight.add(p);
  }

  async #store(batch: Map<string, Fix>): Promise<void> {
    // One EVALSHA per flush: building a command object per HSET/PEXPIRE cost the writing process
    // about 29 us of CPU per fix at 20k fixes/s (bench/suites/pipeline.ts); one flat argument
    // list costs a fraction of that, and Redis runs the same commands.
    const keys: string[] = [this.#geoKey];
    const args: (string | number)[] = [this.#ttlMs, this.#posPrefix.length];
    for (const [driverId, f] of batch) {
      keys.push(this.#posPrefix + driverId);
      args.push(`${f.lat},${f.lng},${f.t}`);
    }
    this.stats.flushes++;
    try {
      await STORE.run(this.#redis, keys, args);
      this.stats.flushed += batch.size;
    } catch (err) {
      this.#failed(err, batch.size);
      return;
    }
    if (this.#onFlushed !== undefined) {
      try {
        this.#onFlushed(batch.keys());
      } catch {
        // Must not throw; a bad observer never breaks the write-behind.
      }
    }
  }

  #failed(err: unknown, size: number): void {
    this.stats.dropped += size;
    try {
      this.#onError(err, size);
    } catch {
      // onError must not throw; if it does, the hot path still must not see it.
    }
  }

  /** The driver's last position, or null when it has none or it expired. */
  async get(driverId: string): Promise<LivePosition | null> {
    const h = await this.#redis.hmget(this.#posPrefix + driverId, "lat", "lng", "t");
    return toPosition(driverId, h);
  }

  /**
   * Live drivers within `radiusM` of the point, nearest first, at most `limit`. Members whose
   * position expired are left out and removed from the GEO set.
   */
  async nearby(lat: number, lng: number, radiusM: number, limit?: number): Promise<NearbyDriver[]> {
    const args: (string | number)[] = [this.#geoKey, "FROMLONLAT", lng, lat, "BYRADIUS", radiusM, "m", "ASC"];
    if (limit !== undefined) args.push("COUNT", Math.max(1, limit));
    args.push("WITHDIST");
    const found = (await this.#redis.call("GEOSEARCH", ...args)) as [string, string][];
    if (found.length === 0) return [];
    const pipe = this.#redis.pipeline();
    for (const [id] of found) pipe.hmget(this.#posPrefix + id, "lat", "lng", "t");
    const hashes = (await pipe.exec()) ?? [];
    const out: NearbyDriver[] = [];
    const expired: string[] = [];
    found.forEach(([id, dist], i) => {
      const p = toPosition(id, hashes[i]?.[1] as (string | null)[] | undefined);
      if (p === null) expired.push(id);
      else out.push({ ...p, distanceM: Number(dist) });
    });
    if (expired.length > 0) await this.#removeExpired(expired);
    return limit === undefined ? out : out.slice(0, limit);
  }

  /** Takes a driver out at once (went offline). */
  async remove(driverId: string): Promise<void> {
    await this.#redis
      .pipeline()
      .zrem(this.#geoKey, driverId)
      .del(this.#posPrefix + driverId)
      .exec();
  }

  /** Removes every GEO member whose position expired; returns how many. */
  async prune(batchSize = 1000): Promise<number> {
    let cursor = "0";
    let removed = 0;
    do {
      const [next, flat] = await this.#redis.zscan(this.#geoKey, cursor, "COUNT", batchSize);
      cursor = next;
      const ids = flat.filter((_, i) => i % 2 === 0);
      if (ids.length === 0) continue;
      const pipe = this.#redis.pipeline();
      for (const id of ids) pipe.exists(this.#posPrefix + id);
      const exists = (await pipe.exec()) ?? [];
      const gone = ids.filter((_, i) => exists[i]?.[1] === 0);
      removed += await this.#removeExpired(gone);
    } while (cursor !== "0");
    return removed;
  }

  async #removeExpired(ids: string[]): Promise<number> {
    if (ids.length === 0) return 0;
    // A driver whose fix arrived between our read and now has a hash again: keep it.
    const pipe = this.#redis.pipeline();
    for (const id of ids) pipe.exists(this.#posPrefix + id);
    const exists = (await pipe.exec()) ?? [];
    const gone = ids.filter((_, i) => exists[i]?.[1] === 0);
    if (gone.length === 0) return 0;
    return this.#redis.zrem(this.#geoKey, ...gone);
  }
}

function toPosition(driverId: string, h: (string | null)[] | undefined): LivePosition | null {
  if (h === undefined || h[0] == null || h[1] == null || h[2] == null) return null;
  return { driverId, lat: Number(h[0]), lng: Number(h[1]), t: Number(h[2]) };
}
