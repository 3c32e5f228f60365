// Real-PostgreSQL checks beyond the port contracts: migrations per schema, partition upkeep,
// error mapping of an unreachable server.
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../engine/errors.js";
import { serviceEnv } from "../../test/integration/services-env.js";
import { PgDb } from "./db.js";
import { MIGRATIONS_TABLE, migrate } from "./migrate.js";
import { locationPartitionsSuite } from "./partitions.contract.js";
import { pgSchemas, randomSchemaName } from "./test-support.js";

const url = serviceEnv("DATABASE_URL");
const schemas = pgSchemas(url);
afterAll(() => schemas.dropAll());

describe("migrations on PostgreSQL", () => {
  it("concurrent migrators of one schema apply each file once", async () => {
    const schema = randomSchemaName();
    const dbs = [0, 1, 2].map(() => new PgDb({ connectionString: url, schema, max: 2 }));
    try {
      const ran = await Promise.all(dbs.map((db) => migrate(db)));
      expect(ran.flat()).toEqual(["0001_schema", "0002_driver_stats", "0003_driver_profiles"]);
      const { rows } = await dbs[0]!.query<{ n: number }>(
        `SELECT count(*)::int4 AS n FROM ${MIGRATIONS_TABLE}`,
      );
      expect(rows[0]?.n).toBe(3);
      expect(await migrate(dbs[0]!, { direction: "down" })).toEqual(["0003_driver_profiles"]);
      expect(await migrate(dbs[0]!)).toEqual(["0003_driver_profiles"]);
    } finally {
      await dbs[0]!.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await Promise.all(dbs.map((db) => db.close()));
    }
  });
});

describe("errors", () => {
  it("an unreachable server is UNAVAILABLE and temporary", async () => {
    const db = new PgDb({
      connectionString: "postgres://postgres@127.0.0.1:1/none",
      connectionTimeoutMillis: 1000,
    });
    try {
      await expect(db.query("SELECT 1")).rejects.toMatchObject({
        code: ErrorCode.Unavailable,
        temporary: true,
      });
    } finally {
      await db.close();
    }
  });
});

locationPartitionsSuite("postgres", () => schemas.fresh());
