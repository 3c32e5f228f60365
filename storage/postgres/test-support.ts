/**
 * Databases for tests: a migrated PGlite shared by one test file and emptied on demand, and
 * migrated PostgreSQL schemas with random names so test files run side by side on one server.
 * Test-only helpers (no vitest import, so the build may compile them harmlessly).
 */
import { randomBytes } from "node:crypto";
import { type Db, PgDb, PgliteDb, quoteIdent } from "./db.js";
import { migrate } from "./migrate.js";

/** Every table the migrations make, children before parents (for TRUNCATE and comparisons). */
export const TABLES = [
  "refresh_tokens",
  "vehicles",
  "drivers",
  "users",
  "orders",
  "driver_assignments",
  "order_events",
  "transactions",
  "ratings",
  "price_history",
  "driver_locations",
  "metric_rollups",
  "driver_stat_events",
  "driver_stats",
] as const;

/**
 * One migrated in-memory PGlite per test file (opening one takes a second or more); `fresh()`
 * empties every table so each test starts from nothing. Tests in a file run one after another,
 * which is what makes the sharing safe.
 */
export function sharedPglite(): { fresh(): Promise<PgliteDb>; close(): Promise<void> } {
  let opened: Promise<PgliteDb> | undefined;
  const open = () => {
    opened ??= PgliteDb.open(":memory:").then(async (db) => {
      await migrate(db);
      return db;
    });
    return opened;
  };
  return {
    async fresh() {
      const db = await open();
      await db.exec(`TRUNCATE ${TABLES.join(", ")}`);
      return db;
    },
    async close() {
      if (opened) await (await opened).close();
    },
  };
}

export function randomSchemaName(prefix = "test"): string {
  return `${prefix}_${randomBytes(6).toString("hex")}`;
}

/**
 * A fresh schema on a real PostgreSQL, migrated, with a pool whose connections use it; `drop()`
 * removes the schema and closes every pool it made.
 */
export function pgSchemas(connectionString: string): {
  fresh(): Promise<PgDb>;
  dropAll(): Promise<void>;
} {
  const made: PgDb[] = [];
  return {
    async fresh() {
      const db = new PgDb({ connectionString, schema: randomSchemaName(), max: 4 });
      made.push(db);
      await migrate(db);
      return db;
    },
    async dropAll() {
      for (const db of made.splice(0)) {
        try {
          await db.exec(`DROP SCHEMA IF EXISTS ${quoteIdent(db.schema!)} CASCADE`);
        } finally {
          await db.close();
        }
      }
    },
  };
}

/** Every row of a table as text, in a stable order: for comparing two databases row for row. */
export async function tableRows(db: Db, table: string): Promise<string[]> {
  const { rows } = await db.query<{ r: string }>(
    `SELECT t::text AS r FROM ${quoteIdent(table)} t ORDER BY 1`,
  );
  return rows.map((x) => x.r);
}
