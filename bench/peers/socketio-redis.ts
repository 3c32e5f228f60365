/**
 * Peer: the driver and rider flow as a typical Node team would write it with Socket.IO and
 * Redis GEO, for the city bench. One process, one namespace; clients say who they are in the
 * handshake (`auth: {role: "driver" | "rider", id}`; no tokens: the peer is spared that cost).
 *
 * - Driver `fix {lat, lng, t, speed}` -> one pipeline: GEOADD drivers, HSET driver:<id> (position,
 *   time), EXPIRE 60 s; acknowledged (after the pipeline) when the client asks. A driver on a trip
 *   also gets its rider an `eta` push per fix (straight-line distance at 8 m/s, no coalescing).
 * - Driver `status {status}`: online drivers are free unless they hold an offer or an order.
 * - Rider `order {pickup, dropoff}` -> the order is stored (HSET order:<id>), then greedy
 *   nearest-first: GEOSEARCH drivers within 5 km ascending, the first free one is claimed with
 *   SET claim:<driver> <order> NX PX, and gets an `offer` (15 s to answer). A decline or a timeout
 *   tries the next one; no free driver: try again in 2 s. The rider's pushes (`order.update`,
 *   `eta`) have the shape of ours, so the bench's generator speaks to both.
 * - Driver `offer.accept`, `offer.decline`, `trip.arrived`, `trip.started`, `trip.completed` and
 *   rider `cancel` move the order; each change is pushed to the rider.
 *
 * Prints `PORT <n>` when listening. REDIS_URL is required.
 */
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { Redis } from "ioredis";
import { Server, type Socket } from "socket.io";

const redisUrl = process.env.REDIS_URL;
if (!redisUrl) {
  console.error("socketio-redis: REDIS_URL is required");
  process.exit(2);
}
const redis = new Redis(redisUrl);
const prefix = `bench:sio:${process.pid}:`;
const GEO = `${prefix}drivers`;
const OFFER_MS = 15_000;
const SEARCH_KM = 5;

