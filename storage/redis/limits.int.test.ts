// The request-guard contracts against a real Redis: two adapters (two "gateways") on separate
// connections share one random key prefix per test.
import { Redis } from "ioredis";
import { afterAll } from "vitest";
import { serviceEnv, uniqueId } from "../../test/integration/services-env.js";
import { idempotencyStoreContract, rateLimiterContract } from "../contracts/limits.contract.js";
import { RedisIdempotency } from "./idempotency.js";
import { RedisRateLimiter } from "./rate-limit.js";

const url = serviceEnv("REDIS_URL");
const clients: Redis[] = [];
const prefixes: string[] = [];

function pair(): { one: Redis; two: Redis; prefix: string } {
  const one = new Redis(url, { maxRetriesPerRequest: 1 });
  const two = new Redis(url, { maxRetriesPerRequest: 1 });
  clients.push(one, two);
  const prefix = `test:${uniqueId()}:`;
  prefixes.push(prefix);
  return { one, two, prefix };
}

afterAll(async () => {
  const c = clients[0];
  if (c) {
    for (const p of prefixes) {
      const keys = await c.keys(`${p}*`);
      if (keys.length > 0) await c.del(...keys);
    }
  }
  for (const client of clients) client.disconnect();
});

rateLimiterContract("redis", () => {
  const { one, two, prefix } = pair();
  return { a: new RedisRateLimiter(one, { prefix }), b: new RedisRateLimiter(two, { prefix }) };
});
idempotencyStoreContract("redis", (o) => {
  const { one, two, prefix } = pair();
  return { a: new RedisIdempotency(one, { prefix, ...o }), b: new RedisIdempotency(two, { prefix, ...o }) };
});
