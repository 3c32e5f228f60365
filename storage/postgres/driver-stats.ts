/**
 * DriverStatsStore on PostgreSQL (or PGlite): the driver_stat_events table de-duplicates by
 * event id and the driver_stats table holds one counter per (driver, kind). `record` is one
 * statement: the counter moves only when the event id was new, so it is atomic across processes.
 */
import { COUNTER_OF, type DriverCounters, withRates } from "../../engine/driver-stats.js";
import type { DriverId } from "../../engine/model.js";
import {
  DRIVER_STAT_KINDS,
  type DriverStatKind,
  type DriverStats,
  type DriverStatsStore,
} from "../../engine/ports.js";
import type { Db } from "./db.js";
import { tsParam } from "./sql.js";

export class PgDriverStats implements DriverStatsStore {
  constructor(private readonly db: Db) {}

  async record(driverId: DriverId, kind: DriverStatKind, eventId: string, at: number): Promise<void> {
    await this.db.query(
      `WITH counted AS (
          INSERT INTO driver_stat_events (event_id, driver_id, kind, at)
            VALUES ($1, $2, $3, $4::timestamptz)
            ON CONFLICT (event_id) DO NOTHING
            RETURNING driver_id, kind
        )
        INSERT INTO driver_stats (driver_id, kind, count)
          SELECT driver_id, kind, 1 FROM counted
          ON CONFLICT (driver_id, kind) DO UPDATE SET count = driver_stats.count + 1`,
      [eventId, driverId, kind, tsParam(at)],
    );
  }

  async get(driverId: DriverId): Promise<DriverStats> {
    const { rows } = await this.db.query<{ kind: DriverStatKind; n: number }>(
      // int8 is a string on pg: cast to float8 (exact far beyond any real count).
      "SELECT kind, count::float8 AS n FROM driver_stats WHERE driver_id = $1",
      [driverId],
    );
    const counters: Record<keyof DriverCounters, number> = {
      offered: 0,
      accepted: 0,
      declined: 0,
      timedOut: 0,
      cancelledByDriver: 0,
      completed: 0,
    };
    for (const r of rows) {
      if ((DRIVER_STAT_KINDS as readonly string[]).includes(r.kind))
        counters[COUNTER_OF[r.kind]] = Number(r.n);
    }
    return withRates(counters);
  }
}
