// PGlite-backed checks beyond the port contracts: migrations, phones at rest, partitions.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../engine/errors.js";
import { PgliteDb } from "./db.js";
import { PgUserStore } from "./identity.js";
import { MIGRATIONS_TABLE, migrate } from "./migrate.js";
import { locationPartitionsSuite } from "./partitions.contract.js";
import { PhoneCipher } from "./phone-crypto.js";
import { PgPriceHistory } from "./price-history.js";
import { sharedPglite, TABLES } from "./test-support.js";

const pglite = sharedPglite();
// Opening PGlite takes seconds when test files run in parallel: not inside a test's time limit.
beforeAll(() => pglite.fresh(), 60_000);
afterAll(() => pglite.close());

const ALL = ["0001_schema", "0002_driver_stats", "0003_driver_profiles"];

describe("migrations on PGlite", () => {
  it("apply once, record what ran, and go down and up again", async () => {
    const db = await PgliteDb.open(":memory:");
    try {
      expect(await migrate(db)).toEqual(ALL);
      expect(await migrate(db)).toEqual([]);
      const { rows } = await db.query<{ name: string }>(`SELECT name FROM ${MIGRATIONS_TABLE} ORDER BY name`);
      expect(rows.map((r) => r.name)).toEqual(ALL);
      const tables = async () =>
        (
          await db.query<{ t: string }>(
            `SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' AND tablename <> $1`,
            [MIGRATIONS_TABLE],
          )
        ).rows
          .map((r) => r.t)
          .filter((t) => !t.startsWith("driver_locations_"));
      expect((await tables()).sort()).toEqual([...TABLES].sort());
      expect(await migrate(db, { direction: "down", count: ALL.length })).toEqual([...ALL].reverse());
      expect(await tables()).toEqual([]);
      expect(await migrate(db)).toEqual(ALL);
    } finally {
      await db.close();
    }
  }, 60_000);
});

describe("phones at rest", () => {
  it("stores a phone only encrypted, found through its keyed hash", async () => {
    const db = await pglite.fresh();
    const cipher = PhoneCipher.fromSecret(PhoneCipher.newSecret());
    const users = new PgUserStore(db, cipher);
    const u = await users.findOrCreateByPhone("+15555550123", 1);
    const { rows } = await db.query<{ phone_hash: Uint8Array; phone_enc: Uint8Array }>(
      "SELECT phone_hash, phone_enc FROM users WHERE id = $1",
      [u.id],
    );
    const row = rows[0]!;
    expect(Buffer.from(row.phone_hash)).toEqual(cipher.hash("+15555550123"));
    expect(Buffer.from(row.phone_enc).includes(Buffer.from("5555550123"))).toBe(false);
    expect(Buffer.from(row.phone_enc).includes(Buffer.from("+15555550123"))).toBe(false);
  });

  it("under another key finds nobody and cannot read the stored phone", async () => {
    const db = await pglite.fresh();
    const mine = new PgUserStore(db, PhoneCipher.fromSecret(PhoneCipher.newSecret()));
    const other = new PgUserStore(db, PhoneCipher.fromSecret(PhoneCipher.newSecret()));
    const u = await mine.findOrCreateByPhone("+15555550124", 1);
    await expect(other.get(u.id)).rejects.toMatchObject({ code: ErrorCode.Internal });
    expect((await other.findOrCreateByPhone("+15555550124", 2)).id).not.toBe(u.id);
  });

  it("refuses a ciphertext moved onto another user's row", async () => {
    const db = await pglite.fresh();
    const users = new PgUserStore(db, PhoneCipher.fromSecret(PhoneCipher.newSecret()));
    const a = await users.findOrCreateByPhone("+15555550125", 1);
    const b = await users.findOrCreateByPhone("+15555550126", 1);
    await db.query("UPDATE users SET phone_enc = (SELECT phone_enc FROM users WHERE id = $1) WHERE id = $2", [
      a.id,
      b.id,
    ]);
    await expect(users.get(b.id)).rejects.toMatchObject({ code: ErrorCode.Internal });
  });
});

describe("errors", () => {
  it("a bad statement rejects with INTERNAL and keeps the driver's error as cause", async () => {
    const db = await pglite.fresh();
    const err = await db.query("SELECT * FROM no_such_table").catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.Internal, temporary: false, cause: { code: "42P01" } });
  });
});

locationPartitionsSuite("pglite", async () => {
  const db = await pglite.fresh();
  // TRUNCATE empties the partitions but keeps them: start each test with none.
  for (const { t } of (
    await db.query<{ t: string }>(
      "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'driver_locations_p%'",
    )
  ).rows)
    await db.exec(`DROP TABLE ${t}`);
  return db;
});

describe("PgPriceHistory", () => {
  it("appends a batch whole, skips (cell, at) already there, and refuses a bad batch entirely", async () => {
    const db = await pglite.fresh();
    const history = new PgPriceHistory(db);
    const at = Date.UTC(2025, 0, 1, 8, 0, 0, 123);
    await history.append([
      { cell: "871f1d489ffffff", multiplier: 1.25, at },
      { cell: "871f1d489ffffff", multiplier: 1, at: at + 1 },
      { cell: "871f1d48bffffff", multiplier: 1.5, at },
    ]);
    await history.append([{ cell: "871f1d489ffffff", multiplier: 9, at }]); // a retry: no-op
    await history.append([]);
    expect(await history.list("871f1d489ffffff")).toEqual([
      { cell: "871f1d489ffffff", multiplier: 1.25, at },
      { cell: "871f1d489ffffff", multiplier: 1, at: at + 1 },
    ]);
    await expect(
      history.append([
        { cell: "871f1d48dffffff", multiplier: 1.1, at },
        { cell: "871f1d48dffffff", multiplier: 0.5, at: at + 1 }, // below 1: violates the check
      ]),
    ).rejects.toMatchObject({ code: ErrorCode.Internal });
    expect(await history.list("871f1d48dffffff")).toEqual([]);
  });
});
