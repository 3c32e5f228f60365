import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compose, type Running } from "../cli/compose.js";
import { defaults } from "../cli/config.js";
import type { Role } from "../engine/identity.js";
import { silentLogger } from "../engine/logger.js";
import { bearer, callJson } from "../test/support/http.js";
import { signIn } from "../test/support/sessions.js";

let running: Running;
let base: string;

beforeAll(async () => {
  running = await compose({ ...defaults, port: 0, dataDir: ":memory:" }, silentLogger);
  base = `http://127.0.0.1:${running.gateway.port}`;
});
afterAll(() => running.close());

let seq = 0;
const login = (...roles: Role[]) => signIn(running, `+1888000${String(++seq).padStart(4, "0")}`, ...roles);

// Status and body only: some assertions match the whole response.
const call = async (
  token: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) => {
  const res = await callJson(base + path, method, body, { ...bearer(token), ...headers });
  return { status: res.status, body: res.body };
};

const pickup = { lat: 41.8781, lng: -87.6298 };
const dropoff = { lat: 41.8947, lng: -87.6212 };
const key = () => crypto.randomUUID();

describe("ride API over HTTP", () => {
  it("quotes, orders idempotently, shows the order only to its rider, cancels for free before acceptance", async () => {
    const rider = await login();
    const q = await call(rider.token, "POST", "/v1/quotes", { pickup, dropoff, vehicleClass: "economy" });
    expect(q.status).toBe(200);
    expect(q.body).toMatchObject({
      vehicleClass: "economy",
      currency: expect.any(String),
      fare: expect.any(Number),
    });

    const k = key();
    const created = await call(
      rider.token,
      "POST",
      "/v1/orders",
      { quoteToken: q.body.token },
      { "idempotency-key": k },
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ state: "searching", pickup, dropoff });
    const again = await call(
      rider.token,
      "POST",
      "/v1/orders",
      { quoteToken: q.body.token },
      { "idempotency-key": k },
    );
    expect(again.body.id).toBe(created.body.id);

    const id = created.body.id as string;
    expect((await call(rider.token, "GET", `/v1/orders/${id}`)).body).toMatchObject({
      id,
      state: "searching",
    });
    const stranger = await login();
    expect(await call(stranger.token, "GET", `/v1/orders/${id}`)).toMatchObject({
      status: 404,
      body: { code: "NOT_FOUND" },
    });
    expect((await call(stranger.token, "POST", `/v1/orders/${id}/cancel`, {})).status).toBe(404);

    const trips = await call(rider.token, "GET", "/v1/trips?limit=5");
    expect((trips.body.orders as { id: string }[]).map((o) => o.id)).toEqual([id]);

    const cancelled = await call(rider.token, "POST", `/v1/orders/${id}/cancel`, {});
    expect(cancelled.body).toMatchObject({ state: "cancelled", cancelReason: "by_rider" });
    expect((await call(rider.token, "POST", `/v1/orders/${id}/cancel`, {})).body.code).toBe(
      "ILLEGAL_TRANSITION",
    );
  });

  it("refuses a second order from the same quote and a tampered quote", async () => {
    const rider = await login();
    const q = await call(rider.token, "POST", "/v1/quotes", { pickup, dropoff });
    await call(rider.token, "POST", "/v1/orders", { quoteToken: q.body.token }, { "idempotency-key": key() });
    const second = await call(
      rider.token,
      "POST",
      "/v1/orders",
      { quoteToken: q.body.token },
      { "idempotency-key": key() },
    );
    expect(second).toMatchObject({ status: 409, body: { code: "QUOTE_USED" } });
    const tampered = `${(q.body.token as string).slice(0, -3)}AAA`;
    expect(
      (await call(rider.token, "POST", "/v1/orders", { quoteToken: tampered }, { "idempotency-key": key() }))
        .body.code,
    ).toBe("QUOTE_INVALID");
    const other = await login();
    expect(
      (
        await call(
          other.token,
          "POST",
          "/v1/orders",
          { quoteToken: q.body.token },
          { "idempotency-key": key() },
        )
      ).body.code,
    ).toMatch(/QUOTE_INVALID|NOT_FOUND|FORBIDDEN/);
  });

  it.each([
    ["a quote without pickup", "/v1/quotes", { dropoff }, "INVALID_ARGUMENT"],
    [
      "a quote with NaN-like latitude",
      "/v1/quotes",
      { pickup: { lat: "NaN", lng: 0 }, dropoff },
      "INVALID_COORDINATE",
    ],
    ["a quote off the map", "/v1/quotes", { pickup: { lat: 95, lng: 0 }, dropoff }, "INVALID_COORDINATE"],
    [
      "a quote of an unknown class",
      "/v1/quotes",
      { pickup, dropoff, vehicleClass: "spaceship" },
      "INVALID_ARGUMENT",
    ],
    ["an order without a quote", "/v1/orders", {}, "INVALID_ARGUMENT"],
  ])("answers %s with 400 %s", async (_name, path, body, code) => {
    const rider = await login();
    const res = await call(rider.token, "POST", path, body, { "idempotency-key": key() });
    expect(res).toMatchObject({ status: 400, body: { code } });
  });

  it("needs an idempotency key to order, and a well-formed one", async () => {
    const rider = await login();
    const q = await call(rider.token, "POST", "/v1/quotes", { pickup, dropoff });
    expect((await call(rider.token, "POST", "/v1/orders", { quoteToken: q.body.token })).body.code).toBe(
      "INVALID_ARGUMENT",
    );
    expect(
      (
        await call(
          rider.token,
          "POST",
          "/v1/orders",
          { quoteToken: q.body.token },
          { "idempotency-key": "short" },
        )
      ).body.code,
    ).toBe("INVALID_ARGUMENT");
  });

  it("validates ratings, history paging and the acting side", async () => {
    const rider = await login();
    expect((await call(rider.token, "GET", "/v1/trips?limit=0")).body.code).toBe("INVALID_ARGUMENT");
    expect((await call(rider.token, "GET", "/v1/trips?limit=abc")).body.code).toBe("INVALID_ARGUMENT");
    expect((await call(rider.token, "GET", "/v1/trips?cursor=garbage")).body.code).toBe("INVALID_ARGUMENT");
    expect((await call(rider.token, "GET", "/v1/trips?as=driver")).status).toBe(403);
    expect((await call(rider.token, "GET", "/v1/trips?as=pilot")).body.code).toBe("INVALID_ARGUMENT");
    expect((await call(rider.token, "POST", "/v1/orders/nope/rating", { stars: 9 })).body.code).toBe(
      "INVALID_ARGUMENT",
    );
    expect((await call(rider.token, "POST", "/v1/orders/bad%20id/rating", { stars: 5 })).body.code).toBe(
      "INVALID_ARGUMENT",
    );
  });

  it("lets an admin grant the driver role and read the overview; refuses others", async () => {
    const admin = await login("admin");
    const user = await login();
    expect(await call(admin.token, "POST", `/v1/admin/users/${user.id}/roles`, { role: "driver" })).toEqual({
      status: 200,
      body: { id: user.id, roles: ["rider", "driver"] },
    });
    expect(
      (await call(admin.token, "POST", `/v1/admin/users/${user.id}/roles`, { role: "god" })).status,
    ).toBe(400);
    expect((await call(admin.token, "POST", "/v1/admin/users/nobody/roles", { role: "driver" })).status).toBe(
      404,
    );
    expect(
      (await call(user.token, "POST", `/v1/admin/users/${user.id}/roles`, { role: "admin" })).status,
    ).toBe(403);
    expect((await call(admin.token, "GET", "/v1/admin/overview")).body).toMatchObject({
      driversConnected: 0,
    });
  });
});

describe("driver stats over HTTP", () => {
  it("a driver gets their own figures (zeros for a new driver); a rider is refused", async () => {
    const driver = await login("driver");
    const r = await call(driver.token, "GET", "/v1/driver/stats");
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      driverId: driver.id,
      offered: 0,
      accepted: 0,
      declined: 0,
      timedOut: 0,
      cancelledByDriver: 0,
      completed: 0,
      acceptanceRate: null,
      cancellationRate: null,
    });
    const rider = await login();
    expect((await call(rider.token, "GET", "/v1/driver/stats")).status).toBe(403);
  });
});
