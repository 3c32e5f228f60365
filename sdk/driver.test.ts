import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { DispatchError, ErrorCode } from "../engine/errors.js";
import type { TokenService } from "../gateway/auth/tokens.js";
import type { FixBatch } from "../gateway/driver/codec.js";
import type { Gateway } from "../gateway/server.js";
import type { MemoryUserStore } from "../storage/memory/identity.js";
import { startTestGateway } from "../test/support/gateway.js";
import { DriverClient, SdkError, type WebSocketLike } from "./driver.js";

let gateway: Gateway;
let tokens: TokenService;
let users: MemoryUserStore;
const batches: FixBatch[] = [];
let offer: unknown = null;

beforeAll(async () => {
  ({ gateway, tokens, users } = await startTestGateway({
    driverHandlers: {
      fixes: (_d, b) => {
        batches.push(b);
        return { applied: b.count, dropped: 0 };
      },
      status: async (_d, s) => ({ status: s }),
      acceptOffer: async (_d, id) => {
        if (id !== "of-1") throw new DispatchError(ErrorCode.NotFound, "gone");
        return { orderId: "o-1" };
      },
      declineOffer: async () => ({}),
      tripEvent: async () => ({}),
      connected: async () => ({ offer }),
      disconnected: () => {},
    },
  }));
});
afterAll(() => gateway.close());

const factory = (url: string) => new WebSocket(url) as unknown as WebSocketLike;

async function driverToken() {
  const u = await users.findOrCreateByPhone("+15550001111", Date.now());
  await users.grantRole(u.id, "driver");
  return { id: u.id, token: (await tokens.startSession((await users.get(u.id))!)).accessToken };
}

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("DriverClient", () => {
  it("connects, sends fixes and requests, resumes its offer after a reconnect, flushes buffered fixes", async () => {
    const { id, token } = await driverToken();
    const client = new DriverClient({
      url: `ws://127.0.0.1:${gateway.port}`,
      getToken: async () => token,
      webSocket: factory,
      // Long enough that the test acts inside the disconnected window, short enough to be quick.
      minReconnectMs: 400,
    });
    expect(await client.connect()).toMatchObject({ type: "welcome", driverId: id, state: { offer: null } });

    const t0 = Date.UTC(2026, 10, 27);
    client.sendFix({ lat: 41.88, lng: -87.63, t: t0 });
    await until(() => batches.length === 1);
    expect(await client.setStatus("online")).toMatchObject({ type: "ack", result: { status: "online" } });
    expect(await client.acceptOffer("of-1")).toMatchObject({ result: { orderId: "o-1" } });
    await expect(client.acceptOffer("of-2")).rejects.toEqual(new SdkError("NOT_FOUND", "gone"));

    // The server drops every driver socket; meanwhile an offer is made and fixes pile up.
    const welcomes: Record<string, unknown>[] = [];
    client.on("welcome", (w) => welcomes.push(w));
    offer = { offerId: "of-9", orderId: "o-9" };
    const closed = new Promise((resolve) => client.on("close", resolve));
    gateway.drivers!.closeAll();
    await closed;
    expect(client.connected).toBe(false);
    await expect(client.ping()).rejects.toMatchObject({ code: "DISCONNECTED", temporary: true });
    for (let i = 1; i <= 600; i++) client.sendFix({ lat: 41.88, lng: -87.63, t: t0 + i * 1000 });
    await until(() => welcomes.length === 1);
    expect(welcomes[0]).toMatchObject({ state: { offer: { offerId: "of-9" } } });
    await until(() => batches.reduce((n, b) => n + b.count, 0) === 601);
    // Buffered fixes arrive in order, in batches of at most 500.
    expect(batches.slice(1).map((b) => b.count)).toEqual([500, 100]);
    expect(batches[2]!.timesMs[99]).toBe(t0 + 600_000);
    client.close();
  }, 30_000);
});
