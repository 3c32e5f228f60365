/**
 * Proof of a phone number. Production: the app signs in with Firebase phone auth and sends its
 * Firebase ID token, which we verify with firebase-admin. Development: a code printed on the
 * console stands in for the SMS, so the embedded demo runs with no Firebase project.
 */
import { randomInt } from "node:crypto";
import { type App, deleteApp, initializeApp } from "firebase-admin/app";
import { getAuth } from "firebase-admin/auth";
import { DispatchError, ErrorCode } from "../../engine/errors.js";
import type { Logger } from "../../engine/logger.js";

/** E.164: a plus and 8 to 15 digits, no leading zero. */
export function parsePhone(value: unknown): string {
  if (typeof value !== "string" || !/^\+[1-9]\d{7,14}$/.test(value)) {
    throw new DispatchError(ErrorCode.InvalidArgument, "phone must be an E.164 number such as +15555550100");
  }
  return value;
}

export interface FirebasePhoneVerifier {
  /** Verifies a Firebase ID token and returns the phone number it proves. */
  verify(idToken: unknown): Promise<string>;
  close(): Promise<void>;
}

/**
 * firebase-admin verification. With FIREBASE_AUTH_EMULATOR_HOST in the environment (read by
 * firebase-admin itself) tokens of the Auth emulator are accepted instead of Google's.
 */
export function firebaseVerifier(projectId: string): FirebasePhoneVerifier {
  const app: App = initializeApp({ projectId }, `dispatch-${projectId}-${randomInt(1e9)}`);
  const auth = getAuth(app);
  return {
    async verify(idToken) {
      if (typeof idToken !== "string" || idToken.length < 20 || idToken.length > 8192) {
        throw new DispatchError(ErrorCode.InvalidArgument, "idToken must be a Firebase ID token string");
      }
      let decoded: Awaited<ReturnType<typeof auth.verifyIdToken>>;
      try {
        decoded = await auth.verifyIdToken(idToken);
      } catch (err) {
        throw new DispatchError(
          ErrorCode.Unauthenticated,
          `Firebase ID token rejected: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      if (typeof decoded.phone_number !== "string") {
        throw new DispatchError(ErrorCode.Unauthenticated, "Firebase ID token does not prove a phone number");
      }
      return decoded.phone_number;
    },
    close: () => deleteApp(app),
  };
}

/**
 * Development login: `issue(phone)` logs a 6-digit code, `check(phone, code)` accepts it once
 * within `ttlMs`. Five wrong tries burn the code. Refuses to exist in production mode.
 */
export class DevCodes {
  private readonly codes = new Map<string, { code: string; expiresAt: number; tries: number }>();

  constructor(
    private readonly o: {
      mode: "development" | "production";
      logger: Logger;
      now: () => number;
      ttlMs?: number;
    },
  ) {
    if (o.mode === "production") {
      throw new DispatchError(ErrorCode.InvalidConfig, "the development login is refused in production mode");
    }
  }

  issue(phoneRaw: unknown): void {
    const phone = parsePhone(phoneRaw);
    const code = String(randomInt(0, 1_000_000)).padStart(6, "0");
    this.codes.set(phone, { code, expiresAt: this.o.now() + (this.o.ttlMs ?? 5 * 60_000), tries: 0 });
    // The console stands in for the SMS gateway.
    this.o.logger.info("development login code", { phone, code });
  }

  check(phoneRaw: unknown, code: unknown): string {
    const phone = parsePhone(phoneRaw);
    const entry = this.codes.get(phone);
    const wrong = () => new DispatchError(ErrorCode.Unauthenticated, "wrong or expired code");
    if (!entry || entry.expiresAt <= this.o.now()) throw wrong();
    if (typeof code !== "string" || code !== entry.code) {
      if (++entry.tries >= 5) this.codes.delete(phone);
      throw wrong();
    }
    this.codes.delete(phone);
    return phone;
  }
}
