/**
 * Daily partitions of `driver_locations` (declarative range partitioning on `at`, UTC days).
 *
 * `maintainLocationPartitions` is what a scheduler (the `dispatch` process at start and then
 * hourly, or cron) calls: it creates the partitions of today and the next `aheadDays` days and
 * drops the ones wholly older than the retention. Dropping a partition is instant and leaves no
 * dead rows behind, which is the point of partitioning a table written at this rate.
 *
 * A fix outside every daily partition lands in `driver_locations_default` rather than being
 * refused. Creating a day that already has rows there moves them into the new partition.
 */
import { DispatchError, ErrorCode } from "../../engine/errors.js";
import type { Db } from "./db.js";

const DAY_MS = 86_400_000;
const PARENT = "driver_locations";
const DEFAULT_PARTITION = `${PARENT}_default`;
const NAME = /^driver_locations_p(\d{4})(\d{2})(\d{2})$/;

export interface PartitionPolicy {
  /** Days after today to create in advance (default 7). */
  readonly aheadDays?: number;
  /** Fixes older than this many days are dropped (default 30). */
  readonly retentionDays?: number;
}

export interface LocationPartition {
  readonly name: string;
  /** Start of the UTC day, inclusive (ms). */
  readonly from: number;
  /** Start of the next UTC day, exclusive (ms). */
  readonly to: number;
}

function startOfUtcDay(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

export function partitionName(dayStartMs: number): string {
  return `${PARENT}_p${new Date(dayStartMs).toISOString().slice(0, 10).replaceAll("-", "")}`;
}

/** The daily partitions that exist (the default partition is not listed), oldest first. */
export async function listLocationPartitions(db: Db): Promise<LocationPartition[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = $1::regclass`,
    [PARENT],
  );
  const out: LocationPartition[] = [];
  for (const { name } of rows) {
    const m = NAME.exec(name);
    if (m === null) continue;
    const from = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
    out.push({ name, from, to: from + DAY_MS });
  }
  return out.sort((a, b) => a.from - b.from);
}

/** Creates the partitions for the UTC days of `now` through `now + aheadDays`; returns the new ones. */
export async function ensureLocationPartitions(db: Db, now: number, aheadDays = 7): Promise<string[]> {
  if (!Number.isInteger(aheadDays) || aheadDays < 0)
    throw new DispatchError(
      ErrorCode.InvalidArgument,
      `aheadDays must be a whole number >= 0, not ${aheadDays}`,
    );
  const existing = new Set((await listLocationPartitions(db)).map((p) => p.name));
  const created: string[] = [];
  const today = startOfUtcDay(now);
  for (let d = 0; d <= aheadDays; d++) {
    const from = today + d * DAY_MS;
    const name = partitionName(from);
    if (existing.has(name)) continue;
    if (await createPartition(db, name, from, from + DAY_MS)) created.push(name);
  }
  return created;
}

/**
 * Builds the partition beside the table, moves in any rows of its day that the default partition
 * caught, then attaches it, all in one transaction. False when another process made it first.
 */
async function createPartition(db: Db, name: string, from: number, to: number): Promise<boolean> {
  const bounds = [new Date(from).toISOString(), new Date(to).toISOString()];
  try {
    await db.transaction(async (tx) => {
      await tx.query(`CREATE TABLE ${name} (LIKE ${PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
      await tx.query(
        `WITH moved AS (DELETE FROM ${DEFAULT_PARTITION} WHERE at >= $1::timestamptz AND at < $2::timestamptz
          RETURNING *)
          INSERT INTO ${name} SELECT * FROM moved`,
        bounds,
      );
      await tx.query(
        `ALTER TABLE ${PARENT} ATTACH PARTITION ${name} FOR VALUES FROM ('${bounds[0]}') TO ('${bounds[1]}')`,
      );
    });
    return true;
  } catch (err) {
    // A concurrent maintainer won the race: fine if the partition is there now.
    if ((await listLocationPartitions(db)).some((p) => p.name === name)) return false;
    throw err;
  }
}

/**
 * Drops the daily partitions that end at or before `now - retentionDays` and deletes fixes that
 * old from the default partition; returns the names dropped.
 */
export async function dropExpiredLocationPartitions(
  db: Db,
  now: number,
  retentionDays = 30,
): Promise<string[]> {
  if (!Number.isFinite(retentionDays) || retentionDays <= 0)
    throw new DispatchError(ErrorCode.InvalidArgument, `retentionDays must be > 0, not ${retentionDays}`);
  const cutoff = now - retentionDays * DAY_MS;
  const dropped: string[] = [];
  for (const p of await listLocationPartitions(db)) {
    if (p.to > cutoff) continue;
    // IF EXISTS: another maintainer may have dropped it a moment ago.
    await db.exec(`DROP TABLE IF EXISTS ${p.name}`);
    dropped.push(p.name);
  }
  await db.query(`DELETE FROM ${DEFAULT_PARTITION} WHERE at < $1::timestamptz`, [new Date(cutoff)]);
  return dropped;
}

export async function maintainLocationPartitions(
  db: Db,
  now: number,
  policy: PartitionPolicy = {},
): Promise<{ created: string[]; dropped: string[] }> {
  const created = await ensureLocationPartitions(db, now, policy.aheadDays ?? 7);
  const dropped = await dropExpiredLocationPartitions(db, now, policy.retentionDays ?? 30);
  return { created, dropped };
}
