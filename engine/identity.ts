/**
 * Identity ports: users found by phone, and the refresh-token families behind our sessions.
 * The gateway turns a verified phone login into a user here; storage implements the ports.
 */

export type Role = "rider" | "driver" | "admin";
export const roles: readonly Role[] = ["rider", "driver", "admin"];

export interface User {
  id: string;
  /** E.164, e.g. "+15555550100". Stored encrypted at rest by the database adapters. */
  phone: string;
  roles: Role[];
  createdAt: number;
}

/** The subset of a user that goes into an access token. */
export interface Principal {
  userId: string;
  roles: Role[];
  /** When the credential that proved this expires (ms since the epoch), if it does. */
  expiresAt?: number;
}

export interface UserStore {
  /**
   * Returns the user with this phone, creating one with role `rider` if none exists. Atomic:
   * concurrent calls with the same phone return the same user.
   */
  findOrCreateByPhone(phone: string, now: number): Promise<User>;
  /** The user, or `undefined` when there is none (never throws for "not found"). */
  get(userId: string): Promise<User | undefined>;
  /** Adds a role (idempotent). Returns the updated user, or `undefined` for an unknown user. */
  grantRole(userId: string, role: Role): Promise<User | undefined>;
  /**
   * Removes a role (idempotent; removing one the user lacks changes nothing). Returns the updated
   * user, or `undefined` for an unknown user. Other roles keep their order.
   */
  revokeRole(userId: string, role: Role): Promise<User | undefined>;
  /**
   * Users oldest first by (createdAt, id), those holding `role` only when it is given, strictly
   * after `after`; at most `limit`. For operators' lists.
   */
  list(options: UserListOptions): Promise<User[]>;
}

export interface UserListOptions {
  readonly role?: Role;
  readonly limit: number;
  /** The (createdAt, id) of the last user seen. */
  readonly after?: { readonly createdAt: number; readonly id: string };
}

/** One stored refresh token. Only the hash of the secret is ever stored. */
export interface RefreshTokenRecord {
  /** SHA-256 of the token secret, hex. */
  hash: string;
  userId: string;
  /** All tokens descended from one login share a family; reuse revokes the whole family. */
  familyId: string;
  expiresAt: number;
  /** Set when the token was exchanged for a new one; a second use is a reuse. */
  usedAt?: number;
  revokedAt?: number;
}

export interface RefreshTokenStore {
  /** Stores a new token record. */
  insert(record: RefreshTokenRecord): Promise<void>;
  /**
   * Marks the token used if and only if it is unused, unrevoked and not expired at `now`, and
   * returns it; otherwise returns the record as it is (or `undefined` if unknown) without change.
   * The check and the mark are atomic, so of two concurrent uses exactly one succeeds.
   */
  use(hash: string, now: number): Promise<{ ok: boolean; record: RefreshTokenRecord | undefined }>;
  /** Revokes every token of the family (idempotent). */
  revokeFamily(familyId: string, now: number): Promise<void>;
}
