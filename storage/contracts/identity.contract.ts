/**
 * The identity ports' contracts (engine/identity.ts) as one suite per port, run against every
 * implementation through its own factory (STYLE 7): memory, PGlite and PostgreSQL are held to
 * the same assertions.
 */
import { describe, expect, it } from "vitest";
import type { RefreshTokenRecord, RefreshTokenStore, UserStore } from "../../engine/identity.js";

let seq = 0;
/** A fresh E.164 number per call, so suites sharing a database never meet each other's users. */
function newPhone(): string {
  seq++;
  return `+1555${String(Date.now() % 1_000_000).padStart(6, "0")}${String(seq % 10_000).padStart(4, "0")}`.slice(
    0,
    16,
  );
}

export function userStoreContract(name: string, make: () => Promise<UserStore> | UserStore): void {
  describe(`UserStore contract: ${name}`, () => {
    it("creates a rider on first sight of a phone and returns the same user after", async () => {
      const store = await make();
      const phone = newPhone();
      const created = await store.findOrCreateByPhone(phone, 1_000);
      expect(created).toEqual({ id: expect.any(String), phone, roles: ["rider"], createdAt: 1_000 });
      const again = await store.findOrCreateByPhone(phone, 2_000);
      expect(again).toEqual(created);
      expect(await store.get(created.id)).toEqual(created);
    });

    it("gives different phones different users", async () => {
      const store = await make();
      const a = await store.findOrCreateByPhone(newPhone(), 1);
      const b = await store.findOrCreateByPhone(newPhone(), 1);
      expect(a.id).not.toBe(b.id);
    });

    it("of concurrent calls with one phone all return the same user", async () => {
      const store = await make();
      const phone = newPhone();
      const users = await Promise.all(
        Array.from({ length: 10 }, (_, i) => store.findOrCreateByPhone(phone, i)),
      );
      expect(new Set(users.map((u) => u.id)).size).toBe(1);
      expect(users.every((u) => u.createdAt === users[0]!.createdAt)).toBe(true);
    });

    it("returns undefined for an unknown user", async () => {
      const store = await make();
      expect(await store.get("00000000-0000-4000-8000-000000000000")).toBeUndefined();
      expect(await store.grantRole("00000000-0000-4000-8000-000000000000", "admin")).toBeUndefined();
    });

    it("grants a role once, however often asked, and keeps it", async () => {
      const store = await make();
      const u = await store.findOrCreateByPhone(newPhone(), 5);
      expect(await store.grantRole(u.id, "driver")).toEqual({ ...u, roles: ["rider", "driver"] });
      expect(await store.grantRole(u.id, "driver")).toEqual({ ...u, roles: ["rider", "driver"] });
      expect(await store.grantRole(u.id, "rider")).toEqual({ ...u, roles: ["rider", "driver"] });
      expect(await store.get(u.id)).toEqual({ ...u, roles: ["rider", "driver"] });
      expect((await store.findOrCreateByPhone(u.phone, 9)).roles).toEqual(["rider", "driver"]);
    });

    it("revokes a role once, however often asked, and keeps the others in order", async () => {
      const store = await make();
      const u = await store.findOrCreateByPhone(newPhone(), 5);
      await store.grantRole(u.id, "driver");
      await store.grantRole(u.id, "admin");
      expect(await store.revokeRole(u.id, "driver")).toEqual({ ...u, roles: ["rider", "admin"] });
      expect(await store.revokeRole(u.id, "driver")).toEqual({ ...u, roles: ["rider", "admin"] });
      expect(await store.get(u.id)).toEqual({ ...u, roles: ["rider", "admin"] });
      expect(await store.revokeRole("00000000-0000-4000-8000-000000000000", "driver")).toBeUndefined();
    });

    it("lists users oldest first, by role, paged after (createdAt, id)", async () => {
      const store = await make();
      const made = [];
      for (let i = 0; i < 4; i++) made.push(await store.findOrCreateByPhone(newPhone(), 100 + i));
      await store.grantRole(made[1]!.id, "driver");
      await store.grantRole(made[3]!.id, "driver");
      const first = await store.list({ limit: 3 });
      expect(first).toEqual(
        made.slice(0, 3).map((u, i) => (i === 1 ? { ...u, roles: ["rider", "driver"] } : u)),
      );
      const last = first.at(-1)!;
      expect(
        (await store.list({ limit: 3, after: { createdAt: last.createdAt, id: last.id } })).map((u) => u.id),
      ).toEqual([made[3]!.id]);
      expect((await store.list({ role: "driver", limit: 10 })).map((u) => u.id)).toEqual([
        made[1]!.id,
        made[3]!.id,
      ]);
    });

    it("hands out copies: changing a returned user changes nothing stored", async () => {
      const store = await make();
      const u = await store.findOrCreateByPhone(newPhone(), 5);
      u.roles.push("admin");
      u.phone = "+10000000000";
      const stored = await store.get(u.id);
      expect(stored?.roles).toEqual(["rider"]);
      expect(stored?.phone).not.toBe("+10000000000");
    });
  });
}

