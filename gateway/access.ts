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
} as const satisfies Record<string, Access>;

export type HttpRouteKey = keyof typeof httpAccess;

/** Message types a client may send on each socket, and the roles that may send them. */
export const socketAccess = {
  driver: {} as Record<string, Access>,
} as const;

export function allows(access: Access, roles: readonly Role[] | undefined): boolean {
  if (access === "public") return true;
  return roles?.some((r) => access.includes(r)) ?? false;
}
