// The factory with DATABASE_URL and REDIS_URL: the PostgreSQL repositories and the Redis adapters.
import { afterAll, describe, expect, it } from "vitest";
import { sampleEvent, sampleOrder } from "../engine/contracts/fixtures.js";
import { ErrorCode } from "../engine/errors.js";
import { serviceEnv, uniqueId } from "../test/integration/services-env.js";
import { openStorage } from "./factory.js";
import { PgDb, quoteIdent } from "./postgres/db.js";
import { PhoneCipher } from "./postgres/phone-crypto.js";
import { randomSchemaName } from "./postgres/test-support.js";

const databaseUrl = serviceEnv("DATABASE_URL");
const redisUrl = serviceEnv("REDIS_URL");
const schemas: string[] = [];
afterAll(async () => {
  const db = new PgDb({ connectionString: databaseUrl });
  for (const s of schemas) await db.exec(`DROP SCHEMA IF EXISTS ${quoteIdent(s)} CASCADE`);
  await db.close();
});

describe("openStorage with DATABASE_URL and REDIS_URL", () => {
  it("migrates its schema, serves every port from PostgreSQL and the Redis adapters", async () => {
    const databaseSchema = randomSchemaName();
    schemas.push(databaseSchema);
    const redisPrefix = `test:${uniqueId()}:`;
    const config = {
      databaseUrl,
      databaseSchema,
      redisUrl,
      redisPrefix,
      phoneSecret: PhoneCipher.newSecret(),
    };
    const s = await openStorage(config);
    try {
      expect(s.kind).toBe("postgres");
      const o = sampleOrder();
      expect((await s.orders.create(o)).status).toBe("created");
      await s.events.append(sampleEvent(o.id, 2));
      expect(await s.events.readOrder(o.id)).toHaveLength(1);
      const u = await s.users.findOrCreateByPhone("+15555550142", 1);
      await s.refreshTokens.insert({ hash: "h".repeat(64), userId: u.id, familyId: "f", expiresAt: 10 });
      expect((await s.refreshTokens.use("h".repeat(64), 5)).ok).toBe(true);
      const { rows } = await s.db.query<{ n: number }>(
        "SELECT count(*)::int4 AS n FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'driver_locations_p%'",
        [databaseSchema],
      );
      expect(rows[0]?.n).toBe(8); // today and 7 ahead
      const redis = s.redis!;
      redis.livePositions.write("d1", 52.52, 13.405, 1);
      await redis.livePositions.flush();
      expect(await redis.livePositions.get("d1")).toMatchObject({ lat: 52.52 });
      expect((await redis.rateLimiter.take("k", { limit: 1, windowMs: 1000 }, 0)).allowed).toBe(true);
      await redis.client.del(`${redisPrefix}live:geo`, `${redisPrefix}live:pos:d1`, `${redisPrefix}rl:{k}:0`);
      // A second process with the same configuration finds the schema migrated and the data there.
      const other = await openStorage(config);
      try {
        expect(await other.orders.get(o.id)).toEqual(o);
        expect(await other.users.findOrCreateByPhone("+15555550142", 2)).toEqual(u);
      } finally {
        await other.close();
      }
    } finally {
      await s.close();
    }
  });

  it("an unreachable database or Redis is UNAVAILABLE at open", async () => {
    const phoneSecret = PhoneCipher.newSecret();
    await expect(
      openStorage({ databaseUrl: "postgres://postgres@127.0.0.1:1/x", phoneSecret }),
    ).rejects.toMatchObject({ code: ErrorCode.Unavailable, temporary: true });
    await expect(
      openStorage({ dataDir: ":memory:", redisUrl: "redis://127.0.0.1:1", phoneSecret }),
    ).rejects.toMatchObject({ code: ErrorCode.Unavailable });
  }, 60_000);
});
