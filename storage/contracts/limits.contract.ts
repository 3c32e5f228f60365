/**
 * The request-guard ports' contracts (engine/limits.ts): one suite per port, run against the
 * in-process implementations (limits-memory.test.ts) and Redis (storage/redis/limits.int.test.ts).
 * A factory gives two handles on one shared state: two gateway processes, or one process twice.
 */
import { describe, expect, it } from "vitest";
import type { IdempotencyStore, RateLimiter } from "../../engine/limits.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function rateLimiterContract(
  name: string,
  make: () => Promise<{ a: RateLimiter; b: RateLimiter }> | { a: RateLimiter; b: RateLimiter },
): void {
  describe(`RateLimiter contract: ${name}`, () => {
    const rule = { limit: 5, windowMs: 1000 };

    it("allows the limit within a window, refuses the next with a retry time, shares the count", async () => {
      const { a, b } = await make();
      const t0 = 1_000_000_000_000; // a window boundary
      const results = [];
      for (let i = 0; i < 5; i++) results.push(await (i % 2 ? a : b).take("ip:1", rule, t0 + i));
      expect(results.map((r) => r.allowed)).toEqual([true, true, true, true, true]);
      expect(results.map((r) => r.remaining)).toEqual([4, 3, 2, 1, 0]);
      expect(results.every((r) => r.retryAfterMs === 0)).toBe(true);
      const refused = await a.take("ip:1", rule, t0 + 10);
      expect(refused).toEqual({ allowed: false, remaining: 0, retryAfterMs: 990 + 200 });
      expect((await b.take("ip:1", rule, t0 + 20)).allowed).toBe(false); // refusals are not counted...
      expect((await a.take("ip:2", rule, t0 + 10)).allowed).toBe(true); // ...and other keys unaffected
    });

    it("slides: the previous window's count fades in proportion to the time passed", async () => {
      const { a } = await make();
      const t0 = 2_000_000_000_000;
      for (let i = 0; i < 5; i++) await a.take("k", rule, t0 + 900);
      expect((await a.take("k", rule, t0 + 1100)).allowed).toBe(false); // previous 5 weigh 4.5
      expect((await a.take("k", rule, t0 + 1400)).allowed).toBe(true); // they weigh 3 now
      expect((await a.take("k", rule, t0 + 1400)).allowed).toBe(true);
      expect((await a.take("k", rule, t0 + 1400)).allowed).toBe(false);
      // Two windows later nothing of it is left.
      expect((await a.take("k", rule, t0 + 3000)).remaining).toBe(4);
    });

    it("counts a cost; a cost over the limit never passes", async () => {
      const { a } = await make();
      const t0 = 4_000_000_000_000;
      expect(await a.take("c", rule, t0, 3)).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0 });
      expect((await a.take("c", rule, t0, 3)).allowed).toBe(false);
      expect((await a.take("c", rule, t0, 2)).allowed).toBe(true);
      expect(await a.take("c2", rule, t0, 6)).toMatchObject({
        allowed: false,
        retryAfterMs: Number.POSITIVE_INFINITY,
      });
    });

    it("of concurrent takes from both handles exactly the limit pass", async () => {
      const { a, b } = await make();
      const t = 3_000_000_000_500;
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).take("burst", rule, t)),
      );
      expect(results.filter((r) => r.allowed)).toHaveLength(5);
    });
  });
}

export function idempotencyStoreContract(
  name: string,
  make: (options: {
    pendingTtlMs?: number;
  }) => Promise<{ a: IdempotencyStore; b: IdempotencyStore }> | { a: IdempotencyStore; b: IdempotencyStore },
): void {
  describe(`IdempotencyStore contract: ${name}`, () => {
    it("claims a key once, replays the stored response, refuses another request under the key", async () => {
      const { a, b } = await make({});
      const first = await a.begin("user-1", "key-1", "fp-a");
      expect(first.status).toBe("new");
      expect(await b.begin("user-1", "key-1", "fp-a")).toEqual({ status: "pending" });
      expect(await b.begin("user-2", "key-1", "fp-a")).toMatchObject({ status: "new" }); // scoped per user
      const token = first.status === "new" ? first.token : "";
      expect(await a.complete("user-1", "key-1", token, "fp-a", { status: "200 OK", body: { x: 1 } })).toBe(
        true,
      );
      expect(await b.begin("user-1", "key-1", "fp-a")).toEqual({
        status: "done",
        response: { status: "200 OK", body: { x: 1 } },
      });
      expect(await b.begin("user-1", "key-1", "fp-b")).toEqual({ status: "mismatch" });
      expect(await a.complete("user-1", "key-1", token, "fp-a", {})).toBe(false); // already done
    });

    it("of concurrent claims exactly one wins; an abandoned claim frees the key", async () => {
      const { a, b } = await make({});
      const claims = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).begin("u", "k", "fp")),
      );
      expect(claims.filter((c) => c.status === "new")).toHaveLength(1);
      expect(claims.filter((c) => c.status === "pending")).toHaveLength(9);
      const won = claims.find((c) => c.status === "new");
      expect(await a.abandon("u", "k", "someone-else")).toBe(false);
      expect(await b.abandon("u", "k", won?.status === "new" ? won.token : "")).toBe(true);
      expect((await a.begin("u", "k", "fp")).status).toBe("new");
    });

    it("a claim whose holder died expires, and the holder's late completion is refused", async () => {
      const { a, b } = await make({ pendingTtlMs: 100 });
      const dead = await a.begin("u", "k", "fp");
      expect(dead.status).toBe("new");
      await sleep(250);
      expect((await b.begin("u", "k", "fp")).status).toBe("new");
      expect(await a.complete("u", "k", dead.status === "new" ? dead.token : "", "fp", { late: true })).toBe(
        false,
      );
    });
  });
}
