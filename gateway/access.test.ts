/**
 * The role matrix: every HTTP route and every socket of the access table, for every role and for
 * every kind of bad credential, is allowed or refused exactly as the table says. It walks the
 * table, so a new route is covered the moment it is listed.
 */
import { SignJWT, UnsecuredJWT } from "jose";
import { io as connectIo } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { DispatchError } from "../engine/errors.js";
import { type Role, roles } from "../engine/identity.js";
import { silentLogger } from "../engine/logger.js";
import { MemoryRefreshTokenStore, MemoryUserStore } from "../storage/memory/identity.js";
import { type Access, allows, httpAccess, socketAccess } from "./access.js";
import { authRoutes } from "./auth/routes.js";
import { KeyRing, TokenService } from "./auth/tokens.js";
import type { Handler } from "./router.js";
import { type Gateway, startGateway } from "./server.js";

let gateway: Gateway;
let keys: KeyRing;
let tokens: TokenService;
let now = Date.now();
const users = new MemoryUserStore();

beforeAll(async () => {
  keys = await KeyRing.ephemeral("k1");
  tokens = new TokenService({ keys, users, refreshTokens: new MemoryRefreshTokenStore(), now: () => now });
  // Every route of the table gets a handler: the real one where it exists, else one that
  // answers 200, so the matrix tests the access layer and nothing else.
  const real = authRoutes({ tokens, users, now: () => now, firebase: undefined, devCodes: undefined });
  const routes = Object.fromEntries(
    Object.keys(httpAccess).map((k) => [
      k,
      real[k as keyof typeof httpAccess] ?? (async () => ({ body: {} })),
    ]),
  ) as Record<keyof typeof httpAccess, Handler>;
  gateway = await startGateway({
    host: "127.0.0.1",
    port: 0,
    logger: silentLogger,
    authenticate: (t) => tokens.verify(t),
    routes,
    driverHandlers: {
      fixes: (_d, b) => ({ applied: b.count, dropped: 0 }),
      status: async () => ({}),
      acceptOffer: async () => ({}),
      declineOffer: async () => ({}),
      tripEvent: async () => ({}),
      connected: async () => ({}),
      disconnected: () => {},
    },
    realtime: {
      handlers: {
        authorizeOrderWatch: async () => {},
        areaRoom: () => "a",
      },
    },
  });
});
afterAll(() => gateway.close());

let seq = 0;
async function tokenWith(r: Role[]): Promise<string> {
  const u = await users.findOrCreateByPhone(`+1777000${String(++seq).padStart(4, "0")}`, now);
  return (await tokens.startSession({ ...u, roles: r })).accessToken;
}

type Credential = { name: string; token: () => Promise<string | undefined>; roles: Role[] | undefined };
const credentials: Credential[] = [
  ...roles.map((r) => ({ name: `role ${r}`, token: () => tokenWith([r]), roles: [r] })),
  { name: "no token", token: async () => undefined, roles: undefined },
  {
    name: "an expired token",
    // Issued now; tokenFor moves the clock past its expiry before it is used.
    token: () => tokenWith(["rider", "driver", "admin"]),
    roles: undefined,
  },
  {
    name: "a tampered token",
    token: async () => {
      const [h, , s] = (await tokenWith(["rider"])).split(".");
      const body = Buffer.from(
        JSON.stringify({
          sub: "x",
          roles: ["rider", "driver", "admin"],
          iss: "dispatch",
          aud: "dispatch-api",
          exp: 9e9,
        }),
      ).toString("base64url");
      return `${h}.${body}.${s}`;
    },
    roles: undefined,
  },
  {
    name: "alg none",
    token: async () =>
      new UnsecuredJWT({ roles: ["rider", "driver", "admin"] })
        .setSubject("x")
        .setIssuer("dispatch")
        .setAudience("dispatch-api")
        .setExpirationTime("1h")
        .encode(),
    roles: undefined,
  },
  {
    name: "the wrong audience",
    token: async () =>
      new SignJWT({ roles: ["rider", "driver", "admin"] })
        .setProtectedHeader({ alg: "ES256", kid: "k1" })
        .setSubject("x")
        .setIssuer("dispatch")
        .setAudience("someone-else")
        .setExpirationTime("1h")
        .sign(keys.current.privateKey),
    roles: undefined,
  },
];

