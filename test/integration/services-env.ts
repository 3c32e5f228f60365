// The integration tests' view of the real services: their addresses come from the environment
// that `scripts/services.sh env` prints. A missing variable is a failure with a how-to, never a skip
// (STYLE.md 8): a green run must mean the real services were exercised.

const HOW_TO =
  'start the services with `bash scripts/services.sh up` and load their addresses with `eval "$(bash scripts/services.sh env)"`';

export type ServiceVar =
  | "REDIS_URL"
  | "DATABASE_URL"
  | "KAFKA_BROKERS"
  | "FIREBASE_AUTH_EMULATOR_HOST"
  | "FIREBASE_PROJECT_ID";

/** The value of a service variable; throws (so the test fails) when it is unset or empty. */
export function serviceEnv(name: ServiceVar): string {
  const value = process.env[name];
  if (value === undefined || value.trim() === "") {
    throw new Error(`${name} is not set: ${HOW_TO}`);
  }
  return value;
}

/** Wraps a connection error so the failure names the service, its address and the fix. */
export function unreachable(service: string, address: string, cause: unknown): Error {
  let reason = cause instanceof Error ? cause.message : String(cause);
  // fetch() says only "fetch failed"; the socket error is its cause.
  if (cause instanceof Error && cause.cause instanceof Error) reason += `: ${cause.cause.message}`;
  return new Error(`${service} at ${address} is unreachable (${reason}): ${HOW_TO}`, { cause });
}

/** A short random id for keys, tables, topics and groups, so tests can run side by side. */
export function uniqueId(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 12);
}
