/**
 * Schema migrations: plain SQL files in `migrations/` (`-- Up Migration` / `-- Down Migration`
 * sections), applied in file-name order by node-pg-migrate, which records them in the
 * `schema_migrations` table and holds an advisory lock so that processes starting together
 * migrate once. The same runner drives PGlite through a small client adapter, so the embedded
 * database gets exactly the files and bookkeeping that PostgreSQL gets.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { PGlite } from "@electric-sql/pglite";
import { PG_MIGRATE_LOCK_ID, runner } from "node-pg-migrate";
import type pg from "pg";
import { DispatchError, ErrorCode } from "../../engine/errors.js";
import { type Logger, silentLogger } from "../../engine/logger.js";
import type { Db } from "./db.js";
import { PgDb, PgliteDb } from "./db.js";

export const MIGRATIONS_TABLE = "schema_migrations";

/**
 * The SQL files live beside this module in the source tree; the compiled module (dist/) finds
 * them through the project root, since tsc copies no SQL.
 */
function findMigrationsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, "migrations");
  if (existsSync(beside)) return beside;
  let dir = here;
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return join(dir, "storage", "postgres", "migrations");
}

export const migrationsDir = findMigrationsDir();

export interface MigrateOptions {
  /** "up" (default) applies every pending file; "down" undoes the last `count` (default 1). */
  direction?: "up" | "down";
  count?: number;
  log?: Logger;
}

type QueryConfigLike = { text: string; values?: unknown[] };

/**
 * What node-pg-migrate needs of a client: `query(text, values)` resolving to `{ rows }`. PGlite
 * runs a parameterless string with `exec` (simple protocol: a migration file holds many
 * statements) and anything with parameters as one prepared statement.
 */
function pgliteMigrationClient(pglite: PGlite): pg.ClientBase {
  const client = {
    async query(textOrConfig: string | QueryConfigLike, values?: unknown[]) {
      const text = typeof textOrConfig === "string" ? textOrConfig : textOrConfig.text;
      const params = (typeof textOrConfig === "string" ? values : textOrConfig.values) ?? [];
      if (params.length > 0) {
        const r = await pglite.query(text, params);
        return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
      }
      const results = await pglite.exec(text);
      const last = results.at(-1);
      return { rows: last?.rows ?? [], rowCount: last?.affectedRows ?? 0 };
    },
  };
  return client as unknown as pg.ClientBase;
}

/**
 * The advisory lock id: node-pg-migrate's own for the default schema (so its CLI and our runner
 * exclude each other), one per other schema so that tests migrating their own schemas do not
 * queue behind each other.
 */
function lockValue(schema: string): number {
  if (schema === "public") return PG_MIGRATE_LOCK_ID;
  return createHash("sha256").update(`dispatch-migrations:${schema}`).digest().readUIntBE(0, 6);
}

/**
 * Applies (or undoes) migrations and resolves with the names of the files it ran. Concurrent
 * callers on one schema wait for each other (advisory lock); all pending files run in one
 * transaction, so a failure leaves the schema as it was.
 */
export async function migrate(db: Db, options: MigrateOptions = {}): Promise<string[]> {
  const log = options.log ?? silentLogger;
  const schema = db instanceof PgDb && db.schema !== undefined ? db.schema : "public";
  let dbClient: pg.ClientBase;
  let release = () => {};
  if (db instanceof PgDb) {
    // One connection for the whole run: the advisory lock and the transaction are per session.
    const client = await db.pool.connect().catch((err: unknown) => {
      throw new DispatchError(ErrorCode.Unavailable, "cannot connect to migrate the database", {
        cause: err,
        temporary: true,
      });
    });
    dbClient = client;
    release = () => client.release();
  } else if (db instanceof PgliteDb) {
    dbClient = pgliteMigrationClient(db.pglite);
  } else {
    throw new DispatchError(ErrorCode.Internal, `cannot migrate a database of kind ${db.kind}`);
  }
  try {
    const ran = await runner({
      dbClient,
      dir: migrationsDir,
      migrationsTable: MIGRATIONS_TABLE,
      schema,
      createSchema: schema !== "public",
      direction: options.direction ?? "up",
      ...(options.count === undefined ? {} : { count: options.count }),
      singleTransaction: true,
      checkOrder: true,
      lockValue: lockValue(schema),
      advisoryLockMode: "wait",
      logger: {
        debug: (m: string) => log.debug(m, { component: "migrate" }),
        info: (m: string) => log.info(m, { component: "migrate" }),
        warn: (m: string) => log.warn(m, { component: "migrate" }),
        error: (m: string) => log.error(m, { component: "migrate" }),
      },
    });
    return ran.map((m) => m.name);
  } catch (err) {
    if (err instanceof DispatchError) throw err;
    throw new DispatchError(ErrorCode.Internal, `migration failed: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    release();
  }
}