/** What the table says a credential gets: allowed, or the HTTP status of the refusal. */
function expected(access: Access, c: Credential): "allowed" | 401 | 403 {
  if (access === "public") return "allowed";
  if (c.roles === undefined) return 401;
  return allows(access, c.roles) ? "allowed" : 403;
}

async function tokenFor(c: Credential): Promise<string | undefined> {
  const t = await c.token();
  if (c.name === "an expired token") now += 3600_000;
  return t;
}

describe("HTTP role matrix", () => {
  for (const [route, access] of Object.entries(httpAccess) as [string, Access][]) {
    for (const c of credentials) {
      const want = expected(access, c);
      it(`${route} with ${c.name}: ${want}`, async () => {
        const token = await tokenFor(c);
        try {
          const [method, pattern] = route.split(" ") as [string, string];
          const res = await fetch(`http://127.0.0.1:${gateway.port}${pattern.replace(/:\w+/g, "x")}`, {
            method,
            headers: {
              ...(token ? { authorization: `Bearer ${token}` } : {}),
              ...(method === "GET" ? {} : { "content-type": "application/json" }),
            },
            ...(method === "GET" ? {} : { body: "{}" }),
          });
          const body = (await res.json()) as { code?: string };
          if (want === "allowed") {
            expect([401, 403]).not.toContain(res.status);
          } else {
            expect(res.status).toBe(want);
            expect(body.code).toMatch(want === 401 ? /^(UNAUTHENTICATED|TOKEN_EXPIRED)$/ : /^FORBIDDEN$/);
          }
        } finally {
          now = Date.now();
        }
      });
    }
  }
});

describe("socket role matrix", () => {
  for (const c of credentials) {
    const want = expected(socketAccess.driver.connect, c);
    it(`driver socket with ${c.name}: ${want}`, async () => {
      const token = await tokenFor(c);
      try {
        const status = await new Promise<number | "allowed">((resolve) => {
          const ws = new WebSocket(`ws://127.0.0.1:${gateway.port}/v1/driver/ws`, {
            headers: token ? { authorization: `Bearer ${token}` } : {},
          });
          ws.on("open", () => {
            ws.close();
            resolve("allowed");
          });
          ws.on("unexpected-response", (_q, res) => resolve(res.statusCode ?? 0));
          ws.on("error", () => {});
        });
        expect(status).toBe(want);
      } finally {
        now = Date.now();
      }
    });

    for (const ns of ["rider", "admin"] as const) {
      const wantNs = expected(socketAccess[ns].connect, c);
      it(`/${ns} channel with ${c.name}: ${wantNs}`, async () => {
        const token = await tokenFor(c);
        try {
          const s = connectIo(`http://127.0.0.1:${gateway.port}/${ns}`, {
            auth: { token },
            transports: ["websocket"],
            reconnection: false,
          });
          const outcome = await new Promise<string>((resolve) => {
            s.once("connect", () => resolve("allowed"));
            s.once("connect_error", (err) =>
              resolve((err as unknown as { data?: { code?: string } }).data?.code ?? "?"),
            );
          });
          s.disconnect();
          if (wantNs === "allowed") expect(outcome).toBe("allowed");
          else expect(outcome).toMatch(wantNs === 401 ? /^(UNAUTHENTICATED|TOKEN_EXPIRED)$/ : /^FORBIDDEN$/);
        } finally {
          now = Date.now();
        }
      });
    }
  }

  it("every socket message type of the table names only known roles", () => {
    for (const sock of Object.values(socketAccess)) {
      for (const access of Object.values(sock.messages) as Access[]) {
        expect(access === "public" || access.every((r) => roles.includes(r))).toBe(true);
      }
    }
  });

  it("refuses a revoked refresh token", async () => {
    const u = await users.findOrCreateByPhone("+17770009999", now);
    const s = await tokens.startSession(u);
    await tokens.revoke(s.refreshToken);
    const res = await fetch(`http://127.0.0.1:${gateway.port}/v1/auth/refresh`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refreshToken: s.refreshToken }),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as DispatchError).code).toBe("UNAUTHENTICATED");
  });
});
