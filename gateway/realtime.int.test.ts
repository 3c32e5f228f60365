import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { io as connectIo, type Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../engine/logger.js";
import { MemoryRefreshTokenStore, MemoryUserStore } from "../storage/memory/identity.js";
import { KeyRing, TokenService } from "./auth/tokens.js";
import { type Gateway, startGateway } from "./server.js";

const redisUrl = process.env.REDIS_URL;
const gateways: Gateway[] = [];
const redisClients: Redis[] = [];
let tokens: TokenService;
const users = new MemoryUserStore();

beforeAll(async () => {
  if (!redisUrl) throw new Error("REDIS_URL is not set: start the services with scripts/services.sh up");
  // Both gateways trust one key, as production gateways share theirs.
  tokens = new TokenService({
    keys: await KeyRing.ephemeral(),
    users,
    refreshTokens: new MemoryRefreshTokenStore(),
    now: Date.now,
  });
  // A per-test key prefix keeps parallel runs apart on one Redis.
  const key = `test-${process.pid}-${Date.now()}`;
  for (let i = 0; i < 2; i++) {
    const pub = new Redis(redisUrl);
    const sub = pub.duplicate();
    redisClients.push(pub, sub);
    gateways.push(
      await startGateway({
        host: "127.0.0.1",
        port: 0,
        logger: silentLogger,
        authenticate: (t) => tokens.verify(t),
        realtime: {
          handlers: { authorizeOrderWatch: async () => {}, areaRoom: () => "a" },
          adapter: createAdapter(pub, sub, { key }),
        },
      }),
    );
  }
});

afterAll(async () => {
  for (const g of gateways) await g.close();
  for (const c of redisClients) c.disconnect();
});

describe("rider pushes across gateways (Redis adapter)", () => {
  it("reaches a rider connected to the other gateway", async () => {
    const u = await users.findOrCreateByPhone("+15555559999", Date.now());
    const token = (await tokens.startSession(u)).accessToken;
    const socket: Socket = connectIo(`http://127.0.0.1:${gateways[1]!.port}/rider`, {
      auth: { token },
      transports: ["websocket"],
      reconnection: false,
    });
    await new Promise((resolve, reject) => {
      socket.once("connect", () => resolve(undefined));
      socket.once("connect_error", reject);
    });
    const got = new Promise((resolve) => socket.once("order.update", resolve));
    // Published on gateway 0, which holds no socket of this rider.
    gateways[0]!.realtime!.toRider(u.id, "order.update", { state: "accepted", eta: 240 });
    expect(await got).toEqual({ state: "accepted", eta: 240 });
    socket.disconnect();
  });
});
