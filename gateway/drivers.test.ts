/**
 * Driver onboarding and the operators' lists over HTTP, through the composed engine: apply,
 * vehicle, review (the role follows, the socket too), paging, idempotent replays, rate limits,
 * and bad input on every new route.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
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
}, 60_000);
afterAll(() => running?.close());

let seq = 0;
const login = (...roles: Role[]) => signIn(running, `+1888100${String(++seq).padStart(4, "0")}`, ...roles);

const call = (
  token: string | undefined,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  to = base,
) => callJson(to + path, method, body, { ...bearer(token), ...headers });

let lic = 0;
const license = () => `DL-${Date.now().toString(36).toUpperCase()}${++lic}`;
const plate = () => `B-${(Date.now() % 1e7).toString(36).toUpperCase()} ${++lic}`;
const vehicle = (over: Record<string, unknown> = {}) => ({
  plate: plate(),
  make: "Toyota",
  model: "Prius",
  color: "white",
  year: 2021,
  vehicleClass: "comfort",
  seats: 4,
  ...over,
});

/** Opens the driver socket; resolves "open" or the HTTP status of a refused upgrade. */
function driverSocket(token: string): Promise<{ outcome: "open" | number; ws: WebSocket }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${running.gateway.port}/v1/driver/ws`, {
      headers: { authorization: `Bearer ${token}` },
    });
    ws.on("open", () => resolve({ outcome: "open", ws }));
    ws.on("unexpected-response", (_q, res) => resolve({ outcome: res.statusCode ?? 0, ws }));
    ws.on("error", () => {});
  });
}

describe("applying to drive and the review", () => {
  it("a rider applies, registers a car, is approved (driver role on refresh), then suspended (socket closed, refused)", async () => {
    const rider = await login();
    const admin = await login("admin");
    const lic1 = license();
    const applied = await call(rider.token, "POST", "/v1/driver/profile", {
      displayName: "  Dana   Driver ",
      licenseNumber: lic1.toLowerCase(),
    });
    expect(applied).toMatchObject({
      status: 200,
      body: {
        driverId: rider.id,
        displayName: "Dana Driver",
        licenseNumber: lic1,
        status: "pending",
        vehicle: null,
      },
    });
    const car = vehicle();
    const v = await call(rider.token, "PUT", "/v1/driver/vehicle", car);
    expect(v).toMatchObject({ status: 200, body: { ...car, id: expect.any(String) } });
    expect((await call(rider.token, "GET", "/v1/driver/profile")).body).toMatchObject({
      status: "pending",
      vehicle: { plate: car.plate, vehicleClass: "comfort" },
    });

    // Not a driver yet: the driver socket refuses.
    expect((await driverSocket(rider.token)).outcome).toBe(403);

    const pending = await call(admin.token, "GET", "/v1/admin/drivers?status=pending&limit=100");
    expect(pending.status).toBe(200);
    expect((pending.body.profiles as { driverId: string }[]).map((p) => p.driverId)).toContain(rider.id);

    const approved = await call(admin.token, "POST", `/v1/admin/drivers/${rider.id}/review`, {
      decision: "approve",
    });
    expect(approved).toMatchObject({
      status: 200,
      body: { status: "approved", reviewedBy: admin.id, reviewedAt: expect.any(Number) },
    });
    expect((await running.users.get(rider.id))?.roles).toEqual(["rider", "driver"]);

    // The next refresh carries the role; the socket admits the driver.
    const refreshed = await call(undefined, "POST", "/v1/auth/refresh", { refreshToken: rider.refreshToken });
    expect((refreshed.body.user as { roles: string[] }).roles).toEqual(["rider", "driver"]);
    const driverToken = refreshed.body.accessToken as string;
    expect((await call(driverToken, "GET", "/v1/driver/stats")).status).toBe(200);
    const { outcome, ws } = await driverSocket(driverToken);
    expect(outcome).toBe("open");
    const closed = new Promise<number>((r) => ws.on("close", (code) => r(code)));

    // An approved profile changes only through review.
    expect(
      (await call(driverToken, "POST", "/v1/driver/profile", { displayName: "X", licenseNumber: license() }))
        .body.code,
    ).toBe("CONFLICT");

    const suspended = await call(admin.token, "POST", `/v1/admin/drivers/${rider.id}/review`, {
      decision: "suspend",
      reason: "complaints",
    });
    expect(suspended.body).toMatchObject({ status: "suspended", reason: "complaints" });
    expect(await closed).toBe(4003);
    // The token still says driver, but the socket checks the stored roles.
    expect((await driverSocket(driverToken)).outcome).toBe(403);
    const again = await call(undefined, "POST", "/v1/auth/refresh", {
      refreshToken: refreshed.body.refreshToken,
    });
    expect((again.body.user as { roles: string[] }).roles).toEqual(["rider"]);

    // Reinstating is an approval.
    expect(
      (await call(admin.token, "POST", `/v1/admin/drivers/${rider.id}/review`, { decision: "approve" })).body
        .status,
    ).toBe("approved");
    expect((await running.users.get(rider.id))?.roles).toEqual(["rider", "driver"]);
  });

  it("a driver whose role was taken away is closed with 4003 when renewing with `auth`", async () => {
    const d = await login("driver");
    const { outcome, ws } = await driverSocket(d.token);
    expect(outcome).toBe("open");
    const closed = new Promise<number>((r) => ws.on("close", (code) => r(code)));
    await running.users.revokeRole(d.id, "driver");
    ws.send(JSON.stringify({ type: "auth", token: d.token, id: "a1" }));
    expect(await closed).toBe(4003);
  });

  it("a rejected applicant may correct and apply again; review rules hold", async () => {
    const rider = await login();
    const admin = await login("admin");
    await call(rider.token, "POST", "/v1/driver/profile", { displayName: "R", licenseNumber: license() });
    const review = (body: unknown, id = rider.id) =>
      call(admin.token, "POST", `/v1/admin/drivers/${id}/review`, body);
    expect((await review({ decision: "suspend", reason: "x" })).body.code).toBe("ILLEGAL_TRANSITION");
    expect((await review({ decision: "reject", reason: "licence photo unreadable" })).body).toMatchObject({
      status: "rejected",
      reason: "licence photo unreadable",
    });
    const again = await call(rider.token, "POST", "/v1/driver/profile", {
      displayName: "R",
      licenseNumber: license(),
    });
    expect(again.body).toMatchObject({ status: "pending", reason: null, reviewedBy: null });
    // Someone else's licence number is refused.
    const other = await login();
    const taken = await call(other.token, "POST", "/v1/driver/profile", {
      displayName: "O",
      licenseNumber: again.body.licenseNumber,
    });
    expect(taken).toMatchObject({ status: 409, body: { code: "CONFLICT" } });
    // And another driver's plate.
    const car = vehicle();
    await call(rider.token, "PUT", "/v1/driver/vehicle", car);
    await call(other.token, "POST", "/v1/driver/profile", { displayName: "O", licenseNumber: license() });
    expect((await call(other.token, "PUT", "/v1/driver/vehicle", car)).body.code).toBe("CONFLICT");
    // An admin may not review their own application.
    await call(admin.token, "POST", "/v1/driver/profile", { displayName: "A", licenseNumber: license() });
    expect((await review({ decision: "approve" }, admin.id)).body.code).toBe("FORBIDDEN");
    expect((await review({ decision: "approve" }, "no-such-user")).body.code).toBe("NOT_FOUND");
  });

  it("pages the review queue and the user list with cursors", async () => {
    const admin = await login("admin");
    const applicants = [];
    for (let i = 0; i < 3; i++) {
      const u = await login();
      await call(u.token, "POST", "/v1/driver/profile", { displayName: `P${i}`, licenseNumber: license() });
      applicants.push(u.id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor === null ? "" : `&cursor=${cursor}`;
      const page = await call(admin.token, "GET", `/v1/admin/drivers?status=pending&limit=2${q}`);
      expect(page.status).toBe(200);
      const profiles = page.body.profiles as { driverId: string; status: string }[];
      expect(profiles.length).toBeLessThanOrEqual(2);
      expect(profiles.every((p) => p.status === "pending")).toBe(true);
      seen.push(...profiles.map((p) => p.driverId));
      cursor = page.body.next as string | null;
    } while (cursor !== null);
    for (const id of applicants) expect(seen).toContain(id);
    expect(new Set(seen).size).toBe(seen.length);

    const users: string[] = [];
    cursor = null;
    do {
      const q: string = cursor === null ? "" : `&cursor=${cursor}`;
      const page = await call(admin.token, "GET", `/v1/admin/users?limit=3${q}`);
      expect(page.status).toBe(200);
      const list = page.body.users as { id: string; phone: string; roles: string[] }[];
      for (const u of list) expect(u.phone).toMatch(/^\+\d+$/);
      users.push(...list.map((u) => u.id));
      cursor = page.body.next as string | null;
    } while (cursor !== null);
    for (const id of [...applicants, admin.id]) expect(users).toContain(id);
    const admins = await call(admin.token, "GET", "/v1/admin/users?role=admin&limit=100");
    expect((admins.body.users as { roles: string[] }[]).every((u) => u.roles.includes("admin"))).toBe(true);
  });

  it("a rider sees only their own profile and no admin list", async () => {
    const a = await login();
    const b = await login();
    await call(a.token, "POST", "/v1/driver/profile", { displayName: "A", licenseNumber: license() });
    expect((await call(b.token, "GET", "/v1/driver/profile")).status).toBe(404);
    expect((await call(b.token, "GET", "/v1/admin/drivers")).status).toBe(403);
    expect((await call(b.token, "GET", "/v1/admin/users")).status).toBe(403);
    expect(
      (await call(b.token, "POST", `/v1/admin/drivers/${a.id}/review`, { decision: "approve" })).status,
    ).toBe(403);
  });
});

describe("bad input on the driver and admin routes", () => {
  it("answers each with 400 INVALID_ARGUMENT (or 404 before applying) and changes nothing", async () => {
    const u = await login();
    const admin = await login("admin");
    const bad = async (method: string, path: string, body: unknown, token = u.token) => {
      const r = await call(token, method, path, body);
      expect(r.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
      expect(r.body.code).toBe("INVALID_ARGUMENT");
    };
    expect((await call(u.token, "GET", "/v1/driver/profile")).body.code).toBe("NOT_FOUND");
    expect((await call(u.token, "PUT", "/v1/driver/vehicle", vehicle())).body.code).toBe("NOT_FOUND");
    for (const body of [
      "{not json",
      "[1]",
      {},
      { displayName: "D" },
      { licenseNumber: "DL-1234" },
      { displayName: 5, licenseNumber: "DL-1234" },
      { displayName: "", licenseNumber: "DL-1234" },
      { displayName: "x".repeat(81), licenseNumber: "DL-1234" },
      { displayName: "a\u0000b", licenseNumber: "DL-1234" },
      { displayName: "D", licenseNumber: "D1" },
      { displayName: "D", licenseNumber: "DL_1234;DROP" },
      { displayName: "D", licenseNumber: 1234567 },
    ])
      await bad("POST", "/v1/driver/profile", body);
    expect((await call(u.token, "GET", "/v1/driver/profile")).status).toBe(404);

    await call(u.token, "POST", "/v1/driver/profile", { displayName: "D", licenseNumber: license() });
    for (const body of [
      {},
      vehicle({ plate: "" }),
      vehicle({ plate: "ÄÖ-1" }),
      vehicle({ plate: 7 }),
      vehicle({ make: "" }),
      vehicle({ model: ["x"] }),
      vehicle({ color: null }),
      vehicle({ year: 1900 }),
      vehicle({ year: 2021.5 }),
      vehicle({ year: "2021" }),
      vehicle({ seats: 0 }),
      vehicle({ seats: 21 }),
      vehicle({ vehicleClass: "Economy" }),
    ])
      await bad("PUT", "/v1/driver/vehicle", body);
    expect((await call(u.token, "GET", "/v1/driver/profile")).body.vehicle).toBeNull();

    for (const q of [
      "status=nope",
      "limit=0",
      "limit=101",
      "limit=abc",
      "cursor=%%%",
      "cursor=bm90LWEtY3Vyc29y",
    ])
      await bad("GET", `/v1/admin/drivers?${q}`, undefined, admin.token);
    for (const q of ["role=boss", "limit=0", "limit=-1", "cursor=xyz"])
      await bad("GET", `/v1/admin/users?${q}`, undefined, admin.token);
    for (const body of [
      {},
      { decision: "promote" },
      { decision: 1 },
      { decision: "reject" },
      { decision: "suspend", reason: "" },
      { decision: "reject", reason: 5 },
    ])
      await bad("POST", `/v1/admin/drivers/${u.id}/review`, body, admin.token);
    expect((await call(u.token, "GET", "/v1/driver/profile")).body.status).toBe("pending");
  });

  it("refuses an oversize profile body with 413", async () => {
    const u = await login();
    const r = await call(u.token, "POST", "/v1/driver/profile", { displayName: "x".repeat(100_000) });
    expect(r).toMatchObject({ status: 413, body: { code: "PAYLOAD_TOO_LARGE" } });
  });
});

describe("Idempotency-Key on the review, cancel and rating", () => {
  it("replays the first response to a retry, and refuses the key for another request", async () => {
    const applicant = await login();
    const admin = await login("admin");
    await call(applicant.token, "POST", "/v1/driver/profile", { displayName: "I", licenseNumber: license() });
    const key = crypto.randomUUID();
    const path = `/v1/admin/drivers/${applicant.id}/review`;
    const first = await call(admin.token, "POST", path, { decision: "approve" }, { "idempotency-key": key });
    expect(first.status).toBe(200);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    const retry = await call(admin.token, "POST", path, { decision: "approve" }, { "idempotency-key": key });
    expect(retry.status).toBe(200);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(retry.body).toEqual(first.body);
    const other = await call(
      admin.token,
      "POST",
      path,
      { decision: "suspend", reason: "x" },
      { "idempotency-key": key },
    );
    expect(other).toMatchObject({ status: 409, body: { code: "CONFLICT" } });
    expect((await running.users.get(applicant.id))?.roles).toContain("driver"); // not suspended
    const badKey = await call(
      admin.token,
      "POST",
      path,
      { decision: "approve" },
      { "idempotency-key": "short" },
    );
    expect(badKey).toMatchObject({ status: 400, body: { code: "INVALID_ARGUMENT" } });
  });

  it("a retried cancel answers the first cancellation instead of ILLEGAL_TRANSITION", async () => {
    const rider = await login();
    const q = await call(rider.token, "POST", "/v1/quotes", {
      pickup: { lat: 41.8781, lng: -87.6298 },
      dropoff: { lat: 41.8947, lng: -87.6212 },
    });
    const order = await call(
      rider.token,
      "POST",
      "/v1/orders",
      { quoteToken: q.body.token },
      { "idempotency-key": crypto.randomUUID() },
    );
    const key = crypto.randomUUID();
    const path = `/v1/orders/${order.body.id}/cancel`;
    const first = await call(rider.token, "POST", path, {}, { "idempotency-key": key });
    expect(first.body).toMatchObject({ state: "cancelled" });
    const retry = await call(rider.token, "POST", path, {}, { "idempotency-key": key });
    expect(retry).toMatchObject({ status: 200, body: first.body });
    // Without the key the engine's own rule answers.
    expect((await call(rider.token, "POST", path, {})).body.code).toBe("ILLEGAL_TRANSITION");
    // A key is scoped to its user: another rider's identical key runs their own request.
    const stranger = await login();
    expect((await call(stranger.token, "POST", path, {}, { "idempotency-key": key })).body.code).toBe(
      "NOT_FOUND",
    );
  });
});

describe("HTTP rate limits", () => {
  it("answers 429 RATE_LIMITED with Retry-After per user, and per address on the login routes", async () => {
    const small = await compose(
      { ...defaults, port: 0, dataDir: ":memory:", httpRatePerMin: 3, authRatePerMin: 2 },
      silentLogger,
    );
    try {
      const to = `http://127.0.0.1:${small.gateway.port}`;
      const u = await small.users.findOrCreateByPhone("+15555550190", Date.now());
      const s = await small.tokens.startSession(u);
      const other = await small.tokens.startSession(await small.users.findOrCreateByPhone("+15555550191", 1));
      for (let i = 0; i < 3; i++)
        expect((await call(s.accessToken, "GET", "/v1/me", undefined, {}, to)).status).toBe(200);
      const refused = await call(s.accessToken, "GET", "/v1/me", undefined, {}, to);
      expect(refused).toMatchObject({ status: 429, body: { code: "RATE_LIMITED" } });
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(120);
      // Another user is not affected.
      expect((await call(other.accessToken, "GET", "/v1/me", undefined, {}, to)).status).toBe(200);

      const codes = [];
      for (let i = 0; i < 3; i++)
        codes.push(
          (await call(undefined, "POST", "/v1/auth/dev/code", { phone: "+15555550192" }, {}, to)).status,
        );
      expect(codes).toEqual([202, 202, 429]);
    } finally {
      await small.close();
    }
  }, 60_000);
});
