import { describe, expect, it } from "vitest";
import { MemoryDriverStats } from "../storage/memory/driver-stats.js";
import { driverStatOf, driverStatsListener, withRates, ZERO_COUNTERS } from "./driver-stats.js";
import type { Logger } from "./logger.js";
import type { Bill, DriverId, OrderEvent, OrderEventPayloads, OrderEventType, OrderId } from "./model.js";
import type { DriverStatsStore } from "./ports.js";

const driver = "driver-7" as DriverId;
const bill = {} as Bill;

function event<T extends OrderEventType>(
  type: T,
  payload: OrderEventPayloads[T],
  id = `ev-${type}`,
): OrderEvent {
  return {
    id,
    type,
    orderId: "order-1" as OrderId,
    version: 2,
    state: "offered",
    at: 1_000,
    payload,
  } as OrderEvent;
}

describe("driverStatOf", () => {
  it("counts offers and their outcomes for the driver in the payload", () => {
    const offer = { driverId: driver, offerId: "offer-1" };
    expect(driverStatOf(event("order.offered", { ...offer, expiresAt: 2_000 }))).toEqual({
      driverId: driver,
      kind: "offered",
    });
    expect(driverStatOf(event("order.accepted", offer))?.kind).toBe("accepted");
    expect(driverStatOf(event("order.offer_declined", offer))?.kind).toBe("declined");
    expect(driverStatOf(event("order.offer_timed_out", offer))?.kind).toBe("timed_out");
    expect(
      driverStatOf(event("order.completed", { driverId: driver, distanceM: 1, durationS: 1, bill })),
    ).toEqual({ driverId: driver, kind: "completed" });
  });

  it("counts a cancellation only when the assigned driver cancelled", () => {
    const cancelled = (
      reason: "by_rider" | "by_driver" | "no_show" | "no_driver_found",
      d: DriverId | null,
    ) => driverStatOf(event("order.cancelled", { reason, driverId: d, bill }));
    expect(cancelled("by_driver", driver)).toEqual({ driverId: driver, kind: "cancelled_by_driver" });
    expect(cancelled("no_show", driver)).toBeNull();
    expect(cancelled("by_rider", driver)).toBeNull();
    expect(cancelled("by_rider", null)).toBeNull();
    expect(cancelled("no_driver_found", null)).toBeNull();
  });

  it("ignores every other event", () => {
    expect(driverStatOf(event("order.driver_arriving", { driverId: driver }))).toBeNull();
    expect(driverStatOf(event("order.driver_arrived", { driverId: driver }))).toBeNull();
    expect(driverStatOf(event("order.started", { driverId: driver }))).toBeNull();
    expect(driverStatOf(event("order.rated", { by: "rider", stars: 5 }))).toBeNull();
  });
});

describe("withRates", () => {
  it("divides, with null over a zero denominator", () => {
    expect(withRates(ZERO_COUNTERS)).toMatchObject({ acceptanceRate: null, cancellationRate: null });
    expect(withRates({ ...ZERO_COUNTERS, offered: 4, accepted: 3, cancelledByDriver: 1 })).toMatchObject({
      acceptanceRate: 0.75,
      cancellationRate: 1 / 3,
    });
  });
});

describe("driverStatsListener", () => {
  const logged: string[] = [];
  const log: Logger = { debug() {}, info() {}, warn: (m) => logged.push(m), error: (m) => logged.push(m) };

  it("records what each event counts for, once per event id", async () => {
    const store = new MemoryDriverStats();
    const listen = driverStatsListener(store, log);
    const offered = event("order.offered", { driverId: driver, offerId: "o1", expiresAt: 2_000 }, "e1");
    listen(offered);
    listen(offered);
    listen(event("order.accepted", { driverId: driver, offerId: "o1" }, "e2"));
    listen(event("order.started", { driverId: driver }, "e3"));
    await new Promise((r) => setImmediate(r));
    expect(await store.get(driver)).toMatchObject({ offered: 1, accepted: 1, acceptanceRate: 1 });
  });

  it("never throws: a failing store is logged", async () => {
    const failing: DriverStatsStore = {
      record: () => Promise.reject(new Error("down")),
      get: () => Promise.reject(new Error("down")),
    };
    const throwing: DriverStatsStore = {
      record: () => {
        throw new Error("sync");
      },
      get: () => Promise.reject(new Error("down")),
    };
    const offered = event("order.offered", { driverId: driver, offerId: "o1", expiresAt: 2_000 });
    expect(() => driverStatsListener(failing, log)(offered)).not.toThrow();
    expect(() => driverStatsListener(throwing, log)(offered)).not.toThrow();
    await new Promise((r) => setImmediate(r));
    expect(logged).toEqual(["driver stats listener failed", "driver stats record failed"]);
  });
});
