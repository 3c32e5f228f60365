/**
 * Driver onboarding: a user applies to drive with a profile (display name, licence number) and a
 * vehicle; an operator reviews the profile. Approval grants the `driver` role, suspension revokes
 * it (a token issued before keeps its roles until it expires; the next refresh no longer has
 * them, and the driver socket checks the stored roles at connect).
 *
 * The store holds profiles and vehicles and makes each change atomic (compare-and-set on the
 * approval status); `DriverOnboarding` holds the rules: validation, who may change what when,
 * and the role that follows each decision.
 */
import { DispatchError, ErrorCode } from "./errors.js";
import type { UserStore } from "./identity.js";
import * as v from "./validate.js";

export type ApprovalStatus = "pending" | "approved" | "rejected" | "suspended";
export const approvalStatuses: readonly ApprovalStatus[] = ["pending", "approved", "rejected", "suspended"];

export interface Vehicle {
  readonly id: string;
  /** Upper-case, as printed on the plate ("B-DX 1234"). Unique across all drivers. */
  readonly plate: string;
  readonly make: string;
  readonly model: string;
  readonly color: string;
  readonly year: number;
  /** The dispatch class the car serves ("economy", "comfort", ...). */
  readonly vehicleClass: string;
  readonly seats: number;
  readonly createdAt: number;
}

export interface DriverProfile {
  /** The user id (a driver is a user; the engine's DriverId is this id). */
  readonly driverId: string;
  readonly displayName: string;
  /** Personal data: the database adapters store it encrypted, found through a keyed hash. */
  readonly licenseNumber: string;
  readonly status: ApprovalStatus;
  /** Why it was rejected or suspended (null otherwise). */
  readonly reason: string | null;
  /** The admin who made the last review decision, and when. */
  readonly reviewedBy: string | null;
  readonly reviewedAt: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** The vehicle the driver drives now (at most one is active). */
  readonly vehicle: Vehicle | null;
}

export interface ProfileInput {
  readonly displayName: string;
  readonly licenseNumber: string;
}

export type VehicleInput = Omit<Vehicle, "id" | "createdAt">;

export type ApplyOutcome =
  | { readonly status: "saved"; readonly profile: DriverProfile }
  /** Approved and suspended profiles change only through review. */
  | { readonly status: "locked"; readonly profile: DriverProfile }
  /** Another user's profile holds this licence number. */
  | { readonly status: "license_taken" };

export type VehicleOutcome =
  | { readonly status: "saved"; readonly vehicle: Vehicle }
  | { readonly status: "no_profile" }
  /** Another driver's vehicle (active or not) has this plate. */
  | { readonly status: "plate_taken" };

export type ReviewOutcome =
  | { readonly status: "updated"; readonly profile: DriverProfile }
  | { readonly status: "not_found" }
  /** The profile's status is not one of `from`; nothing changed. */
  | { readonly status: "wrong_state"; readonly profile: DriverProfile };

/** A place in the list of profiles: the (createdAt, driverId) of the last profile seen. */
export interface ProfileCursor {
  readonly createdAt: number;
  readonly driverId: string;
}

export interface ProfilePage {
  readonly profiles: DriverProfile[];
  /** Pass as `after` for the next page; null at the end. */
  readonly next: ProfileCursor | null;
}

/** The page of `profiles` (at most `limit`, in list order): `next` is set when the page is full. */
export function profilePage(profiles: DriverProfile[], limit: number): ProfilePage {
  const last = profiles.at(-1);
  return {
    profiles,
    next: profiles.length === limit && last ? { createdAt: last.createdAt, driverId: last.driverId } : null,
  };
}

/** A review decision as the store applies it: `to` if the status is one of `from`. */
export interface ReviewChange {
  readonly from: readonly ApprovalStatus[];
  readonly to: ApprovalStatus;
  readonly reason: string | null;
  readonly reviewerId: string;
}

export interface ProfileListOptions {
  readonly status?: ApprovalStatus;
  readonly limit: number;
  readonly after?: ProfileCursor;
}

/**
 * Driver profiles and vehicles. Every method is atomic on its own; results are copies (changing
 * one changes nothing stored). "Not found" is data (`undefined`, `not_found`), never thrown.
 * Licence numbers are compared by their normalised form (upper case, no spaces or hyphens).
 */
