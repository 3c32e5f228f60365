/**
 * The gateway's uWS app: health endpoints now; the driver socket, Socket.IO and the HTTP API
 * attach here. One process, one app, one listen socket.
 */
import type { Principal, Role } from "../engine/identity.js";
import type { Logger } from "../engine/logger.js";
import type { HttpRouteKey } from "./access.js";
import {
  attachDriverSocket,
  type DriverSessionHandlers,
  type DriverSocketOptions,
  type DriverSockets,
} from "./driver/socket.js";
import { sendJson } from "./http.js";
import { attachRealtime, type Realtime, type RealtimeOptions } from "./realtime.js";
import { type Handler, type HttpGuards, registerRoutes } from "./router.js";
import { type TemplatedApp, type us_listen_socket, uWS } from "./uws.js";

/** A readiness check: resolves when the dependency answers, rejects with the reason otherwise. */
export type ReadinessCheck = () => Promise<void>;

export interface GatewayOptions {
  host: string;
  /** 0 picks a free port (tests run in parallel). */
  port: number;
  logger: Logger;
  /** Named checks that /readyz runs; all must pass for 200. */
  readiness?: Record<string, ReadinessCheck>;
  /** How long a readiness check may take before it counts as failed. */
  readinessTimeoutMs?: number;
  /** JSON routes; access for each comes from gateway/access.ts. */
  routes?: Partial<Record<HttpRouteKey, Handler>>;
  /** Verifies access tokens for the routes; required when any route is not public. */
  authenticate?: (token: string) => Promise<Principal>;
  /** Rate limits and idempotency keys of the HTTP routes (absent: none). */
  httpGuards?: HttpGuards;
  /** The roles a user holds now; the driver socket admits only current drivers (see socket.ts). */
  currentRoles?: (userId: string) => Promise<readonly Role[] | undefined>;
  /** Enables the driver socket at /v1/driver/ws. */
  driverHandlers?: DriverSessionHandlers;
  /** Driver socket limits (see DriverSocketOptions). */
  driverLimits?: Pick<DriverSocketOptions, "ratePerSecond" | "burst">;
  /** Enables the rider and admin Socket.IO channels. */
  realtime?: Pick<RealtimeOptions, "handlers" | "adapter">;
  /** Extra public GET documents (e.g. the JWKS), path -> body producer. */
  documents?: Record<string, () => Promise<unknown>>;
}

export interface Gateway {
  readonly app: TemplatedApp;
  readonly host: string;
  readonly port: number;
  /** The driver sockets of this process, when the driver socket is enabled. */
  readonly drivers: DriverSockets | undefined;
  /** The rider/admin channels, when enabled. */
  readonly realtime: Realtime | undefined;
  /** Stops accepting connections. Idempotent. */
  close(): Promise<void>;
}

function withTimeout(check: ReadinessCheck, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    check().then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { host, logger } = options;
  const readiness = options.readiness ?? {};
  const timeoutMs = options.readinessTimeoutMs ?? 2_000;
  const startedAt = Date.now();
  let closing = false;

  const app = uWS.App();

  // Liveness: the process is up and its event loop turns. Never touches dependencies.
  app.get("/healthz", (res) => {
    sendJson(res, "200 OK", { status: "ok", uptimeMs: Date.now() - startedAt });
  });

  // Readiness: every dependency answers; a closing gateway is not ready (load balancers drain it).
  app.get("/readyz", (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const names = Object.keys(readiness);
    void Promise.allSettled(names.map((name) => withTimeout(readiness[name]!, timeoutMs))).then((results) => {
      if (aborted) return;
      const checks: Record<string, { ok: boolean; error?: string }> = {};
      results.forEach((r, i) => {
        checks[names[i]!] =
          r.status === "fulfilled"
            ? { ok: true }
            : { ok: false, error: String((r.reason as Error)?.message ?? r.reason) };
      });
      const ok = !closing && results.every((r) => r.status === "fulfilled");
      sendJson(res, ok ? "200 OK" : "503 Service Unavailable", {
        status: ok ? "ready" : closing ? "closing" : "not_ready",
        checks,
      });
    });
  });

  for (const [path, produce] of Object.entries(options.documents ?? {})) {
    app.get(path, (res) => {
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      void produce().then((body) => {
        if (!aborted) sendJson(res, "200 OK", body, { "cache-control": "max-age=300" });
      });
    });
  }

  const authenticate =
    options.authenticate ??
    (async (): Promise<Principal> => {
      throw new Error("no authenticator configured");
    });
  const drivers = options.driverHandlers
    ? attachDriverSocket(app, {
        logger,
        authenticate,
        ...(options.currentRoles ? { currentRoles: options.currentRoles } : {}),
        handlers: options.driverHandlers,
        ...options.driverLimits,
      })
    : undefined;
  const realtime = options.realtime
    ? attachRealtime(app, { logger, authenticate, ...options.realtime })
    : undefined;

  registerRoutes(
    app,
    { logger, authenticate, ...(options.httpGuards ? { guards: options.httpGuards } : {}) },
    options.routes ?? {},
  );

  app.any("/*", (res, req) => {
    const url = req.getUrl();
    sendJson(res, "404 Not Found", {
      code: "NOT_FOUND",
      message: `no route ${req.getMethod().toUpperCase()} ${url}`,
    });
  });

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(host, options.port, (socket) => {
      if (socket) resolve(socket);
      else reject(new Error(`could not listen on ${host}:${options.port} (in use or not permitted)`));
    });
  });
  const port = uWS.us_socket_local_port(
    listenSocket as unknown as Parameters<typeof uWS.us_socket_local_port>[0],
  );
  logger.info("gateway listening", { host, port });

  return {
    app,
    host,
    port,
    drivers,
    realtime,
    async close() {
      if (closing) return;
      closing = true;
      uWS.us_listen_socket_close(listenSocket);
      drivers?.closeAll();
      await realtime?.close();
      logger.info("gateway stopped accepting connections", { host, port });
    },
  };
}
