/** HTTP handlers of the login flows and the caller's own profile. */
import { DispatchError, ErrorCode } from "../../engine/errors.js";
import type { UserStore } from "../../engine/identity.js";
import type { HttpRouteKey } from "../access.js";
import type { Handler } from "../router.js";
import type { DevCodes, FirebasePhoneVerifier } from "./phone.js";
import type { TokenService } from "./tokens.js";

export interface AuthRouteDeps {
  tokens: TokenService;
  users: UserStore;
  now: () => number;
  /** Absent when no Firebase project is configured: the route answers UNAVAILABLE. */
  firebase: FirebasePhoneVerifier | undefined;
  /** Absent in production. */
  devCodes: DevCodes | undefined;
}

export function authRoutes(d: AuthRouteDeps): Partial<Record<HttpRouteKey, Handler>> {
  const login = async (phone: string) => {
    const user = await d.users.findOrCreateByPhone(phone, d.now());
    return { body: await d.tokens.startSession(user) };
  };
  const devOnly = () => {
    if (!d.devCodes)
      throw new DispatchError(ErrorCode.NotFound, "the development login is off in production");
    return d.devCodes;
  };
  return {
    "POST /v1/auth/firebase": async ({ body }) => {
      if (!d.firebase) throw new DispatchError(ErrorCode.Unavailable, "Firebase login is not configured");
      return login(await d.firebase.verify(body.idToken));
    },
    "POST /v1/auth/refresh": async ({ body }) => ({ body: await d.tokens.refresh(body.refreshToken) }),
    "POST /v1/auth/logout": async ({ body }) => {
      if (typeof body.refreshToken !== "string") {
        throw new DispatchError(ErrorCode.InvalidArgument, "refreshToken must be a string");
      }
      await d.tokens.revoke(body.refreshToken);
      return { body: { ok: true } };
    },
    "POST /v1/auth/dev/code": async ({ body }) => {
      devOnly().issue(body.phone);
      return { status: "202 Accepted", body: { sent: true } };
    },
    "POST /v1/auth/dev/login": async ({ body }) => login(devOnly().check(body.phone, body.code)),
    "GET /v1/me": async ({ principal }) => {
      const user = await d.users.get(principal!.userId);
      if (!user) throw new DispatchError(ErrorCode.NotFound, "user not found");
      return { body: { id: user.id, phone: user.phone, roles: user.roles } };
    },
  };
}
