/**
 * Rider and admin channels: Socket.IO attached to the same uWS app (`io.attachApp`).
 *
 * Namespaces `/rider` and `/admin`; the handshake carries our access token (`auth.token`), and
 * the namespace's role comes from gateway/access.ts. Each rider socket joins the room
 * `rider:<userId>`; `order.watch` joins `order:<orderId>` after the engine confirms the rider
 * may see that order; `area.watch` joins the surge room of an area. With a Redis adapter
 * (REDIS_URL), a push from any gateway reaches the rider's socket wherever it is connected.
 *
 * Client events are acknowledged through the Socket.IO ack callback with `{ok: true, ...}` or
 * `{ok: false, error: {code, message}}`. A bad event never changes state.
 */
import { Server, type Socket } from "socket.io";
import { DispatchError, ErrorCode } from "../engine/errors.js";
import type { Principal } from "../engine/identity.js";
import type { Logger } from "../engine/logger.js";
import { allows, socketAccess } from "./access.js";
import { errorBody } from "./errors.js";
import { type Bucket, newBucket, take } from "./ratelimit.js";
import type { TemplatedApp } from "./uws.js";

export interface RealtimeHandlers {
  /** Resolves when the rider may watch this order (theirs); rejects with NOT_FOUND otherwise. */
  authorizeOrderWatch(riderId: string, orderId: string): Promise<void>;
  /** The room name of the area around a point (e.g. its H3 parent cell), for surge pushes. */
  areaRoom(lat: number, lng: number): string;
}

export type AdminTopic = "city" | "metrics" | "alerts";
const adminTopics: readonly AdminTopic[] = ["city", "metrics", "alerts"];

export interface RealtimeOptions {
  logger: Logger;
  authenticate(token: string): Promise<Principal>;
  handlers: RealtimeHandlers;
  /** A Socket.IO adapter constructor (e.g. from @socket.io/redis-adapter) for cross-node rooms. */
  adapter?: Parameters<Server["adapter"]>[0];
  ratePerSecond?: number;
  burst?: number;
  now?: () => number;
}

export interface Realtime {
  readonly io: Server;
  toRider(riderId: string, event: string, payload: unknown): void;
  toOrder(orderId: string, event: string, payload: unknown): void;
  toArea(room: string, event: string, payload: unknown): void;
  toAdmins(topic: AdminTopic, event: string, payload: unknown): void;
  close(): Promise<void>;
}

type Ack = (reply: unknown) => void;

const invalid = (m: string) => new DispatchError(ErrorCode.InvalidArgument, m);

function object(payload: unknown): Record<string, unknown> {
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
    throw invalid("payload must be an object");
  }
  return payload as Record<string, unknown>;
}

function id(o: Record<string, unknown>, key: string): string {
  const v = o[key];
  if (typeof v !== "string" || v.length === 0 || v.length > 128)
    throw invalid(`${key} must be a string of 1..128 characters`);
  return v;
}

function coordinate(o: Record<string, unknown>): { lat: number; lng: number } {
  const { lat, lng } = o;
  if (
    typeof lat !== "number" ||
    typeof lng !== "number" ||
    !(Math.abs(lat) <= 90) ||
    !(Math.abs(lng) <= 180)
  ) {
    throw new DispatchError(
      ErrorCode.InvalidCoordinate,
      "lat and lng must be numbers in [-90, 90] and [-180, 180]",
    );
  }
  return { lat, lng };
}

