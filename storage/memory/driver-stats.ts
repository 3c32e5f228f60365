/** Embedded DriverStatsStore: counters per driver in a Map, de-duplicated by event id. */
import { COUNTER_OF, type DriverCounters, withRates, ZERO_COUNTERS } from "../../engine/driver-stats.js";
import type { DriverId } from "../../engine/model.js";
import type { DriverStatKind, DriverStats, DriverStatsStore } from "../../engine/ports.js";

export class MemoryDriverStats implements DriverStatsStore {
  readonly #seen = new Set<string>();
  readonly #counters = new Map<DriverId, DriverCounters>();

  async record(driverId: DriverId, kind: DriverStatKind, eventId: string, _at: number): Promise<void> {
    if (this.#seen.has(eventId)) return;
    this.#seen.add(eventId);
    const field = COUNTER_OF[kind];
    const current = this.#counters.get(driverId) ?? ZERO_COUNTERS;
    this.#counters.set(driverId, { ...current, [field]: current[field] + 1 });
  }

  async get(driverId: DriverId): Promise<DriverStats> {
    return withRates(this.#counters.get(driverId) ?? ZERO_COUNTERS);
  }
}
