/**
 * One load-generator process of the city bench (bench/suites/city.ts starts several, pinned to
 * their own core). argv[2] is a JSON `GenConfig`.
 *
 * - `idle` mode opens `drivers` sockets that send nothing (the server's memory per idle socket),
 *   prints `{"kind":"idle",...}` once they are all open, and holds them until SIGTERM.
 * - `city` mode follows the schedule from `startAt`: drivers connect during the ramp-up, go
 *   online, stream fixes every `fixPeriodMs` of the phase while driving grid paths (north-south
 *   then east-west, like Chicago's streets) at 8-15 m/s, answer offers after a human delay
 *   (accept with `acceptProbability`), drive to the pickup, arrive, start, drive to the dropoff
 *   and complete; they go offline and leave during the ramp-down. Riders order at the times of
 *   a non-homogeneous Poisson process (this generator's share of the demand), quote then order,
 *   and watch their order's pushes (offer, acceptance, ETA) until it ends.
 *
 * Every second it prints one JSON line (`kind: "tick"`): counters, errors by code, and HDR
 * histograms (compressed base64) of the latencies recorded in that second. Two targets speak
 * the same flow: `ours` (driver WebSocket with binary fix frames, HTTP + Socket.IO /rider) and
 * `sio-redis` (bench/peers/socketio-redis.ts). `echo` is for idle sockets only.
 */
import { readFileSync } from "node:fs";
import { importPKCS8, SignJWT } from "jose";
import { io, type Socket } from "socket.io-client";
import WebSocket from "ws";
import { encodeBinary } from "../../gateway/driver/codec.js";
import { type LatLng, stepTowards } from "../../sim/geo.js";
import { mulberry32 } from "../stats.js";
import {
  arrivals,
  CHICAGO_GEOGRAPHY,
  type DemandModel,
  dropoff,
  fleetShare,
  maxOrderRate,
  orderRate,
  phaseAt,
  pickup,
  type Schedule,
  totalS,
  uniformPoint,
} from "./demand.js";
import { encode, newHistogram, recordMs } from "./hdr.js";

export interface GenConfig {
  id: number;
  target: "ours" | "sio-redis" | "echo";
  mode: "idle" | "city";
  httpUrl: string;
  wsUrl: string;
  /** Our server's signing key (PKCS#8 PEM file) and key id: the generator mints its tokens. */
  privateKeyFile?: string;
  keyId?: string;
  /** JSON array of the seeded drivers' user ids (ours admits only existing drivers); else names. */
  driverIdsFile?: string;
  /** Epoch ms of the schedule's t = 0 (the same for every generator). */
  startAt: number;
  schedule: Schedule;
  /** This generator's drivers, and the global index of its first (ids are unique across generators). */
  drivers: number;
  driverOffset: number;
  /** Source addresses for the driver sockets, round robin. */
  sources: string[];
  /** The whole demand model; this generator orders `demandShare` of it. */
  demand: DemandModel;
  demandShare: number;
  /** Open riders at most (file descriptors of the server are bounded); more orders are skipped. */
  maxRiders: number;
  /** One fix in this many is sent as a text frame with an id (acknowledged: the ingest probe). */
  probeEvery: number;
  seed: number;
  acceptProbability: number;
  acceptDelayMs: [number, number];
  boardingMs: [number, number];
  speedMps: [number, number];
  /** A rider cancels when no driver accepted within this time. */
  patienceMs: number;
  /** Sockets opening at once at most. */
  connectConcurrency: number;
}

type Json = Record<string, unknown>;

const cfg = JSON.parse(process.argv[2]!) as GenConfig;
const random = mulberry32(cfg.seed);
const between = ([lo, hi]: readonly [number, number]) => lo + (hi - lo) * random();
const geo = CHICAGO_GEOGRAPHY;
const driverIds = cfg.driverIdsFile ? (JSON.parse(readFileSync(cfg.driverIdsFile, "utf8")) as string[]) : [];
const driverName = (n: number) => driverIds[n] ?? `bench-driver-${n}`;

