import { describe, expect, it } from "vitest";
import type { DriverId, OrderId } from "../../engine/model.js";
import type { AdminMessage, DriverMessage } from "../../engine/ports.js";
import { MemoryNotifier } from "./notifier.js";

const closed = (n: number): DriverMessage => ({
  type: "offer_closed",
  orderId: `o${n}` as OrderId,
  offerId: `f${n}`,
  reason: "timed_out",
});

describe("MemoryNotifier", () => {
  it("delivers to the subscribers of that recipient only, in call order", () => {
    const n = new MemoryNotifier();
    const got: DriverMessage[] = [];
    const other: DriverMessage[] = [];
    n.onDriver("d1", (m) => got.push(m));
    n.onDriver("d2", (m) => other.push(m));
    n.toDriver("d1" as DriverId, closed(1));
    n.toDriver("d1" as DriverId, closed(2));
    expect(got).toEqual([closed(1), closed(2)]);
    expect(other).toEqual([]);
  });

  it("stops after unsubscribe and survives a throwing listener", () => {
    const warnings: string[] = [];
    const log = { debug() {}, info() {}, warn: (m: string) => warnings.push(m), error() {} };
    const n = new MemoryNotifier({ log, record: true });
    const got: AdminMessage[] = [];
    n.onAdmins(() => {
      throw new Error("boom");
    });
    const off = n.onAdmins((m) => got.push(m));
    const msg = { type: "order_event" } as unknown as AdminMessage;
    expect(() => n.toAdmins(msg)).not.toThrow();
    off();
    n.toAdmins(msg);
    expect(got).toHaveLength(1);
    expect(warnings).toHaveLength(2);
    expect(n.sent).toHaveLength(2);
  });

  it("a push to nobody is dropped silently", () => {
    expect(() => new MemoryNotifier().toDriver("ghost" as DriverId, closed(1))).not.toThrow();
  });
});
