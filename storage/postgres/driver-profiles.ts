/**
 * DriverProfileStore on PostgreSQL (or PGlite): the `drivers` and `vehicles` tables. Licence
 * numbers are stored encrypted and found through a keyed hash (migration 0003), with the phone
 * cipher's keys and a `license:` domain so a licence blob or hash never passes for a phone's.
 * The rules' atomicity comes from single guarded statements (the status compare-and-set, the
 * upsert that leaves approved profiles alone) and unique indexes (licence hash, plate); the
 * vehicle swap is one transaction that locks the driver's row.
 */
import { randomUUID } from "node:crypto";
import {
  type ApplyOutcome,
  type ApprovalStatus,
  type DriverProfile,
  type DriverProfileStore,
  normalLicense,
  type ProfileInput,
  type ProfileListOptions,
  type ProfilePage,
  profilePage,
  type ReviewChange,
  type ReviewOutcome,
  type Vehicle,
  type VehicleInput,
  type VehicleOutcome,
} from "../../engine/driver-profiles.js";
import { DispatchError } from "../../engine/errors.js";
import { type Db, type Queryable, sqlState } from "./db.js";
import type { PhoneCipher } from "./phone-crypto.js";
import { bufferOf, msOf, tsParam } from "./sql.js";

interface ProfileRow {
  id: string;
  display_name: string;
  license_number: string | null;
  license_enc: Uint8Array | null;
  approval_status: ApprovalStatus;
  status_reason: string | null;
  reviewed_by: string | null;
  reviewed_at: Date | null;
  created_at: Date;
  updated_at: Date;
  vehicle_id: string | null;
  plate: string | null;
  make: string | null;
  model: string | null;
  color: string | null;
  year: number | null;
  vehicle_class: string | null;
  seats: number | null;
  vehicle_created_at: Date | null;
}

const SELECT = `SELECT d.id, d.display_name, d.license_number, d.license_enc, d.approval_status,
    d.status_reason, d.reviewed_by, d.reviewed_at, d.created_at, d.updated_at,
    v.id AS vehicle_id, v.plate, v.make, v.model, v.color, v.year, v.vehicle_class, v.seats,
    v.created_at AS vehicle_created_at
  FROM drivers d LEFT JOIN vehicles v ON v.driver_id = d.id AND v.active`;

interface VehicleRow {
  id: string;
  plate: string;
  make: string;
  model: string;
  color: string;
  year: number;
  vehicle_class: string;
  seats: number;
  created_at: Date;
}

const VEHICLE_COLUMNS = "id, plate, make, model, color, year, vehicle_class, seats, created_at";

function toVehicle(r: VehicleRow): Vehicle {
  return {
    id: r.id,
    plate: r.plate,
    make: r.make,
    model: r.model,
    color: r.color,
    year: Number(r.year),
    vehicleClass: r.vehicle_class,
    seats: Number(r.seats),
    createdAt: msOf(r.created_at),
  };
}

/** Whether `err` is a unique violation of the named constraint or index. */
function violates(err: unknown, constraint: string): boolean {
  if (sqlState(err) !== "23505") return false;
  let e: unknown = err;
  if (e instanceof DispatchError) e = e.cause;
  const named = (e as { constraint?: unknown }).constraint;
  return named === constraint || (e instanceof Error && e.message.includes(constraint));
}

export class PgDriverProfileStore implements DriverProfileStore {
  constructor(
    private readonly db: Db,
    private readonly cipher: PhoneCipher,
  ) {}

