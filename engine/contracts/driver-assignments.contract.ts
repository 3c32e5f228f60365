/** The DriverAssignments contract as one suite for every implementation. */
import { describe, expect, it } from "vitest";
import type { DriverId, OrderId } from "../model.js";
import type { DriverAssignments, DriverHold } from "../ports.js";

const hold = (orderId: string, offerId = `offer-${orderId}`): DriverHold => ({
  kind: "offer",
  orderId: orderId as OrderId,
  offerId,
  expiresAt: 123,
});

export function driverAssignmentsContract(
  name: string,
  make: () => Promise<DriverAssignments> | DriverAssignments,
): void {
  describe(`DriverAssignments contract: ${name}`, () => {
    const d = "driver-c1" as DriverId;

    it("an unknown driver is free at version 0", async () => {
      const store = await make();
      expect(await store.get(d)).toEqual({ driverId: d, version: 0, hold: null });
    });

    it("compare-and-set from version 0 creates, then bumps the version", async () => {
      const store = await make();
      expect(await store.compareAndSet(d, 0, hold("o1"))).toEqual({
        ok: true,
        value: { driverId: d, version: 1, hold: hold("o1") },
      });
      expect(await store.compareAndSet(d, 1, null)).toEqual({
        ok: true,
        value: { driverId: d, version: 2, hold: null },
      });
      expect(await store.get(d)).toEqual({ driverId: d, version: 2, hold: null });
    });

    it("a stale version is refused with the current record", async () => {
      const store = await make();
      await store.compareAndSet(d, 0, hold("o1"));
      expect(await store.compareAndSet(d, 0, hold("o2"))).toEqual({
        ok: false,
        current: { driverId: d, version: 1, hold: hold("o1") },
      });
    });

    it("of concurrent takes at one version exactly one wins", async () => {
      const store = await make();
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => store.compareAndSet(d, 0, hold(`o${i}`))),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      const winner = results.find((r) => r.ok);
      expect((await store.get(d)).hold).toEqual(winner?.ok ? winner.value.hold : undefined);
    });

    it("drivers are independent", async () => {
      const store = await make();
      await store.compareAndSet(d, 0, hold("o1"));
      expect(await store.get("driver-c2" as DriverId)).toEqual({
        driverId: "driver-c2",
        version: 0,
        hold: null,
      });
    });
  });
}
