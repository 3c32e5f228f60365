import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compose, type Running } from "../../cli/compose.js";
import { defaults } from "../../cli/config.js";
import { type Logger, silentLogger } from "../../engine/logger.js";

let running: Running;
let base: string;
const codes = new Map<string, string>();
const logger: Logger = {
  ...silentLogger,
  info(msg, fields) {
    if (msg === "development login code") codes.set(fields!.phone as string, fields!.code as string);
  },
};

beforeAll(async () => {
  running = await compose({ ...defaults, port: 0, dataDir: ":memory:" }, logger);
  base = `http://127.0.0.1:${running.gateway.port}`;
});
afterAll(() => running.close());

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(base + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function devLogin(phone: string) {
  expect((await post("/v1/auth/dev/code", { phone })).status).toBe(202);
  const res = await post("/v1/auth/dev/login", { phone, code: codes.get(phone) });
  expect(res.status).toBe(200);
  return res.body as { accessToken: string; refreshToken: string; user: { id: string; roles: string[] } };
}

describe("development login and sessions over HTTP", () => {
  it("logs in with the console code, reads /v1/me, refreshes, logs out", async () => {
    const s = await devLogin("+15555550101");
    expect(s.user.roles).toEqual(["rider"]);
    const me = await fetch(`${base}/v1/me`, { headers: { authorization: `Bearer ${s.accessToken}` } });
    expect(me.status).toBe(200);
    expect(await me.json()).toEqual({ id: s.user.id, phone: "+15555550101", roles: ["rider"] });

    const r = await post("/v1/auth/refresh", { refreshToken: s.refreshToken });
    expect(r.status).toBe(200);
    expect((await post("/v1/auth/refresh", { refreshToken: s.refreshToken })).body.code).toBe(
      "REFRESH_REUSED",
    );
    expect((await post("/v1/auth/logout", { refreshToken: r.body.refreshToken })).status).toBe(200);
  });

  it("gives the same user on a second login with the same phone", async () => {
    const a = await devLogin("+15555550102");
    const b = await devLogin("+15555550102");
    expect(b.user.id).toBe(a.user.id);
  });

  it("refuses a wrong code, and burns the code after five wrong tries", async () => {
    const phone = "+15555550103";
    await post("/v1/auth/dev/code", { phone });
    for (let i = 0; i < 5; i++) {
      const r = await post("/v1/auth/dev/login", { phone, code: "000000x" });
      expect(r).toEqual({ status: 401, body: { code: "UNAUTHENTICATED", message: "wrong or expired code" } });
    }
    expect((await post("/v1/auth/dev/login", { phone, code: codes.get(phone) })).status).toBe(401);
  });

  it("says Firebase login is not configured when it is not", async () => {
    expect(await post("/v1/auth/firebase", { idToken: "x".repeat(40) })).toMatchObject({
      status: 503,
      body: { code: "UNAVAILABLE" },
    });
  });

  it("serves the OpenAPI document", async () => {
    const res = await fetch(`${base}/openapi.json`);
    expect(((await res.json()) as { openapi: string }).openapi).toBe("3.1.0");
  });

  it("serves the JWKS", async () => {
    const res = await fetch(`${base}/.well-known/jwks.json`);
    const jwks = (await res.json()) as { keys: { kid: string; alg: string; d?: string }[] };
    expect(jwks.keys[0]).toMatchObject({ kid: "k1", alg: "ES256" });
    expect(jwks.keys[0]!.d).toBeUndefined(); // never the private part
  });
});

describe("bad input on the HTTP API", () => {
  it("answers malformed JSON, non-objects, wrong content type and bad fields with 400 and a code", async () => {
    expect(await post("/v1/auth/dev/code", "{not json")).toMatchObject({
      status: 400,
      body: { code: "INVALID_ARGUMENT", message: expect.stringMatching(/not valid JSON/) },
    });
    expect((await post("/v1/auth/dev/code", "[1,2]")).body.code).toBe("INVALID_ARGUMENT");
    expect((await post("/v1/auth/dev/code", { phone: 15555550100 })).body.code).toBe("INVALID_ARGUMENT");
    expect((await post("/v1/auth/dev/code", { phone: "+1 555" })).body.code).toBe("INVALID_ARGUMENT");
    const res = await fetch(`${base}/v1/auth/dev/code`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "phone=+15555550100",
    });
    expect(res.status).toBe(400);
  });

  it("refuses an oversize body with 413 and stays up", async () => {
    const r = await post("/v1/auth/dev/code", { phone: "+15555550100", pad: "x".repeat(200_000) });
    expect(r).toMatchObject({ status: 413, body: { code: "PAYLOAD_TOO_LARGE" } });
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it("refuses missing, malformed and forged bearer tokens", async () => {
    for (const authorization of [undefined, "Basic abc", "Bearer", "Bearer a.b.c", "Bearer  two  spaces"]) {
      const res = await fetch(`${base}/v1/me`, { headers: authorization ? { authorization } : {} });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { code: string }).code).toBe("UNAUTHENTICATED");
    }
  });
});
