import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { MemoryUserStore } from "../../storage/memory/identity.js";
import { startTestGateway } from "../../test/support/gateway.js";
import type { TokenService } from "../auth/tokens.js";
import type { Gateway } from "../server.js";
import { encodeBinary, type FixBatch } from "./codec.js";
import type { DriverSessionHandlers } from "./socket.js";

let gateway: Gateway;
let tokens: TokenService;
let users: MemoryUserStore;
const received: { driverId: string; batch: FixBatch }[] = [];
const calls: string[] = [];
const disconnected: string[] = [];

const handlers: DriverSessionHandlers = {
  fixes(driverId, batch) {
    received.push({ driverId, batch });
    return { applied: batch.count, dropped: 0 };
  },
  async status(driverId, status) {
    calls.push(`status:${driverId}:${status}`);
    return { status };
  },
  async acceptOffer(_driverId, orderId) {
    calls.push(`accept:${orderId}`);
    if (orderId === "gone") throw Object.assign(new Error("x"), { code: "NOT_FOUND" });
    return { orderId: "o1" };
  },
  async declineOffer(_d, orderId, reason) {
    calls.push(`decline:${orderId}:${reason}`);
    return {};
  },
  async tripEvent(_d, orderId, event) {
    calls.push(`${event}:${orderId}`);
    return { state: event };
  },
  async connected(driverId) {
    return { offer: null, order: null, driverId };
  },
  disconnected(driverId) {
    disconnected.push(driverId);
  },
};

beforeAll(async () => {
  ({ gateway, tokens, users } = await startTestGateway({ driverHandlers: handlers }));
});
afterAll(() => gateway.close());
beforeEach(() => {
  received.length = 0;
  calls.length = 0;
});

let phoneSeq = 0;
async function tokenFor(role: "driver" | "rider"): Promise<{ token: string; userId: string }> {
  const user = await users.findOrCreateByPhone(`+1555000${String(++phoneSeq).padStart(4, "0")}`, Date.now());
  if (role === "driver") await users.grantRole(user.id, "driver");
  const s = await tokens.startSession((await users.get(user.id))!);
  return { token: s.accessToken, userId: user.id };
}

/** A connected client that collects every JSON message it receives. */
class Client {
  readonly messages: Record<string, unknown>[] = [];
  closeCode: number | undefined;
  private waiters: (() => void)[] = [];
  constructor(readonly ws: WebSocket) {
    ws.on("message", (data, isBinary) => {
      if (!isBinary) this.messages.push(JSON.parse(data.toString()));
      for (const w of this.waiters.splice(0)) w();
    });
    ws.on("close", (code) => {
      this.closeCode = code;
      for (const w of this.waiters.splice(0)) w();
    });
  }
  send(m: unknown) {
    this.ws.send(typeof m === "string" ? m : JSON.stringify(m));
  }
  async next(pred: (m: Record<string, unknown>) => boolean = () => true, ms = 5000) {
    const until = Date.now() + ms;
    for (;;) {
      const i = this.messages.findIndex(pred);
      if (i >= 0) return this.messages.splice(i, 1)[0]!;
      if (Date.now() > until) throw new Error(`no matching message; got ${JSON.stringify(this.messages)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }
  async closed(ms = 10_000): Promise<number> {
    const until = Date.now() + ms;
    while (this.closeCode === undefined) {
      if (Date.now() > until) throw new Error("not closed");
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.closeCode;
  }
}

function url(query = "") {
  return `ws://127.0.0.1:${gateway.port}/v1/driver/ws${query}`;
}

async function connect(token: string): Promise<Client> {
  const ws = new WebSocket(url(), { headers: { authorization: `Bearer ${token}` } });
  const c = new Client(ws);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  await c.next((m) => m.type === "welcome");
  return c;
}

function refused(
  target: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(target, { headers });
    ws.on("open", () => reject(new Error("upgraded")));
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) }));
    });
    ws.on("error", () => {});
  });
}

const t0 = Date.UTC(2026, 10, 27, 12);

describe("driver socket: who may connect", () => {
  it("refuses no token, a bad token and a rider, with the error body", async () => {
    expect(await refused(url())).toEqual({
      status: 401,
      body: { code: "UNAUTHENTICATED", message: "the driver socket needs an access token" },
    });
    expect((await refused(url("?access_token=nope"))).status).toBe(401);
    const rider = await tokenFor("rider");
    expect(await refused(url(), { authorization: `Bearer ${rider.token}` })).toMatchObject({
      status: 403,
      body: { code: "FORBIDDEN" },
    });
  });

  it("accepts a driver by header or query and welcomes it with its state", async () => {
    const d = await tokenFor("driver");
    const ws = new WebSocket(url(`?access_token=${d.token}`));
    const c = new Client(ws);
    expect(await c.next()).toEqual({
      type: "welcome",
      driverId: d.userId,
      state: { offer: null, order: null, driverId: d.userId },
    });
    ws.close();
  });

  it("replaces an older connection of the same driver with close code 4009", async () => {
    const d = await tokenFor("driver");
    const first = await connect(d.token);
    const second = await connect(d.token);
    expect(await first.closed()).toBe(4009);
    second.send({ type: "ping", id: "p" });
    expect(await second.next()).toMatchObject({ type: "pong", id: "p" });
    second.ws.close();
  });
});

