/**
 * The persistence pipeline's contract, one suite for every log: records published go into
 * PostgreSQL exactly once, one driver's fixes keep their order, duplicates are ignored, poison is
 * set aside with a reason and never blocks what follows.
 */
import { describe, expect, it } from "vitest";
import { sampleEvent } from "../../engine/contracts/fixtures.js";
import type { OrderEvent, OrderId } from "../../engine/model.js";
import type { PricePoint } from "../../engine/ports.js";
import type { Db } from "../postgres/db.js";
import type { FixRecord, RecordKind } from "./records.js";
import type { PipelineSink } from "./sink.js";

export interface PipelineHarness {
  /** The migrated database the pipeline writes (fresh: no rows). */
  readonly db: Db;
  readonly sink: PipelineSink;
  /** Puts a value on the log as a foreign producer would (`string`: the bytes of the message). */
  publishRaw(kind: RecordKind, key: string, value: string): Promise<void>;
  /** Resolves once everything published so far was processed (written, duplicate or poison). */
  drain(): Promise<void>;
  /** The reasons of the records set aside (dead-letter topic, or the embedded log's list). */
  deadLetterReasons(): Promise<string[]>;
  close(): Promise<void>;
}

const T0 = Date.UTC(2025, 0, 1, 12); // inside the default partition: no daily partition needed

function fix(driverId: string, i: number, lat = 41.8 + i * 1e-5): FixRecord {
  return { driverId, at: T0 + i * 1000, lat, lng: -87.6, heading: i % 360, speedMps: 5, accuracyM: null };
}

function event(order: string, version: number): OrderEvent {
  return sampleEvent(order as OrderId, version, `ev-${order}-${version}`);
}

async function count(db: Db, sql: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(sql);
  return Number(rows[0]!.n);
}

export function pipelineContract(name: string, make: () => Promise<PipelineHarness>): void {
  describe(`pipeline contract: ${name}`, () => {
    it("every published record lands once, with its values", async () => {
      const h = await make();
      try {
        const drivers = Array.from({ length: 8 }, (_, d) => `drv-${d}`);
        for (let i = 0; i < 100; i++)
          for (const d of drivers) expect(h.sink.publishFix(fix(d, i))).toBe(true);
        const events = Array.from({ length: 40 }, (_, i) => event(`ord-${i % 10}`, 1 + Math.floor(i / 10)));
        await Promise.all(events.map((e) => h.sink.publishEvent(e)));
        const prices: PricePoint[] = Array.from({ length: 12 }, (_, i) => ({
          cell: "872664c1effffff",
          at: T0 + i * 60_000,
          multiplier: 1 + i / 10,
        }));
        await h.sink.publishPrices(prices);
        await h.drain();
        const db = h.db;
        expect(await count(db, "SELECT count(*)::int4 AS n FROM driver_locations")).toBe(800);
        expect(
          await count(db, "SELECT count(DISTINCT (driver_id, at))::int4 AS n FROM driver_locations"),
        ).toBe(800);
        expect(await count(db, "SELECT count(*)::int4 AS n FROM order_events")).toBe(40);
        expect(await count(db, "SELECT count(*)::int4 AS n FROM price_history")).toBe(12);
        const { rows } = await db.query<{
          lat: number;
          heading: number;
          speed_mps: number;
          accuracy_m: null;
          at: Date;
        }>(
          "SELECT lat, heading, speed_mps, accuracy_m, at FROM driver_locations WHERE driver_id = 'drv-3' AND at = $1",
          [new Date(T0 + 7000)],
        );
        expect(rows).toEqual([
          { lat: 41.8 + 7e-5, heading: 7, speed_mps: 5, accuracy_m: null, at: new Date(T0 + 7000) },
        ]);
        const ev = await db.query<{ id: string; payload: unknown; version: number }>(
          "SELECT id, payload, version FROM order_events WHERE id = 'ev-ord-3-2'",
        );
        expect(ev.rows).toEqual([{ id: "ev-ord-3-2", payload: { driverId: "driver-1" }, version: 2 }]);
        expect(h.sink.stats().fixes.dropped).toBe(0);
      } finally {
        await h.close();
      }
    });

    it("keeps one driver's fixes in order: of two fixes with one time, the first published stays", async () => {
      const h = await make();
      try {
        for (let i = 0; i < 200; i++) {
          h.sink.publishFix(fix("drv-order", i, 10));
          h.sink.publishFix(fix("drv-order", i, 20));
          // Spread over several sends and batches.
          if (i % 50 === 49) await new Promise((r) => setTimeout(r, 20));
        }
        await h.drain();
        const { rows } = await h.db.query<{ lat: number; n: number }>(
          "SELECT lat, count(*)::int4 AS n FROM driver_locations WHERE driver_id = 'drv-order' GROUP BY lat",
        );
        expect(rows).toEqual([{ lat: 10, n: 200 }]);
      } finally {
        await h.close();
      }
    });

    it("ignores duplicates: the same events, fixes and prices again change nothing", async () => {
      const h = await make();
      try {
        const events = Array.from({ length: 20 }, (_, i) => event("ord-dup", i + 1));
        for (let round = 0; round < 3; round++) {
          await Promise.all(events.map((e) => h.sink.publishEvent(e)));
          for (let i = 0; i < 50; i++) h.sink.publishFix(fix("drv-dup", i));
          await h.sink.publishPrices([{ cell: "872664c1effffff", at: T0, multiplier: 1.5 }]);
          await h.drain();
        }
        expect(await count(h.db, "SELECT count(*)::int4 AS n FROM order_events")).toBe(20);
        expect(await count(h.db, "SELECT count(*)::int4 AS n FROM driver_locations")).toBe(50);
        expect(await count(h.db, "SELECT count(*)::int4 AS n FROM price_history")).toBe(1);
      } finally {
        await h.close();
      }
    });

    it("sets poison aside with its reason and writes what follows it", async () => {
      const h = await make();
      try {
        await h.publishRaw("fix", "drv-p", "{not json");
        await h.publishRaw("fix", "drv-p", JSON.stringify({ ...fix("drv-p", 1), lat: 999 }));
        await h.publishRaw(
          "event",
          "ord-p",
          JSON.stringify({ ...event("ord-p", 1), type: "order.teleported" }),
        );
        await h.publishRaw("price", "872664c1effffff", JSON.stringify({ cell: "x", at: T0, multiplier: 2 }));
        // Text PostgreSQL refuses though it is valid JSON: caught before the database.
        await h.publishRaw("fix", "drv-p", JSON.stringify({ ...fix("drv-p", 2), driverId: "a\u0000b" }));
        h.sink.publishFix(fix("drv-p", 3));
        await h.sink.publishEvent(event("ord-p", 2));
        await h.drain();
        expect(await count(h.db, "SELECT count(*)::int4 AS n FROM driver_locations")).toBe(1);
        expect(await count(h.db, "SELECT count(*)::int4 AS n FROM order_events")).toBe(1);
        const reasons = (await h.deadLetterReasons()).sort();
        expect(reasons).toHaveLength(5);
        expect(reasons.join("\n")).toMatch(/unparseable JSON/);
        expect(reasons.join("\n")).toMatch(/lat\/lng out of range/);
        expect(reasons.join("\n")).toMatch(/event: unknown type/);
        expect(reasons.join("\n")).toMatch(/price: cell/);
        expect(reasons.join("\n")).toMatch(/driverId/);
      } finally {
        await h.close();
      }
    });
  });
}
