import { randomUUID } from "node:crypto";
import type {
  RefreshTokenRecord,
  RefreshTokenStore,
  Role,
  User,
  UserListOptions,
  UserStore,
} from "../../engine/identity.js";
import { keysetPage } from "./keyset.js";

/** In-process users; the embedded default. Single-threaded JS makes each method atomic. */
export class MemoryUserStore implements UserStore {
  private readonly byId = new Map<string, User>();
  private readonly byPhone = new Map<string, string>();

  async findOrCreateByPhone(phone: string, now: number): Promise<User> {
    const id = this.byPhone.get(phone);
    if (id !== undefined) return structuredClone(this.byId.get(id)!);
    const user: User = { id: randomUUID(), phone, roles: ["rider"], createdAt: now };
    this.byId.set(user.id, user);
    this.byPhone.set(phone, user.id);
    return structuredClone(user);
  }

  async get(userId: string): Promise<User | undefined> {
    const u = this.byId.get(userId);
    return u && structuredClone(u);
  }

  async grantRole(userId: string, role: Role): Promise<User | undefined> {
    const u = this.byId.get(userId);
    if (!u) return undefined;
    if (!u.roles.includes(role)) u.roles.push(role);
    return structuredClone(u);
  }

  async revokeRole(userId: string, role: Role): Promise<User | undefined> {
    const u = this.byId.get(userId);
    if (!u) return undefined;
    u.roles = u.roles.filter((r) => r !== role);
    return structuredClone(u);
  }

  async list(options: UserListOptions): Promise<User[]> {
    const { role, limit, after } = options;
    const holders = [...this.byId.values()].filter((u) => role === undefined || u.roles.includes(role));
    return keysetPage(holders, (u) => [u.createdAt, u.id], after && [after.createdAt, after.id], limit).map(
      (u) => structuredClone(u),
    );
  }
}

export class MemoryRefreshTokenStore implements RefreshTokenStore {
  private readonly byHash = new Map<string, RefreshTokenRecord>();

  async insert(record: RefreshTokenRecord): Promise<void> {
    this.byHash.set(record.hash, { ...record });
  }

  async use(hash: string, now: number): Promise<{ ok: boolean; record: RefreshTokenRecord | undefined }> {
    const r = this.byHash.get(hash);
    if (!r) return { ok: false, record: undefined };
    if (r.usedAt !== undefined || r.revokedAt !== undefined || r.expiresAt <= now)
      return { ok: false, record: { ...r } };
    r.usedAt = now;
    return { ok: true, record: { ...r } };
  }

  async revokeFamily(familyId: string, now: number): Promise<void> {
    for (const r of this.byHash.values())
      if (r.familyId === familyId && r.revokedAt === undefined) r.revokedAt = now;
  }
}
