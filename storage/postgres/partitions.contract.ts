/** Partition maintenance of driver_locations, one suite for PGlite and PostgreSQL alike. */
import { describe, expect, it } from "vitest";
import type { Db } from "./db.js";
import {
  dropExpiredLocationPartitions,
  ensureLocationPartitions,
  listLocationPartitions,
  maintainLocationPartitions,
  partitionName,
} from "./partitions.js";

const DAY = 86_400_000;
const NOW = Date.UTC(2025, 2, 10, 15, 30); // 2025-03-10 15:30 UTC

async function insertFix(db: Db, driverId: string, at: number): Promise<void> {
  await db.query(
    `INSERT INTO driver_locations (driver_id, at, lat, lng) VALUES ($1, $2::timestamptz, 52.5, 13.4)`,
    [driverId, new Date(at)],
  );
}

async function partitionOf(db: Db, driverId: string, at: number): Promise<string | undefined> {
  const { rows } = await db.query<{ p: string }>(
    `SELECT tableoid::regclass::text AS p FROM driver_locations WHERE driver_id = $1 AND at = $2::timestamptz`,
    [driverId, new Date(at)],
  );
  return rows[0]?.p.split(".").at(-1)?.replaceAll('"', "");
}

export function locationPartitionsSuite(name: string, make: () => Promise<Db>): void {
  describe(`driver_locations partitions: ${name}`, () => {
    it("creates today and the days ahead once, named by UTC day", async () => {
      const db = await make();
      const created = await ensureLocationPartitions(db, NOW, 2);
      expect(created).toEqual([
        "driver_locations_p20250310",
        "driver_locations_p20250311",
        "driver_locations_p20250312",
      ]);
      expect(await ensureLocationPartitions(db, NOW, 2)).toEqual([]);
      expect((await listLocationPartitions(db)).map((p) => [p.name, p.from, p.to])).toEqual([
        ["driver_locations_p20250310", Date.UTC(2025, 2, 10), Date.UTC(2025, 2, 11)],
        ["driver_locations_p20250311", Date.UTC(2025, 2, 11), Date.UTC(2025, 2, 12)],
        ["driver_locations_p20250312", Date.UTC(2025, 2, 12), Date.UTC(2025, 2, 13)],
      ]);
    });

    it("routes fixes to their day, and the rest to the default partition", async () => {
      const db = await make();
      await ensureLocationPartitions(db, NOW, 1);
      await insertFix(db, "d1", NOW);
      await insertFix(db, "d1", Date.UTC(2025, 2, 11, 23, 59, 59, 999));
      await insertFix(db, "d1", NOW - 5 * DAY);
      expect(await partitionOf(db, "d1", NOW)).toBe("driver_locations_p20250310");
      expect(await partitionOf(db, "d1", Date.UTC(2025, 2, 11, 23, 59, 59, 999))).toBe(
        "driver_locations_p20250311",
      );
      expect(await partitionOf(db, "d1", NOW - 5 * DAY)).toBe("driver_locations_default");
    });

    it("moves a new day's rows out of the default partition when it creates that day", async () => {
      const db = await make();
      const later = NOW + 3 * DAY;
      await insertFix(db, "d2", later);
      expect(await partitionOf(db, "d2", later)).toBe("driver_locations_default");
      await ensureLocationPartitions(db, NOW, 3);
      expect(await partitionOf(db, "d2", later)).toBe(partitionName(Date.UTC(2025, 2, 13)));
    });

    it("drops the days wholly past the retention and their stray rows in the default partition", async () => {
      const db = await make();
      await ensureLocationPartitions(db, NOW - 40 * DAY, 40);
      await insertFix(db, "d3", NOW - 35 * DAY);
      await insertFix(db, "d3", NOW - 29 * DAY);
      await insertFix(db, "d3", NOW - 100 * DAY); // default partition, long expired
      const dropped = await dropExpiredLocationPartitions(db, NOW, 30);
      // The retention cutoff is 2025-02-08 15:30: 2025-01-29 .. 2025-02-07 end before it.
      expect(dropped[0]).toBe("driver_locations_p20250129");
      expect(dropped.at(-1)).toBe("driver_locations_p20250207");
      expect(dropped).toHaveLength(10);
      const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int4 AS n FROM driver_locations`);
      expect(rows[0]?.n).toBe(1);
      expect(await partitionOf(db, "d3", NOW - 29 * DAY)).toBe("driver_locations_p20250209");
      expect(await maintainLocationPartitions(db, NOW, { aheadDays: 1, retentionDays: 30 })).toEqual({
        created: ["driver_locations_p20250311"],
        dropped: [],
      });
    });
  });
}
