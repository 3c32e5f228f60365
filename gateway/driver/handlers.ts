/**
 * Driver socket messages turned into engine calls. Fixes and availability go to the live
 * locations; offers and trip steps go to the RideService, which checks that the order is this
 * driver's.
 */
import type { DriverAssignments } from "../../engine/ports.js";
import type { RideService } from "../../engine/rides.js";
import * as v from "../../engine/validate.js";
import type { DriverSessionHandlers } from "./socket.js";

export interface DriverHandlerDeps {
  rides: RideService;
  assignments: DriverAssignments;
  /** Applies a batch of the driver's fixes (the live index: ordering, jumps, then ETA tracking). */
  fixes: DriverSessionHandlers["fixes"];
  /** Availability: online, offline or on a break. */
  status: DriverSessionHandlers["status"];
  /** Distance and duration of the real GPS track of a trip in progress. */
  trackOf(orderId: string): Promise<{ distanceM: number; durationS: number }>;
  disconnected?: (driverId: string) => void;
}

export function driverHandlers(d: DriverHandlerDeps): DriverSessionHandlers {
  return {
    fixes: d.fixes,
    status: d.status,
    acceptOffer: (driverId, orderId) => d.rides.accept(driverId, orderId),
    declineOffer: async (driverId, orderId) => {
      await d.rides.decline(driverId, orderId);
      return { declined: orderId };
    },
    tripEvent: (driverId, orderId, event) => {
      switch (event) {
        case "arrived":
          return d.rides.arrived(driverId, orderId);
        case "started":
          return d.rides.start(driverId, orderId);
        case "completed":
          return d.trackOf(orderId).then((track) => d.rides.complete(driverId, orderId, track));
      }
    },
    /** The resume state: the offer the driver holds (if any) and their active order (if any). */
    async connected(driverId) {
      const { hold } = await d.assignments.get(v.driverId(driverId));
      if (hold === null) return { offer: null, order: null };
      let order: unknown;
      try {
        order = await d.rides.getOrder({ role: "driver", id: driverId }, hold.orderId);
      } catch {
        // A stale hold (its order moved on): nothing to resume.
        return { offer: null, order: null };
      }
      return hold.kind === "offer"
        ? {
            offer: { orderId: hold.orderId, offerId: hold.offerId, expiresAt: hold.expiresAt, order },
            order: null,
          }
        : { offer: null, order };
    },
    disconnected: (driverId) => d.disconnected?.(driverId),
  };
}
