/**
 * Registers JSON routes on the uWS app. Each route's access comes from gateway/access.ts; the
 * router authenticates, checks the role, counts the request against its rate limit (per user,
 * or per client address on public routes), reads a bounded JSON body, replays a stored response
 * for a repeated `Idempotency-Key` where the table says so, runs the handler and maps any error
 * to `{code, message}` with the status from gateway/errors.ts.
 */
import { createHash } from "node:crypto";
import { DispatchError, ErrorCode } from "../engine/errors.js";
import type { Principal } from "../engine/identity.js";
import type { IdempotencyStore, RateLimit, RateLimiter } from "../engine/limits.js";
import type { Logger } from "../engine/logger.js";
import * as v from "../engine/validate.js";
import { type Access, allows, type HttpRouteKey, httpAccess, replayableRoutes } from "./access.js";
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

/**
 * The request guards. Both ports fail open: a limiter or store that does not answer is logged
 * and the request runs unguarded (the engine itself refuses a second cancel or rating, so a
 * retry then gets an error instead of the stored answer, never a second effect).
 */
export interface HttpGuards {
  limiter: RateLimiter;
  /** Per signed-in user, over every route that needs a token. */
  userLimit: RateLimit;
  /** Per client address, over the public (login) routes. */
  ipLimit: RateLimit;
  /** Stored responses of the replayable routes (access.ts); absent: the header is ignored. */
  idempotency?: IdempotencyStore;
  now?: () => number;
}

export interface RouterDeps {
  logger: Logger;
  /** Verifies an access token; throws a coded DispatchError when it is not acceptable. */
  authenticate(token: string): Promise<Principal>;
  maxBodyBytes?: number;
  guards?: HttpGuards;
}

interface StoredResponse {
  status: string;
  body: unknown;
}

const methods = { GET: "get", POST: "post", PUT: "put", DELETE: "del", PATCH: "patch" } as const;

/** Registers the given handlers; every key must be a route of the access table. */
export function registerRoutes(
  app: TemplatedApp,
  deps: RouterDeps,
  handlers: Partial<Record<HttpRouteKey, Handler>>,
) {
  const maxBody = deps.maxBodyBytes ?? 64 * 1024;
  const guards = deps.guards;
  const now = guards?.now ?? Date.now;
  let lastGuardWarning = 0;
  const guardFailed = (what: string, err: unknown) => {
    // One line a minute at most: a dead Redis must not flood the log with every request.
    if (now() - lastGuardWarning < 60_000) return;
    lastGuardWarning = now();
    deps.logger.warn(`${what} unavailable; requests run unguarded`, { error: String(err) });
  };
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
      const extraHeaders: Record<string, string> = {};
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
          if (guards) {
            const rule = principal ? guards.userLimit : guards.ipLimit;
            let decision: Awaited<ReturnType<RateLimiter["take"]>> | undefined;
            try {
              decision = await guards.limiter.take(
                principal ? `user:${principal.userId}` : `ip:${remoteAddress}`,
                rule,
                now(),
              );
            } catch (err) {
              guardFailed("rate limiter", err);
            }
            if (decision !== undefined && !decision.allowed) {
              const seconds = Number.isFinite(decision.retryAfterMs)
                ? Math.max(1, Math.ceil(decision.retryAfterMs / 1000))
                : Math.ceil(rule.windowMs / 1000);
              extraHeaders["retry-after"] = String(seconds);
              throw new DispatchError(
                ErrorCode.RateLimited,
                `more than ${rule.limit} requests in ${rule.windowMs / 1000} s: retry in ${seconds} s`,
                { temporary: true },
              );
            }
          }
          const raw = await bodyPromise;
          if (raw === undefined || aborted.value) return;
          if (raw.length > 0 && !/^application\/json\b/i.test(contentType)) {
            throw new DispatchError(ErrorCode.InvalidArgument, "content-type must be application/json");
          }
          const body = parseJsonObject(raw);
          const ctx = { principal, params, query, body, headers, remoteAddress };
          const store = guards?.idempotency;
          if (store && principal && headers.idempotencyKey !== undefined && replayableRoutes.has(key)) {
            const idemKey = v.idempotencyKey(headers.idempotencyKey);
            const fingerprint = createHash("sha256")
              .update(`${key}\n${JSON.stringify(params)}\n${JSON.stringify(body)}`)
              .digest("base64url");
            const out = await replayable(store, principal.userId, idemKey, fingerprint, () => handler(ctx));
            if (out.replayed) extraHeaders["idempotent-replayed"] = "true";
            if (!aborted.value) sendJson(res, out.response.status, out.response.body, extraHeaders);
            return;
          }
          const result = await handler(ctx);
          if (!aborted.value) sendJson(res, result.status ?? "200 OK", result.body);
        } catch (err) {
          if (!(err instanceof DispatchError))
            deps.logger.error("route failed", { route: key, error: String(err) });
          if (aborted.value) return;
          const { status, body } = errorBody(err);
          sendJson(res, status, body, extraHeaders);
        }
      })();
    });
  }

  /**
   * Runs `run` once per idempotency key: a retry gets the stored response (success, or a
   * client error that is not temporary). A key still running is CONFLICT (temporary), a key
   * used for another request is CONFLICT. A store that fails lets the request run unguarded.
   */
  async function replayable(
    store: IdempotencyStore,
    scope: string,
    idemKey: string,
    fingerprint: string,
    run: () => Promise<RouteResult>,
  ): Promise<{ response: StoredResponse; replayed: boolean }> {
    let claim: Awaited<ReturnType<IdempotencyStore["begin"]>> | undefined;
    try {
      claim = await store.begin<StoredResponse>(scope, idemKey, fingerprint);
    } catch (err) {
      guardFailed("idempotency store", err);
    }
    if (claim === undefined) {
      const r = await run();
      return { response: { status: r.status ?? "200 OK", body: r.body }, replayed: false };
    }
    switch (claim.status) {
      case "done":
        return { response: claim.response as StoredResponse, replayed: true };
      case "pending":
        throw new DispatchError(
          ErrorCode.Conflict,
          "a request with this Idempotency-Key is still running: retry shortly",
          { temporary: true },
        );
      case "mismatch":
        throw new DispatchError(ErrorCode.Conflict, "this Idempotency-Key was used for a different request");
    }
    const token = claim.token;
    let response: StoredResponse;
    try {
      const r = await run();
      response = { status: r.status ?? "200 OK", body: r.body };
    } catch (err) {
      const e = errorBody(err);
      const keep = err instanceof DispatchError && !err.temporary && e.status.startsWith("4");
      await (keep
        ? store.complete(scope, idemKey, token, fingerprint, { status: e.status, body: e.body })
        : store.abandon(scope, idemKey, token)
      ).catch((storeErr: unknown) => guardFailed("idempotency store", storeErr));
      throw err;
    }
    await store
      .complete(scope, idemKey, token, fingerprint, response)
      .catch((err: unknown) => guardFailed("idempotency store", err));
    return { response, replayed: false };
  }
}