// ----- measurements ------------------------------------------------------------------------------

const hist = {
  ingest: newHistogram(),
  eta: newHistogram(),
  /** ETA pushes that came at least 0.8 s after the previous one of the order (ours spaces them 0.75 s): not held back by coalescing. */
  etaDirect: newHistogram(),
  offer: newHistogram(),
  accept: newHistogram(),
  pickup: newHistogram(),
};
const errors: Record<string, number> = {};
const counters = {
  fixes: 0,
  probes: 0,
  probesApplied: 0,
  probesDropped: 0,
  requested: 0,
  offered: 0,
  offersReceived: 0,
  accepted: 0,
  declined: 0,
  arrived: 0,
  completed: 0,
  cancelled: 0,
  patienceCancels: 0,
  skipped: 0,
};
let open = 0;
let online = 0;
let riders = 0;
let stopping = false;

function error(key: string): void {
  if (stopping) return;
  errors[key] = (errors[key] ?? 0) + 1;
}
function codeOf(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  return typeof e?.code === "string" ? e.code : String(e?.message ?? err).slice(0, 60);
}

let lastCpu = process.cpuUsage();
function tick(final = false): void {
  const cpu = process.cpuUsage(lastCpu);
  lastCpu = process.cpuUsage();
  const line = {
    kind: final ? "final" : "tick",
    gen: cfg.id,
    at: Date.now(),
    open,
    online,
    riders,
    ...counters,
    cpuMs: (cpu.user + cpu.system) / 1000,
    errors,
    hist: Object.fromEntries(Object.entries(hist).map(([k, h]) => [k, h.totalCount > 0 ? encode(h) : ""])),
  };
  for (const h of Object.values(hist)) h.reset();
  for (const k of Object.keys(counters) as (keyof typeof counters)[]) counters[k] = 0;
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

// ----- tokens ------------------------------------------------------------------------------------

let signingKey: Awaited<ReturnType<typeof importPKCS8>> | undefined;
async function token(sub: string, role: "driver" | "rider"): Promise<string> {
  if (!cfg.privateKeyFile) return "";
  signingKey ??= await importPKCS8(readFileSync(cfg.privateKeyFile, "utf8"), "ES256");
  return new SignJWT({ roles: role === "driver" ? ["driver"] : ["rider"] })
    .setProtectedHeader({ alg: "ES256", kid: cfg.keyId ?? "bench" })
    .setSubject(sub)
    .setIssuer("dispatch")
    .setAudience("dispatch-api")
    .setIssuedAt()
    .setExpirationTime("2h")
    .sign(signingKey);
}

// ----- driver links: one interface over our driver socket and the Socket.IO peer ---------------

interface DriverLink {
  fix(lat: number, lng: number, t: number, speed: number, probe: boolean): void;
  request(type: string, fields: Json): Promise<Json>;
  close(): void;
}

type Push = (type: string, m: Json) => void;

/** Our driver socket: binary fix frames; text messages with ids for everything acknowledged. */
async function linkOurs(n: number, source: string, onPush: Push, onClose: () => void): Promise<DriverLink> {
  const url = `${cfg.wsUrl}/v1/driver/ws?access_token=${await token(driverName(n), "driver")}`;
  const ws = new WebSocket(url, { localAddress: source, perMessageDeflate: false });
  const pending = new Map<string, { resolve: (m: Json) => void; reject: (e: Error) => void; t0: number }>();
  const probes = new Map<string, number>();
  let seq = 0;
  const welcome = new Promise<void>((resolve, reject) => {
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (isBinary) return;
      const text = data.toString();
      // The surge heat map goes to every driver; nothing here needs it.
      if (text.startsWith('{"type":"heat_map"')) return;
      let m: Json;
      try {
        m = JSON.parse(text) as Json;
      } catch {
        error("ws:unparsable");
        return;
      }
      const id = typeof m.id === "string" ? m.id : undefined;
      if (id?.startsWith("p")) {
        const t0 = probes.get(id);
        probes.delete(id);
        if (t0 !== undefined && m.type === "ack") {
          recordMs(hist.ingest, performance.now() - t0);
          counters.probesApplied += Number(m.applied ?? 0);
          counters.probesDropped += Number(m.dropped ?? 0);
          return;
        }
      }
      if (id !== undefined && pending.has(id)) {
        const p = pending.get(id)!;
        pending.delete(id);
        if (m.type === "error") p.reject(Object.assign(new Error(String(m.message)), { code: m.code }));
        else p.resolve(m);
        return;
      }
      if (m.type === "error") error(`ws:${String(m.code)}`);
      else if (m.type === "welcome") resolve();
      else onPush(String(m.type), m);
    });
    ws.once("error", reject);
    ws.once("unexpected-response", (req, res) => {
      // With this listener ws leaves the request to us: end it, or the socket stays open.
      req.destroy();
      reject(
        Object.assign(new Error(`upgrade answered ${res.statusCode}`), { code: `HTTP_${res.statusCode}` }),
      );
    });
  });
  ws.on("close", (code: number) => {
    for (const p of pending.values()) p.reject(Object.assign(new Error("closed"), { code: "DISCONNECTED" }));
    pending.clear();
    if (!stopping && code !== 1000 && code !== 1005) error(`close:${code}`);
    onClose();
  });
  ws.on("error", () => {});
  await welcome;
  return {
    fix(lat, lng, t, speed, probe) {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (probe) {
        const id = `p${++seq}`;
        probes.set(id, performance.now());
        ws.send(JSON.stringify({ type: "fix", id, lat, lng, t, speed }));
        counters.probes++;
      } else ws.send(encodeBinary([{ lat, lng, t, speed }]));
      counters.fixes++;
    },
    request(type, fields) {
      if (ws.readyState !== WebSocket.OPEN)
        return Promise.reject(Object.assign(new Error("not open"), { code: "DISCONNECTED" }));
      const id = `r${++seq}`;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject, t0: performance.now() });
        ws.send(JSON.stringify({ type, id, ...fields }));
      });
    },
    close: () => ws.close(1000),
  };
}

