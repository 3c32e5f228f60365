/**
 * The one place that turns storage configuration into port implementations (DESIGN "one factory
 * turns config into them"): DATABASE_URL gives PostgreSQL (or CockroachDB) through a pg Pool;
 * without it the same repositories run on embedded PGlite in `dataDir`. REDIS_URL adds the Redis
 * adapters (live positions, presence, idempotency keys, rate limits); without it they are absent
 * and the composition root uses its in-process equivalents.
 *
 * Opening migrates the schema (unless `migrate: false`, for a fleet that migrates in a release
 * step with `migrateDatabase`), creates the coming days' location partitions and keeps them
 * coming hourly; `close()` releases everything it opened.
 */
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Redis } from "ioredis";
import type { DriverProfileStore } from "../engine/driver-profiles.js";
import { DispatchError, ErrorCode } from "../engine/errors.js";
import type { RefreshTokenStore, UserStore } from "../engine/identity.js";
import { type Logger, silentLogger } from "../engine/logger.js";
import type {
  DriverAssignments,
  DriverStatsStore,
  EventLog,
  OrderStore,
  PriceHistory,
} from "../engine/ports.js";
import { type Db, PgDb, PgliteDb } from "./postgres/db.js";
import { PgDriverProfileStore } from "./postgres/driver-profiles.js";
import { PgDriverStats } from "./postgres/driver-stats.js";
import { PgDriverAssignments } from "./postgres/drivers.js";
import { PgEventLog } from "./postgres/events.js";
import { PgRefreshTokenStore, PgUserStore } from "./postgres/identity.js";
import { migrate } from "./postgres/migrate.js";
import { PgOrderStore } from "./postgres/orders.js";
import { maintainLocationPartitions, type PartitionPolicy } from "./postgres/partitions.js";
import { PhoneCipher } from "./postgres/phone-crypto.js";
import { PgPriceHistory } from "./postgres/price-history.js";
import { RedisIdempotency } from "./redis/idempotency.js";
import { type LivePositionsOptions, RedisLivePositions } from "./redis/live-positions.js";
import { RedisPresence } from "./redis/presence.js";
import { RedisRateLimiter } from "./redis/rate-limit.js";

export const DEFAULT_DATA_DIR = ".data/pglite";
/** The embedded database keeps its phone secret beside its data (created on first start). */
const PHONE_SECRET_FILE = "phone-secret";

export interface StorageConfig {
  /** postgres:// or postgresql:// URL; absent means embedded PGlite. */
  readonly databaseUrl?: string;
  /** Schema to use on the server (search_path); default: the server's. */
  readonly databaseSchema?: string;
  /** Pool size per process (default 10). */
  readonly databasePoolSize?: number;
  /** Folder of the embedded database (default `.data/pglite`); ":memory:" keeps it in memory. */
  readonly dataDir?: string;
  /**
   * Secret for phone encryption and lookup hashes (at least 32 characters). Required with
   * `databaseUrl`: every process must use the same one. Embedded: generated on first start and
   * kept in the data folder (or per process for ":memory:").
   */
  readonly phoneSecret?: string;
  /** redis:// or rediss:// URL; absent means no Redis adapters. */
  readonly redisUrl?: string;
  /** Prefix of every Redis key (default "dispatch:"). */
  readonly redisPrefix?: string;
  readonly livePositions?: Omit<LivePositionsOptions, "prefix">;
  /** Apply pending migrations on open (default true). */
  readonly migrate?: boolean;
  /** Days of location partitions to create ahead and to keep; upkeep runs hourly while open. */
  readonly partitions?: PartitionPolicy & { readonly maintenanceIntervalMs?: number };
  readonly log?: Logger;
  readonly now?: () => number;
}

export interface RedisAdapters {
  readonly client: Redis;
  readonly livePositions: RedisLivePositions;
  readonly presence: RedisPresence;
  readonly idempotency: RedisIdempotency;
  readonly rateLimiter: RedisRateLimiter;
}

export interface Storage {
  readonly kind: "postgres" | "pglite";
  readonly db: Db;
  readonly orders: OrderStore;
  readonly drivers: DriverAssignments;
  readonly events: EventLog;
  readonly users: UserStore;
  readonly refreshTokens: RefreshTokenStore;
  readonly priceHistory: PriceHistory;
  /** Each driver's offer outcomes and rates (fed from the event stream). */
  readonly driverStats: DriverStatsStore;
  /** Driver profiles and vehicles (licence numbers encrypted with the phone secret). */
  readonly driverProfiles: DriverProfileStore;
  readonly redis: RedisAdapters | undefined;
  /** Applies pending migrations; resolves with the files it ran. */
  migrate(): Promise<string[]>;
  /** Creates the coming days' location partitions and drops expired ones (also run hourly). */
  maintainPartitions(): Promise<{ created: string[]; dropped: string[] }>;
  /** Flushes the write-behind queues and closes the database and Redis. Idempotent. */
  close(): Promise<void>;
}

async function openDb(config: StorageConfig): Promise<Db> {
  if (config.databaseUrl !== undefined) {
    const db = new PgDb({
      connectionString: config.databaseUrl,
      ...(config.databaseSchema === undefined ? {} : { schema: config.databaseSchema }),
      ...(config.databasePoolSize === undefined ? {} : { max: config.databasePoolSize }),
    });
    try {
      await db.query("SELECT 1");
    } catch (err) {
      await db.close();
      throw new DispatchError(
        ErrorCode.Unavailable,
        `cannot reach the database at ${redact(config.databaseUrl)}`,
        {
          cause: err,
          temporary: true,
        },
      );
    }
    return db;
  }
  const dataDir = config.dataDir ?? DEFAULT_DATA_DIR;
  if (dataDir !== ":memory:") await mkdir(dataDir, { recursive: true });
  return PgliteDb.open(dataDir);
}

