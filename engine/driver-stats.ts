/**
 * Each driver's acceptance and cancellation rates: which order events count for which driver
 * (a pure mapping), the rates derived from the counters, and the event listener that feeds a
 * DriverStatsStore from the event log (wired through `tapEvents` in the composition root).
 */
import type { Logger } from "./logger.js";
import type { DriverId, OrderEvent } from "./model.js";
import type { DriverStatKind, DriverStats, DriverStatsStore } from "./ports.js";

/** What one event counts for, if anything. */
export interface DriverStatCount {
  readonly driverId: DriverId;
  readonly kind: DriverStatKind;
}

/**
 * The (driver, kind) an event counts for, or null. Offers, their answers (accept, decline,
 * timeout) and completions count for the driver in the payload; a cancellation counts only when
 * the assigned driver cancelled (`by_driver`): a no-show is the rider's doing, and cancellations
 * by the rider or for want of a driver say nothing about the driver.
 */
export function driverStatOf(event: OrderEvent): DriverStatCount | null {
  switch (event.type) {
    case "order.offered":
      return { driverId: event.payload.driverId, kind: "offered" };
    case "order.accepted":
      return { driverId: event.payload.driverId, kind: "accepted" };
    case "order.offer_declined":
      return { driverId: event.payload.driverId, kind: "declined" };
    case "order.offer_timed_out":
      return { driverId: event.payload.driverId, kind: "timed_out" };
    case "order.completed":
      return { driverId: event.payload.driverId, kind: "completed" };
    case "order.cancelled":
      return event.payload.reason === "by_driver" && event.payload.driverId !== null
        ? { driverId: event.payload.driverId, kind: "cancelled_by_driver" }
        : null;
    default:
      return null;
  }
}

export type DriverCounters = Omit<DriverStats, "acceptanceRate" | "cancellationRate">;

export const ZERO_COUNTERS: DriverCounters = Object.freeze({
  offered: 0,
  accepted: 0,
  declined: 0,
  timedOut: 0,
  cancelledByDriver: 0,
  completed: 0,
});

/** The counter field of each kind. */
export const COUNTER_OF: Readonly<Record<DriverStatKind, keyof DriverCounters>> = {
  offered: "offered",
  accepted: "accepted",
  declined: "declined",
  timed_out: "timedOut",
  cancelled_by_driver: "cancelledByDriver",
  completed: "completed",
};

/** The counters with the rates of the DriverStatsStore contract (null over a zero denominator). */
export function withRates(c: DriverCounters): DriverStats {
  return {
    offered: c.offered,
    accepted: c.accepted,
    declined: c.declined,
    timedOut: c.timedOut,
    cancelledByDriver: c.cancelledByDriver,
    completed: c.completed,
    acceptanceRate: c.offered === 0 ? null : c.accepted / c.offered,
    cancellationRate: c.accepted === 0 ? null : c.cancelledByDriver / c.accepted,
  };
}

/**
 * An event listener for `tapEvents`: records what each event counts for. Never throws; the
 * write happens after it returns and a failed one is logged (the count is then missing: the
 * figures are statistics, not the source of truth).
 */
export function driverStatsListener(store: DriverStatsStore, log: Logger): (event: OrderEvent) => void {
  return (event) => {
    try {
      const c = driverStatOf(event);
      if (c === null) return;
      store.record(c.driverId, c.kind, event.id, event.at).catch((err: unknown) => {
        log.warn("driver stats record failed", {
          eventId: event.id,
          driverId: c.driverId,
          kind: c.kind,
          err: String(err),
        });
      });
    } catch (err) {
      log.warn("driver stats listener failed", { eventId: event.id, err: String(err) });
    }
  };
}
