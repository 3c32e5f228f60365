// Phone sign-in against the Firebase Auth emulator over its REST API, as a phone app would do it
// but without the client SDK: ask for a code, read it from the emulator's back door, sign in.
// The gateway's end-to-end tests reuse this to obtain real Firebase ID tokens.
import { serviceEnv, unreachable } from "./services-env.js";

/** What Identity Toolkit returns on a successful phone sign-in (the fields we use). */
export interface PhoneSession {
  /** Firebase ID token (a JWT signed by the emulator), to exchange for our own token. */
  idToken: string;
  refreshToken: string;
  /** The Firebase uid of the user; the same phone number always maps to the same uid. */
  localId: string;
}

export interface PhoneSignInOptions {
  /** host:port of the Auth emulator; default FIREBASE_AUTH_EMULATOR_HOST. */
  emulatorHost?: string;
  /** default FIREBASE_PROJECT_ID. */
  projectId?: string;
}

// The emulator accepts any API key; the real service would need the web app's key.
const API_KEY = "fake-api-key";
const TIMEOUT_MS = 10_000;

async function call<T>(host: string, method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
  const url = `http://${host}${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? null : JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    throw unreachable("Firebase Auth emulator", host, err);
  }
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url} -> ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

/**
 * Signs in with a phone number (E.164, e.g. "+15550001234") through the emulator's SMS flow:
 * accounts:sendVerificationCode -> the code from /emulator/v1/.../verificationCodes ->
 * accounts:signInWithPhoneNumber. Creates the user on first use. Safe to call concurrently.
 */
export async function phoneSignIn(
  phoneNumber: string,
  options: PhoneSignInOptions = {},
): Promise<PhoneSession> {
  const host = options.emulatorHost ?? serviceEnv("FIREBASE_AUTH_EMULATOR_HOST");
  const projectId = options.projectId ?? serviceEnv("FIREBASE_PROJECT_ID");
  const v1 = "/identitytoolkit.googleapis.com/v1";

  const { sessionInfo } = await call<{ sessionInfo: string }>(
    host,
    "POST",
    `${v1}/accounts:sendVerificationCode?key=${API_KEY}`,
    { phoneNumber, recaptchaToken: "ignored" },
  );

  // The emulator lists every code it has "sent"; other tests may be signing in at the same time.
  const { verificationCodes } = await call<{
    verificationCodes?: { phoneNumber: string; sessionInfo: string; code: string }[];
  }>(host, "GET", `/emulator/v1/projects/${encodeURIComponent(projectId)}/verificationCodes`);
  const sent = verificationCodes?.find((c) => c.sessionInfo === sessionInfo);
  if (!sent)
    throw new Error(`the emulator lists no verification code for ${phoneNumber} (session ${sessionInfo})`);

  const session = await call<Partial<PhoneSession>>(
    host,
    "POST",
    `${v1}/accounts:signInWithPhoneNumber?key=${API_KEY}`,
    { sessionInfo, code: sent.code },
  );
  const { idToken, refreshToken, localId } = session;
  if (!idToken || !refreshToken || !localId) {
    throw new Error(`signInWithPhoneNumber answered without a token: ${JSON.stringify(session)}`);
  }
  return { idToken, refreshToken, localId };
}
