/**
 * End to end against the real Firebase Auth emulator: a phone code, a Firebase ID token, our
 * JWT; then a driver streams fixes over the driver socket and a rider connects to the live
 * channel, all through the composed engine as `dispatch serve` runs it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { silentLogger } from "../engine/logger.js";
import { DriverClient, type WebSocketLike } from "../sdk/driver.js";
import { RiderClient } from "../sdk/rider.js";
import { phoneSignIn } from "../test/integration/firebase-phone.js";
import { serviceEnv } from "../test/integration/services-env.js";
import { compose, type Running } from "./compose.js";
import { loadConfig } from "./config.js";

let running: Running;
let base: string;

beforeAll(async () => {
  serviceEnv("FIREBASE_AUTH_EMULATOR_HOST");
  running = await compose(
    // The real PostgreSQL of the services (DATABASE_URL from the environment) behind the real Firebase emulator.
    loadConfig({
      PORT: "0",
      DATABASE_URL: serviceEnv("DATABASE_URL"),
      PHONE_SECRET: "e2e-test-phone-secret-0123456789abcdef",
      FIREBASE_PROJECT_ID: serviceEnv("FIREBASE_PROJECT_ID"),
    }),
    silentLogger,
  );
  base = `http://127.0.0.1:${running.gateway.port}`;
});
afterAll(() => running?.close());

async function post(path: string, body: unknown) {
  const res = await fetch(base + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const randomPhone = () => `+1555${String(Math.floor(Math.random() * 1e7)).padStart(7, "0")}`;

describe("Firebase phone login to live sockets", () => {
  it("signs in by phone, streams driver fixes and connects a rider", async () => {
    // Driver: phone code -> Firebase ID token -> our session.
    const driverPhone = randomPhone();
    const firebase = await phoneSignIn(driverPhone);
    const login = await post("/v1/auth/firebase", { idToken: firebase.idToken });
    expect(login.status).toBe(200);
    const user = login.body.user as { id: string; roles: string[] };
    expect(user.roles).toEqual(["rider"]);
    const me = await fetch(`${base}/v1/me`, {
      headers: { authorization: `Bearer ${login.body.accessToken}` },
    });
    expect(await me.json()).toMatchObject({ id: user.id, phone: driverPhone });

    // The same phone signs in as the same user.
    const again = await post("/v1/auth/firebase", { idToken: (await phoneSignIn(driverPhone)).idToken });
    expect((again.body.user as { id: string }).id).toBe(user.id);

    // An operator approves the driver; a refresh carries the new role.
    await running.users.grantRole(user.id, "driver");
    const refreshed = await post("/v1/auth/refresh", { refreshToken: login.body.refreshToken });
    expect((refreshed.body.user as { roles: string[] }).roles).toEqual(["rider", "driver"]);

    const driver = new DriverClient({
      url: `ws://127.0.0.1:${running.gateway.port}`,
      getToken: async () => refreshed.body.accessToken as string,
      webSocket: (u) => new WebSocket(u) as unknown as WebSocketLike,
    });
    expect(await driver.connect()).toMatchObject({ type: "welcome", driverId: user.id });
    const t0 = Date.now();
    for (let i = 0; i < 5; i++)
      driver.sendFix({ lat: 41.88 + i * 1e-4, lng: -87.63, t: t0 + i * 1000, speed: 10 });
    const ack = await driver.request({
      type: "fixes",
      fixes: [{ lat: 41.8806, lng: -87.63, t: t0 + 6000 }],
    });
    expect(ack).toMatchObject({ type: "ack", applied: 1, dropped: 0 });
    // A replayed old fix is dropped, not applied.
    expect(await driver.request({ type: "fix", lat: 41.88, lng: -87.63, t: t0 })).toMatchObject({
      dropped: 1,
    });
    driver.close();

    // Rider: another phone, the live channel.
    const riderLogin = await post("/v1/auth/firebase", {
      idToken: (await phoneSignIn(randomPhone())).idToken,
    });
    const rider = new RiderClient({ url: base, getToken: async () => riderLogin.body.accessToken as string });
    await rider.connect();
    expect(await rider.watchArea({ lat: 41.88, lng: -87.63 })).toMatchObject({ ok: true });
    rider.close();
  });

  it("refuses a forged Firebase token", async () => {
    const res = await post("/v1/auth/firebase", {
      idToken: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.sig-sig-sig",
    });
    expect(res).toMatchObject({ status: 401, body: { code: "UNAUTHENTICATED" } });
  });
});