export function attachRealtime(app: TemplatedApp, o: RealtimeOptions): Realtime {
  const now = o.now ?? Date.now;
  const rate = o.ratePerSecond ?? 5;
  const burst = o.burst ?? 20;
  const io = new Server({
    path: "/socket.io/",
    serveClient: false,
    maxHttpBufferSize: 16 * 1024,
    pingInterval: 20_000,
    pingTimeout: 20_000,
    // Same-origin apps and native clients; browsers elsewhere need an explicit CORS policy.
    cors: { origin: false },
  });
  io.attachApp(app);
  if (o.adapter) io.adapter(o.adapter);

  type Ns = keyof typeof socketAccess & ("rider" | "admin");
  const guard = (ns: Ns) => async (socket: Socket, next: (err?: Error) => void) => {
    try {
      const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
      if (typeof token !== "string")
        throw new DispatchError(ErrorCode.Unauthenticated, "auth.token is required");
      const p = await o.authenticate(token);
      if (!allows(socketAccess[ns].connect, p.roles)) {
        throw new DispatchError(ErrorCode.Forbidden, `the ${ns} channel is not for this role`);
      }
      socket.data.principal = p;
      socket.data.bucket = newBucket(burst, now());
      next();
    } catch (err) {
      const { body } = errorBody(err);
      // Socket.IO sends `message` and `data` of a middleware error to the client's connect_error.
      next(Object.assign(new Error(body.message), { data: body }));
    }
  };

  /** Wraps an event handler: rate limit, role check, payload checks, ack with a result or a coded error. */
  const on = (
    socket: Socket,
    ns: Ns,
    event: string,
    run: (payload: unknown, p: Principal) => Promise<Record<string, unknown>>,
  ) => {
    socket.on(event, (payload: unknown, ack?: unknown) => {
      const reply: Ack = typeof ack === "function" ? (ack as Ack) : () => {};
      const p = socket.data.principal as Principal;
      void (async () => {
        try {
          if (!take(socket.data.bucket as Bucket, rate, burst, now())) {
            throw new DispatchError(ErrorCode.RateLimited, `more than ${rate} events per second`);
          }
          const access = (socketAccess[ns].messages as Record<string, readonly string[]>)[event];
          if (!access || !allows(access as never, p.roles)) {
            throw new DispatchError(ErrorCode.Forbidden, `${event} is not allowed for this role`);
          }
          reply({ ok: true, ...(await run(payload, p)) });
        } catch (err) {
          if (!(err instanceof DispatchError))
            o.logger.error("realtime event failed", { event, error: String(err) });
          reply({ ok: false, error: errorBody(err).body });
        }
      })();
    });
  };

  /** Events nobody registered: answered with a coded error when the client asked for an ack. */
  const unknownEvents = (socket: Socket, known: readonly string[]) => {
    socket.onAny((event: unknown, ...args: unknown[]) => {
      if (typeof event === "string" && known.includes(event)) return;
      const ack = args[args.length - 1];
      if (typeof ack === "function") {
        (ack as Ack)({
          ok: false,
          error: {
            code: ErrorCode.InvalidArgument,
            message: `unknown event ${JSON.stringify(String(event).slice(0, 40))}`,
          },
        });
      }
    });
  };

  const rider = io.of("/rider");
  rider.use(guard("rider"));
  rider.on("connection", (socket) => {
    const p = socket.data.principal as Principal;
    void socket.join(`rider:${p.userId}`);
    unknownEvents(socket, Object.keys(socketAccess.rider.messages));
    on(socket, "rider", "order.watch", async (payload, who) => {
      const orderId = id(object(payload), "orderId");
      await o.handlers.authorizeOrderWatch(who.userId, orderId);
      await socket.join(`order:${orderId}`);
      return { orderId };
    });
    on(socket, "rider", "area.watch", async (payload) => {
      const { lat, lng } = coordinate(object(payload));
      for (const room of socket.rooms) if (room.startsWith("area:")) await socket.leave(room);
      const room = `area:${o.handlers.areaRoom(lat, lng)}`;
      await socket.join(room);
      return { room };
    });
    on(socket, "rider", "ping", async () => ({ t: now() }));
  });

  const admin = io.of("/admin");
  admin.use(guard("admin"));
  admin.on("connection", (socket) => {
    unknownEvents(socket, Object.keys(socketAccess.admin.messages));
    on(socket, "admin", "admin.watch", async (payload) => {
      const topic = object(payload).topic;
      if (typeof topic !== "string" || !adminTopics.includes(topic as AdminTopic)) {
        throw invalid(`topic must be one of ${adminTopics.join(", ")}`);
      }
      await socket.join(`admin:${topic}`);
      return { topic };
    });
    on(socket, "admin", "ping", async () => ({ t: now() }));
  });

  return {
    io,
    toRider: (riderId, event, payload) => void rider.to(`rider:${riderId}`).emit(event, payload),
    toOrder: (orderId, event, payload) => void rider.to(`order:${orderId}`).emit(event, payload),
    toArea: (room, event, payload) => void rider.to(`area:${room}`).emit(event, payload),
    toAdmins: (topic, event, payload) => void admin.to(`admin:${topic}`).emit(event, payload),
    close: () =>
      new Promise<void>((resolve) => {
        io.close(() => resolve());
      }),
  };
}