  #licenseHash(license: string): Buffer {
    return this.cipher.hash(`license:${normalLicense(license)}`);
  }

  #toProfile(r: ProfileRow): DriverProfile {
    const licenseNumber =
      r.license_enc !== null
        ? this.cipher.decrypt(bufferOf(r.license_enc), `license:${r.id}`)
        : (r.license_number ?? "");
    return {
      driverId: r.id,
      displayName: r.display_name,
      licenseNumber,
      status: r.approval_status,
      reason: r.status_reason,
      reviewedBy: r.reviewed_by,
      reviewedAt: msOf(r.reviewed_at),
      createdAt: msOf(r.created_at),
      updatedAt: msOf(r.updated_at),
      vehicle:
        r.vehicle_id === null
          ? null
          : toVehicle({
              id: r.vehicle_id,
              plate: r.plate!,
              make: r.make!,
              model: r.model!,
              color: r.color!,
              year: r.year!,
              vehicle_class: r.vehicle_class!,
              seats: r.seats!,
              created_at: r.vehicle_created_at!,
            }),
    };
  }

  async apply(driverId: string, input: ProfileInput, now: number): Promise<ApplyOutcome> {
    let updated: number;
    try {
      // Approved and suspended profiles change only through review: the WHERE of the upsert
      // leaves them alone, atomically with the check.
      const r = await this.db.query(
        `INSERT INTO drivers (id, display_name, license_enc, license_hash, approval_status, created_at, updated_at)
          VALUES ($1, $2, $3, $4, 'pending', $5::timestamptz, $5::timestamptz)
          ON CONFLICT (id) DO UPDATE SET
            display_name = EXCLUDED.display_name, license_number = NULL,
            license_enc = EXCLUDED.license_enc, license_hash = EXCLUDED.license_hash,
            approval_status = 'pending', status_reason = NULL, reviewed_by = NULL, reviewed_at = NULL,
            updated_at = EXCLUDED.updated_at
          WHERE drivers.approval_status IN ('pending', 'rejected')
          RETURNING id`,
        [
          driverId,
          input.displayName,
          this.cipher.encrypt(input.licenseNumber, `license:${driverId}`),
          this.#licenseHash(input.licenseNumber),
          tsParam(now),
        ],
      );
      updated = r.rowCount ?? r.rows.length;
    } catch (err) {
      if (violates(err, "drivers_license_hash_key")) return { status: "license_taken" };
      throw err;
    }
    const profile = await this.get(driverId);
    if (profile === undefined) throw new Error(`driver profile ${driverId} vanished after its upsert`);
    return updated > 0 ? { status: "saved", profile } : { status: "locked", profile };
  }

  async get(driverId: string): Promise<DriverProfile | undefined> {
    const { rows } = await this.db.query<ProfileRow>(`${SELECT} WHERE d.id = $1`, [driverId]);
    return rows[0] && this.#toProfile(rows[0]);
  }

  async setVehicle(driverId: string, input: VehicleInput, now: number): Promise<VehicleOutcome> {
    try {
      return await this.db.transaction(async (tx: Queryable): Promise<VehicleOutcome> => {
        // The driver's row lock serialises vehicle swaps of one driver.
        const driver = await tx.query(`SELECT id FROM drivers WHERE id = $1 FOR UPDATE`, [driverId]);
        if (driver.rows.length === 0) return { status: "no_profile" };
        const same = await tx.query<{ id: string; driver_id: string }>(
          `SELECT id, driver_id FROM vehicles WHERE plate = $1`,
          [input.plate],
        );
        const existing = same.rows[0];
        if (existing !== undefined && existing.driver_id !== driverId) return { status: "plate_taken" };
        await tx.query(`UPDATE vehicles SET active = false WHERE driver_id = $1 AND active`, [driverId]);
        const values = [
          input.plate,
          input.make,
          input.model,
          input.color,
          input.year,
          input.vehicleClass,
          input.seats,
        ];
        const saved =
          existing !== undefined
            ? await tx.query<VehicleRow>(
                `UPDATE vehicles SET plate = $1, make = $2, model = $3, color = $4, year = $5,
                    vehicle_class = $6, seats = $7, active = true
                  WHERE id = $8 RETURNING ${VEHICLE_COLUMNS}`,
                [...values, existing.id],
              )
            : await tx.query<VehicleRow>(
                `INSERT INTO vehicles (plate, make, model, color, year, vehicle_class, seats, id, driver_id, active, created_at)
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, true, $10::timestamptz)
                  RETURNING ${VEHICLE_COLUMNS}`,
                [...values, randomUUID(), driverId, tsParam(now)],
              );
        return { status: "saved", vehicle: toVehicle(saved.rows[0]!) };
      });
    } catch (err) {
      // Another driver registered the plate between our read and our insert.
      if (violates(err, "vehicles_plate_key")) return { status: "plate_taken" };
      throw err;
    }
  }

  async review(driverId: string, change: ReviewChange, now: number): Promise<ReviewOutcome> {
    const r = await this.db.query(
      `UPDATE drivers SET approval_status = $2, status_reason = $3, reviewed_by = $4,
          reviewed_at = $5::timestamptz, updated_at = $5::timestamptz
        WHERE id = $1 AND approval_status = ANY ($6::text[])
        RETURNING id`,
      [driverId, change.to, change.reason, change.reviewerId, tsParam(now), [...change.from]],
    );
    const profile = await this.get(driverId);
    if (profile === undefined) return { status: "not_found" };
    return (r.rowCount ?? r.rows.length) > 0
      ? { status: "updated", profile }
      : { status: "wrong_state", profile };
  }

  async list(options: ProfileListOptions): Promise<ProfilePage> {
    const { status, limit, after } = options;
    const { rows } = await this.db.query<ProfileRow>(
      `${SELECT}
        WHERE ($1::text IS NULL OR d.approval_status = $1::text)
          AND ($2::timestamptz IS NULL OR (d.created_at, d.id) > ($2::timestamptz, $3::text))
        ORDER BY d.created_at, d.id
        LIMIT $4`,
      [status ?? null, tsParam(after?.createdAt ?? null), after?.driverId ?? "", limit],
    );
    return profilePage(
      rows.map((r) => this.#toProfile(r)),
      limit,
    );
  }
}
