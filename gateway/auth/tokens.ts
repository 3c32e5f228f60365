/**
 * Our own sessions: short-lived access JWTs (ES256, key id for rotation) and rotating opaque
 * refresh tokens stored hashed. Presenting a refresh token twice revokes its whole family, so a
 * stolen token dies the moment either party uses it after the other.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import {
  type CryptoKey,
  exportJWK,
  generateKeyPair,
  importPKCS8,
  importSPKI,
  type JWK,
  type JWTPayload,
  errors as joseErrors,
  jwtVerify,
  SignJWT,
} from "jose";
import { DispatchError, ErrorCode } from "../../engine/errors.js";
import {
  roles as allRoles,
  type Principal,
  type RefreshTokenStore,
  type Role,
  type User,
  type UserStore,
} from "../../engine/identity.js";

export const ALG = "ES256";

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

/**
 * The current signing key plus older public keys still accepted for verification, so tokens
 * signed before a rotation stay valid until they expire.
 */
export class KeyRing {
  private readonly verifying = new Map<string, CryptoKey>();

  constructor(
    readonly current: SigningKey,
    previous: { kid: string; publicKey: CryptoKey }[] = [],
  ) {
    this.verifying.set(current.kid, current.publicKey);
    for (const p of previous) this.verifying.set(p.kid, p.publicKey);
  }

  publicKey(kid: string | undefined): CryptoKey | undefined {
    return kid === undefined ? undefined : this.verifying.get(kid);
  }

  /** The public keys as a JWKS document, for other services that verify our tokens. */
  async jwks(): Promise<{ keys: JWK[] }> {
    const keys: JWK[] = [];
    for (const [kid, key] of this.verifying)
      keys.push({ ...(await exportJWK(key)), kid, alg: ALG, use: "sig" });
    return { keys };
  }

  /** A fresh ephemeral key: development and tests only (tokens die with the process). */
  static async ephemeral(kid = `dev-${randomUUID().slice(0, 8)}`): Promise<KeyRing> {
    const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true });
    return new KeyRing({ kid, privateKey, publicKey });
  }

  /** From PEM text (PKCS#8 private, SPKI public), as configured in production. */
  static async fromPem(kid: string, privatePem: string, publicPem: string): Promise<KeyRing> {
    return new KeyRing({
      kid,
      privateKey: await importPKCS8(privatePem, ALG),
      publicKey: await importSPKI(publicPem, ALG),
    });
  }
}

export interface TokenServiceOptions {
  keys: KeyRing;
  users: UserStore;
  refreshTokens: RefreshTokenStore;
  now: () => number;
  issuer?: string;
  audience?: string;
  /** Access token lifetime; short, because access tokens are not revocable. */
  accessTtlS?: number;
  refreshTtlS?: number;
}

export interface Session {
  accessToken: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
  refreshToken: string;
  user: { id: string; roles: Role[] };
}

const hash = (secret: string) => createHash("sha256").update(secret).digest("hex");

const unauthenticated = (message: string, cause?: unknown) =>
  new DispatchError(ErrorCode.Unauthenticated, message, { cause });

export class TokenService {
  readonly issuer: string;
  readonly audience: string;
  readonly accessTtlS: number;
  readonly refreshTtlS: number;

  constructor(private readonly o: TokenServiceOptions) {
    this.issuer = o.issuer ?? "dispatch";
    this.audience = o.audience ?? "dispatch-api";
    this.accessTtlS = o.accessTtlS ?? 15 * 60;
    this.refreshTtlS = o.refreshTtlS ?? 30 * 24 * 3600;
  }

  /** Starts a new session (a new refresh-token family) for a user who just proved their phone. */
  async startSession(user: User): Promise<Session> {
    return this.issue(user, randomUUID());
  }

