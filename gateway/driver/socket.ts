/**
 * The driver socket: a raw WebSocket on the uWS app at /v1/driver/ws.
 *
 * - Authenticated at the upgrade with our access token (`Authorization: Bearer` or
 *   `?access_token=`), driver role required (gateway/access.ts). The roles are the token's as
 *   far as the user still holds them (`currentRoles`): a driver suspended after the token was
 *   issued is refused at once, not when the token expires. A later `auth` message with a fresh
 *   token extends the session (checked the same way); at expiry the socket closes with 4001.
 * - One socket per driver: a new connection replaces the old one (closed with 4009).
 * - Every message is decoded and validated (codec.ts); a bad one gets `{type:"error", code}` and
 *   changes nothing. Too many bad frames close the socket (4002); uWS closes oversize frames.
 * - A token bucket per socket limits messages; sustained floods close it (4029).
 * - Pushes never block: coalescable pushes (e.g. the surge map) keep only the newest while the
 *   socket is backed up; a socket whose buffer stays over the hard limit is closed (4008), and it
 *   resumes its offer and order on reconnect (the `welcome` message).
 */
import { DispatchError, ErrorCode } from "../../engine/errors.js";
import type { Principal, Role } from "../../engine/identity.js";
import type { Logger } from "../../engine/logger.js";
import { allows, socketAccess } from "../access.js";
import { CloseCode, errorBody } from "../errors.js";
import { type Bucket, newBucket, take } from "../ratelimit.js";
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket } from "../uws.js";
import {
  correlationId,
  type DriverMessage,
  type DriverStatus,
  decodeBinary,
  decodeText,
  type FixBatch,
  type TripEvent,
} from "./codec.js";

/** What the engine does with driver messages; the composition root wires it. */
export interface DriverSessionHandlers {
  /**
   * Applies a batch of one driver's fixes. Synchronous on purpose: the hot path never awaits.
   * Returns how many were applied; stale and implausible fixes are dropped by the engine.
   */
  fixes(driverId: string, batch: FixBatch, receivedAt: number): { applied: number; dropped: number };
  status(driverId: string, status: DriverStatus): Promise<unknown>;
  /** Accepts the offer of this order made to the driver (a driver holds at most one offer). */
  acceptOffer(driverId: string, orderId: string): Promise<unknown>;
  declineOffer(driverId: string, orderId: string, reason: string | undefined): Promise<unknown>;
  tripEvent(driverId: string, orderId: string, event: TripEvent): Promise<unknown>;
  /** Called on connect; what it returns is sent as the `welcome` state (open offer, active order). */
  connected(driverId: string): Promise<unknown>;
  disconnected(driverId: string): void;
}

export interface DriverSocketOptions {
  logger: Logger;
  authenticate(token: string): Promise<Principal>;
  /**
   * The roles the user holds now (undefined for a user that no longer exists). When given, a
   * token's roles count only as far as the user still holds them.
   */
  currentRoles?(userId: string): Promise<readonly Role[] | undefined>;
  handlers: DriverSessionHandlers;
  now?: () => number;
  /** Largest frame accepted; uWS closes the socket on a larger one. */
  maxFrameBytes?: number;
  /** Token bucket: sustained messages per second and burst size. */
  ratePerSecond?: number;
  burst?: number;
  /** Buffered bytes above which coalescable pushes wait for drain. */
  softBackpressureBytes?: number;
  /** Buffered bytes above which the socket is closed as a slow consumer. */
  hardBackpressureBytes?: number;
  idleTimeoutS?: number;
}

interface DriverData {
  driverId: string;
  roles: Principal["roles"];
  expiresAt: number | undefined;
  bucket: Bucket;
  rejectedInWindow: number;
  badInWindow: number;
  windowStart: number;
  lastRateError: number;
  /** Coalescable pushes waiting for drain, newest per key. */
  pending: Map<string, string>;
  closed: boolean;
}

export interface DriverSockets {
  /**
   * Sends a message to a driver's socket if it is connected here. `coalesceKey` marks pushes of
   * which only the newest matters. Returns false when the driver is not connected to this node.
   */
  push(driverId: string, message: object, coalesceKey?: string): boolean;
  readonly connected: number;
  /** Sends one coalescable message to every driver connected here. */
  broadcast(message: object, coalesceKey: string): void;
  /** Bytes waiting in the driver's send buffer here (0 when not connected). */
  bufferedAmount(driverId: string): number;
  /** Closes every driver socket with 1001 (shutdown). */
  closeAll(): void;
  /** Closes the driver's socket here, if any, with the code (e.g. 4003 when the role was revoked). */
  disconnect(driverId: string, code: number, reason: string): boolean;
}

const encoder = new TextDecoder();