export interface DriverProfileStore {
  /**
   * Creates the profile as `pending`, or replaces the name and licence of one that is `pending`
   * or `rejected` (which makes it `pending` again and clears reason and reviewer). An `approved`
   * or `suspended` profile is left alone (`locked`). A licence number held by another user's
   * profile is `license_taken`. `createdAt` is kept on update; `updatedAt` becomes `now`.
   */
  apply(driverId: string, input: ProfileInput, now: number): Promise<ApplyOutcome>;
  /** The profile with its active vehicle, or `undefined`. */
  get(driverId: string): Promise<DriverProfile | undefined>;
  /**
   * Makes this the driver's one active vehicle. A plate the driver used before is updated and
   * re-activated (same id); a new plate gets a new vehicle; the previous active one is kept,
   * inactive. Atomic: a reader never sees two active vehicles or none in between.
   */
  setVehicle(driverId: string, input: VehicleInput, now: number): Promise<VehicleOutcome>;
  /**
   * Sets the status to `to` with `reason`, reviewer and `reviewedAt = now`, if and only if the
   * current status is one of `from` (compare-and-set: of two concurrent reviews with the same
   * `from` exactly one wins).
   */
  review(driverId: string, change: ReviewChange, now: number): Promise<ReviewOutcome>;
  /**
   * Profiles oldest first by (createdAt, driverId), of one status or all, strictly after `after`;
   * at most `limit`. `next` is set when the page is full.
   */
  list(options: ProfileListOptions): Promise<ProfilePage>;
}

// ---------------------------------------------------------------------------------------------
// Validation at the edge

function invalid(message: string): DispatchError {
  return new DispatchError(ErrorCode.InvalidArgument, message);
}

// No control characters, no leading/trailing space, printable text of 1..max characters.
function text(value: unknown, what: string, max: number): string {
  if (typeof value !== "string") throw invalid(`${what} must be a string`);
  const t = value.trim().replace(/\s+/g, " ");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (t.length < 1 || t.length > max || /[\u0000-\u001f\u007f]/.test(t)) {
    throw invalid(`${what} must be 1..${max} printable characters`);
  }
  return t;
}

/** Licence numbers: 4..32 of A-Z 0-9, spaces and hyphens, stored upper-case. */
export function licenseNumber(value: unknown): string {
  if (typeof value !== "string") throw invalid("licenseNumber must be a string");
  const t = value.trim().toUpperCase().replace(/\s+/g, " ");
  if (!/^[A-Z0-9][A-Z0-9 -]{2,30}[A-Z0-9]$/.test(t)) {
    throw invalid("licenseNumber must be 4..32 characters of A-Z, 0-9, spaces and hyphens");
  }
  return t;
}

/** The form two licence numbers are compared in: "b-12 34" and "B1234" are the same licence. */
export function normalLicense(license: string): string {
  return license.toUpperCase().replace(/[\s-]/g, "");
}

export function plate(value: unknown): string {
  if (typeof value !== "string") throw invalid("plate must be a string");
  const t = value.trim().toUpperCase().replace(/\s+/g, " ");
  if (!/^[A-Z0-9][A-Z0-9 -]{0,13}[A-Z0-9]$/.test(t)) {
    throw invalid("plate must be 2..15 characters of A-Z, 0-9, spaces and hyphens");
  }
  return t;
}

export function profileInput(body: Record<string, unknown>): ProfileInput {
  return {
    displayName: text(body.displayName, "displayName", 80),
    licenseNumber: licenseNumber(body.licenseNumber),
  };
}

export function vehicleInput(body: Record<string, unknown>, now: number): VehicleInput {
  const latest = new Date(now).getUTCFullYear() + 1;
  return {
    plate: plate(body.plate),
    make: text(body.make, "make", 40),
    model: text(body.model, "model", 40),
    color: text(body.color, "color", 30),
    year: v.integer(body.year, "year", 1980, latest),
    vehicleClass: v.vehicleClass(body.vehicleClass ?? "economy"),
    seats: body.seats === undefined ? 4 : v.integer(body.seats, "seats", 1, 20),
  };
}

export function approvalStatus(value: unknown): ApprovalStatus {
  if (typeof value !== "string" || !approvalStatuses.includes(value as ApprovalStatus)) {
    throw invalid(`status must be one of ${approvalStatuses.join(", ")}`);
  }
  return value as ApprovalStatus;
}

// ---------------------------------------------------------------------------------------------
// The rules

export type ReviewDecision = "approve" | "reject" | "suspend";
const decisions: Record<
  ReviewDecision,
  { from: ApprovalStatus[]; to: ApprovalStatus; needsReason: boolean }
> = {
  // Approving also reinstates a suspended driver and reconsiders a rejected application.
  approve: { from: ["pending", "rejected", "suspended"], to: "approved", needsReason: false },
  reject: { from: ["pending"], to: "rejected", needsReason: true },
  suspend: { from: ["approved"], to: "suspended", needsReason: true },
};

export interface ProfileListPage {
  readonly profiles: DriverProfile[];
  readonly next: string | null;
}

