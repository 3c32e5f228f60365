/**
 * HTTP handlers of driver onboarding (apply, vehicle) and the operators' lists and review. The
 * rules live in engine/driver-profiles.ts; these translate HTTP into its calls. A signed-in
 * user only ever reaches their own profile (the id is the token's subject, never a parameter);
 * the lists and the review are admin routes (access.ts).
 */
import type { DriverOnboarding } from "../engine/driver-profiles.js";
import { DispatchError, ErrorCode } from "../engine/errors.js";
import { type Role, roles, type UserStore } from "../engine/identity.js";
import * as v from "../engine/validate.js";
import type { HttpRouteKey } from "./access.js";
import type { Handler } from "./router.js";

export interface DriverRouteDeps {
  onboarding: DriverOnboarding;
  users: UserStore;
  /**
   * Called after a review took the driver role away (rejected, suspended): closes the driver's
   * live socket. New sockets are refused anyway (the socket checks the stored roles).
   */
  onDriverRoleRevoked?: (driverId: string) => void;
}

/** `limit` from a query string: absent is undefined; anything else must be an integer (checked later). */
function limitOf(query: URLSearchParams): number | undefined {
  const raw = query.get("limit");
  if (raw === null) return undefined;
  if (!/^\d{1,6}$/.test(raw)) throw new DispatchError(ErrorCode.InvalidArgument, "limit must be an integer");
  return Number(raw);
}

function optional(query: URLSearchParams, name: string): string | undefined {
  const raw = query.get(name);
  return raw === null || raw === "" ? undefined : raw;
}

function encodeUserCursor(u: { createdAt: number; id: string }): string {
  return Buffer.from(`${u.createdAt}.${u.id}`, "utf8").toString("base64url");
}

function decodeUserCursor(cursor: string): { createdAt: number; id: string } {
  const fail = () => new DispatchError(ErrorCode.InvalidArgument, "cursor is not one this service returned");
  if (cursor.length > 400) throw fail();
  const t = Buffer.from(cursor, "base64url").toString("utf8");
  const dot = t.indexOf(".");
  const createdAt = Number(t.slice(0, dot));
  if (dot < 1 || !Number.isSafeInteger(createdAt)) throw fail();
  try {
    return { createdAt, id: v.id(t.slice(dot + 1), "cursor id") };
  } catch {
    throw fail();
  }
}

export function driverRoutes(d: DriverRouteDeps): Partial<Record<HttpRouteKey, Handler>> {
  return {
    "POST /v1/driver/profile": async ({ principal, body }) => ({
      body: await d.onboarding.apply(principal!.userId, body),
    }),

    "GET /v1/driver/profile": async ({ principal }) => ({
      body: await d.onboarding.get(principal!.userId),
    }),

    "PUT /v1/driver/vehicle": async ({ principal, body }) => ({
      body: await d.onboarding.setVehicle(principal!.userId, body),
    }),

    "GET /v1/admin/drivers": async ({ query }) => {
      const limit = limitOf(query);
      const status = optional(query, "status");
      const cursor = optional(query, "cursor");
      return {
        body: await d.onboarding.list({
          ...(limit === undefined ? {} : { limit }),
          ...(status === undefined ? {} : { status }),
          ...(cursor === undefined ? {} : { cursor }),
        }),
      };
    },

    "POST /v1/admin/drivers/:id/review": async ({ principal, params, body }) => {
      const profile = await d.onboarding.review(principal!.userId, params.id!, body);
      if (profile.status !== "approved") d.onDriverRoleRevoked?.(profile.driverId);
      return { body: profile };
    },

    "GET /v1/admin/users": async ({ query }) => {
      const limit = v.integer(limitOf(query) ?? 20, "limit", 1, 100);
      const role = optional(query, "role");
      if (role !== undefined && !roles.includes(role as Role)) {
        throw new DispatchError(ErrorCode.InvalidArgument, `role must be one of ${roles.join(", ")}`);
      }
      const cursor = optional(query, "cursor");
      const users = await d.users.list({
        limit,
        ...(role === undefined ? {} : { role: role as Role }),
        ...(cursor === undefined ? {} : { after: decodeUserCursor(cursor) }),
      });
      const last = users.at(-1);
      return {
        body: {
          users: users.map((u) => ({ id: u.id, phone: u.phone, roles: u.roles, createdAt: u.createdAt })),
          next: users.length === limit && last ? encodeUserCursor(last) : null,
        },
      };
    },
  };
}
