/**
 * UserStore and RefreshTokenStore on PostgreSQL (or PGlite). Phones are stored encrypted, found
 * through their keyed hash (phone-crypto.ts). Each method is one or two single statements whose
 * atomicity the database gives: unique phone hash for find-or-create, a guarded UPDATE for the
 * one-time use of a refresh token.
 */
import { randomUUID } from "node:crypto";
import { DispatchError, ErrorCode } from "../../engine/errors.js";
import type {
  RefreshTokenRecord,
  RefreshTokenStore,
  Role,
  User,
  UserListOptions,
  UserStore,
} from "../../engine/identity.js";
import type { Db } from "./db.js";
import type { PhoneCipher } from "./phone-crypto.js";
import { bufferOf, msOf, tsParam } from "./sql.js";

interface UserRow {
  id: string;
  phone_enc: Uint8Array;
  roles: Role[];
  created_at: Date;
}

const USER_COLUMNS = "id, phone_enc, roles, created_at";

export class PgUserStore implements UserStore {
  constructor(
    private readonly db: Db,
    private readonly phones: PhoneCipher,
  ) {}

  async findOrCreateByPhone(phone: string, now: number): Promise<User> {
    const hash = this.phones.hash(phone);
    const id = randomUUID();
    // Of concurrent inserts for one phone the unique hash lets one through; the others wait for
    // it and then find its row.
    const inserted = await this.db.query<UserRow>(
      `INSERT INTO users (id, phone_hash, phone_enc, roles, created_at)
        VALUES ($1, $2, $3, ARRAY['rider']::text[], $4::timestamptz)
        ON CONFLICT (phone_hash) DO NOTHING
        RETURNING ${USER_COLUMNS}`,
      [id, hash, this.phones.encrypt(phone, id), tsParam(now)],
    );
    const row =
      inserted.rows[0] ??
      (await this.db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE phone_hash = $1`, [hash]))
        .rows[0];
    if (row === undefined)
      throw new DispatchError(ErrorCode.Internal, "a user with this phone vanished between insert and read");
    return this.#toUser(row);
  }

  async get(userId: string): Promise<User | undefined> {
    const { rows } = await this.db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [
      userId,
    ]);
    return rows[0] && this.#toUser(rows[0]);
  }

  async grantRole(userId: string, role: Role): Promise<User | undefined> {
    const { rows } = await this.db.query<UserRow>(
      `UPDATE users
        SET roles = CASE WHEN $2::text = ANY (roles) THEN roles ELSE array_append(roles, $2::text) END
        WHERE id = $1
        RETURNING ${USER_COLUMNS}`,
      [userId, role],
    );
    return rows[0] && this.#toUser(rows[0]);
  }

  async revokeRole(userId: string, role: Role): Promise<User | undefined> {
    const { rows } = await this.db.query<UserRow>(
      `UPDATE users SET roles = array_remove(roles, $2::text) WHERE id = $1 RETURNING ${USER_COLUMNS}`,
      [userId, role],
    );
    return rows[0] && this.#toUser(rows[0]);
  }

  async list(options: UserListOptions): Promise<User[]> {
    const { role, limit, after } = options;
    const { rows } = await this.db.query<UserRow>(
      `SELECT ${USER_COLUMNS} FROM users
        WHERE ($1::text IS NULL OR $1::text = ANY (roles))
          AND ($2::timestamptz IS NULL OR (created_at, id) > ($2::timestamptz, $3::text))
        ORDER BY created_at, id
        LIMIT $4`,
      [role ?? null, tsParam(after?.createdAt ?? null), after?.id ?? "", limit],
    );
    return rows.map((r) => this.#toUser(r));
  }

  #toUser(r: UserRow): User {
    return {
      id: r.id,
      phone: this.phones.decrypt(bufferOf(r.phone_enc), r.id),
      roles: [...r.roles],
      createdAt: msOf(r.created_at),
    };
  }
}

interface TokenRow {
  hash: string;
  user_id: string;
  family_id: string;
  expires_at: Date;
  used_at: Date | null;
  revoked_at: Date | null;
}

const TOKEN_COLUMNS = "hash, user_id, family_id, expires_at, used_at, revoked_at";

function toRecord(r: TokenRow): RefreshTokenRecord {
  const record: RefreshTokenRecord = {
    hash: r.hash,
    userId: r.user_id,
    familyId: r.family_id,
    expiresAt: msOf(r.expires_at),
  };
  if (r.used_at !== null) record.usedAt = msOf(r.used_at);
  if (r.revoked_at !== null) record.revokedAt = msOf(r.revoked_at);
  return record;
}

export class PgRefreshTokenStore implements RefreshTokenStore {
  constructor(private readonly db: Db) {}

  async insert(record: RefreshTokenRecord): Promise<void> {
    await this.db.query(
      `INSERT INTO refresh_tokens (${TOKEN_COLUMNS})
        VALUES ($1, $2, $3, $4::timestamptz, $5::timestamptz, $6::timestamptz)`,
      [
        record.hash,
        record.userId,
        record.familyId,
        tsParam(record.expiresAt),
        tsParam(record.usedAt ?? null),
        tsParam(record.revokedAt ?? null),
      ],
    );
  }

  async use(hash: string, now: number): Promise<{ ok: boolean; record: RefreshTokenRecord | undefined }> {
    // The check and the mark are one statement: of two concurrent uses, the second waits for the
    // first's row lock, re-checks `used_at IS NULL` and matches nothing.
    const used = await this.db.query<TokenRow>(
      `UPDATE refresh_tokens SET used_at = $2::timestamptz
        WHERE hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2::timestamptz
        RETURNING ${TOKEN_COLUMNS}`,
      [hash, tsParam(now)],
    );
    if (used.rows[0] !== undefined) return { ok: true, record: toRecord(used.rows[0]) };
    const { rows } = await this.db.query<TokenRow>(
      `SELECT ${TOKEN_COLUMNS} FROM refresh_tokens WHERE hash = $1`,
      [hash],
    );
    return { ok: false, record: rows[0] && toRecord(rows[0]) };
  }

  async revokeFamily(familyId: string, now: number): Promise<void> {
    await this.db.query(
      `UPDATE refresh_tokens SET revoked_at = $2::timestamptz WHERE family_id = $1 AND revoked_at IS NULL`,
      [familyId, tsParam(now)],
    );
  }
}
