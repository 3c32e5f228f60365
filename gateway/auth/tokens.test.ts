import { SignJWT, UnsecuredJWT } from "jose";
import { beforeEach, describe, expect, it } from "vitest";
import type { User } from "../../engine/identity.js";
import { MemoryRefreshTokenStore, MemoryUserStore } from "../../storage/memory/identity.js";
import { KeyRing, TokenService } from "./tokens.js";

let now = Date.UTC(2026, 0, 1);
let keys: KeyRing;
let users: MemoryUserStore;
let svc: TokenService;
let user: User;

beforeEach(async () => {
  now = Date.UTC(2026, 0, 1);
  keys = await KeyRing.ephemeral("k1");
  users = new MemoryUserStore();
  svc = new TokenService({ keys, users, refreshTokens: new MemoryRefreshTokenStore(), now: () => now });
  user = await users.findOrCreateByPhone("+15555550100", now);
});

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as { code: string }).code;
  }
  return "resolved";
}

const parts = (t: string) => t.split(".") as [string, string, string];
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

describe("access tokens", () => {
  it("round-trips the user and roles", async () => {
    const s = await svc.startSession(user);
    expect(await svc.verify(s.accessToken)).toEqual({
      userId: user.id,
      roles: ["rider"],
      expiresAt: now + 900_000,
    });
    expect(s.expiresIn).toBe(900);
  });

  it("expires", async () => {
    const s = await svc.startSession(user);
    now += 900_000 + 6_000;
    expect(await code(svc.verify(s.accessToken))).toBe("TOKEN_EXPIRED");
  });

  it("refuses a tampered payload", async () => {
    const s = await svc.startSession(user);
    const [h, , sig] = parts(s.accessToken);
    const forged = `${h}.${b64({ sub: user.id, roles: ["admin"], iss: "dispatch", aud: "dispatch-api", exp: 9e9 })}.${sig}`;
    expect(await code(svc.verify(forged))).toBe("UNAUTHENTICATED");
  });

  it("refuses alg none", async () => {
    const t = new UnsecuredJWT({ roles: ["admin"] })
      .setSubject(user.id)
      .setIssuer("dispatch")
      .setAudience("dispatch-api")
      .setExpirationTime("1h")
      .encode();
    expect(await code(svc.verify(t))).toBe("UNAUTHENTICATED");
  });

  it("refuses HS256 signed with anything (algorithm confusion)", async () => {
    const t = await new SignJWT({ roles: ["admin"] })
      .setProtectedHeader({ alg: "HS256", kid: "k1" })
      .setSubject(user.id)
      .setIssuer("dispatch")
      .setAudience("dispatch-api")
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode("a-guessable-secret-of-32-bytes!!"));
    expect(await code(svc.verify(t))).toBe("UNAUTHENTICATED");
  });

  it("refuses the wrong audience and the wrong issuer", async () => {
    const other = new TokenService({
      keys,
      users,
      refreshTokens: new MemoryRefreshTokenStore(),
      now: () => now,
      audience: "another-api",
    });
    expect(await code(svc.verify((await other.startSession(user)).accessToken))).toBe("UNAUTHENTICATED");
    const foreign = new TokenService({
      keys,
      users,
      refreshTokens: new MemoryRefreshTokenStore(),
      now: () => now,
      issuer: "someone-else",
    });
    expect(await code(svc.verify((await foreign.startSession(user)).accessToken))).toBe("UNAUTHENTICATED");
  });

  it("refuses a token signed by a key not in the ring", async () => {
    const stranger = new TokenService({
      keys: await KeyRing.ephemeral("k1"),
      users,
      refreshTokens: new MemoryRefreshTokenStore(),
      now: () => now,
    });
    expect(await code(svc.verify((await stranger.startSession(user)).accessToken))).toBe("UNAUTHENTICATED");
  });

  it("keeps verifying tokens of the previous key after a rotation", async () => {
    const old = (await svc.startSession(user)).accessToken;
    const next = await KeyRing.ephemeral("k2");
    const rotated = new KeyRing(next.current, [{ kid: "k1", publicKey: keys.current.publicKey }]);
    const svc2 = new TokenService({
      keys: rotated,
      users,
      refreshTokens: new MemoryRefreshTokenStore(),
      now: () => now,
    });
    expect((await svc2.verify(old)).userId).toBe(user.id);
    expect((await rotated.jwks()).keys.map((k) => k.kid)).toEqual(["k2", "k1"]);
  });

  it("refuses garbage without throwing anything but a coded error", async () => {
    for (const t of ["", "a.b.c", "x".repeat(5000), 42, null, undefined, {}]) {
      expect(await code(svc.verify(t))).toBe("UNAUTHENTICATED");
    }
  });
});

describe("refresh tokens", () => {
  it("rotates, carrying newly granted roles", async () => {
    const s1 = await svc.startSession(user);
    await users.grantRole(user.id, "driver");
    const s2 = await svc.refresh(s1.refreshToken);
    expect(s2.refreshToken).not.toBe(s1.refreshToken);
    expect((await svc.verify(s2.accessToken)).roles).toEqual(["rider", "driver"]);
  });

  it("revokes the whole family when a used token comes back", async () => {
    const s1 = await svc.startSession(user);
    const s2 = await svc.refresh(s1.refreshToken);
    expect(await code(svc.refresh(s1.refreshToken))).toBe("REFRESH_REUSED");
    // The legitimate holder's newer token dies with the family.
    expect(await code(svc.refresh(s2.refreshToken))).toBe("UNAUTHENTICATED");
    // Another login's family is untouched.
    const other = await svc.startSession(user);
    expect((await svc.refresh(other.refreshToken)).user.id).toBe(user.id);
  });

  it("expires, and logout revokes", async () => {
    const s = await svc.startSession(user);
    now += 31 * 24 * 3600 * 1000;
    expect(await code(svc.refresh(s.refreshToken))).toBe("UNAUTHENTICATED");
    const s2 = await svc.startSession(user);
    await svc.revoke(s2.refreshToken);
    expect(await code(svc.refresh(s2.refreshToken))).toBe("UNAUTHENTICATED");
  });

  it("lets exactly one of two concurrent refreshes win", async () => {
    const s = await svc.startSession(user);
    const results = await Promise.allSettled([svc.refresh(s.refreshToken), svc.refresh(s.refreshToken)]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
  });

  it("refuses malformed and unknown tokens", async () => {
    for (const t of [undefined, 1, "short", "y".repeat(300)]) {
      expect(await code(svc.refresh(t))).toBe("INVALID_ARGUMENT");
    }
    expect(await code(svc.refresh("z".repeat(43)))).toBe("UNAUTHENTICATED");
  });
});