function encodeCursor(c: ProfileCursor): string {
  return Buffer.from(`${c.createdAt}.${c.driverId}`, "utf8").toString("base64url");
}

function decodeCursor(cursor: unknown): ProfileCursor {
  const fail = () => invalid("cursor is not one this service returned");
  if (typeof cursor !== "string" || cursor.length > 400) throw fail();
  const t = Buffer.from(cursor, "base64url").toString("utf8");
  const dot = t.indexOf(".");
  const createdAt = Number(t.slice(0, dot));
  if (dot < 1 || !Number.isSafeInteger(createdAt)) throw fail();
  try {
    return { createdAt, driverId: v.driverId(t.slice(dot + 1)) };
  } catch {
    throw fail();
  }
}

export class DriverOnboarding {
  constructor(
    private readonly d: {
      readonly profiles: DriverProfileStore;
      readonly users: UserStore;
      readonly now: () => number;
    },
  ) {}

  /** Applies to drive (or corrects a pending or rejected application). */
  async apply(userId: string, body: Record<string, unknown>): Promise<DriverProfile> {
    const input = profileInput(body);
    const r = await this.d.profiles.apply(v.driverId(userId), input, this.d.now());
    switch (r.status) {
      case "saved":
        return r.profile;
      case "locked":
        throw new DispatchError(
          ErrorCode.Conflict,
          `the profile is ${r.profile.status}: it changes only through review`,
        );
      case "license_taken":
        throw new DispatchError(ErrorCode.Conflict, "this licence number belongs to another driver profile");
    }
  }

  async get(userId: string): Promise<DriverProfile> {
    const p = await this.d.profiles.get(v.driverId(userId));
    if (!p) throw new DispatchError(ErrorCode.NotFound, "no driver profile: apply first");
    return p;
  }

  async setVehicle(userId: string, body: Record<string, unknown>): Promise<Vehicle> {
    const now = this.d.now();
    const r = await this.d.profiles.setVehicle(v.driverId(userId), vehicleInput(body, now), now);
    switch (r.status) {
      case "saved":
        return r.vehicle;
      case "no_profile":
        throw new DispatchError(ErrorCode.NotFound, "no driver profile: apply first");
      case "plate_taken":
        throw new DispatchError(ErrorCode.Conflict, "this plate is registered to another driver");
    }
  }

  /**
   * An admin's decision. Repeating a decision that already holds (approving an approved
   * profile) changes nothing but re-applies its role, which repairs a role change that failed
   * after the status changed.
   */
  async review(
    reviewerId: string,
    driverIdRaw: string,
    body: Record<string, unknown>,
  ): Promise<DriverProfile> {
    const driverId = v.driverId(driverIdRaw);
    const decision = body.decision;
    if (typeof decision !== "string" || !(decision in decisions)) {
      throw invalid("decision must be approve, reject or suspend");
    }
    const rule = decisions[decision as ReviewDecision];
    let reason: string | null = null;
    if (body.reason !== undefined && body.reason !== null) reason = text(body.reason, "reason", 500);
    if (rule.needsReason && reason === null) throw invalid(`reason is required to ${decision}`);
    if (driverId === reviewerId) {
      throw new DispatchError(ErrorCode.Forbidden, "you may not review your own driver profile");
    }
    const r = await this.d.profiles.review(
      driverId,
      { from: rule.from, to: rule.to, reason, reviewerId },
      this.d.now(),
    );
    let profile: DriverProfile;
    if (r.status === "not_found") throw new DispatchError(ErrorCode.NotFound, "no such driver profile");
    if (r.status === "wrong_state") {
      if (r.profile.status !== rule.to) {
        throw new DispatchError(
          ErrorCode.IllegalTransition,
          `cannot ${decision} a profile that is ${r.profile.status}`,
        );
      }
      profile = r.profile;
    } else {
      profile = r.profile;
    }
    // The role follows the status: only an approved profile makes a driver.
    const user =
      profile.status === "approved"
        ? await this.d.users.grantRole(driverId, "driver")
        : await this.d.users.revokeRole(driverId, "driver");
    if (!user) throw new DispatchError(ErrorCode.Internal, `driver profile ${driverId} has no user`);
    return profile;
  }

  async list(query: { status?: unknown; limit?: unknown; cursor?: unknown }): Promise<ProfileListPage> {
    const limit = query.limit === undefined ? 20 : v.integer(query.limit, "limit", 1, 100);
    const status = query.status === undefined ? undefined : approvalStatus(query.status);
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const page = await this.d.profiles.list({
      limit,
      ...(status === undefined ? {} : { status }),
      ...(after === undefined ? {} : { after }),
    });
    return { profiles: page.profiles, next: page.next === null ? null : encodeCursor(page.next) };
  }
}
