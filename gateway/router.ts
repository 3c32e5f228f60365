/**
 * Registers JSON routes on the uWS app. Each route's access comes from gateway/access.ts; the
 * router authenticates, checks the role, reads a bounded JSON body, runs the handler and maps
 * any error to `{code, message}` with the status from gateway/errors.ts.
 */
import { DispatchError, ErrorCode } from "../engine/errors.js";
import type { Principal } from "../engine/identity.js";
import type { Logger } from "../engine/logger.js";
import { type Access, allows, type HttpRouteKey, httpAccess } from "./access.js";
import { errorBody } from "./errors.js";
import { parseJsonObject, readBody, sendJson } from "./http.js";
import type { HttpRequest, HttpResponse, TemplatedApp } from "./uws.js";

export interface RequestContext {
  principal: Principal | undefined;
  params: Record<string, string>;
  query: URLSearchParams;
  body: Record<string, unknown>;
  /** Lower-cased header names; only the ones routes use are captured. */
  headers: { idempotencyKey: string | undefined; userAgent: string | undefined };
  remoteAddress: string;
}

export interface RouteResult {
  status?: string;
  body: unknown;
}

export type Handler = (ctx: RequestContext) => Promise<RouteResult>;

export interface RouterDeps {
  logger: Logger;
  /** Verifies an access token; throws a coded DispatchError when it is not acceptable. */
  authenticate(token: string): Promise<Principal>;
  maxBodyBytes?: number;
}

const methods = { GET: "get", POST: "post", PUT: "put", DELETE: "del", PATCH: "patch" } as const;

/** Registers the given handlers; every key must be a route of the access table. */
export function registerRoutes(
  app: TemplatedApp,
  deps: RouterDeps,
  handlers: Partial<Record<HttpRouteKey, Handler>>,
) {
  const maxBody = deps.maxBodyBytes ?? 64 * 1024;
  for (const [key, handler] of Object.entries(handlers) as [HttpRouteKey, Handler][]) {
    const [method, pattern] = key.split(" ") as [keyof typeof methods, string];
    const access: Access = httpAccess[key];
    const paramNames = pattern
      .split("/")
      .filter((s) => s.startsWith(":"))
      .map((s) => s.slice(1));
    app[methods[method]](pattern, (res: HttpResponse, req: HttpRequest) => {
      // uWS request data is only valid synchronously: capture everything first.
      const auth = req.getHeader("authorization");
      const params: Record<string, string> = {};
      paramNames.forEach((name, i) => {
        params[name] = decodeURIComponent(req.getParameter(i) ?? "");
      });
      const query = new URLSearchParams(req.getQuery() ?? "");
      const headers = {
        idempotencyKey: req.getHeader("idempotency-key") || undefined,
        userAgent: req.getHeader("user-agent") || undefined,
      };
      const contentType = req.getHeader("content-type");
      const remoteAddress = Buffer.from(res.getRemoteAddressAsText()).toString();
      const aborted = { value: false };
      const bodyPromise =
        method === "GET" || method === "DELETE"
          ? Promise.resolve(Buffer.alloc(0))
          : readBody(res, maxBody, aborted);
      // Marks a too-large body's rejection handled now; it is awaited (and answered) below.
      bodyPromise.catch(() => {});
      if (method === "GET" || method === "DELETE") {
        res.onAborted(() => {
          aborted.value = true;
        });
      }
      void (async () => {
        try {
          let principal: Principal | undefined;
          // Public routes never look at credentials: a stale token must not block a login.
          if (auth && access !== "public") {
            const m = /^Bearer ([^\s]+)$/.exec(auth);
            if (!m)
              throw new DispatchError(ErrorCode.Unauthenticated, "Authorization must be `Bearer <token>`");
            principal = await deps.authenticate(m[1]!);
          }
          if (access !== "public") {
            if (!principal)
              throw new DispatchError(ErrorCode.Unauthenticated, "this route needs an access token");
            if (!allows(access, principal.roles)) {
              throw new DispatchError(
                ErrorCode.Forbidden,
                `${key} needs one of the roles: ${access.join(", ")}`,
              );
            }
          }
          const raw = await bodyPromise;
          if (raw === undefined || aborted.value) return;
          if (raw.length > 0 && !/^application\/json\b/i.test(contentType)) {
            throw new DispatchError(ErrorCode.InvalidArgument, "content-type must be application/json");
          }
          const body = parseJsonObject(raw);
          const result = await handler({ principal, params, query, body, headers, remoteAddress });
          if (!aborted.value) sendJson(res, result.status ?? "200 OK", result.body);
        } catch (err) {
          if (!(err instanceof DispatchError))
            deps.logger.error("route failed", { route: key, error: String(err) });
          if (aborted.value) return;
          const { status, body } = errorBody(err);
          sendJson(res, status, body);
        }
      })();
    });
  }
}
