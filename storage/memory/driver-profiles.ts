import { randomUUID } from "node:crypto";
import {
  type ApplyOutcome,
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
import { keysetPage } from "./keyset.js";

interface StoredVehicle extends Vehicle {
  driverId: string;
  active: boolean;
}

/** In-process driver profiles; the embedded default. Single-threaded JS makes each method atomic. */
export class MemoryDriverProfileStore implements DriverProfileStore {
  private readonly profiles = new Map<string, Omit<DriverProfile, "vehicle">>();
  private readonly vehicles = new Map<string, StoredVehicle>();

  #view(p: Omit<DriverProfile, "vehicle">): DriverProfile {
    let vehicle: Vehicle | null = null;
    for (const v of this.vehicles.values()) {
      if (v.driverId === p.driverId && v.active) {
        const { driverId: _d, active: _a, ...rest } = v;
        vehicle = rest;
      }
    }
    return structuredClone({ ...p, vehicle });
  }

  async apply(driverId: string, input: ProfileInput, now: number): Promise<ApplyOutcome> {
    const license = normalLicense(input.licenseNumber);
    for (const p of this.profiles.values()) {
      if (p.driverId !== driverId && normalLicense(p.licenseNumber) === license)
        return { status: "license_taken" };
    }
    const cur = this.profiles.get(driverId);
    if (cur && (cur.status === "approved" || cur.status === "suspended"))
      return { status: "locked", profile: this.#view(cur) };
    const next = {
      driverId,
      displayName: input.displayName,
      licenseNumber: input.licenseNumber,
      status: "pending" as const,
      reason: null,
      reviewedBy: null,
      reviewedAt: null,
      createdAt: cur?.createdAt ?? now,
      updatedAt: now,
    };
    this.profiles.set(driverId, next);
    return { status: "saved", profile: this.#view(next) };
  }

  async get(driverId: string): Promise<DriverProfile | undefined> {
    const p = this.profiles.get(driverId);
    return p && this.#view(p);
  }

  async setVehicle(driverId: string, input: VehicleInput, now: number): Promise<VehicleOutcome> {
    if (!this.profiles.has(driverId)) return { status: "no_profile" };
    let same: StoredVehicle | undefined;
    for (const v of this.vehicles.values()) {
      if (v.plate === input.plate) {
        if (v.driverId !== driverId) return { status: "plate_taken" };
        same = v;
      }
    }
    for (const v of this.vehicles.values()) if (v.driverId === driverId) v.active = false;
    const stored: StoredVehicle = {
      id: same?.id ?? randomUUID(),
      createdAt: same?.createdAt ?? now,
      ...input,
      driverId,
      active: true,
    };
    this.vehicles.set(stored.id, stored);
    const { driverId: _d, active: _a, ...vehicle } = stored;
    return { status: "saved", vehicle: structuredClone(vehicle) };
  }

  async review(driverId: string, change: ReviewChange, now: number): Promise<ReviewOutcome> {
    const cur = this.profiles.get(driverId);
    if (!cur) return { status: "not_found" };
    if (!change.from.includes(cur.status)) return { status: "wrong_state", profile: this.#view(cur) };
    const next = {
      ...cur,
      status: change.to,
      reason: change.reason,
      reviewedBy: change.reviewerId,
      reviewedAt: now,
      updatedAt: now,
    };
    this.profiles.set(driverId, next);
    return { status: "updated", profile: this.#view(next) };
  }

  async list(options: ProfileListOptions): Promise<ProfilePage> {
    const { status, limit, after } = options;
    const listed = [...this.profiles.values()].filter((p) => status === undefined || p.status === status);
    const page = keysetPage(
      listed,
      (p) => [p.createdAt, p.driverId],
      after && [after.createdAt, after.driverId],
      limit,
    );
    return profilePage(
      page.map((p) => this.#view(p)),
      limit,
    );
  }
}