/** Checked before anything is opened, so a bad configuration fails without side effects. */
function checkConfig(config: StorageConfig): void {
  if (config.databaseUrl !== undefined && config.phoneSecret === undefined) {
    throw new DispatchError(
      ErrorCode.InvalidConfig,
      "a phone encryption secret is required with a database URL (all processes must share it)",
    );
  }
  if (config.phoneSecret !== undefined) PhoneCipher.fromSecret(config.phoneSecret);
}

/** Called after openDb, which made the data folder. */
async function phoneCipher(config: StorageConfig): Promise<PhoneCipher> {
  if (config.phoneSecret !== undefined) return PhoneCipher.fromSecret(config.phoneSecret);
  const dataDir = config.dataDir ?? DEFAULT_DATA_DIR;
  if (dataDir === ":memory:") return PhoneCipher.fromSecret(PhoneCipher.newSecret());
  const file = join(dataDir, PHONE_SECRET_FILE);
  try {
    return PhoneCipher.fromSecret((await readFile(file, "utf8")).trim());
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const secret = PhoneCipher.newSecret();
  // wx: never overwrite a secret (that would make every stored phone unreadable).
  await writeFile(file, `${secret}\n`, { flag: "wx", mode: 0o600 });
  await chmod(file, 0o600);
  return PhoneCipher.fromSecret(secret);
}

async function openRedis(config: StorageConfig, log: Logger): Promise<RedisAdapters> {
  const url = config.redisUrl!;
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 5_000,
    // Fail calls fast while Redis is away instead of queueing them without bound.
    maxRetriesPerRequest: 2,
  });
  client.on("error", (err: Error) => log.warn("redis error", { err: err.message }));
  try {
    await client.connect();
  } catch (err) {
    client.disconnect();
    throw new DispatchError(ErrorCode.Unavailable, `cannot reach Redis at ${redact(url)}`, {
      cause: err,
      temporary: true,
    });
  }
  const prefix = config.redisPrefix ?? "dispatch:";
  return {
    client,
    livePositions: new RedisLivePositions(client, {
      onError: (err, dropped) => log.warn("live positions flush failed", { dropped, err: String(err) }),
      ...config.livePositions,
      prefix,
    }),
    presence: new RedisPresence(client, { prefix }),
    idempotency: new RedisIdempotency(client, { prefix }),
    rateLimiter: new RedisRateLimiter(client, { prefix }),
  };
}

/** The URL without its password, for messages and logs. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    return "(unparseable URL)";
  }
}

export async function openStorage(config: StorageConfig = {}): Promise<Storage> {
  const log = config.log ?? silentLogger;
  const now = config.now ?? Date.now;
  checkConfig(config);
  const db = await openDb(config);
  let phones: PhoneCipher;
  let redis: RedisAdapters | undefined;
  let timer: NodeJS.Timeout | undefined;
  const policy = config.partitions ?? {};
  try {
    phones = await phoneCipher(config);
    if (config.migrate !== false) {
      const ran = await migrate(db, { log });
      if (ran.length > 0) log.info("database migrated", { files: ran });
    }
    await maintainLocationPartitions(db, now(), policy);
    if (config.redisUrl !== undefined) redis = await openRedis(config, log);
  } catch (err) {
    await db.close();
    throw err;
  }

  const interval = policy.maintenanceIntervalMs ?? 3_600_000;
  if (interval > 0) {
    timer = setInterval(() => {
      maintainLocationPartitions(db, now(), policy).then(
        (r) => {
          if (r.created.length + r.dropped.length > 0) log.info("location partitions maintained", { ...r });
        },
        (err: unknown) => log.warn("location partition upkeep failed", { err: String(err) }),
      );
    }, interval).unref();
  }

  let closing: Promise<void> | undefined;
  return {
    kind: db.kind === "pg" ? "postgres" : "pglite",
    db,
    orders: new PgOrderStore(db),
    drivers: new PgDriverAssignments(db),
    events: new PgEventLog(db),
    users: new PgUserStore(db, phones),
    refreshTokens: new PgRefreshTokenStore(db),
    priceHistory: new PgPriceHistory(db),
    driverStats: new PgDriverStats(db),
    driverProfiles: new PgDriverProfileStore(db, phones),
    redis,
    migrate: () => migrate(db, { log }),
    maintainPartitions: () => maintainLocationPartitions(db, now(), policy),
    close() {
      closing ??= (async () => {
        if (timer !== undefined) clearInterval(timer);
        try {
          if (redis !== undefined) {
            await redis.livePositions.close();
            await redis.client.quit().catch(() => redis?.client.disconnect());
          }
        } finally {
          await db.close();
        }
      })();
      return closing;
    },
  };
}

/** `dispatch migrate`: applies pending migrations and closes; resolves with the files it ran. */
export async function migrateDatabase(
  config: Pick<StorageConfig, "databaseUrl" | "databaseSchema" | "dataDir" | "log">,
): Promise<string[]> {
  const db = await openDb(config);
  try {
    return await migrate(db, { log: config.log ?? silentLogger });
  } finally {
    await db.close();
  }
}