export interface IdentityStores {
  readonly users: UserStore;
  readonly refreshTokens: RefreshTokenStore;
}

export function refreshTokenStoreContract(
  name: string,
  make: () => Promise<IdentityStores> | IdentityStores,
): void {
  describe(`RefreshTokenStore contract: ${name}`, () => {
    let n = 0;
    /** A token of a real user (databases may insist on it). */
    async function token(
      s: IdentityStores,
      overrides: Partial<RefreshTokenRecord> = {},
    ): Promise<RefreshTokenRecord> {
      n++;
      const user = await s.users.findOrCreateByPhone(newPhone(), 1);
      const record: RefreshTokenRecord = {
        hash: `${"ab".repeat(28)}${String(n).padStart(8, "0")}${Math.random().toString(16).slice(2, 10)}`,
        userId: user.id,
        familyId: `family-${n}-${Math.random().toString(36).slice(2)}`,
        expiresAt: 10_000,
        ...overrides,
      };
      await s.refreshTokens.insert(record);
      return record;
    }

    it("an unknown token is not ok and has no record", async () => {
      const s = await make();
      expect(await s.refreshTokens.use("f".repeat(64), 1)).toEqual({ ok: false, record: undefined });
    });

    it("uses a valid token once, marking it used at `now`; a second use sees the mark", async () => {
      const s = await make();
      const t = await token(s);
      expect(await s.refreshTokens.use(t.hash, 500)).toEqual({ ok: true, record: { ...t, usedAt: 500 } });
      expect(await s.refreshTokens.use(t.hash, 600)).toEqual({ ok: false, record: { ...t, usedAt: 500 } });
    });

    it("refuses an expired token without marking it (expiry is exclusive)", async () => {
      const s = await make();
      const t = await token(s, { expiresAt: 1_000 });
      expect(await s.refreshTokens.use(t.hash, 1_000)).toEqual({ ok: false, record: t });
      expect(await s.refreshTokens.use(t.hash, 2_000)).toEqual({ ok: false, record: t });
    });

    it("of concurrent uses of one token exactly one succeeds", async () => {
      const s = await make();
      const t = await token(s);
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => s.refreshTokens.use(t.hash, 100 + i)),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      const winner = results.find((r) => r.ok)!;
      for (const r of results) expect(r.record?.usedAt).toBe(winner.record?.usedAt);
    });

    it("revokes a whole family, leaves other families alone, and keeps the first revocation time", async () => {
      const s = await make();
      const a1 = await token(s);
      const a2 = await token(s, { familyId: a1.familyId, userId: a1.userId });
      const b = await token(s);
      await s.refreshTokens.revokeFamily(a1.familyId, 700);
      await s.refreshTokens.revokeFamily(a1.familyId, 800);
      expect(await s.refreshTokens.use(a1.hash, 900)).toEqual({
        ok: false,
        record: { ...a1, revokedAt: 700 },
      });
      expect(await s.refreshTokens.use(a2.hash, 900)).toEqual({
        ok: false,
        record: { ...a2, revokedAt: 700 },
      });
      expect(await s.refreshTokens.use(b.hash, 900)).toEqual({ ok: true, record: { ...b, usedAt: 900 } });
      await s.refreshTokens.revokeFamily("no-such-family", 1);
    });

    it("a used token revoked later shows both marks", async () => {
      const s = await make();
      const t = await token(s);
      await s.refreshTokens.use(t.hash, 10);
      await s.refreshTokens.revokeFamily(t.familyId, 20);
      expect(await s.refreshTokens.use(t.hash, 30)).toEqual({
        ok: false,
        record: { ...t, usedAt: 10, revokedAt: 20 },
      });
    });
  });
}
