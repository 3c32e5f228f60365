/**
 * The OrderStore contract as one suite (STYLE 7): every implementation runs it through its own
 * factory, so memory, PostgreSQL and any later store are held to the same assertions.
 */
import { describe, expect, it } from "vitest";
import type { DriverId, OrderId, RiderId } from "../model.js";
import type { OrderStore } from "../ports.js";
import { sampleOrder, successor } from "./fixtures.js";

/** Tries a mutation that a store may refuse (frozen objects throw): either outcome is fine. */
function attempt(mutate: () => void): void {
  try {
    mutate();
  } catch {
    // refused
  }
}

export function orderStoreContract(name: string, make: () => Promise<OrderStore> | OrderStore): void {
  describe(`OrderStore contract: ${name}`, () => {
    it("creates at version 1 and reads back an equal copy", async () => {
      const store = await make();
      const o = sampleOrder();
      const res = await store.create(o);
      expect(res).toEqual({ status: "created", order: o });
      expect(await store.get(o.id)).toEqual(o);
      expect(await store.getByIdempotencyKey(o.riderId, o.idempotencyKey)).toEqual(o);
    });

    it("returns null for unknown ids and keys", async () => {
      const store = await make();
      expect(await store.get("nope" as OrderId)).toBeNull();
      expect(await store.getByIdempotencyKey("r" as RiderId, sampleOrder().idempotencyKey)).toBeNull();
    });

    it("replays the existing order for the same (rider, idempotency key) and stores nothing", async () => {
      const store = await make();
      const o = sampleOrder();
      await store.create(o);
      const again = sampleOrder({ riderId: o.riderId, idempotencyKey: o.idempotencyKey });
      expect(await store.create(again)).toEqual({ status: "replayed", order: o });
      expect(await store.get(again.id)).toBeNull();
    });

    it("scopes idempotency keys per rider", async () => {
      const store = await make();
      const o = sampleOrder();
      await store.create(o);
      const other = sampleOrder({ riderId: "rider-2" as RiderId, idempotencyKey: o.idempotencyKey });
      expect((await store.create(other)).status).toBe("created");
    });

    it("refuses a second order from the same quote", async () => {
      const store = await make();
      const o = sampleOrder();
      await store.create(o);
      const again = sampleOrder({ quoteId: o.quoteId });
      expect(await store.create(again)).toEqual({ status: "quote_used", order: o });
      expect(await store.get(again.id)).toBeNull();
    });

    it("of concurrent creates with one key exactly one creates, the rest replay it", async () => {
      const store = await make();
      const first = sampleOrder();
      const all = [
        first,
        ...Array.from({ length: 9 }, () => sampleOrder({ idempotencyKey: first.idempotencyKey })),
      ];
      const results = await Promise.all(all.map((o) => store.create(o)));
      expect(results.filter((r) => r.status === "created")).toHaveLength(1);
      const winner = results.find((r) => r.status === "created")!.order;
      for (const r of results) expect(r.order.id).toBe(winner.id);
    });

    it("compare-and-set writes only at the expected version", async () => {
      const store = await make();
      const o = sampleOrder();
      await store.create(o);
      const next = successor(o, { state: "cancelled" });
      expect(await store.compareAndSet(o.id, 1, next)).toEqual({ ok: true, value: next });
      const stale = successor(o, { state: "offered" });
      expect(await store.compareAndSet(o.id, 1, stale)).toEqual({ ok: false, current: next });
      expect(await store.get(o.id)).toEqual(next);
      expect(await store.compareAndSet("nope" as OrderId, 1, next)).toEqual({ ok: false, current: null });
    });

    it("of concurrent compare-and-sets at one version exactly one wins", async () => {
      const store = await make();
      const o = sampleOrder();
      await store.create(o);
      const tries = Array.from({ length: 10 }, (_, i) => successor(o, { updatedAt: o.updatedAt + i }));
      const results = await Promise.all(tries.map((t) => store.compareAndSet(o.id, 1, t)));
      expect(results.filter((r) => r.ok)).toHaveLength(1);
    });

    it("rejects a write that skips a version or changes an immutable field", async () => {
      const store = await make();
      const o = sampleOrder();
      await store.create(o);
      await expect(store.compareAndSet(o.id, 1, { ...o, version: 3 })).rejects.toMatchObject({
        code: "INTERNAL",
      });
      await expect(
        store.compareAndSet(o.id, 1, successor(o, { riderId: "x" as RiderId })),
      ).rejects.toMatchObject({
        code: "INTERNAL",
      });
      expect(await store.get(o.id)).toEqual(o);
    });

    it("hands out snapshots: a later write or an attempted mutation leaves them and the store as they were", async () => {
      const store = await make();
      const o = sampleOrder();
      const created = await store.create(o);
      const got = (await store.get(o.id))!;
      attempt(() => {
        (created.order as { state: string }).state = "completed";
      });
      attempt(() => {
        (got.pickup as { lat: number }).lat = 0;
      });
      expect(await store.get(o.id)).toEqual(o);
      await store.compareAndSet(o.id, 1, successor(o, { state: "cancelled" }));
      expect(got).toEqual(o);
    });

    it("lists a rider's orders newest first, paged by cursor", async () => {
      const store = await make();
      const rider = "rider-list" as RiderId;
      const made = [];
      for (let i = 0; i < 5; i++)
        made.push(sampleOrder({ riderId: rider, createdAt: 5000 + (i < 2 ? 0 : i) }));
      for (const o of made) await store.create(o);
      await store.create(sampleOrder({ riderId: "someone-else" as RiderId }));
      const expected = [...made].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
      const first = await store.listByRider(rider, { limit: 3 });
      expect(first.map((o) => o.id)).toEqual(expected.slice(0, 3).map((o) => o.id));
      const last = first.at(-1)!;
      const second = await store.listByRider(rider, {
        limit: 3,
        before: { createdAt: last.createdAt, id: last.id },
      });
      expect(second.map((o) => o.id)).toEqual(expected.slice(3).map((o) => o.id));
      expect(await store.listByRider("nobody" as RiderId, { limit: 3 })).toEqual([]);
    });

    it("lists a driver's assigned orders only, once assigned", async () => {
      const store = await make();
      const driver = "driver-list" as DriverId;
      const o = sampleOrder();
      await store.create(o);
      expect(await store.listByDriver(driver, { limit: 10 })).toEqual([]);
      const accepted = successor(o, { state: "accepted", driverId: driver, acceptedOfferId: "offer-1" });
      await store.compareAndSet(o.id, 1, accepted);
      expect(await store.listByDriver(driver, { limit: 10 })).toEqual([accepted]);
    });

    it("lists open orders of a region oldest first and drops them when they end", async () => {
      const store = await make();
      const a = sampleOrder({ region: "r-open", createdAt: 10 });
      const b = sampleOrder({ region: "r-open", createdAt: 5 });
      const c = sampleOrder({ region: "r-other", createdAt: 1 });
      for (const o of [a, b, c]) await store.create(o);
      expect((await store.listOpen("r-open", 10)).map((o) => o.id)).toEqual([b.id, a.id]);
      expect((await store.listOpen("r-open", 1)).map((o) => o.id)).toEqual([b.id]);
      await store.compareAndSet(b.id, 1, successor(b, { state: "cancelled" }));
      expect((await store.listOpen("r-open", 10)).map((o) => o.id)).toEqual([a.id]);
      expect(await store.listOpen("r-none", 10)).toEqual([]);
    });
  });
}