  /** Exchanges a refresh token for a new session in the same family; reuse revokes the family. */
  async refresh(refreshToken: unknown): Promise<Session> {
    if (typeof refreshToken !== "string" || refreshToken.length < 20 || refreshToken.length > 200) {
      throw new DispatchError(
        ErrorCode.InvalidArgument,
        "refreshToken must be a string of 20..200 characters",
      );
    }
    const now = this.o.now();
    const { ok, record } = await this.o.refreshTokens.use(hash(refreshToken), now);
    if (!record) throw unauthenticated("unknown refresh token");
    if (!ok) {
      if (record.usedAt !== undefined && record.revokedAt === undefined) {
        await this.o.refreshTokens.revokeFamily(record.familyId, now);
        throw new DispatchError(
          ErrorCode.RefreshReused,
          "refresh token was already used; every session of this login is revoked, sign in again",
        );
      }
      throw unauthenticated(
        record.revokedAt !== undefined ? "refresh token revoked" : "refresh token expired",
      );
    }
    const user = await this.o.users.get(record.userId);
    if (!user) throw unauthenticated("user no longer exists");
    return this.issue(user, record.familyId);
  }

  /** The public keys that verify our access tokens. */
  jwks(): Promise<{ keys: JWK[] }> {
    return this.o.keys.jwks();
  }

  /** Ends the session family of this refresh token (logout). Unknown tokens are ignored. */
  async revoke(refreshToken: string): Promise<void> {
    const now = this.o.now();
    const { record } = await this.o.refreshTokens.use(hash(refreshToken), now);
    if (record) await this.o.refreshTokens.revokeFamily(record.familyId, now);
  }

  /**
   * Verifies an access token: signature by a key of the ring (ES256 only, so `alg: none` and
   * HMAC confusion are refused), issuer, audience, expiry. Returns who it is and their roles.
   */
  async verify(token: unknown): Promise<Principal> {
    if (typeof token !== "string" || token.length === 0 || token.length > 4096) {
      throw unauthenticated("access token missing or malformed");
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(
        token,
        (header) => {
          const key = this.o.keys.publicKey(header.kid);
          if (!key) throw unauthenticated(`unknown signing key ${JSON.stringify(header.kid)}`);
          return key;
        },
        {
          algorithms: [ALG],
          issuer: this.issuer,
          audience: this.audience,
          currentDate: new Date(this.o.now()),
          clockTolerance: 5,
        },
      ));
    } catch (err) {
      if (err instanceof DispatchError) throw err;
      if (err instanceof joseErrors.JWTExpired) {
        throw new DispatchError(ErrorCode.TokenExpired, "access token expired: refresh it", { cause: err });
      }
      throw unauthenticated(`access token rejected: ${(err as Error).message}`, err);
    }
    const sub = payload.sub;
    const claimed = (payload as { roles?: unknown }).roles;
    if (
      typeof sub !== "string" ||
      !Array.isArray(claimed) ||
      !claimed.every((r): r is Role => allRoles.includes(r as Role))
    ) {
      throw unauthenticated("access token lacks a subject or valid roles");
    }
    return {
      userId: sub,
      roles: claimed,
      ...(typeof payload.exp === "number" ? { expiresAt: payload.exp * 1000 } : {}),
    };
  }

  private async issue(user: User, familyId: string): Promise<Session> {
    const now = this.o.now();
    const iat = Math.floor(now / 1000);
    const accessToken = await new SignJWT({ roles: user.roles })
      .setProtectedHeader({ alg: ALG, kid: this.o.keys.current.kid, typ: "JWT" })
      .setSubject(user.id)
      .setIssuer(this.issuer)
      .setAudience(this.audience)
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.accessTtlS)
      .setJti(randomUUID())
      .sign(this.o.keys.current.privateKey);
    const refreshToken = randomBytes(32).toString("base64url");
    await this.o.refreshTokens.insert({
      hash: hash(refreshToken),
      userId: user.id,
      familyId,
      expiresAt: now + this.refreshTtlS * 1000,
    });
    return {
      accessToken,
      expiresIn: this.accessTtlS,
      refreshToken,
      user: { id: user.id, roles: [...user.roles] },
    };
  }
}