export function attachDriverSocket(app: TemplatedApp, o: DriverSocketOptions): DriverSockets {
  const now = o.now ?? Date.now;
  const rate = o.ratePerSecond ?? 10;
  const burst = o.burst ?? 40;
  const soft = o.softBackpressureBytes ?? 16 * 1024;
  const hard = o.hardBackpressureBytes ?? 256 * 1024;
  const sockets = new Map<string, WebSocket<DriverData>>();
  const access = socketAccess.driver;

  /** The token's principal with only the roles the user still holds. */
  const admit = async (token: string): Promise<Principal> => {
    const p = await o.authenticate(token);
    if (!o.currentRoles) return p;
    const current = await o.currentRoles(p.userId);
    if (current === undefined)
      throw new DispatchError(ErrorCode.Unauthenticated, "the user no longer exists");
    return { ...p, roles: p.roles.filter((r) => current.includes(r)) };
  };

  const send = (ws: WebSocket<DriverData>, message: object): void => {
    const d = ws.getUserData();
    if (d.closed) return;
    ws.send(JSON.stringify(message), false);
    if (ws.getBufferedAmount() > hard) {
      d.closed = true;
      ws.end(CloseCode.SlowConsumer, "slow consumer");
    }
  };

  /** Sends now, or, while the socket is backed up, keeps only the newest text per key until drain. */
  const sendCoalesced = (ws: WebSocket<DriverData>, text: string, key: string): void => {
    const d = ws.getUserData();
    if (d.closed) return;
    if (ws.getBufferedAmount() > soft || d.pending.size > 0) d.pending.set(key, text);
    else ws.send(text, false);
  };

  const reply = (ws: WebSocket<DriverData>, id: string | undefined, body: object) => {
    send(ws, id === undefined ? body : { ...body, id });
  };

  const fail = (ws: WebSocket<DriverData>, id: string | undefined, err: unknown) => {
    const { body } = errorBody(err);
    reply(ws, id, { type: "error", ...body });
  };

  const rollWindow = (d: DriverData, t: number) => {
    if (t - d.windowStart >= 10_000) {
      d.windowStart = t;
      d.rejectedInWindow = 0;
      d.badInWindow = 0;
    }
  };

  async function handle(ws: WebSocket<DriverData>, m: DriverMessage): Promise<void> {
    const d = ws.getUserData();
    const h = o.handlers;
    switch (m.type) {
      case "fixes": {
        const r = h.fixes(d.driverId, m.fixes, now());
        if (m.id !== undefined) reply(ws, m.id, { type: "ack", ...r });
        return;
      }
      case "ping":
        reply(ws, m.id, { type: "pong", t: now() });
        return;
      case "auth": {
        const p = await admit(m.token);
        if (p.userId !== d.driverId)
          throw new DispatchError(ErrorCode.Forbidden, "token is for another user");
        if (!allows(access.connect, p.roles)) {
          d.closed = true;
          ws.end(CloseCode.Forbidden, "no longer a driver");
          return;
        }
        d.expiresAt = p.expiresAt;
        d.roles = p.roles;
        reply(ws, m.id, { type: "ack", expiresAt: p.expiresAt });
        return;
      }
      case "status":
        reply(ws, m.id, { type: "ack", result: await h.status(d.driverId, m.status) });
        return;
      case "offer.accept":
        reply(ws, m.id, { type: "ack", result: await h.acceptOffer(d.driverId, m.orderId) });
        return;
      case "offer.decline":
        reply(ws, m.id, { type: "ack", result: await h.declineOffer(d.driverId, m.orderId, m.reason) });
        return;
      case "trip.arrived":
      case "trip.started":
      case "trip.completed": {
        const event = m.type.slice(5) as TripEvent;
        reply(ws, m.id, { type: "ack", result: await h.tripEvent(d.driverId, m.orderId, event) });
        return;
      }
    }
  }

  // Closes sockets whose token expired without an `auth` renewal.
  const expiryTimer = setInterval(() => {
    const t = now();
    for (const ws of sockets.values()) {
      const d = ws.getUserData();
      if (!d.closed && d.expiresAt !== undefined && d.expiresAt < t) {
        d.closed = true;
        ws.end(CloseCode.Unauthenticated, "token expired");
      }
    }
  }, 5_000);
  expiryTimer.unref();

  app.ws<DriverData>("/v1/driver/ws", {
    maxPayloadLength: o.maxFrameBytes ?? 32 * 1024,
    idleTimeout: o.idleTimeoutS ?? 60,
    sendPingsAutomatically: true,
    maxBackpressure: hard * 4,
    closeOnBackpressureLimit: 0,

    upgrade(res: HttpResponse, req: HttpRequest, context) {
      const auth = req.getHeader("authorization");
      const query = new URLSearchParams(req.getQuery() ?? "");
      const key = req.getHeader("sec-websocket-key");
      const protocol = req.getHeader("sec-websocket-protocol");
      const extensions = req.getHeader("sec-websocket-extensions");
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      const bearer = /^Bearer (\S+)$/.exec(auth)?.[1];
      const token = bearer ?? query.get("access_token") ?? "";
      void (async () => {
        try {
          if (!token)
            throw new DispatchError(ErrorCode.Unauthenticated, "the driver socket needs an access token");
          const p = await admit(token);
          if (!allows(access.connect, p.roles)) {
            throw new DispatchError(ErrorCode.Forbidden, "the driver socket is for drivers");
          }
          if (aborted) return;
          const t = now();
          const data: DriverData = {
            driverId: p.userId,
            roles: p.roles,
            expiresAt: p.expiresAt,
            bucket: newBucket(burst, t),
            rejectedInWindow: 0,
            badInWindow: 0,
            windowStart: t,
            lastRateError: 0,
            pending: new Map(),
            closed: false,
          };
          res.cork(() => res.upgrade(data, key, protocol, extensions, context));
        } catch (err) {
          if (aborted) return;
          const { status, body } = errorBody(err);
          res.cork(() => {
            res.writeStatus(status).writeHeader("content-type", "application/json").end(JSON.stringify(body));
          });
        }
      })();
    },

    open(ws) {
      const d = ws.getUserData();
      const previous = sockets.get(d.driverId);
      if (previous) {
        previous.getUserData().closed = true;
        previous.end(CloseCode.Replaced, "replaced by a newer connection");
      }
      sockets.set(d.driverId, ws);
      o.handlers.connected(d.driverId).then(
        (state) => send(ws, { type: "welcome", driverId: d.driverId, state }),
        (err) => fail(ws, undefined, err),
      );
    },

    message(ws, message, isBinary) {
      const d = ws.getUserData();
      const t = now();
      rollWindow(d, t);
      if (!take(d.bucket, rate, burst, t)) {
        d.rejectedInWindow++;
        if (d.rejectedInWindow > rate * 20) {
          d.closed = true;
          ws.end(CloseCode.RateLimited, "rate limit exceeded");
          return;
        }
        // One error a second at most: answering every dropped message would feed the flood.
        if (t - d.lastRateError >= 1000) {
          d.lastRateError = t;
          fail(
            ws,
            undefined,
            new DispatchError(ErrorCode.RateLimited, `more than ${rate} messages per second`),
          );
        }
        return;
      }
      let m: DriverMessage;
      try {
        m = isBinary ? { type: "fixes", fixes: decodeBinary(message) } : decodeText(encoder.decode(message));
        const type = isBinary ? "fixes" : (m.type as keyof typeof access.messages);
        if (!allows(access.messages[type], d.roles)) {
          throw new DispatchError(ErrorCode.Forbidden, `${type} is not allowed for this role`);
        }
      } catch (err) {
        d.badInWindow++;
        // A working app never sends this many malformed frames in 10 s; stop parsing garbage.
        if (d.badInWindow > 20) {
          d.closed = true;
          ws.end(CloseCode.ProtocolError, "too many malformed messages");
          return;
        }
        let id: string | undefined;
        if (!isBinary) {
          try {
            id = correlationId(JSON.parse(encoder.decode(message)));
          } catch {
            id = undefined;
          }
        }
        fail(ws, id, err);
        return;
      }
      handle(ws, m).catch((err) => {
        if (!(err instanceof DispatchError)) o.logger.error("driver message failed", { error: String(err) });
        fail(ws, m.id, err);
      });
    },

    drain(ws) {
      const d = ws.getUserData();
      if (d.pending.size === 0 || ws.getBufferedAmount() > soft) return;
      const queued = [...d.pending.values()];
      d.pending.clear();
      ws.cork(() => {
        for (const text of queued) ws.send(text, false);
      });
    },

    close(ws) {
      const d = ws.getUserData();
      d.closed = true;
      if (sockets.get(d.driverId) === ws) {
        sockets.delete(d.driverId);
        o.handlers.disconnected(d.driverId);
      }
    },
  });

  return {
    push(driverId, message, coalesceKey) {
      const ws = sockets.get(driverId);
      if (!ws) return false;
      if (coalesceKey === undefined) send(ws, message);
      else sendCoalesced(ws, JSON.stringify(message), coalesceKey);
      return true;
    },
    get connected() {
      return sockets.size;
    },
    broadcast(message, coalesceKey) {
      const text = JSON.stringify(message);
      for (const ws of sockets.values()) sendCoalesced(ws, text, coalesceKey);
    },
    bufferedAmount(driverId) {
      return sockets.get(driverId)?.getBufferedAmount() ?? 0;
    },
    disconnect(driverId, code, reason) {
      const ws = sockets.get(driverId);
      if (!ws) return false;
      ws.getUserData().closed = true;
      ws.end(code, reason);
      return true;
    },
    closeAll() {
      clearInterval(expiryTimer);
      for (const ws of sockets.values()) {
        ws.getUserData().closed = true;
        ws.end(CloseCode.GoingAway, "server shutting down");
      }
    },
  };
}
