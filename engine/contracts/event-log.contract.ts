/** The EventLog contract as one suite for every implementation. */
import { describe, expect, it } from "vitest";
import type { OrderId } from "../model.js";
import type { EventLog } from "../ports.js";
import { sampleEvent } from "./fixtures.js";

export function eventLogContract(name: string, make: () => Promise<EventLog> | EventLog): void {
  describe(`EventLog contract: ${name}`, () => {
    const o = "order-ev-1" as OrderId;

    it("an unknown order has no events", async () => {
      expect(await (await make()).readOrder("nope" as OrderId)).toEqual([]);
    });

    it("reads back one order's events in version order, whatever order they were appended in", async () => {
      const log = await make();
      for (const v of [1, 3, 2, 5, 4]) await log.append(sampleEvent(o, v));
      await log.append(sampleEvent("order-ev-2" as OrderId, 1));
      expect((await log.readOrder(o)).map((e) => e.version)).toEqual([1, 2, 3, 4, 5]);
      expect(await log.readOrder("order-ev-2" as OrderId)).toEqual([sampleEvent("order-ev-2" as OrderId, 1)]);
    });

    it("is idempotent by event id", async () => {
      const log = await make();
      await log.append(sampleEvent(o, 1));
      await log.append(sampleEvent(o, 1));
      await log.append({ ...sampleEvent(o, 2), id: sampleEvent(o, 1).id });
      expect(await log.readOrder(o)).toEqual([sampleEvent(o, 1)]);
    });

    it("hands out snapshots that later appends and attempted mutations do not change", async () => {
      const log = await make();
      await log.append(sampleEvent(o, 1));
      const read = await log.readOrder(o);
      try {
        (read[0] as { at: number }).at = 0;
      } catch {
        // A frozen event refuses the write: fine.
      }
      await log.append(sampleEvent(o, 2));
      expect(read).toEqual([sampleEvent(o, 1)]);
      expect(await log.readOrder(o)).toEqual([sampleEvent(o, 1), sampleEvent(o, 2)]);
    });
  });
}
