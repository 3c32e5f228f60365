/**
 * Who may do what: one table for every HTTP route and every socket message type. The router
 * and the socket handlers look their entry up here and nowhere else; a route or message without
 * an entry cannot be registered (the types demand one), and the role-matrix test walks this
 * table.
 */
import type { Role } from "../engine/identity.js";

/** `public` needs no token; otherwise a valid access token holding any of the listed roles. */
export type Access = "public" | readonly Role[];

const anyone: readonly Role[] = ["rider", "driver", "admin"];

export const httpAccess = {
  "POST /v1/auth/firebase": "public",
  "POST /v1/auth/refresh": "public",
  "POST /v1/auth/logout": "public",
  "POST /v1/auth/dev/code": "public",
  "POST /v1/auth/dev/login": "public",
  "GET /v1/me": anyone,
  "POST /v1/quotes": ["rider"],
  "POST /v1/orders": ["rider"],
  "GET /v1/orders/:id": ["rider", "driver"],
  "POST /v1/orders/:id/cancel": ["rider", "driver"],
  "POST /v1/orders/:id/rating": ["rider", "driver"],
  "GET /v1/trips": ["rider", "driver"],
  "GET /v1/driver/stats": ["driver"],
  // Anyone signed in may apply to drive (a rider becomes a driver once approved), see their
  // application and register the car they will drive.
  "POST /v1/driver/profile": anyone,
  "GET /v1/driver/profile": anyone,
  "PUT /v1/driver/vehicle": anyone,
  "POST /v1/admin/users/:id/roles": ["admin"],
  "GET /v1/admin/users": ["admin"],
  "GET /v1/admin/drivers": ["admin"],
  "POST /v1/admin/drivers/:id/review": ["admin"],
  "GET /v1/admin/overview": ["admin"],
} as const satisfies Record<string, Access>;

export type HttpRouteKey = keyof typeof httpAccess;

/**
 * POSTs whose retry must not repeat the effect: with an `Idempotency-Key` header the first
 * response is stored and a retry with the same key gets it again. (`POST /v1/orders` requires
 * its key and dedupes in the database itself.)
 */
export const replayableRoutes: ReadonlySet<HttpRouteKey> = new Set<HttpRouteKey>([
  "POST /v1/orders/:id/cancel",
  "POST /v1/orders/:id/rating",
  "POST /v1/admin/drivers/:id/review",
]);

const driverOnly: readonly Role[] = ["driver"];

/**
 * Who may open each socket, and which message types each role may send on it. The driver
 * socket is for drivers only; every message type on it is listed so that adding a type forces a
 * decision here.
 */
export const socketAccess = {
  driver: {
    connect: driverOnly,
    messages: {
      fix: driverOnly,
      fixes: driverOnly,
      status: driverOnly,
      "offer.accept": driverOnly,
      "offer.decline": driverOnly,
      "trip.arrived": driverOnly,
      "trip.started": driverOnly,
      "trip.completed": driverOnly,
      auth: driverOnly,
      ping: driverOnly,
    },
  },
  /** Socket.IO namespace /rider: riders watch their orders and the prices around them. */
  rider: {
    connect: ["rider"],
    messages: {
      "order.watch": ["rider"],
      "area.watch": ["rider"],
      ping: ["rider"],
    },
  },
  /** Socket.IO namespace /admin: operators watch the city, the money and the machines. */
  admin: {
    connect: ["admin"],
    messages: {
      "admin.watch": ["admin"],
      ping: ["admin"],
    },
  },
} as const satisfies Record<string, { connect: Access; messages: Record<string, Access> }>;

export function allows(access: Access, roles: readonly Role[] | undefined): boolean {
  if (access === "public") return true;
  return roles?.some((r) => access.includes(r)) ?? false;
}