describe("driver socket: messages", () => {
  it("takes JSON and binary fixes into the engine, acking when asked", async () => {
    const d = await tokenFor("driver");
    const c = await connect(d.token);
    c.send({ type: "fix", id: "f1", lat: 41.88, lng: -87.63, t: t0, heading: 90, speed: 10 });
    expect(await c.next()).toEqual({ type: "ack", id: "f1", applied: 1, dropped: 0 });
    c.ws.send(
      encodeBinary([
        { lat: 41.881, lng: -87.631, t: t0 + 4000 },
        { lat: 41.882, lng: -87.632, t: t0 + 8000, heading: 180, speed: 12.5 },
      ]),
    );
    c.send({ type: "fixes", id: "f2", fixes: [{ lat: 41.883, lng: -87.633, t: t0 + 12000 }] });
    await c.next((m) => m.id === "f2");
    expect(received.map((r) => r.batch.count)).toEqual([1, 2, 1]);
    expect(received.every((r) => r.driverId === d.userId)).toBe(true);
    const bin = received[1]!.batch;
    expect([...bin.latLngs]).toEqual([41.881, -87.631, 41.882, -87.632]);
    expect(Number.isNaN(bin.headings[0]!)).toBe(true);
    expect(bin.speeds[1]).toBe(12.5);
    c.ws.close();
  });

  it("routes status, offer and trip messages to the engine with acks", async () => {
    const d = await tokenFor("driver");
    const c = await connect(d.token);
    c.send({ type: "status", id: "1", status: "online" });
    c.send({ type: "offer.accept", id: "2", orderId: "of1" });
    c.send({ type: "offer.decline", id: "3", orderId: "of2", reason: "too far" });
    c.send({ type: "trip.arrived", id: "4", orderId: "o1" });
    c.send({ type: "trip.started", id: "5", orderId: "o1" });
    c.send({ type: "trip.completed", id: "6", orderId: "o1" });
    c.send({ type: "offer.accept", id: "7", orderId: "gone" });
    expect(await c.next((m) => m.id === "2")).toEqual({ type: "ack", id: "2", result: { orderId: "o1" } });
    expect(await c.next((m) => m.id === "7")).toMatchObject({ type: "error", id: "7" });
    await c.next((m) => m.id === "6");
    expect(calls).toEqual([
      `status:${d.userId}:online`,
      "accept:of1",
      "decline:of2:too far",
      "arrived:o1",
      "started:o1",
      "completed:o1",
      "accept:gone",
    ]);
    c.ws.close();
  });

  it("refuses a renewal token of another user", async () => {
    const d = await tokenFor("driver");
    const other = await tokenFor("driver");
    const c = await connect(d.token);
    c.send({ type: "auth", id: "a", token: other.token });
    expect(await c.next()).toMatchObject({ type: "error", id: "a", code: "FORBIDDEN" });
    c.send({
      type: "auth",
      id: "b",
      token: (await tokens.startSession((await users.get(d.userId))!)).accessToken,
    });
    expect(await c.next()).toMatchObject({ type: "ack", id: "b" });
    c.ws.close();
  });
});

