/**
 * The one seam between the repositories and a PostgreSQL-wire database: `query` and
 * `transaction`, with a `pg` Pool implementation (PostgreSQL, CockroachDB) and a PGlite one
 * (embedded, in-process). The repositories write one SQL dialect and never see which runs it.
 *
 * Values cross the seam as the drivers give them, with two differences the repositories absorb:
 * `int8` is a string from pg and a number from PGlite (so SQL casts counts to int4 or float8, or
 * the code calls Number()), and `bytea` is a Buffer from pg and a Uint8Array from PGlite.
 * Parameters: pass timestamps as Date, JSON as a string with an explicit `::jsonb` cast, and
 * arrays only with an explicit array cast (`$1::text[]`).
 */
import type { PGlite, Transaction } from "@electric-sql/pglite";
import pg from "pg";
import { DispatchError, ErrorCode } from "../../engine/errors.js";

export interface QueryResult<R> {
  readonly rows: R[];
  /** Rows returned, or touched by INSERT/UPDATE/DELETE. */
  readonly rowCount: number;
}

export interface Queryable {
  /** One statement with `$n` parameters. Rejects with a DispatchError (see `toDispatchError`). */
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
}

export interface Db extends Queryable {
  readonly kind: "pg" | "pglite";
  /**
   * Runs `fn` in one transaction (READ COMMITTED) on one connection; commits when it resolves,
   * rolls back when it rejects. On PGlite every other query waits until it ends.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Several statements without parameters (DDL, maintenance), in one round trip. */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Errors

/** SQLSTATEs after which the same call may well succeed: connection loss, shutdown, overload, races. */
const TEMPORARY_SQLSTATE = new Set(["40001", "40P01", "53300", "55P03", "57P01", "57P02", "57P03", "57014"]);
const TEMPORARY_ERRNO = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/** The SQLSTATE of a database error (pg or PGlite), if it has one. */
export function sqlState(err: unknown): string | undefined {
  let e: unknown = err;
  // A DispatchError made here keeps the driver's error as its cause.
  if (e instanceof DispatchError) e = e.cause;
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * The ports' error contract: a backing service that is down or overloaded gives UNAVAILABLE
 * with `temporary: true`; anything else (a bug, a constraint we did not expect) gives INTERNAL.
 * The driver's error stays reachable as `cause`.
 */
export function toDispatchError(err: unknown, what: string): DispatchError {
  if (err instanceof DispatchError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  const temporary =
    (typeof code === "string" &&
      (TEMPORARY_SQLSTATE.has(code) || code.startsWith("08") || TEMPORARY_ERRNO.has(code))) ||
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
      message,
    );
  if (temporary) {
    return new DispatchError(ErrorCode.Unavailable, `database unavailable (${what}): ${message}`, {
      cause: err,
      temporary: true,
    });
  }
  return new DispatchError(ErrorCode.Internal, `database error (${what}): ${message}`, { cause: err });
}

function firstWords(sql: string): string {
  return sql.trim().replace(/\s+/g, " ").slice(0, 60);
}

// ---------------------------------------------------------------------------------------------
// pg

export interface PgDbOptions {
  connectionString: string;
  /** Every connection runs with `search_path` set to this schema (tests use one per test). */
  schema?: string;
  /** Pool size (default 10). */
  max?: number;
  connectionTimeoutMillis?: number;
}

/** A quoted identifier; schema names come from config or tests, never from users. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export class PgDb implements Db {
  readonly kind = "pg" as const;
  readonly pool: pg.Pool;
  readonly schema: string | undefined;

  constructor(options: PgDbOptions) {
    this.schema = options.schema;
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.max ?? 10,
      connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5_000,
      ...(options.schema === undefined ? {} : { options: `-c search_path=${quoteIdent(options.schema)}` }),
    });
    // An idle client that loses its connection emits on the pool; without a listener that kills
    // the process. The next query gets a fresh connection (or UNAVAILABLE).
    this.pool.on("error", () => {});
  }

  async query<R = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<QueryResult<R>> {
    try {
      const r = await this.pool.query(sql, params as unknown[] | undefined);
      return { rows: r.rows as R[], rowCount: r.rowCount ?? r.rows.length };
    } catch (err) {
      throw toDispatchError(err, firstWords(sql));
    }
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw toDispatchError(err, "connect");
    }
    const tx: Queryable = {
      async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
        try {
          const r = await client.query(sql, params as unknown[] | undefined);
          return { rows: r.rows as R[], rowCount: r.rowCount ?? r.rows.length };
        } catch (err) {
          throw toDispatchError(err, firstWords(sql));
        }
      },
    };
    let broken: unknown;
    try {
      await tx.query("BEGIN");
      const result = await fn(tx);
      await tx.query("COMMIT");
      return result;
    } catch (err) {
      try {
        await client.query("ROLLBACK");
      } catch (rollbackErr) {
        broken = rollbackErr; // the connection is unusable: destroy it rather than pool it
      }
      throw toDispatchError(err, "transaction");
    } finally {
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  async exec(sql: string): Promise<void> {
    // Without parameters pg uses the simple protocol, which takes several statements.
    await this.query(sql);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

// ---------------------------------------------------------------------------------------------
// PGlite

function pgliteQueryable(db: PGlite | Transaction): Queryable {
  return {
    async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      try {
        const r = await db.query<R>(sql, params as unknown[] | undefined);
        return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
      } catch (err) {
        throw toDispatchError(err, firstWords(sql));
      }
    },
  };
}

/** PGlite (PostgreSQL compiled to WASM, in this process). One connection: queries run one at a time. */
export class PgliteDb implements Db {
  readonly kind = "pglite" as const;
  readonly #q: Queryable;

  constructor(readonly pglite: PGlite) {
    this.#q = pgliteQueryable(pglite);
  }

  /** Opens (creating if needed) a database in `dataDir`, or in memory for `":memory:"`. */
  static async open(dataDir: string): Promise<PgliteDb> {
    const { PGlite } = await import("@electric-sql/pglite");
    const pglite = dataDir === ":memory:" ? new PGlite() : new PGlite(dataDir);
    try {
      await pglite.waitReady;
    } catch (err) {
      throw new DispatchError(ErrorCode.Unavailable, `cannot open the embedded database in ${dataDir}`, {
        cause: err,
      });
    }
    return new PgliteDb(pglite);
  }

  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
    return this.#q.query<R>(sql, params);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    try {
      return await this.pglite.transaction((tx) => fn(pgliteQueryable(tx)));
    } catch (err) {
      throw toDispatchError(err, "transaction");
    }
  }

  async exec(sql: string): Promise<void> {
    try {
      await this.pglite.exec(sql);
    } catch (err) {
      throw toDispatchError(err, firstWords(sql));
    }
  }

  async close(): Promise<void> {
    if (!this.pglite.closed) await this.pglite.close();
  }
}