/** The Socket.IO + Redis peer: the same flow as events with acknowledgements. */
async function linkSio(n: number, source: string, onPush: Push, onClose: () => void): Promise<DriverLink> {
  const s = io(cfg.wsUrl.replace(/^ws/, "http"), {
    transports: ["websocket"],
    reconnection: false,
    auth: { role: "driver", id: driverName(n) },
    localAddress: source,
  } as Parameters<typeof io>[1]);
  for (const type of ["offer", "offer_closed", "order"]) s.on(type, (m: Json) => onPush(type, m));
  await new Promise<void>((resolve, reject) => {
    s.once("connect", () => resolve());
    s.once("connect_error", reject);
  });
  s.on("disconnect", (reason) => {
    if (!stopping && reason !== "io client disconnect") error(`close:${reason}`);
    onClose();
  });
  return {
    fix(lat, lng, t, speed, probe) {
      if (!s.connected) return;
      if (probe) {
        const t0 = performance.now();
        counters.probes++;
        s.timeout(30_000)
          .emitWithAck("fix", { lat, lng, t, speed })
          .then(
            (r: Json) => {
              recordMs(hist.ingest, performance.now() - t0);
              if (r?.ok) counters.probesApplied++;
              else counters.probesDropped++;
            },
            (err: unknown) => error(`probe:${codeOf(err)}`),
          );
      } else s.emit("fix", { lat, lng, t, speed });
      counters.fixes++;
    },
    async request(type, fields) {
      const r = (await s.timeout(15_000).emitWithAck(type, fields)) as Json & {
        error?: { code: string; message: string };
      };
      if (r?.ok !== true)
        throw Object.assign(new Error(r?.error?.message ?? "refused"), {
          code: r?.error?.code ?? "INTERNAL",
        });
      return r;
    },
    close: () => s.disconnect(),
  };
}

