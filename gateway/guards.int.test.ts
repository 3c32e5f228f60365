/**
 * Two gateways sharing one Redis share the HTTP rate limits and the idempotency keys: requests
 * spread over both count against one limit, and a retry sent to the other gateway gets the
 * stored response instead of running the action again.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DispatchError, ErrorCode } from "../engine/errors.js";
import type { Principal } from "../engine/identity.js";
import { silentLogger } from "../engine/logger.js";
import { RedisIdempotency } from "../storage/redis/idempotency.js";
import { RedisRateLimiter } from "../storage/redis/rate-limit.js";
import { serviceEnv, uniqueId, unreachable } from "../test/integration/services-env.js";
import type { HttpRouteKey } from "./access.js";
import type { Handler } from "./router.js";
import { type Gateway, startGateway } from "./server.js";

const url = serviceEnv("REDIS_URL");
const prefix = `test:${uniqueId()}:`;
const clients: Redis[] = [];
const gateways: Gateway[] = [];
/** How many times the review action really ran (across both gateways). */
let reviews = 0;

// Tokens are "user-<id>" here: this test is about the guards, not about authentication.
const authenticate = async (token: string): Promise<Principal> => {
  if (!token.startsWith("user-")) throw new DispatchError(ErrorCode.Unauthenticated, "bad token");
  return { userId: token, roles: ["rider", "admin"] };
};

const routes: Partial<Record<HttpRouteKey, Handler>> = {
  "GET /v1/me": async ({ principal }) => ({ body: { id: principal!.userId } }),
  "POST /v1/auth/dev/code": async () => ({ status: "202 Accepted", body: { sent: true } }),
  "POST /v1/admin/drivers/:id/review": async ({ params, body }) => ({
    body: { driverId: params.id, decision: body.decision, run: ++reviews },
  }),
};

beforeAll(async () => {
  for (let i = 0; i < 2; i++) {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect().catch((err: unknown) => {
      throw unreachable("Redis", url, err);
    });
    clients.push(redis);
    gateways.push(
      await startGateway({
        host: "127.0.0.1",
        port: 0,
        logger: silentLogger,
        authenticate,
        routes,
        httpGuards: {
          limiter: new RedisRateLimiter(redis, { prefix }),
          idempotency: new RedisIdempotency(redis, { prefix }),
          userLimit: { limit: 6, windowMs: 60_000 },
          ipLimit: { limit: 4, windowMs: 60_000 },
        },
      }),
    );
  }
});

afterAll(async () => {
  for (const g of gateways) await g.close();
  const keys = await clients[0]!.keys(`${prefix}*`);
  if (keys.length > 0) await clients[0]!.del(...keys);
  for (const c of clients) c.disconnect();
});

async function call(g: Gateway, method: string, path: string, token?: string, body?: unknown, key?: string) {
  const res = await fetch(`http://127.0.0.1:${g.port}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(key ? { "idempotency-key": key } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

describe("two gateways on one Redis", () => {
  it("share a user's rate limit", async () => {
    const token = `user-${uniqueId()}`;
    const statuses = [];
    for (let i = 0; i < 8; i++) statuses.push((await call(gateways[i % 2]!, "GET", "/v1/me", token)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429]);
    const refused = await call(gateways[0]!, "GET", "/v1/me", token);
    expect(refused.body.code).toBe("RATE_LIMITED");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    // Another user has their own count.
    expect((await call(gateways[1]!, "GET", "/v1/me", `user-${uniqueId()}`)).status).toBe(200);
  });

  it("share the per-address limit of the public routes", async () => {
    const statuses = [];
    for (let i = 0; i < 6; i++)
      statuses.push((await call(gateways[i % 2]!, "POST", "/v1/auth/dev/code", undefined, {})).status);
    expect(statuses).toEqual([202, 202, 202, 202, 429, 429]);
  });

  it("share idempotency keys: a retry on the other gateway replays instead of running again", async () => {
    const token = `user-${uniqueId()}`;
    const key = crypto.randomUUID();
    const before = reviews;
    const first = await call(
      gateways[0]!,
      "POST",
      "/v1/admin/drivers/d1/review",
      token,
      { decision: "approve" },
      key,
    );
    const retry = await call(
      gateways[1]!,
      "POST",
      "/v1/admin/drivers/d1/review",
      token,
      { decision: "approve" },
      key,
    );
    expect(first.status).toBe(200);
    expect(retry).toMatchObject({ status: 200, body: first.body });
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(reviews).toBe(before + 1);
    const other = await call(
      gateways[1]!,
      "POST",
      "/v1/admin/drivers/d1/review",
      token,
      { decision: "reject" },
      key,
    );
    expect(other).toMatchObject({ status: 409, body: { code: "CONFLICT" } });
  });
});