type Json = Record<string, unknown>;
type Ack = ((r: unknown) => void) | undefined;
interface LatLng {
  lat: number;
  lng: number;
}
interface Order {
  id: string;
  riderId: string;
  pickup: LatLng;
  dropoff: LatLng;
  state: string;
  driverId: string | null;
  tried: Set<string>;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const orders = new Map<string, Order>();
/** driver id -> the order it holds (offered or assigned). */
const holds = new Map<string, string>();
const onlineDrivers = new Set<string>();
const positions = new Map<string, LatLng>();

const http = createServer();
const ioServer = new Server(http, { serveClient: false, maxHttpBufferSize: 64 * 1024 });

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isPoint = (p: unknown): p is LatLng =>
  typeof p === "object" && p !== null && isNum((p as LatLng).lat) && isNum((p as LatLng).lng);
const fail = (ack: Ack, code: string, message: string) => ack?.({ ok: false, error: { code, message } });

function distM(a: LatLng, b: LatLng): number {
  const dy = (b.lat - a.lat) * 111_320;
  const dx = (b.lng - a.lng) * 111_320 * Math.cos((a.lat * Math.PI) / 180);
  return Math.hypot(dx, dy);
}

function view(o: Order): Json {
  return { id: o.id, state: o.state, pickup: o.pickup, dropoff: o.dropoff, driverId: o.driverId };
}

function toRider(o: Order, event: string): void {
  ioServer.to(`rider:${o.riderId}`).emit("order.update", { event, order: view(o) });
}

function release(o: Order): void {
  if (o.driverId && holds.get(o.driverId) === o.id) {
    holds.delete(o.driverId);
    void redis.del(`${prefix}claim:${o.driverId}`);
  }
}

async function dispatch(o: Order): Promise<void> {
  if (o.state !== "searching") return;
  const found = (await redis.geosearch(
    GEO,
    "FROMLONLAT",
    o.pickup.lng,
    o.pickup.lat,
    "BYRADIUS",
    SEARCH_KM,
    "km",
    "ASC",
    "COUNT",
    20,
  )) as string[];
  if (o.state !== "searching") return;
  for (const driverId of found) {
    if (o.tried.has(driverId) || !onlineDrivers.has(driverId) || holds.has(driverId)) continue;
    const claimed = await redis.set(`${prefix}claim:${driverId}`, o.id, "PX", OFFER_MS * 4, "NX");
    if (claimed !== "OK" || o.state !== "searching") continue;
    holds.set(driverId, o.id);
    o.state = "offered";
    o.driverId = driverId;
    const expiresAt = Date.now() + OFFER_MS;
    ioServer.to(`driver:${driverId}`).emit("offer", { type: "offer", order: view(o), expiresAt });
    toRider(o, "order.offered");
    o.timer = setTimeout(() => reoffer(o, driverId, "order.offer_timed_out"), OFFER_MS);
    return;
  }
  o.timer = setTimeout(() => void dispatch(o).catch(() => {}), 2_000);
}

function reoffer(o: Order, driverId: string, event: string): void {
  if (o.state !== "offered" || o.driverId !== driverId) return;
  clearTimeout(o.timer);
  release(o);
  o.tried.add(driverId);
  o.state = "searching";
  o.driverId = null;
  ioServer.to(`driver:${driverId}`).emit("offer_closed", { orderId: o.id, reason: event });
  toRider(o, event);
  void dispatch(o).catch(() => {});
}

function onDriver(socket: Socket, id: string): void {
  void socket.join(`driver:${id}`);
  socket.on("fix", (fix: Json, ack?: Ack) => {
    const { lat, lng, t } = fix ?? {};
    if (!isNum(lat) || !isNum(lng) || !isNum(t) || Math.abs(lat) > 90 || Math.abs(lng) > 180) {
      return fail(ack, "INVALID_ARGUMENT", "lat, lng and t must be numbers");
    }
    const key = `${prefix}driver:${id}`;
    redis
      .pipeline()
      .geoadd(GEO, lng, lat, id)
      .hset(key, "lat", lat, "lng", lng, "t", t)
      .expire(key, 60)
      .exec()
      .then(
        () => ack?.({ ok: true }),
        () => fail(ack, "UNAVAILABLE", "redis"),
      );
    positions.set(id, { lat, lng });
    const orderId = holds.get(id);
    const o = orderId ? orders.get(orderId) : undefined;
    if (o && o.driverId === id && (o.state === "accepted" || o.state === "in_progress")) {
      const target = o.state === "in_progress" ? o.dropoff : o.pickup;
      const d = distM({ lat, lng }, target);
      ioServer.to(`rider:${o.riderId}`).emit("eta", {
        type: "eta",
        orderId: o.id,
        leg: o.state === "in_progress" ? "dropoff" : "pickup",
        driver: { lat, lng },
        etaS: Math.round(d / 8),
        distanceM: Math.round(d),
        at: t,
      });
    }
  });
  socket.on("status", (m: Json, ack?: Ack) => {
    if (m?.status === "online") onlineDrivers.add(id);
    else onlineDrivers.delete(id);
    ack?.({ ok: true });
  });
  const mine = (m: Json, ack: Ack, states: string[]): Order | undefined => {
    const o = orders.get(String(m?.orderId));
    if (!o || o.driverId !== id) {
      fail(ack, "NOT_FOUND", "no such order");
      return undefined;
    }
    if (!states.includes(o.state)) {
      fail(ack, "ILLEGAL_TRANSITION", `order is ${o.state}`);
      return undefined;
    }
    return o;
  };
  socket.on("offer.accept", (m: Json, ack?: Ack) => {
    const o = mine(m, ack, ["offered"]);
    if (!o) return;
    clearTimeout(o.timer);
    o.state = "accepted";
    void redis.hset(`${prefix}order:${o.id}`, "state", o.state, "driver", id);
    toRider(o, "order.accepted");
    ack?.({ ok: true, result: view(o) });
  });
  socket.on("offer.decline", (m: Json, ack?: Ack) => {
    const o = mine(m, ack, ["offered"]);
    if (!o) return;
    reoffer(o, id, "order.offer_declined");
    ack?.({ ok: true });
  });
  const step = (type: string, from: string[], to: string, event: string) =>
    socket.on(type, (m: Json, ack?: Ack) => {
      const o = mine(m, ack, from);
      if (!o) return;
      o.state = to;
      void redis.hset(`${prefix}order:${o.id}`, "state", o.state);
      toRider(o, event);
      if (to === "completed") {
        release(o);
        orders.delete(o.id);
      }
      ack?.({ ok: true, result: view(o) });
    });
  step("trip.arrived", ["accepted"], "arrived", "order.driver_arrived");
  step("trip.started", ["arrived"], "in_progress", "order.started");
  step("trip.completed", ["in_progress"], "completed", "order.completed");
  socket.on("disconnect", () => {
    onlineDrivers.delete(id);
    positions.delete(id);
    void redis.zrem(GEO, id);
  });
}

function onRider(socket: Socket, id: string): void {
  void socket.join(`rider:${id}`);
  socket.on("order", (m: Json, ack?: Ack) => {
    if (!isPoint(m?.pickup) || !isPoint(m?.dropoff))
      return fail(ack, "INVALID_ARGUMENT", "pickup and dropoff");
    const o: Order = {
      id: randomUUID(),
      riderId: id,
      pickup: m.pickup,
      dropoff: m.dropoff,
      state: "searching",
      driverId: null,
      tried: new Set(),
      timer: undefined,
    };
    orders.set(o.id, o);
    redis
      .hset(`${prefix}order:${o.id}`, "rider", id, "state", o.state, "pickup", JSON.stringify(o.pickup))
      .then(
        () => {
          ack?.({ ok: true, order: view(o) });
          void dispatch(o).catch(() => {});
        },
        () => fail(ack, "UNAVAILABLE", "redis"),
      );
  });
  socket.on("cancel", (m: Json, ack?: Ack) => {
    const o = orders.get(String(m?.orderId));
    if (!o || o.riderId !== id) return fail(ack, "NOT_FOUND", "no such order");
    if (o.state === "in_progress" || o.state === "completed") return fail(ack, "ILLEGAL_TRANSITION", o.state);
    clearTimeout(o.timer);
    if (o.driverId)
      ioServer.to(`driver:${o.driverId}`).emit("order", { order: { id: o.id, state: "cancelled" } });
    release(o);
    o.state = "cancelled";
    orders.delete(o.id);
    toRider(o, "order.cancelled");
    ack?.({ ok: true });
  });
}

ioServer.on("connection", (socket) => {
  const auth = socket.handshake.auth as { role?: unknown; id?: unknown };
  // Without a handshake identity (the gateway suite's flood) a socket is a driver named by its id.
  const id = typeof auth.id === "string" ? auth.id : socket.id;
  if (auth.role === "rider") onRider(socket, id);
  else onDriver(socket, id);
});

async function shutdown(): Promise<void> {
  // SCAN, not KEYS: the Redis is shared with other tests.
  let cursor = "0";
  do {
    const [next, keys] = await redis
      .scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000)
      .catch(() => ["0", []] as [string, string[]]);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys).catch(() => 0);
  } while (cursor !== "0");
  redis.disconnect();
  process.exit(0);
}
process.once("SIGTERM", () => void shutdown());
process.once("SIGINT", () => void shutdown());

http.listen(0, "127.0.0.1", () => {
  const addr = http.address();
  console.log(`PORT ${typeof addr === "object" && addr ? addr.port : 0}`);
});
