/**
 * Phone numbers at rest: AES-256-GCM under an application key, plus a keyed HMAC for lookups.
 *
 * A database dump alone gives neither the numbers nor a way to test guesses against them (the
 * HMAC is keyed; an unkeyed hash of a phone number falls to enumeration in minutes). Both keys
 * are derived with HKDF from one secret, so one value is configured and kept safe.
 *
 * Ciphertext layout: key id (1 byte) | IV (12 bytes) | ciphertext | GCM tag (16 bytes). The user
 * id is the additional authenticated data, so a ciphertext copied onto another user's row fails
 * to decrypt instead of giving that user someone else's phone. The key id is there so a later key
 * can be introduced beside this one; the lookup hash cannot be rotated without re-hashing every
 * row (that would be a migration).
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from "node:crypto";
import { DispatchError, ErrorCode } from "../../engine/errors.js";

const IV_BYTES = 12;
const TAG_BYTES = 16;
/** The shortest secret accepted: 32 characters (use 32 random bytes, base64 or hex). */
export const MIN_SECRET_LENGTH = 32;

export class PhoneCipher {
  readonly #encKey: Buffer;
  readonly #macKey: Buffer;

  private constructor(
    secret: Buffer,
    readonly keyId: number,
  ) {
    const salt = Buffer.from("dispatch-engine/phone/v1");
    this.#encKey = Buffer.from(hkdfSync("sha256", secret, salt, "aes-256-gcm", 32));
    this.#macKey = Buffer.from(hkdfSync("sha256", secret, salt, "hmac-sha256", 32));
  }

  /** Keys derived from a configured secret; `keyId` (0-255) tags what it encrypts. */
  static fromSecret(secret: string | Buffer, keyId = 1): PhoneCipher {
    if (secret.length < MIN_SECRET_LENGTH) {
      throw new DispatchError(
        ErrorCode.InvalidConfig,
        `the phone encryption secret must be at least ${MIN_SECRET_LENGTH} characters (32 random bytes, base64)`,
      );
    }
    if (!Number.isInteger(keyId) || keyId < 0 || keyId > 255)
      throw new DispatchError(ErrorCode.InvalidConfig, `phone key id must be 0..255, not ${keyId}`);
    return new PhoneCipher(Buffer.isBuffer(secret) ? secret : Buffer.from(secret, "utf8"), keyId);
  }

  /** A fresh random secret, for an embedded database's first start and for tests. */
  static newSecret(): string {
    return randomBytes(32).toString("base64");
  }

  /** Deterministic lookup key of a phone number (HMAC-SHA256). */
  hash(phone: string): Buffer {
    return createHmac("sha256", this.#macKey).update(phone, "utf8").digest();
  }

  encrypt(phone: string, userId: string): Buffer {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.#encKey, iv);
    cipher.setAAD(Buffer.from(userId, "utf8"));
    const body = Buffer.concat([cipher.update(phone, "utf8"), cipher.final()]);
    return Buffer.concat([Buffer.of(this.keyId), iv, body, cipher.getAuthTag()]);
  }

  /** Throws INTERNAL when the blob was made under another key or for another user, or was altered. */
  decrypt(blob: Buffer, userId: string): string {
    if (blob.length < 1 + IV_BYTES + TAG_BYTES)
      throw new DispatchError(ErrorCode.Internal, `user ${userId}: phone ciphertext is truncated`);
    if (blob[0] !== this.keyId)
      throw new DispatchError(
        ErrorCode.Internal,
        `user ${userId}: phone encrypted under unknown key ${blob[0]}`,
      );
    const iv = blob.subarray(1, 1 + IV_BYTES);
    const tag = blob.subarray(blob.length - TAG_BYTES);
    const body = blob.subarray(1 + IV_BYTES, blob.length - TAG_BYTES);
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.#encKey, iv);
      decipher.setAAD(Buffer.from(userId, "utf8"));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(body), decipher.final()]).toString("utf8");
    } catch (err) {
      throw new DispatchError(
        ErrorCode.Internal,
        `user ${userId}: phone does not decrypt (wrong key, or the row was altered)`,
        { cause: err },
      );
    }
  }
}
