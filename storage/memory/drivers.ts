/** Embedded DriverAssignments: one versioned, frozen record per driver in a Map. */
import type { DriverId } from "../../engine/model.js";
import type { CasResult, DriverAssignment, DriverAssignments, DriverHold } from "../../engine/ports.js";
import { frozenCopy } from "./freeze.js";

export class MemoryDriverAssignments implements DriverAssignments {
  readonly #records = new Map<DriverId, DriverAssignment>();

  async get(driverId: DriverId): Promise<DriverAssignment> {
    const r = this.#records.get(driverId);
    return r ?? { driverId, version: 0, hold: null };
  }

  async compareAndSet(
    driverId: DriverId,
    expectedVersion: number,
    hold: DriverHold | null,
  ): Promise<CasResult<DriverAssignment>> {
    const current = this.#records.get(driverId) ?? { driverId, version: 0, hold: null };
    if (current.version !== expectedVersion) return { ok: false, current };
    const next = frozenCopy<DriverAssignment>({ driverId, version: current.version + 1, hold });
    this.#records.set(driverId, next);
    return { ok: true, value: next };
  }

  /** Every driver currently held (not part of the port: for the admin view and tests). */
  held(): DriverAssignment[] {
    return [...this.#records.values()].filter((r) => r.hold !== null);
  }
}