describe("driver socket: bad input", () => {
  const cases: [string, unknown, string][] = [
    ["malformed JSON", "{type:", "INVALID_ARGUMENT"],
    ["a JSON array", "[1]", "INVALID_ARGUMENT"],
    ["no type", { lat: 1 }, "INVALID_ARGUMENT"],
    ["an unknown type", { type: "teleport" }, "INVALID_ARGUMENT"],
    ["a string latitude", { type: "fix", lat: "41.8", lng: -87.6, t: t0 }, "INVALID_COORDINATE"],
    ["a NaN written as a string", { type: "fix", lat: "NaN", lng: 0, t: t0 }, "INVALID_COORDINATE"],
    ["latitude out of range", { type: "fix", lat: 91, lng: 0, t: t0 }, "INVALID_COORDINATE"],
    ["longitude out of range", { type: "fix", lat: 0, lng: 180.01, t: t0 }, "INVALID_COORDINATE"],
    ["a timestamp in seconds", { type: "fix", lat: 0, lng: 0, t: t0 / 1000 }, "INVALID_ARGUMENT"],
    ["a negative speed", { type: "fix", lat: 0, lng: 0, t: t0, speed: -1 }, "INVALID_ARGUMENT"],
    ["a heading of 360", { type: "fix", lat: 0, lng: 0, t: t0, heading: 360 }, "INVALID_ARGUMENT"],
    ["an empty batch", { type: "fixes", fixes: [] }, "INVALID_ARGUMENT"],
    [
      "a batch over 500",
      { type: "fixes", fixes: Array(501).fill({ lat: 0, lng: 0, t: t0 }) },
      "INVALID_ARGUMENT",
    ],
    ["a bad status", { type: "status", status: "asleep" }, "INVALID_ARGUMENT"],
    ["an accept without order id", { type: "offer.accept" }, "INVALID_ARGUMENT"],
    ["a numeric order id", { type: "trip.started", orderId: 5 }, "INVALID_ARGUMENT"],
    ["an overlong correlation id", { type: "ping", id: "x".repeat(65) }, "INVALID_ARGUMENT"],
  ];

  it.each(cases)("answers %s with a coded error and changes nothing", async (_name, frame, code) => {
    const d = await tokenFor("driver");
    const c = await connect(d.token);
    c.send(frame);
    expect(await c.next()).toMatchObject({ type: "error", code, message: expect.any(String) });
    expect(received).toHaveLength(0);
    expect(calls).toHaveLength(0);
    // The socket stays usable.
    c.send({ type: "ping", id: "after" });
    expect(await c.next()).toMatchObject({ type: "pong", id: "after" });
    c.ws.close();
  });

  it("answers bad binary frames with a coded error", async () => {
    const d = await tokenFor("driver");
    const c = await connect(d.token);
    const good = encodeBinary([{ lat: 1, lng: 2, t: t0 }]);
    const wrongKind = good.slice(0);
    new DataView(wrongKind).setUint8(0, 9);
    const truncated = good.slice(0, good.byteLength - 1);
    const nan = good.slice(0);
    new DataView(nan).setFloat64(4, Number.NaN, true);
    for (const frame of [new ArrayBuffer(2), wrongKind, truncated, nan]) {
      c.ws.send(frame);
      expect(await c.next()).toMatchObject({ type: "error", code: expect.stringMatching(/^INVALID_/) });
    }
    expect(received).toHaveLength(0);
    c.ws.close();
  });

  it("closes the socket on an oversize frame and keeps serving others", async () => {
    const d = await tokenFor("driver");
    const c = await connect(d.token);
    const other = await connect((await tokenFor("driver")).token);
    c.send({ type: "ping", pad: "x".repeat(40 * 1024) });
    expect(await c.closed()).toBeGreaterThanOrEqual(1000);
    other.send({ type: "ping", id: "still" });
    expect(await other.next()).toMatchObject({ type: "pong", id: "still" });
    other.ws.close();
  });

  it("rate-limits a flood, then closes it with 4029", async () => {
    const d = await tokenFor("driver");
    const c = await connect(d.token);
    for (let i = 0; i < 1000 && c.closeCode === undefined; i++) c.send({ type: "ping" });
    expect(await c.next((m) => m.type === "error")).toMatchObject({ code: "RATE_LIMITED" });
    expect(await c.closed()).toBe(4029);
  });

  it("closes too many malformed frames with 4002", async () => {
    const d = await tokenFor("driver");
    const c = await connect(d.token);
    // Within the rate limit's burst, but all garbage.
    for (let i = 0; i < 30; i++) c.send("garbage");
    expect(await c.closed()).toBe(4002);
    expect(c.messages.filter((m) => m.code === "INVALID_ARGUMENT")).toHaveLength(20);
  });
});

describe("driver socket: backpressure", () => {
  it("closes a driver that stops reading, while another keeps getting answers", async () => {
    const slowIds = await tokenFor("driver");
    const slow = await connect(slowIds.token);
    const fast = await connect((await tokenFor("driver")).token);
    // Stop reading: the kernel buffers fill, then uWS buffers, then the hard limit closes it.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const payload = { type: "order.update", pad: "y".repeat(8 * 1024) };
    let pushes = 0;
    while (gateway.drivers!.push(slowIds.userId, payload) && pushes < 10_000) {
      pushes++;
      if (pushes % 50 === 0) {
        fast.send({ type: "ping", id: `p${pushes}` });
        expect(await fast.next((m) => m.id === `p${pushes}`)).toMatchObject({ type: "pong" });
      }
    }
    expect(pushes).toBeLessThan(10_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(disconnected).toContain(slowIds.userId);
    fast.ws.close();
    slow.ws.terminate();
  });

  it("coalesces pushes with a key while the socket is backed up", async () => {
    const ids = await tokenFor("driver");
    const c = await connect(ids.token);
    (c.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    // Fill the kernel's buffers until uWS itself holds some (above the soft limit, below the hard one).
    while (gateway.drivers!.bufferedAmount(ids.userId) < 32 * 1024) {
      gateway.drivers!.push(ids.userId, { type: "filler", pad: "z".repeat(4096) });
      await new Promise((r) => setImmediate(r));
    }
    for (let i = 0; i < 100; i++) gateway.drivers!.push(ids.userId, { type: "surge", seq: i }, "surge");
    (c.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const last = await c.next((m) => m.type === "surge" && m.seq === 99);
    expect(last).toEqual({ type: "surge", seq: 99 });
    const surges = c.messages.filter((m) => m.type === "surge").length;
    expect(surges).toBeLessThan(99); // most were coalesced away
    c.ws.close();
  });
});
