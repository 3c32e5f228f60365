/**
 * DriverAssignments on PostgreSQL (or PGlite): one row per driver ever held. Compare-and-set is
 * a single statement: an INSERT that loses to an existing row from version 0, else an UPDATE
 * guarded by the version. A driver never written has no row and reads as version 0.
 */
import type { DriverId, OrderId } from "../../engine/model.js";
import type { CasResult, DriverAssignment, DriverAssignments, DriverHold } from "../../engine/ports.js";
import type { Db } from "./db.js";
import { deepFreeze, msOf, tsParam } from "./sql.js";

interface AssignmentRow {
  driver_id: string;
  version: number;
  hold_kind: DriverHold["kind"] | null;
  order_id: string | null;
  offer_id: string | null;
  expires_at: Date | null;
}

const COLUMNS = "driver_id, version, hold_kind, order_id, offer_id, expires_at";

function toAssignment(r: AssignmentRow): DriverAssignment {
  const hold: DriverHold | null =
    r.hold_kind === null
      ? null
      : {
          kind: r.hold_kind,
          orderId: r.order_id as OrderId,
          offerId: r.offer_id!,
          expiresAt: msOf(r.expires_at),
        };
  return deepFreeze({ driverId: r.driver_id as DriverId, version: r.version, hold });
}

function holdParams(hold: DriverHold | null): unknown[] {
  return hold === null
    ? [null, null, null, null]
    : [hold.kind, hold.orderId, hold.offerId, tsParam(hold.expiresAt)];
}

export class PgDriverAssignments implements DriverAssignments {
  constructor(private readonly db: Db) {}

  async get(driverId: DriverId): Promise<DriverAssignment> {
    const { rows } = await this.db.query<AssignmentRow>(
      `SELECT ${COLUMNS} FROM driver_assignments WHERE driver_id = $1`,
      [driverId],
    );
    return rows[0] === undefined ? deepFreeze({ driverId, version: 0, hold: null }) : toAssignment(rows[0]);
  }

  async compareAndSet(
    driverId: DriverId,
    expectedVersion: number,
    hold: DriverHold | null,
  ): Promise<CasResult<DriverAssignment>> {
    const { rows } =
      expectedVersion === 0
        ? await this.db.query<AssignmentRow>(
            `INSERT INTO driver_assignments (${COLUMNS})
              VALUES ($1, 1, $2, $3, $4, $5::timestamptz)
              ON CONFLICT (driver_id) DO NOTHING
              RETURNING ${COLUMNS}`,
            [driverId, ...holdParams(hold)],
          )
        : await this.db.query<AssignmentRow>(
            `UPDATE driver_assignments
              SET version = version + 1, hold_kind = $3, order_id = $4, offer_id = $5,
                expires_at = $6::timestamptz
              WHERE driver_id = $1 AND version = $2
              RETURNING ${COLUMNS}`,
            [driverId, expectedVersion, ...holdParams(hold)],
          );
    if (rows[0] !== undefined) return { ok: true, value: toAssignment(rows[0]) };
    return { ok: false, current: await this.get(driverId) };
  }
}
