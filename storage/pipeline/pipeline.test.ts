// The pipeline on the embedded log + PGlite: the contract suite, the EventLog contract over it,
// and the batch writer and group-commit queue on their own.
import { afterAll, describe, expect, it } from "vitest";
import { eventLogContract } from "../../engine/contracts/event-log.contract.js";
import { sampleEvent } from "../../engine/contracts/fixtures.js";
import { DispatchError, ErrorCode } from "../../engine/errors.js";
import { silentLogger } from "../../engine/logger.js";
import type { OrderId } from "../../engine/model.js";
import { PgEventLog } from "../postgres/events.js";
import { sharedPglite } from "../postgres/test-support.js";
import { EmbeddedLog } from "./embedded.js";
import { pipelineContract } from "./pipeline.contract.js";
import { GroupCommitQueue } from "./queue.js";
import { fixRecords } from "./records.js";
import { pipelineEventLog } from "./sink.js";
import { BatchWriter } from "./writer.js";

const pglite = sharedPglite();
afterAll(() => pglite.close());

pipelineContract("embedded log + PGlite", async () => {
  const db = await pglite.fresh();
  const log = new EmbeddedLog(db, { lingerMs: 2, maxBatch: 300 });
  return {
    db,
    sink: log,
    publishRaw: (kind, _key, value) =>
      log.publishRaw({ kind, value }).catch((err: { code?: string }) => {
        expect(err.code).toBe(ErrorCode.InvalidArgument);
      }),
    drain: () => log.flush(),
    deadLetterReasons: async () => log.deadLetters.map((d) => d.reason),
    close: () => log.close(),
  };
});

eventLogContract("embedded pipeline over PGlite", async () => {
  const db = await pglite.fresh();
  return pipelineEventLog(new EmbeddedLog(db), new PgEventLog(db));
});

const T0 = Date.UTC(2025, 0, 1);
const fix = (driverId: string, i: number, lat = 10) => ({
  driverId,
  at: T0 + i,
  lat,
  lng: 20,
  heading: null,
  speedMps: null,
  accuracyM: 3,
});

describe("BatchWriter", () => {
  it("reports written, duplicates (within the batch and against the table) and poison by index", async () => {
    const db = await pglite.fresh();
    const w = new BatchWriter(db);
    const first = await w.write([
      { kind: "fix", value: fix("a", 1) },
      { kind: "fix", value: fix("a", 1, 11) },
      { kind: "event", value: sampleEvent("o" as OrderId, 1) },
      { kind: "fix", value: { nope: true } },
      { kind: "price", value: Buffer.from('{"cell":"872664c1effffff","at":0,"multiplier":1}') },
    ]);
    expect(first).toMatchObject({ written: 3, duplicates: 1, writtenByKind: { fix: 1, event: 1, price: 1 } });
    expect(first.poison.map((p) => p.index)).toEqual([3]);
    const again = await w.write([{ kind: "event", value: sampleEvent("o" as OrderId, 1) }]);
    expect(again).toMatchObject({ written: 0, duplicates: 1, poison: [] });
  });

  it("isolates a row the database refuses by halving, and writes the rest", async () => {
    const db = await pglite.fresh();
    await db.exec("ALTER TABLE driver_locations ADD CONSTRAINT test_no_13 CHECK (lat <> 13)");
    try {
      const batch = Array.from({ length: 37 }, (_, i) => ({ kind: "fix" as const, value: fix("b", i, i) }));
      const r = await new BatchWriter(db).write(batch);
      expect(r.written).toBe(36);
      expect(r.duplicates).toBe(0);
      expect(r.poison).toEqual([
        { index: 13, kind: "fix", reason: expect.stringMatching(/^database refused/) },
      ]);
    } finally {
      await db.exec("ALTER TABLE driver_locations DROP CONSTRAINT test_no_13");
    }
  });
});

describe("EmbeddedLog", () => {
  it("group commit: concurrent appends share sends and resolve once written", async () => {
    const db = await pglite.fresh();
    const log = new EmbeddedLog(db);
    try {
      const events = Array.from({ length: 200 }, (_, i) => sampleEvent(`g-${i}` as OrderId, 1));
      await Promise.all(events.map((e) => log.publishEvent(e)));
      const { rows } = await db.query<{ n: number }>("SELECT count(*)::int4 AS n FROM order_events");
      expect(rows[0]!.n).toBe(200);
      expect(log.stats().acknowledged.sends).toBeLessThan(20);
    } finally {
      await log.close();
    }
  });

  it("fixes are bounded: past maxBuffered they are dropped and counted, never thrown", async () => {
    const db = await pglite.fresh();
    const log = new EmbeddedLog(db, { lingerMs: 10_000, maxBatch: 1_000, maxBuffered: 10 });
    try {
      let accepted = 0;
      for (let i = 0; i < 15; i++) if (log.publishFix(fix("c", i))) accepted++;
      expect(accepted).toBe(10);
      expect(log.stats().fixes).toMatchObject({ accepted: 10, dropped: 5, buffered: 10 });
      await log.flush();
      const { rows } = await db.query<{ n: number }>("SELECT count(*)::int4 AS n FROM driver_locations");
      expect(rows[0]!.n).toBe(10);
    } finally {
      await log.close();
    }
    expect(log.publishFix(fix("c", 99))).toBe(false);
    await expect(log.publishEvent(sampleEvent("late" as OrderId, 1))).rejects.toMatchObject({
      code: ErrorCode.Unavailable,
    });
  });

  it("an event the pipeline refuses rejects INVALID_ARGUMENT; a database failure rejects the waiting appends", async () => {
    const db = await pglite.fresh();
    const log = new EmbeddedLog(db);
    await expect(log.publishEvent({ ...sampleEvent("x" as OrderId, 1), version: 0 })).rejects.toMatchObject({
      code: ErrorCode.InvalidArgument,
    });
    await log.close();
    const broken = new EmbeddedLog({
      query: async () => {
        throw new DispatchError(ErrorCode.Unavailable, "down", { temporary: true });
      },
    });
    await expect(broken.publishEvent(sampleEvent("y" as OrderId, 1))).rejects.toThrow(/down/);
    await broken.close(100);
  });
});

describe("GroupCommitQueue", () => {
  it("puts fire-and-forget items back after a failed send and sends them again, in order", async () => {
    const sent: number[] = [];
    let fail = 2;
    const q = new GroupCommitQueue<number>(
      async (items) => {
        if (fail-- > 0) throw new DispatchError(ErrorCode.Unavailable, "down", { temporary: true });
        sent.push(...items);
        return undefined;
      },
      { log: silentLogger, name: "test", lingerMs: 1, retryMs: 5, maxBatch: 4 },
    );
    for (let i = 0; i < 10; i++) q.push(i);
    await q.flush();
    expect(sent).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(q.stats()).toMatchObject({ accepted: 10, dropped: 0, buffered: 0, failedSends: 2 });
    await q.close();
  });
});

describe("fixRecords", () => {
  it("keeps only the fixes the index applied or relocated, with NaN as null", () => {
    const batch = {
      latLngs: Float64Array.of(1, 2, 3, 4, 5, 6),
      timesMs: Float64Array.of(10, 20, 30),
      headings: Float32Array.of(Number.NaN, 90, 180),
    };
    const out = fixRecords("d", batch, Uint8Array.of(0, 1, 4));
    expect(out).toEqual([
      { driverId: "d", at: 10, lat: 1, lng: 2, heading: null, speedMps: null, accuracyM: null },
      { driverId: "d", at: 30, lat: 5, lng: 6, heading: 180, speedMps: null, accuracyM: null },
    ]);
  });
});