/** A bare socket for the echo server's idle figure. */
async function linkEcho(source: string, onClose: () => void): Promise<DriverLink> {
  const ws = new WebSocket(cfg.wsUrl, { localAddress: source, perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  ws.on("close", onClose);
  ws.on("error", () => {});
  return { fix() {}, request: () => Promise.resolve({}), close: () => ws.close(1000) };
}

// ----- drivers -----------------------------------------------------------------------------------

type Phase = "idle" | "deciding" | "to_pickup" | "boarding" | "to_dropoff";

class Driver {
  link: DriverLink | undefined;
  state: "new" | "connecting" | "live" | "leaving" | "gone" = "new";
  pos: LatLng = uniformPoint(geo, random);
  /** The grid path: the corner, then the destination. */
  path: LatLng[] = [];
  speed = between(cfg.speedMps);
  lastT = 0;
  lastMoveAt = 0;
  nextFixAt = 0;
  phase: Phase = "idle";
  orderId: string | null = null;
  pickup: LatLng | null = null;
  dropoff: LatLng | null = null;
  busy = false;
  online = false;
  timer: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly n: number) {
    this.route(uniformPoint(geo, random));
  }

  route(to: LatLng): void {
    this.path =
      random() < 0.5 ? [{ lat: to.lat, lng: this.pos.lng }, to] : [{ lat: this.pos.lat, lng: to.lng }, to];
  }

  async connect(source: string): Promise<void> {
    this.state = "connecting";
    const onPush: Push = (type, m) => this.onPush(type, m);
    const onClose = () => {
      if (this.state === "live" || this.state === "leaving") open--;
      if (this.online) online--;
      this.online = false;
      this.state = "gone";
      clearTimeout(this.timer);
    };
    try {
      this.link =
        cfg.target === "ours"
          ? await linkOurs(this.n, source, onPush, onClose)
          : cfg.target === "sio-redis"
            ? await linkSio(this.n, source, onPush, onClose)
            : await linkEcho(source, onClose);
    } catch (err) {
      this.state = "gone";
      error(`connect:${codeOf(err)}`);
      return;
    }
    if (stopping) {
      this.link.close();
      return;
    }
    this.state = "live";
    open++;
    if (cfg.mode === "idle") return;
    const now = Date.now();
    this.lastMoveAt = now;
    this.sendFix(now);
    try {
      await this.link.request("status", { status: "online" });
      this.online = true;
      online++;
    } catch (err) {
      error(`status:${codeOf(err)}`);
    }
    // Spread the fixes of all drivers over the period.
    this.nextFixAt = now + random() * currentPeriod(now);
  }

  leave(): void {
    if (this.state !== "live") return;
    this.state = "leaving";
    const link = this.link!;
    const bye = () => link.close();
    if (this.online) link.request("status", { status: "offline" }).then(bye, bye);
    else bye();
  }

  move(now: number): void {
    const dt = Math.max(0, (now - this.lastMoveAt) / 1000);
    this.lastMoveAt = now;
    if (this.phase === "boarding") return;
    let stepM = this.speed * dt;
    while (stepM > 0 && this.path.length > 0) {
      const target = this.path[0]!;
      const before = this.pos;
      const s = stepTowards(this.pos, target, stepM);
      this.pos = s.at;
      if (!s.arrived) return;
      stepM -= Math.hypot((target.lat - before.lat) * 111_320, (target.lng - before.lng) * 83_000);
      this.path.shift();
    }
    if (this.path.length > 0) return;
    switch (this.phase) {
      case "idle":
      case "deciding":
        this.speed = between(cfg.speedMps);
        this.route(uniformPoint(geo, random));
        break;
      case "to_pickup":
        if (!this.busy) this.arrive();
        break;
      case "to_dropoff":
        if (!this.busy) this.complete();
        break;
    }
  }

  sendFix(now: number): void {
    this.move(now);
    const t = Math.max(this.lastT + 1, now);
    this.lastT = t;
    this.link!.fix(
      this.pos.lat,
      this.pos.lng,
      t,
      this.phase === "boarding" ? 0 : this.speed,
      fixSeq++ % cfg.probeEvery === 0,
    );
  }

  toIdle(): void {
    clearTimeout(this.timer);
    this.phase = "idle";
    this.orderId = null;
    this.pickup = null;
    this.dropoff = null;
    this.busy = false;
  }

  onPush(type: string, m: Json): void {
    if (type === "offer") {
      this.onOffer(m);
      return;
    }
    if (type === "offer_closed") {
      if (this.phase === "deciding" && m.orderId === this.orderId) this.toIdle();
      return;
    }
    if (type === "order") {
      const order = m.order as Json | undefined;
      if (order?.id === this.orderId && order?.state === "cancelled") this.toIdle();
    }
  }

  onOffer(m: Json): void {
    const order = m.order as { id?: string; pickup?: LatLng; dropoff?: LatLng } | undefined;
    if (!order?.id || !order.pickup || !order.dropoff || this.state !== "live") return;
    counters.offersReceived++;
    const orderId = order.id;
    const link = this.link!;
    if (this.phase !== "idle") {
      link.request("offer.decline", { orderId, reason: "busy" }).catch((e) => error(`decline:${codeOf(e)}`));
      return;
    }
    this.phase = "deciding";
    this.orderId = orderId;
    const expiresAt = typeof m.expiresAt === "number" ? m.expiresAt : Date.now() + 10_000;
    const delay = Math.max(0, Math.min(between(cfg.acceptDelayMs), expiresAt - Date.now() - 500));
    const accept = random() < cfg.acceptProbability;
    this.timer = setTimeout(() => {
      if (stopping || this.phase !== "deciding" || this.orderId !== orderId) return;
      if (!accept) {
        counters.declined++;
        this.toIdle();
        link
          .request("offer.decline", { orderId, reason: "simulated" })
          .catch((e) => error(`decline:${codeOf(e)}`));
        return;
      }
      link.request("offer.accept", { orderId }).then(
        () => {
          if (this.orderId !== orderId) return;
          counters.accepted++;
          this.phase = "to_pickup";
          this.pickup = order.pickup!;
          this.dropoff = order.dropoff!;
          this.route(this.pickup);
        },
        (err: unknown) => {
          if (this.orderId === orderId) this.toIdle();
          error(`accept:${codeOf(err)}`);
        },
      );
    }, delay);
  }

  step(type: string, then: () => void): void {
    const orderId = this.orderId;
    this.busy = true;
    this.link!.request(type, { orderId }).then(
      () => {
        this.busy = false;
        if (this.orderId === orderId) then();
      },
      (err: unknown) => {
        if (this.orderId === orderId) this.toIdle();
        error(`${type}:${codeOf(err)}`);
      },
    );
  }

  arrive(): void {
    const orderId = this.orderId!;
    this.step("trip.arrived", () => {
      this.phase = "boarding";
      this.timer = setTimeout(() => {
        if (stopping || this.orderId !== orderId || this.phase !== "boarding") return;
        this.step("trip.started", () => {
          this.phase = "to_dropoff";
          this.lastMoveAt = Date.now();
          this.route(this.dropoff!);
        });
      }, between(cfg.boardingMs));
    });
  }

  complete(): void {
    this.step("trip.completed", () => {
      this.toIdle();
      this.route(uniformPoint(geo, random));
    });
  }
}

let fixSeq = 0;

function currentPeriod(now: number): number {
  return phaseAt(cfg.schedule, (now - cfg.startAt) / 1000).phase.fixPeriodMs;
}

// ----- riders ------------------------------------------------------------------------------------

let riderSeq = 0;

async function ride(): Promise<void> {
  if (riders >= cfg.maxRiders) {
    counters.skipped++;
    return;
  }
  riders++;
  const n = riderSeq++;
  const from = pickup(geo, random);
  const to = dropoff(geo, from, random);
  let socket: Socket | undefined;
  let done = false;
  let patience: ReturnType<typeof setTimeout> | undefined;
  const finish = () => {
    if (done) return;
    done = true;
    riders--;
    clearTimeout(patience);
    socket?.disconnect();
  };
  try {
    const riderId = `bench-rider-${cfg.id}-${n}`;
    const bearer = cfg.target === "ours" ? await token(riderId, "rider") : "";
    socket = io(cfg.target === "ours" ? `${cfg.httpUrl}/rider` : cfg.httpUrl, {
      transports: ["websocket"],
      reconnection: false,
      auth: cfg.target === "ours" ? { token: bearer } : { role: "rider", id: riderId },
    });
    await new Promise<void>((resolve, reject) => {
      socket!.once("connect", () => resolve());
      socket!.once("connect_error", reject);
    });
    socket.on("disconnect", (reason) => {
      if (!done && !stopping && reason !== "io client disconnect") error(`rider-close:${reason}`);
      finish();
    });
    let t0 = 0;
    let orderId: string | undefined;
    let offered = false;
    let accepted = false;
    let lastLeg = "";
    let lastAt = 0;
    let lastPushAt = 0;
    // The rider socket is this rider's only: every push on it is about this order.
    socket.on("order.update", (m: Json) => {
      const event = m.event;
      const state = (m.order as Json | undefined)?.state;
      const now = Date.now();
      if (event === "order.offered" && !offered) {
        offered = true;
        counters.offered++;
        recordMs(hist.offer, now - t0);
      } else if (event === "order.accepted" && !accepted) {
        accepted = true;
        clearTimeout(patience);
        recordMs(hist.accept, now - t0);
      } else if (event === "order.driver_arrived") {
        counters.arrived++;
        recordMs(hist.pickup, now - t0);
      }
      if (state === "completed") {
        counters.completed++;
        finish();
      } else if (state === "cancelled") {
        counters.cancelled++;
        finish();
      }
    });
    socket.on("eta", (m: Json) => {
      const at = typeof m.at === "number" ? m.at : 0;
      const leg = String(m.leg);
      const now = Date.now();
      // Only a push carrying a newer fix on the same leg: a leg change re-sends an older fix.
      if (leg === lastLeg && at > lastAt) {
        recordMs(hist.eta, now - at);
        // Ours sends at most one push a second per order; one that follows the previous by
        // about a second may have waited for that (by design), so it is left out here.
        if (now - lastPushAt >= 800) recordMs(hist.etaDirect, now - at);
      }
      if (at > lastAt) lastAt = at;
      lastLeg = leg;
      lastPushAt = now;
    });
    if (cfg.target === "ours") {
      const headers = { authorization: `Bearer ${bearer}`, "content-type": "application/json" };
      const q = await fetch(`${cfg.httpUrl}/v1/quotes`, {
        method: "POST",
        headers,
        body: JSON.stringify({ pickup: from, dropoff: to, vehicleClass: "economy" }),
      });
      const quote = (await q.json()) as Json;
      if (!q.ok) throw Object.assign(new Error("quote"), { code: `quote:${String(quote.code ?? q.status)}` });
      t0 = Date.now();
      const o = await fetch(`${cfg.httpUrl}/v1/orders`, {
        method: "POST",
        headers: { ...headers, "idempotency-key": `bench-${cfg.id}-${n}-${cfg.seed}-order` },
        body: JSON.stringify({ quoteToken: quote.token }),
      });
      const order = (await o.json()) as Json;
      if (!o.ok) throw Object.assign(new Error("order"), { code: `order:${String(order.code ?? o.status)}` });
      orderId = String(order.id);
    } else {
      t0 = Date.now();
      const r = (await socket.timeout(15_000).emitWithAck("order", { pickup: from, dropoff: to })) as Json & {
        order?: { id: string };
        error?: { code: string };
      };
      if (r.ok !== true || !r.order)
        throw Object.assign(new Error("order"), { code: `order:${r.error?.code ?? "?"}` });
      orderId = r.order.id;
    }
    counters.requested++;
    const id = orderId;
    patience = setTimeout(() => {
      if (done || accepted) return;
      counters.patienceCancels++;
      const cancelled =
        cfg.target === "ours"
          ? fetch(`${cfg.httpUrl}/v1/orders/${encodeURIComponent(id)}/cancel`, {
              method: "POST",
              headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
              body: "{}",
            }).then((r) => r.body?.cancel())
          : socket!.timeout(15_000).emitWithAck("cancel", { orderId: id });
      cancelled.then(
        () => finish(),
        () => finish(),
      );
    }, cfg.patienceMs);
  } catch (err) {
    error(`rider:${codeOf(err)}`);
    finish();
  }
}

// ----- the run -----------------------------------------------------------------------------------

const drivers: Driver[] = Array.from({ length: cfg.drivers }, (_, i) => new Driver(cfg.driverOffset + i));
let connecting = 0;
let nextToConnect = 0;

function connectUpTo(target: number): void {
  while (nextToConnect < target && connecting < cfg.connectConcurrency && !stopping) {
    const d = drivers[nextToConnect]!;
    const source = cfg.sources[(cfg.driverOffset + nextToConnect) % cfg.sources.length]!;
    nextToConnect++;
    connecting++;
    void d.connect(source).finally(() => {
      connecting--;
    });
  }
}

async function idleMode(): Promise<void> {
  const ticker = setInterval(() => tick(), 1_000);
  connectUpTo(cfg.drivers);
  while (nextToConnect < cfg.drivers || connecting > 0) {
    await new Promise((r) => setTimeout(r, 20));
    connectUpTo(cfg.drivers);
  }
  tick();
  process.stdout.write(`${JSON.stringify({ kind: "idle", gen: cfg.id, open, errors })}\n`);
  process.once("SIGTERM", () => {
    stopping = true;
    clearInterval(ticker);
    for (const d of drivers) d.link?.close();
    setTimeout(() => process.exit(0), 200);
  });
}

async function cityMode(): Promise<void> {
  const endS = totalS(cfg.schedule);
  // This generator's order times, drawn up front from its own seed.
  const share = cfg.demandShare;
  const times = arrivals(
    (t) => orderRate(cfg.demand, cfg.schedule, t) * share,
    maxOrderRate(cfg.demand) * share,
    endS,
    random,
  );
  let nextOrder = 0;
  const wait = cfg.startAt - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const ticker = setInterval(() => tick(), 1_000);
  const loop = setInterval(() => {
    const now = Date.now();
    const tS = (now - cfg.startAt) / 1000;
    const target = Math.round(fleetShare(cfg.schedule, tS) * cfg.drivers);
    // Ramp up: connect the first `target` drivers; ramp down: the last ones leave first.
    connectUpTo(target);
    if (tS > 0 && phaseAt(cfg.schedule, tS).phase.fleet === "ramp-down") {
      for (let i = cfg.drivers - 1; i >= target; i--) drivers[i]!.leave();
    }
    const period = currentPeriod(now);
    for (const d of drivers) {
      if (d.state !== "live" || now < d.nextFixAt) continue;
      d.sendFix(now);
      // Catch up after a stall without a burst: at most one fix per tick per driver.
      d.nextFixAt = Math.max(d.nextFixAt + period, now - period / 2);
    }
    while (nextOrder < times.length && times[nextOrder]! <= tS) {
      nextOrder++;
      void ride();
    }
    if (tS >= endS) {
      clearInterval(loop);
      void finishRun(ticker);
    }
  }, 25);
}

async function finishRun(ticker: ReturnType<typeof setInterval>): Promise<void> {
  for (const d of drivers) d.leave();
  await new Promise((r) => setTimeout(r, 500));
  stopping = true;
  clearInterval(ticker);
  tick(true);
  for (const d of drivers) d.link?.close();
  process.stdout.write("", () => process.exit(0));
}

process.once("SIGTERM", () => {
  if (cfg.mode === "city") {
    stopping = true;
    tick(true);
    process.exit(0);
  }
});

if (cfg.mode === "idle") await idleMode();
else await cityMode();
