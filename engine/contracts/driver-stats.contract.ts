/** The DriverStatsStore contract as one suite for every implementation. */
import { describe, expect, it } from "vitest";
import type { DriverId } from "../model.js";
import type { DriverStatsStore } from "../ports.js";

export function driverStatsContract(
  name: string,
  make: () => Promise<DriverStatsStore> | DriverStatsStore,
): void {
  describe(`DriverStatsStore contract: ${name}`, () => {
    const d = "driver-stats-1" as DriverId;
    const other = "driver-stats-2" as DriverId;
    const at = Date.UTC(2026, 0, 1, 12);
    let seq = 0;
    const ev = () => `ev-${++seq}`;

    it("an unknown driver has zeros and null rates", async () => {
      expect(await (await make()).get("nobody" as DriverId)).toEqual({
        offered: 0,
        accepted: 0,
        declined: 0,
        timedOut: 0,
        cancelledByDriver: 0,
        completed: 0,
        acceptanceRate: null,
        cancellationRate: null,
      });
    });

    it("counts each kind per driver and derives the rates", async () => {
      const s = await make();
      for (let i = 0; i < 4; i++) await s.record(d, "offered", ev(), at);
      await s.record(d, "accepted", ev(), at);
      await s.record(d, "accepted", ev(), at);
      await s.record(d, "declined", ev(), at);
      await s.record(d, "timed_out", ev(), at);
      await s.record(d, "cancelled_by_driver", ev(), at);
      await s.record(d, "completed", ev(), at);
      await s.record(other, "offered", ev(), at);
      expect(await s.get(d)).toEqual({
        offered: 4,
        accepted: 2,
        declined: 1,
        timedOut: 1,
        cancelledByDriver: 1,
        completed: 1,
        acceptanceRate: 0.5,
        cancellationRate: 0.5,
      });
      expect(await s.get(other)).toMatchObject({
        offered: 1,
        accepted: 0,
        acceptanceRate: 0,
        cancellationRate: null,
      });
    });

    it("is idempotent by event id, whatever driver or kind a repeat names", async () => {
      const s = await make();
      const id = ev();
      await s.record(d, "offered", id, at);
      await s.record(d, "offered", id, at);
      await s.record(d, "accepted", id, at);
      await s.record(other, "offered", id, at);
      expect(await s.get(d)).toMatchObject({ offered: 1, accepted: 0, acceptanceRate: 0 });
      expect(await s.get(other)).toMatchObject({ offered: 0, acceptanceRate: null });
    });

    it("concurrent records neither lose nor double a count", async () => {
      const s = await make();
      const ids = Array.from({ length: 20 }, ev);
      await Promise.all([...ids, ...ids].map((id) => s.record(d, "offered", id, at)));
      await Promise.all(ids.slice(0, 5).map((id, i) => s.record(d, "accepted", `${id}-a${i}`, at)));
      expect(await s.get(d)).toMatchObject({ offered: 20, accepted: 5, acceptanceRate: 0.25 });
    });
  });
}
