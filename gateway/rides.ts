/**
 * HTTP handlers of the ride API: quotes, orders, trips, and the admin routes. They translate
 * HTTP into RideService calls; the service checks participants (a rider sees only their orders,
 * a driver only orders addressed to them) and answers NOT_FOUND for anything else.
 */
import { DispatchError, ErrorCode } from "../engine/errors.js";
import { type Principal, type Role, roles, type UserStore } from "../engine/identity.js";
import type { DriverId } from "../engine/model.js";
import type { DriverStats } from "../engine/ports.js";
import type { ActorInput, RideService } from "../engine/rides.js";
import * as v from "../engine/validate.js";
import type { HttpRouteKey } from "./access.js";
import type { Handler } from "./router.js";

export interface RideRouteDeps {
  rides: RideService;
  users: UserStore;
  /** A driver's acceptance and cancellation figures (the DriverStatsStore's `get`). */
  driverStats: (driverId: DriverId) => Promise<DriverStats>;
  /** Figures for the admin overview (sockets, dispatch stats, ...). */
  overview: () => Record<string, unknown>;
}

/**
 * Which side of an order the caller acts as. A user can be both rider and driver; `as` picks
 * the side (default: rider when they have that role). Asking for a role one lacks is FORBIDDEN.
 */
export function actorOf(p: Principal, requested: unknown): ActorInput {
  if (requested !== undefined && requested !== null && requested !== "") {
    if (requested !== "rider" && requested !== "driver") {
      throw new DispatchError(ErrorCode.InvalidArgument, "as must be rider or driver");
    }
    if (!p.roles.includes(requested))
      throw new DispatchError(ErrorCode.Forbidden, `you are not a ${requested}`);
    return { role: requested, id: p.userId };
  }
  return { role: p.roles.includes("rider") ? "rider" : "driver", id: p.userId };
}

function point(value: unknown, name: string): { lat: number; lng: number } {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new DispatchError(ErrorCode.InvalidArgument, `${name} must be an object {lat, lng}`);
  }
  const { lat, lng } = value as { lat?: unknown; lng?: unknown };
  return { lat: lat as number, lng: lng as number };
}

export function rideRoutes(d: RideRouteDeps): Partial<Record<HttpRouteKey, Handler>> {
  return {
    "POST /v1/quotes": async ({ principal, body }) => ({
      body: await d.rides.quote(
        principal!.userId,
        point(body.pickup, "pickup"),
        point(body.dropoff, "dropoff"),
        (body.vehicleClass ?? "economy") as string,
      ),
    }),

    "POST /v1/orders": async ({ principal, body, headers }) => {
      if (headers.idempotencyKey === undefined) {
        throw new DispatchError(ErrorCode.InvalidArgument, "the Idempotency-Key header is required");
      }
      if (typeof body.quoteToken !== "string") {
        throw new DispatchError(ErrorCode.InvalidArgument, "quoteToken must be the token of a quote");
      }
      const order = await d.rides.requestRide(principal!.userId, body.quoteToken, headers.idempotencyKey);
      return { status: "201 Created", body: order };
    },

    "GET /v1/orders/:id": async ({ principal, params, query }) => ({
      body: await d.rides.getOrder(actorOf(principal!, query.get("as")), params.id!),
    }),

    "POST /v1/orders/:id/cancel": async ({ principal, params, body }) => {
      if (body.noShow !== undefined && typeof body.noShow !== "boolean") {
        throw new DispatchError(ErrorCode.InvalidArgument, "noShow must be a boolean");
      }
      return {
        body: await d.rides.cancel(actorOf(principal!, body.as), params.id!, {
          noShow: body.noShow === true,
        }),
      };
    },

    "POST /v1/orders/:id/rating": async ({ principal, params, body }) => ({
      body: await d.rides.rate(actorOf(principal!, body.as), params.id!, body.stars as number),
    }),

    "GET /v1/trips": async ({ principal, query }) => {
      const limit = query.get("limit");
      const cursor = query.get("cursor");
      return {
        body: await d.rides.history(actorOf(principal!, query.get("as")), {
          ...(limit !== null ? { limit: Number(limit) } : {}),
          ...(cursor !== null ? { cursor } : {}),
        }),
      };
    },

    "GET /v1/driver/stats": async ({ principal }) => {
      const driverId = v.driverId(principal!.userId);
      return { body: { driverId, ...(await d.driverStats(driverId)) } };
    },

    "POST /v1/admin/users/:id/roles": async ({ params, body }) => {
      if (typeof body.role !== "string" || !roles.includes(body.role as Role)) {
        throw new DispatchError(ErrorCode.InvalidArgument, `role must be one of ${roles.join(", ")}`);
      }
      const user = await d.users.grantRole(params.id!, body.role as Role);
      if (!user) throw new DispatchError(ErrorCode.NotFound, "no such user");
      return { body: { id: user.id, roles: user.roles } };
    },

    "GET /v1/admin/overview": async () => ({ body: d.overview() }),
  };
}
