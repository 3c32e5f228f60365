// The Redis adapters against a real Redis; every test works under its own random key prefix.
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serviceEnv, uniqueId, unreachable } from "../../test/integration/services-env.js";
import { RedisIdempotency } from "./idempotency.js";
import { RedisLivePositions } from "./live-positions.js";
import { RedisPresence } from "./presence.js";
import { RedisRateLimiter } from "./rate-limit.js";

const url = serviceEnv("REDIS_URL");
let redis: Redis;
const prefixes: string[] = [];

function prefix(): string {
  const p = `test:${uniqueId()}:`;
  prefixes.push(p);
  return p;
}

beforeAll(async () => {
  redis = new Redis(url, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 1 });
  await redis.connect().catch((err: unknown) => {
    throw unreachable("Redis", url, err);
  });
});

afterAll(async () => {
  for (const p of prefixes) {
    const keys = await redis.keys(`${p}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  redis.disconnect();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("RedisLivePositions", () => {
  it("write() returns at once; a flush lands every driver's newest fix, exactly", async () => {
    const live = new RedisLivePositions(redis, { prefix: prefix(), flushIntervalMs: 10_000 });
    live.write("d1", 52.520008, 13.404954, 1000);
    live.write("d1", 52.520105, 13.405001, 2000); // replaces the waiting one
    live.write("d1", 52.5, 13.4, 1500); // older than the waiting one: ignored
    live.write("d2", 52.53, 13.41, 1000);
    expect(await live.get("d1")).toBeNull(); // nothing sent yet
    await live.flush();
    expect(await live.get("d1")).toEqual({ driverId: "d1", lat: 52.520105, lng: 13.405001, t: 2000 });
    expect(await live.get("d2")).toEqual({ driverId: "d2", lat: 52.53, lng: 13.41, t: 1000 });
    expect(live.stats).toMatchObject({
      written: 4,
      coalesced: 1,
      stale: 1,
      flushed: 2,
      dropped: 0,
      flushes: 1,
    });
    await live.close();
  });

  it("one flush stores thousands of drivers (GEOADD in chunks) and tells onFlushed which", async () => {
    const flushed: string[] = [];
    const live = new RedisLivePositions(redis, {
      prefix: prefix(),
      flushIntervalMs: 10_000,
      maxBatch: 10_000,
      onFlushed: (ids) => flushed.push(...ids),
    });
    const n = 7_001; // more than two GEOADD chunks of 3,000
    for (let i = 0; i < n; i++) live.write(`driver:${i}`, 41.8 + i * 1e-5, -87.6 - i * 1e-5, 1_000 + i);
    await live.flush();
    expect(flushed).toHaveLength(n);
    expect(new Set(flushed).size).toBe(n);
    expect(await live.get("driver:7000")).toEqual({
      driverId: "driver:7000",
      lat: 41.8 + 7000 * 1e-5,
      lng: -87.6 - 7000 * 1e-5,
      t: 8_000,
    });
    const near = await live.nearby(41.8 + 7000 * 1e-5, -87.6 - 7000 * 1e-5, 5, 1);
    expect(near.map((d) => d.driverId)).toEqual(["driver:7000"]);
  });

  it("flushes by itself after the interval and when a batch fills up", async () => {
    const live = new RedisLivePositions(redis, { prefix: prefix(), flushIntervalMs: 20, maxBatch: 3 });
    live.write("a", 1, 1, 1);
    // Nobody calls flush(): the timer sends it (polled, so a loaded machine does not fail this).
    await expect.poll(() => live.get("a"), { timeout: 5_000, interval: 20 }).not.toBeNull();
    live.write("b", 1, 1, 1);
    live.write("c", 1, 1, 1);
    live.write("d", 1, 1, 1); // third waiting driver: sent now, without waiting for the timer
    expect(live.stats.flushes).toBe(2);
    await live.close();
  });

  it("nearby: live drivers within the radius, nearest first, expired ones skipped and removed", async () => {
    const p = prefix();
    const live = new RedisLivePositions(redis, { prefix: p, ttlMs: 60_000 });
    live.write("near", 52.52, 13.405, 1);
    live.write("close", 52.521, 13.41, 1);
    live.write("gone", 52.5201, 13.4051, 1);
    live.write("paris", 48.8566, 2.3522, 1);
    await live.flush();
    await redis.del(`${p}live:pos:gone`); // as if its TTL ran out
    const found = await live.nearby(52.5201, 13.4049, 5_000);
    expect(found.map((d) => d.driverId)).toEqual(["near", "close"]);
    expect(found[0]).toMatchObject({ lat: 52.52, lng: 13.405, t: 1 });
    expect(found[0]!.distanceM).toBeLessThan(20);
    expect(await redis.zscore(`${p}live:geo`, "gone")).toBeNull();
    expect((await live.nearby(52.5201, 13.4049, 5_000, 1)).map((d) => d.driverId)).toEqual(["near"]);
    await live.close();
  });

  it("positions expire after the TTL; prune sweeps the GEO set; remove is immediate", async () => {
    const p = prefix();
    const live = new RedisLivePositions(redis, { prefix: p, ttlMs: 100 });
    live.write("x", 10, 10, 1);
    live.write("y", 10, 10.001, 1);
    await live.flush();
    await live.remove("y");
    expect(await live.get("y")).toBeNull();
    await sleep(250);
    expect(await live.get("x")).toBeNull();
    expect(await live.prune()).toBe(1);
    expect(await redis.exists(`${p}live:geo`)).toBe(0);
    await live.close();
  });

  it("a failed flush is reported and dropped, never thrown at the writer", async () => {
    const broken = new Redis("redis://127.0.0.1:1", {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    const errors: number[] = [];
    const live = new RedisLivePositions(broken, { prefix: prefix(), onError: (_e, n) => errors.push(n) });
    live.write("d", 1, 1, 1);
    live.write("e", 1, 1, 1);
    await live.flush();
    expect(errors).toEqual([2]);
    expect(live.stats.dropped).toBe(2);
    await live.close();
    live.write("f", 1, 1, 1); // after close: ignored
    expect(live.stats.written).toBe(2);
    broken.disconnect();
  });
});

describe("RedisPresence", () => {
  it("a heartbeat keeps a driver online for the TTL in one group at a time", async () => {
    const presence = new RedisPresence(redis, { prefix: prefix(), ttlMs: 1000 });
    await presence.heartbeat("d1", 10_000, "berlin");
    await presence.heartbeat("d2", 10_500, "berlin");
    expect(await presence.online("berlin", 10_600)).toEqual(["d1", "d2"]);
    expect(await presence.count("berlin", 10_600)).toBe(2);
    expect(await presence.isOnline("d1", 10_999)).toBe(true);
    expect(await presence.isOnline("d1", 11_000)).toBe(false);
    expect(await presence.online("berlin", 11_000)).toEqual(["d2"]);
    // Moving to another group leaves the first.
    await presence.heartbeat("d2", 10_700, "potsdam");
    expect(await presence.online("berlin", 10_700)).toEqual(["d1"]);
    expect(await presence.groupOf("d2", 10_700)).toBe("potsdam");
    expect(await presence.prune("berlin", 11_000)).toBe(1);
    await presence.leave("d2");
    expect(await presence.isOnline("d2", 10_700)).toBe(false);
    expect(await presence.online("potsdam", 10_700)).toEqual([]);
    expect(await presence.isOnline("never", 0)).toBe(false);
  });
});

describe("RedisIdempotency", () => {
  it("claims a key once, replays the stored response, refuses another request under the key", async () => {
    const idem = new RedisIdempotency(redis, { prefix: prefix() });
    const first = await idem.begin("user-1", "key-1", "fp-a");
    expect(first.status).toBe("new");
    expect(await idem.begin("user-1", "key-1", "fp-a")).toEqual({ status: "pending" });
    expect(await idem.begin("user-2", "key-1", "fp-a")).toMatchObject({ status: "new" }); // scoped per user
    const token = first.status === "new" ? first.token : "";
    expect(await idem.complete("user-1", "key-1", token, "fp-a", { orderId: "o1", status: 201 })).toBe(true);
    expect(await idem.begin("user-1", "key-1", "fp-a")).toEqual({
      status: "done",
      response: { orderId: "o1", status: 201 },
    });
    expect(await idem.begin("user-1", "key-1", "fp-b")).toEqual({ status: "mismatch" });
    expect(await idem.complete("user-1", "key-1", token, "fp-a", {})).toBe(false); // already done
  });

  it("of concurrent claims exactly one wins; an abandoned claim frees the key", async () => {
    const idem = new RedisIdempotency(redis, { prefix: prefix() });
    const claims = await Promise.all(Array.from({ length: 10 }, () => idem.begin("u", "k", "fp")));
    expect(claims.filter((c) => c.status === "new")).toHaveLength(1);
    expect(claims.filter((c) => c.status === "pending")).toHaveLength(9);
    const won = claims.find((c) => c.status === "new");
    expect(await idem.abandon("u", "k", "someone-else")).toBe(false);
    expect(await idem.abandon("u", "k", won?.status === "new" ? won.token : "")).toBe(true);
    expect((await idem.begin("u", "k", "fp")).status).toBe("new");
  });

  it("a claim whose holder died expires, and the holder's late completion is refused", async () => {
    const idem = new RedisIdempotency(redis, { prefix: prefix(), pendingTtlMs: 100 });
    const dead = await idem.begin("u", "k", "fp");
    expect(dead.status).toBe("new");
    await sleep(250);
    const next = await idem.begin("u", "k", "fp");
    expect(next.status).toBe("new");
    expect(await idem.complete("u", "k", dead.status === "new" ? dead.token : "", "fp", { late: true })).toBe(
      false,
    );
  });
});

describe("RedisRateLimiter", () => {
  const rule = { limit: 5, windowMs: 1000 };

  it("allows the limit within a window, refuses the next with a retry time, shares the count", async () => {
    const p = prefix();
    const a = new RedisRateLimiter(redis, { prefix: p });
    const b = new RedisRateLimiter(redis, { prefix: p }); // another gateway
    const t0 = 1_000_000_000_000; // a window boundary
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await (i % 2 ? a : b).take("ip:1", rule, t0 + i));
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, true, true]);
    expect(results.map((r) => r.remaining)).toEqual([4, 3, 2, 1, 0]);
    const refused = await a.take("ip:1", rule, t0 + 10);
    expect(refused).toMatchObject({ allowed: false, remaining: 0 });
    expect(refused.retryAfterMs).toBe(990 + 200); // next window, once 1 of the 5 has faded
    expect((await a.take("ip:2", rule, t0 + 10)).allowed).toBe(true); // other keys unaffected
  });

  it("slides: the previous window's count fades in proportion to the time passed", async () => {
    const limiter = new RedisRateLimiter(redis, { prefix: prefix() });
    const t0 = 2_000_000_000_000;
    for (let i = 0; i < 5; i++) await limiter.take("k", rule, t0 + 900);
    // 10% into the next window the previous 5 still weigh 4.5: nothing fits.
    expect((await limiter.take("k", rule, t0 + 1100)).allowed).toBe(false);
    // At 40% they weigh 3: two more fit, the third does not.
    expect((await limiter.take("k", rule, t0 + 1400)).allowed).toBe(true);
    expect((await limiter.take("k", rule, t0 + 1400)).allowed).toBe(true);
    expect((await limiter.take("k", rule, t0 + 1400)).allowed).toBe(false);
  });

  it("of concurrent takes exactly the limit pass", async () => {
    const limiter = new RedisRateLimiter(redis, { prefix: prefix() });
    const t = 3_000_000_000_500;
    const results = await Promise.all(Array.from({ length: 20 }, () => limiter.take("burst", rule, t)));
    expect(results.filter((r) => r.allowed)).toHaveLength(5);
  });
});
