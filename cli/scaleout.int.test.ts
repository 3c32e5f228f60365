/**
 * Two engines composed as two `dispatch serve` processes of one deployment would be: the same
 * real PostgreSQL, the same Redis, the same signing key. A rider orders through one node and
 * watches the order on the other; the push crosses nodes through the Socket.IO Redis adapter
 * that the composition root attaches when REDIS_URL is set. The driver's fixes reach the shared
 * live positions in Redis whichever node took them.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportPKCS8, exportSPKI, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { silentLogger } from "../engine/logger.js";
import { DriverClient, type WebSocketLike } from "../sdk/driver.js";
import { RiderClient } from "../sdk/rider.js";
import { serviceEnv } from "../test/integration/services-env.js";
import { randomPhone, signIn } from "../test/support/sessions.js";
import { until } from "../test/support/until.js";
import { compose, type Running } from "./compose.js";
import { loadConfig } from "./config.js";

const nodes: Running[] = [];
let keyDir: string;

beforeAll(async () => {
  keyDir = await mkdtemp(join(tmpdir(), "dispatch-scaleout-"));
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  await writeFile(join(keyDir, "private.pem"), await exportPKCS8(privateKey));
  await writeFile(join(keyDir, "public.pem"), await exportSPKI(publicKey));
  for (let i = 0; i < 2; i++) {
    nodes.push(
      await compose(
        loadConfig({
          PORT: "0",
          DATABASE_URL: serviceEnv("DATABASE_URL"),
          REDIS_URL: serviceEnv("REDIS_URL"),
          PHONE_SECRET: "scaleout-test-phone-secret-0123456789abcdef",
          QUOTE_KEY: "scaleout-test-quote-key-0123456789abcdef",
          JWT_PRIVATE_KEY_FILE: join(keyDir, "private.pem"),
          JWT_PUBLIC_KEY_FILE: join(keyDir, "public.pem"),
        }),
        silentLogger,
      ),
    );
  }
});

afterAll(async () => {
  for (const n of nodes.splice(0)) await n.close();
  if (keyDir) await rm(keyDir, { recursive: true, force: true });
});

// Quick polls: the pushes and writes waited for are local and take milliseconds.
const soon = <T>(what: string, probe: () => T | undefined | Promise<T | undefined>) =>
  until(what, probe, 10_000, 25);

describe("two engines sharing PostgreSQL and Redis", () => {
  it("a push for an order taken by one node reaches its rider connected to the other", async () => {
    const [a, b] = nodes as [Running, Running];
    const { token: accessToken } = await signIn(a, randomPhone());
    const onA = new RiderClient({
      url: `http://127.0.0.1:${a.gateway.port}`,
      getToken: async () => accessToken,
    });
    // The same token opens the live channel on the other node (one signing key, one user table).
    const onB = new RiderClient({
      url: `http://127.0.0.1:${b.gateway.port}`,
      getToken: async () => accessToken,
    });
    await onB.connect();
    try {
      const updates: Record<string, unknown>[] = [];
      onB.on("order.update", (m) => updates.push(m));
      const quote = (await onA.quote({ lat: 41.8781, lng: -87.6298 }, { lat: 41.89, lng: -87.62 })) as {
        token: string;
      };
      const order = (await onA.order(quote.token)) as { id: string };
      expect(await onB.watchOrder(order.id)).toMatchObject({ ok: true });
      await onA.cancel(order.id);
      const cancelled = await soon("the cancellation pushed through node B", () =>
        updates.find(
          (u) =>
            (u.order as { state?: string } | undefined)?.state === "cancelled" || u.state === "cancelled",
        ),
      );
      expect(JSON.stringify(cancelled)).toContain(order.id);
    } finally {
      onB.close();
    }
  });

  it("a driver's fix and presence taken by one node are in the shared live state", async () => {
    const [a, b] = nodes as [Running, Running];
    const { id, token: accessToken } = await signIn(a, randomPhone(), "driver");
    const driver = new DriverClient({
      url: `ws://127.0.0.1:${b.gateway.port}`,
      getToken: async () => accessToken,
      webSocket: (url) => new WebSocket(url) as unknown as WebSocketLike,
    });
    await driver.connect();
    try {
      const t = Date.now();
      expect(await driver.request({ type: "fix", lat: 41.8801, lng: -87.6301, t })).toMatchObject({
        applied: 1,
      });
      const seen = await soon(
        "the fix in Redis, read through node A",
        async () => (await a.storage.redis!.livePositions.get(id)) ?? undefined,
      );
      expect(seen).toEqual({ driverId: id, lat: 41.8801, lng: -87.6301, t });

      // Online on node B is online for node A; offline at once.
      const presence = a.storage.redis!.presence;
      expect(await presence.isOnline(id, Date.now())).toBe(false);
      await driver.request({ type: "status", status: "online" });
      expect(await presence.isOnline(id, Date.now())).toBe(true);
      await driver.request({ type: "status", status: "offline" });
      expect(await presence.isOnline(id, Date.now())).toBe(false);
    } finally {
      driver.close();
    }
  });
});
