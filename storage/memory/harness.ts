/**
 * A RideService wired entirely on the embedded adapters and a manual clock: for tests (engine,
 * gateway) and for simulations that run faster than real time. Production wiring lives in the
 * composition root.
 */
import { ManualClock } from "../../engine/clock.js";
import { type Logger, silentLogger } from "../../engine/logger.js";
import type { LatLng } from "../../engine/model.js";
import { FlatSurge, LinearFareModel, StraightLineRoutes } from "../../engine/pricing.js";
import { HmacQuoteSigner } from "../../engine/quotes.js";
import { type RideConfigInput, RideService } from "../../engine/rides.js";
import { MemoryDriverAssignments } from "./drivers.js";
import { MemoryEventLog } from "./events.js";
import { MemoryNotifier } from "./notifier.js";
import { MemoryOrderStore } from "./orders.js";

export interface RideHarness {
  readonly service: RideService;
  readonly clock: ManualClock;
  readonly orders: MemoryOrderStore;
  readonly drivers: MemoryDriverAssignments;
  readonly events: MemoryEventLog;
  /** Records every message (`notifier.sent`). */
  readonly notifier: MemoryNotifier;
  readonly surge: FlatSurge;
  readonly fares: LinearFareModel;
  readonly quotes: HmacQuoteSigner;
}

export interface RideHarnessOptions {
  readonly config?: RideConfigInput;
  readonly start?: number;
  readonly log?: Logger;
  readonly newId?: () => string;
  /**
   * Wraps each storage port before the service sees it (the originals stay reachable on the
   * harness), e.g. to inject latency or failures.
   */
  readonly wrap?: <T extends object>(port: T, name: "orders" | "drivers" | "events") => T;
}

/** One region per whole degree: enough to tell regions apart without the native addon. */
export function gridRegionOf(p: LatLng): string {
  return `${Math.floor(p.lat)}:${Math.floor(p.lng)}`;
}

export function memoryRideHarness(options: RideHarnessOptions = {}): RideHarness {
  const clock = new ManualClock(options.start);
  const log = options.log ?? silentLogger;
  const orders = new MemoryOrderStore();
  const drivers = new MemoryDriverAssignments();
  const events = new MemoryEventLog();
  const notifier = new MemoryNotifier({ log, record: true });
  const surge = new FlatSurge(1);
  const fares = new LinearFareModel();
  const quotes = new HmacQuoteSigner({ keyId: "test", key: "test-quote-key-0123456789abcdef-0123" });
  const wrap = options.wrap ?? (<T extends object>(port: T) => port);
  const service = new RideService(
    {
      clock,
      log,
      orders: wrap(orders, "orders"),
      drivers: wrap(drivers, "drivers"),
      events: wrap(events, "events"),
      notifier,
      quotes,
      fares,
      routes: new StraightLineRoutes(),
      surge,
      regionOf: gridRegionOf,
      ...(options.newId ? { newId: options.newId } : {}),
    },
    options.config,
  );
  return { service, clock, orders, drivers, events, notifier, surge, fares, quotes };
}
