// scripts/backup.sh and scripts/restore.sh against the real PostgreSQL: fill every table, dump
// one schema, restore it into a fresh database, and compare every table row for row.
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { sampleEvent, sampleOrder, successor } from "../../engine/contracts/fixtures.js";
import type { DriverId } from "../../engine/model.js";
import { serviceEnv, uniqueId } from "../../test/integration/services-env.js";
import { PgDb, quoteIdent } from "./db.js";
import { PgDriverStats } from "./driver-stats.js";
import { PgDriverAssignments } from "./drivers.js";
import { PgEventLog } from "./events.js";
import { PgRefreshTokenStore, PgUserStore } from "./identity.js";
import { MIGRATIONS_TABLE, migrate } from "./migrate.js";
import { PgOrderStore } from "./orders.js";
import { ensureLocationPartitions, listLocationPartitions } from "./partitions.js";
import { PhoneCipher } from "./phone-crypto.js";
import { PgPriceHistory } from "./price-history.js";
import { randomSchemaName, TABLES, tableRows } from "./test-support.js";

const run = promisify(execFile);
const url = serviceEnv("DATABASE_URL");
const scripts = fileURLToPath(new URL("../../scripts/", import.meta.url));
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** The same server, another database. */
function databaseUrl(name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

const DAY = 86_400_000;
const NOW = Date.UTC(2025, 5, 1, 12);

async function fillEveryTable(db: PgDb, phones: PhoneCipher): Promise<void> {
  const users = new PgUserStore(db, phones);
  const rider = await users.findOrCreateByPhone("+15555550001", NOW);
  const driverUser = await users.findOrCreateByPhone("+15555550002", NOW);
  await users.grantRole(driverUser.id, "driver");
  const admin = await users.findOrCreateByPhone("+15555550003", NOW);
  await users.grantRole(admin.id, "admin");
  const tokens = new PgRefreshTokenStore(db);
  await tokens.insert({ hash: "a".repeat(64), userId: rider.id, familyId: "fam-1", expiresAt: NOW + DAY });
  await tokens.insert({ hash: "b".repeat(64), userId: rider.id, familyId: "fam-1", expiresAt: NOW + DAY });
  await tokens.use("a".repeat(64), NOW + 1);
  await tokens.revokeFamily("fam-1", NOW + 2);

  await db.query(
    `INSERT INTO drivers (id, display_name, license_number, approval_status, reviewed_by, reviewed_at, created_at, updated_at)
      VALUES ($1, 'Dana Driver', 'B-123456', 'approved', $2, $3, $3, $3)`,
    [driverUser.id, admin.id, new Date(NOW)],
  );
  await db.query(
    `INSERT INTO vehicles (id, driver_id, plate, make, model, color, year, vehicle_class, active, created_at)
      VALUES ('veh-1', $1, 'B-DX 1234', 'Toyota', 'Prius', 'white', 2021, 'economy', true, $2),
             ('veh-2', $1, 'B-DX 9999', 'Skoda', 'Octavia', 'grey', 2019, 'economy', false, $2)`,
    [driverUser.id, new Date(NOW)],
  );

  const orders = new PgOrderStore(db);
  const driverId = driverUser.id as DriverId;
  const open = sampleOrder({ riderId: rider.id as never, createdAt: NOW, updatedAt: NOW });
  const done = sampleOrder({ riderId: rider.id as never, createdAt: NOW - 3600_000, updatedAt: NOW });
  await orders.create(open);
  await orders.create(done);
  const completed = successor(done, {
    state: "completed",
    driverId,
    acceptedOfferId: "offer-1",
    passedDriverIds: ["other-driver" as DriverId],
    acceptedAt: NOW - 3500_000,
    arrivedAt: NOW - 3400_000,
    startedAt: NOW - 3300_000,
    completedAt: NOW - 2000_000,
    trip: { distanceM: 5100, durationS: 800 },
    bill: { currency: "EUR", tripFare: 1300, waitingFee: 0, cancellationFee: 0, noShowFee: 0, total: 1300 },
    ratingByRider: 5,
  });
  await orders.compareAndSet(done.id, 1, completed);
  const events = new PgEventLog(db);
  for (const v of [1, 2, 3]) await events.append(sampleEvent(done.id, v));
  await new PgDriverAssignments(db).compareAndSet(driverId, 0, {
    kind: "active",
    orderId: open.id,
    offerId: "offer-2",
    expiresAt: null,
  });

  await db.query(
    `INSERT INTO transactions (id, order_id, kind, party, party_id, amount, currency, at) VALUES
      ('tx-1', $1, 'trip_fare', 'rider', $2, 1300, 'EUR', $4),
      ('tx-2', $1, 'platform_fee', 'platform', NULL, 260, 'EUR', $4),
      ('tx-3', $1, 'driver_payout', 'driver', $3, -1040, 'EUR', $4)`,
    [done.id, rider.id, driverUser.id, new Date(NOW)],
  );
  await db.query(
    `INSERT INTO ratings (order_id, by_role, rater_id, ratee_id, stars, comment, at)
      VALUES ($1, 'rider', $2, $3, 5, 'smooth ride, ünïcode ✓', $4)`,
    [done.id, rider.id, driverUser.id, new Date(NOW)],
  );
  await new PgPriceHistory(db).append([
    { cell: "871f1d489ffffff", multiplier: 1.4, at: NOW - 60_000 },
    { cell: "871f1d489ffffff", multiplier: 1, at: NOW },
  ]);
  await ensureLocationPartitions(db, NOW, 1);
  await db.query(
    `INSERT INTO driver_locations (driver_id, at, lat, lng, heading, speed_mps, accuracy_m) VALUES
      ($1, $2, 52.520008, 13.404954, 90, 8.5, 4), ($1, $3, 52.5201, 13.4051, 91.5, 9.25, 3.5),
      ($1, $4, 52.5202, 13.4052, NULL, NULL, NULL)`,
    [driverUser.id, new Date(NOW), new Date(NOW + DAY + 1), new Date(NOW - 10 * DAY)],
  );
  await db.query(
    `INSERT INTO metric_rollups (metric, region, bucket_seconds, bucket_start, count, sum, min, max) VALUES
      ('pickup_eta_s', 'berlin', 60, $1, 3, 540.5, 120, 250.25), ('orders', '', 3600, $1, 2, 2, 1, 1)`,
    [new Date(NOW)],
  );
  const stats = new PgDriverStats(db);
  await stats.record(driverUser.id as DriverId, "offered", "evt-offered-1", NOW);
  await stats.record(driverUser.id as DriverId, "accepted", "evt-accepted-1", NOW + 1000);
}

describe("backup.sh and restore.sh", () => {
  it("dump a schema and restore it into a fresh database, every table equal row for row", async () => {
    const schema = randomSchemaName("backup");
    const source = new PgDb({ connectionString: url, schema });
    cleanups.push(async () => {
      await source.exec(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
      await source.close();
    });
    await migrate(source);
    const phones = PhoneCipher.fromSecret(PhoneCipher.newSecret());
    await fillEveryTable(source, phones);
    const partitions = (await listLocationPartitions(source)).map((p) => p.name);
    expect(partitions).toHaveLength(2);
    const compared = [...TABLES, MIGRATIONS_TABLE, ...partitions, "driver_locations_default"];
    for (const t of compared) expect((await tableRows(source, t)).length, `rows in ${t}`).toBeGreaterThan(0);

    const dir = await mkdtemp(join(tmpdir(), "dispatch-backup-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const dump = join(dir, "dispatch.dump");
    await run("bash", [join(scripts, "backup.sh"), "--schema", schema, url, dump]);

    const target = `restore_${uniqueId()}`;
    const targetUrl = databaseUrl(target);
    cleanups.push(async () => {
      const admin = new PgDb({ connectionString: databaseUrl("postgres") });
      await admin.exec(`DROP DATABASE IF EXISTS ${quoteIdent(target)} WITH (FORCE)`);
      await admin.close();
    });
    await run("bash", [join(scripts, "restore.sh"), dump, targetUrl]);

    const restored = new PgDb({ connectionString: targetUrl, schema });
    try {
      for (const t of compared)
        expect(await tableRows(restored, t), `table ${t}`).toEqual(await tableRows(source, t));
      // Partitions come back as partitions of the same table, so upkeep goes on where it was.
      expect((await listLocationPartitions(restored)).map((p) => p.name)).toEqual(partitions);
      // The app still reads the restored phones with its secret (which the dump does not hold).
      const users = new PgUserStore(restored, phones);
      expect((await users.findOrCreateByPhone("+15555550002", 0)).roles).toEqual(["rider", "driver"]);
      // The restored schema is at the same migration: nothing to apply.
      expect(await migrate(restored)).toEqual([]);
    } finally {
      await restored.close();
    }

    // A database that holds tables is refused.
    const again = await run("bash", [join(scripts, "restore.sh"), dump, targetUrl]).catch((e: unknown) => e);
    expect(String((again as { stderr?: string }).stderr)).toMatch(/already holds \d+ tables/);
  });
});
