import { io as connectIo, type Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DispatchError, ErrorCode } from "../engine/errors.js";
import type { Role } from "../engine/identity.js";
import type { MemoryUserStore } from "../storage/memory/identity.js";
import { startTestGateway } from "../test/support/gateway.js";
import type { TokenService } from "./auth/tokens.js";
import type { Gateway } from "./server.js";

let gateway: Gateway;
let tokens: TokenService;
let users: MemoryUserStore;
const orderOwner = new Map<string, string>();
const sockets: Socket[] = [];

beforeAll(async () => {
  ({ gateway, tokens, users } = await startTestGateway({
    realtime: {
      handlers: {
        async authorizeOrderWatch(riderId, orderId) {
          if (orderOwner.get(orderId) !== riderId)
            throw new DispatchError(ErrorCode.NotFound, "no such order");
        },
        areaRoom: (lat, lng) => `${Math.floor(lat)}:${Math.floor(lng)}`,
      },
    },
  }));
});
afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await gateway.close();
});

let seq = 0;
async function user(...roles: Role[]) {
  const u = await users.findOrCreateByPhone(`+1666000${String(++seq).padStart(4, "0")}`, Date.now());
  for (const r of roles) await users.grantRole(u.id, r);
  return { id: u.id, token: (await tokens.startSession((await users.get(u.id))!)).accessToken };
}

function open(ns: "/rider" | "/admin", token: unknown): Promise<Socket> {
  const s = connectIo(`http://127.0.0.1:${gateway.port}${ns}`, {
    auth: { token },
    transports: ["websocket"],
    reconnection: false,
  });
  sockets.push(s);
  return new Promise((resolve, reject) => {
    s.once("connect", () => resolve(s));
    s.once("connect_error", (err) => reject(err));
  });
}

const call = (s: Socket, event: string, payload?: unknown) =>
  s.timeout(5000).emitWithAck(event, payload) as Promise<Record<string, unknown>>;

describe("rider channel", () => {
  it("refuses no token, a bad token and a driver-only user with coded errors", async () => {
    for (const token of [undefined, "nope"]) {
      await expect(open("/rider", token)).rejects.toMatchObject({ data: { code: "UNAUTHENTICATED" } });
    }
    const admin = await user("admin");
    await expect(open("/rider", admin.token)).resolves.toBeDefined(); // admins are riders too
    await expect(open("/admin", (await user()).token)).rejects.toMatchObject({ data: { code: "FORBIDDEN" } });
  });

  it("pushes to the rider's own room and to watched orders only", async () => {
    const a = await user();
    const b = await user();
    orderOwner.set("order-a", a.id);
    const sa = await open("/rider", a.token);
    const sb = await open("/rider", b.token);
    const gotB: unknown[] = [];
    sb.on("order.update", (m) => gotB.push(m));

    expect(await call(sa, "order.watch", { orderId: "order-a" })).toEqual({ ok: true, orderId: "order-a" });
    // b may not watch a's order, and learns nothing about it.
    expect(await call(sb, "order.watch", { orderId: "order-a" })).toEqual({
      ok: false,
      error: { code: "NOT_FOUND", message: "no such order" },
    });

    const received = new Promise((r) => sa.once("order.update", r));
    gateway.realtime!.toOrder("order-a", "order.update", { orderId: "order-a", state: "offered" });
    expect(await received).toEqual({ orderId: "order-a", state: "offered" });
    const direct = new Promise((r) => sa.once("notice", r));
    gateway.realtime!.toRider(a.id, "notice", { hello: 1 });
    expect(await direct).toEqual({ hello: 1 });
    await new Promise((r) => setTimeout(r, 100));
    expect(gotB).toEqual([]);
  });

  it("joins one area room at a time", async () => {
    const a = await user();
    const s = await open("/rider", a.token);
    expect(await call(s, "area.watch", { lat: 41.9, lng: -87.6 })).toEqual({ ok: true, room: "area:41:-88" });
    expect(await call(s, "area.watch", { lat: 40.1, lng: -87.6 })).toEqual({ ok: true, room: "area:40:-88" });
    const got: unknown[] = [];
    s.on("surge", (m) => got.push(m));
    gateway.realtime!.toArea("41:-88", "surge", { old: true });
    gateway.realtime!.toArea("40:-88", "surge", { current: true });
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toEqual([{ current: true }]);
  });

  it.each([
    ["order.watch", undefined, "INVALID_ARGUMENT"],
    ["order.watch", "order-a", "INVALID_ARGUMENT"],
    ["order.watch", { orderId: 7 }, "INVALID_ARGUMENT"],
    ["order.watch", { orderId: "x".repeat(129) }, "INVALID_ARGUMENT"],
    ["area.watch", { lat: "41", lng: 0 }, "INVALID_COORDINATE"],
    ["area.watch", { lat: 91, lng: 0 }, "INVALID_COORDINATE"],
    ["area.watch", { lat: 0, lng: Number.NaN }, "INVALID_COORDINATE"],
    ["admin.watch", { topic: "city" }, "INVALID_ARGUMENT"],
    ["teleport", {}, "INVALID_ARGUMENT"],
  ])("answers %s with %j by %s", async (event, payload, code) => {
    const s = await open("/rider", (await user()).token);
    const reply = await call(s, event, payload);
    expect(reply).toMatchObject({ ok: false, error: { code, message: expect.any(String) } });
    // Nothing changed and the socket still answers.
    expect(await call(s, "ping")).toMatchObject({ ok: true });
  });

  it("rate-limits a flood of events", async () => {
    const s = await open("/rider", (await user()).token);
    const replies = await Promise.all(Array.from({ length: 40 }, () => call(s, "ping")));
    expect(replies.filter((r) => r.ok)).toHaveLength(20);
    expect(replies.find((r) => !r.ok)).toMatchObject({ error: { code: "RATE_LIMITED" } });
  });
});

describe("admin channel", () => {
  it("lets admins watch topics and refuses bad ones", async () => {
    const s = await open("/admin", (await user("admin")).token);
    expect(await call(s, "admin.watch", { topic: "metrics" })).toEqual({ ok: true, topic: "metrics" });
    expect(await call(s, "admin.watch", { topic: "secrets" })).toMatchObject({
      ok: false,
      error: { code: "INVALID_ARGUMENT" },
    });
    expect(await call(s, "order.watch", { orderId: "x" })).toMatchObject({
      ok: false,
      error: { code: "INVALID_ARGUMENT" },
    });
    const got = new Promise((r) => s.once("metrics", r));
    gateway.realtime!.toAdmins("metrics", "metrics", { sockets: 1 });
    expect(await got).toEqual({ sockets: 1 });
  });
});
