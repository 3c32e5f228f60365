/**
 * The one typed configuration object (STYLE 12): defaults in code, an explicit map from
 * environment variables, validated at boot with a clear message. Nothing else reads process.env.
 */
import { DispatchError, ErrorCode } from "../engine/errors.js";
import type { LogLevel } from "../engine/logger.js";

export interface Config {
  /** development allows the embedded demo conveniences; production refuses them. */
  mode: "development" | "production";
  host: string;
  port: number;
  logLevel: LogLevel;
  /** How long shutdown waits for sockets to drain before closing them. */
  shutdownGraceMs: number;
  /** H3 resolution of the live driver index. */
  h3Resolution: number;
  /** External services; absent means the embedded implementation. */
  redisUrl: string | undefined;
  kafkaBrokers: string[] | undefined;
  databaseUrl: string | undefined;
  /** Firebase project whose phone-auth ID tokens we accept; absent disables Firebase login. */
  firebaseProjectId: string | undefined;
  /** Host:port of the Firebase Auth emulator (read by firebase-admin itself); tests only. */
  firebaseAuthEmulatorHost: string | undefined;
  /** Signing key of our access tokens (PEM files); development generates one per process. */
  jwtKeyId: string;
  jwtPrivateKeyFile: string | undefined;
  jwtPublicKeyFile: string | undefined;
  accessTokenTtlS: number;
  /** Driver socket limits: messages per second sustained, and burst. */
  driverRatePerS: number;
  driverBurst: number;
  /** HTTP requests a minute per signed-in user (shared by all gateways through Redis). */
  httpRatePerMin: number;
  /** HTTP requests a minute per client address on the public (login) routes. */
  authRatePerMin: number;
  /** Folder of the embedded database (used when DATABASE_URL is absent); ":memory:" keeps nothing. */
  dataDir: string;
  /** Secret that encrypts phone numbers at rest and keys their lookup hash (32+ characters). */
  phoneSecret: string | undefined;
  /** HMAC key that signs price quotes; every gateway of a deployment needs the same one. */
  quoteKey: string | undefined;
  /** Schema (search_path) of the tables on the DATABASE_URL server; absent: the server's default. */
  databaseSchema: string | undefined;
  /** Prefix of the pipeline's Kafka topic names (several deployments or test runs on one cluster). */
  kafkaTopicPrefix: string;
  /** Partitions of the pipeline topics when they are created on start. */
  kafkaPartitions: number;
  /** Consumer group of the persisters. */
  kafkaGroupId: string;
  /** Consumer group session timeout: how soon a dead persister's partitions move to another. */
  kafkaSessionTimeoutMs: number;
  /** With KAFKA_BROKERS: `serve` runs a persister consumer in process (off when persisters run apart). */
  persisterInProcess: boolean;
  /** Port of `dispatch persister`'s /healthz and /metrics (on HOST). */
  persisterPort: number;
  /** Most bytes the persister fetches per partition at once: the size of its write batches. */
  persisterFetchBytes: number;
  /** GPS fixes wait at most this long to be sent in a batch. */
  pipelineLingerMs: number;
  /** Largest batch the pipeline sends or writes at once. */
  pipelineBatchMax: number;
  /** GPS fixes buffered at most while the log is slow; more are dropped (and counted). */
  pipelineBufferMax: number;
}

export const defaults: Config = {
  mode: "development",
  host: "127.0.0.1",
  port: 8080,
  logLevel: "info",
  shutdownGraceMs: 5_000,
  h3Resolution: 9,
  redisUrl: undefined,
  kafkaBrokers: undefined,
  databaseUrl: undefined,
  firebaseProjectId: undefined,
  firebaseAuthEmulatorHost: undefined,
  jwtKeyId: "k1",
  jwtPrivateKeyFile: undefined,
  jwtPublicKeyFile: undefined,
  accessTokenTtlS: 900,
  quoteKey: undefined,
  dataDir: ".data/pglite",
  phoneSecret: undefined,
  driverRatePerS: 10,
  driverBurst: 40,
  httpRatePerMin: 600,
  authRatePerMin: 60,
  databaseSchema: undefined,
  kafkaTopicPrefix: "",
  kafkaPartitions: 6,
  kafkaGroupId: "dispatch-persister",
  kafkaSessionTimeoutMs: 30_000,
  persisterInProcess: true,
  persisterPort: 9464,
  persisterFetchBytes: 4 * 1024 * 1024,
  pipelineLingerMs: 5,
  pipelineBatchMax: 5_000,
  pipelineBufferMax: 100_000,
};

type Parser = (raw: string, name: string) => unknown;

const int =
  (min: number, max: number): Parser =>
  (raw, name) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw bad(name, raw, `an integer in ${min}..${max}`);
    return n;
  };
const oneOf =
  (...values: string[]): Parser =>
  (raw, name) => {
    if (!values.includes(raw)) throw bad(name, raw, `one of ${values.join(", ")}`);
    return raw;
  };
const url =
  (...protocols: string[]): Parser =>
  (raw, name) => {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw bad(name, raw, "a URL");
    }
    if (!protocols.includes(u.protocol)) throw bad(name, raw, `a URL with scheme ${protocols.join(" or ")}`);
    return raw;
  };
const text: Parser = (raw, name) => {
  if (raw.trim() === "") throw bad(name, raw, "a non-empty string");
  return raw;
};
const hostPort: Parser = (raw, name) => {
  if (!/^[\w.-]+:\d{1,5}$/.test(raw)) throw bad(name, raw, "host:port");
  return raw;
};
const bool: Parser = (raw, name) => {
  if (/^(true|1|yes|on)$/i.test(raw)) return true;
  if (/^(false|0|no|off)$/i.test(raw)) return false;
  throw bad(name, raw, "true or false");
};
const pattern =
  (re: RegExp, expected: string): Parser =>
  (raw, name) => {
    if (!re.test(raw)) throw bad(name, raw, expected);
    return raw;
  };
const brokers: Parser = (raw, name) => {
  const list = raw.split(",").map((s) => s.trim());
  if (list.some((b) => !/^[\w.-]+:\d{1,5}$/.test(b)))
    throw bad(name, raw, "a comma-separated list of host:port");
  return list;
};

function bad(name: string, raw: string, expected: string): DispatchError {
  return new DispatchError(
    ErrorCode.InvalidConfig,
    `${name}=${JSON.stringify(raw)} is invalid: expected ${expected}`,
  );
}

/** The environment variables we read, what they set and how they are parsed. The README table mirrors it. */
export const envMap: Record<string, { key: keyof Config; parse: Parser; doc: string }> = {
  DISPATCH_MODE: { key: "mode", parse: oneOf("development", "production"), doc: "development or production" },
  HOST: { key: "host", parse: text, doc: "address the gateway listens on" },
  PORT: { key: "port", parse: int(0, 65535), doc: "port of the gateway (0 picks a free one)" },
  LOG_LEVEL: {
    key: "logLevel",
    parse: oneOf("debug", "info", "warn", "error"),
    doc: "debug, info, warn, error",
  },
  SHUTDOWN_GRACE_MS: { key: "shutdownGraceMs", parse: int(0, 600_000), doc: "drain time on shutdown" },
  H3_RESOLUTION: { key: "h3Resolution", parse: int(0, 15), doc: "H3 resolution of the live index" },
  REDIS_URL: { key: "redisUrl", parse: url("redis:", "rediss:"), doc: "Redis for live state and fan-out" },
  KAFKA_BROKERS: { key: "kafkaBrokers", parse: brokers, doc: "Kafka brokers, host:port,..." },
  DATABASE_URL: {
    key: "databaseUrl",
    parse: url("postgres:", "postgresql:"),
    doc: "PostgreSQL-wire database",
  },
  FIREBASE_PROJECT_ID: { key: "firebaseProjectId", parse: text, doc: "Firebase project for phone login" },
  FIREBASE_AUTH_EMULATOR_HOST: {
    key: "firebaseAuthEmulatorHost",
    parse: hostPort,
    doc: "Firebase Auth emulator host:port (tests)",
  },
  JWT_KEY_ID: { key: "jwtKeyId", parse: text, doc: "key id (kid) of the token signing key" },
  JWT_PRIVATE_KEY_FILE: { key: "jwtPrivateKeyFile", parse: text, doc: "ES256 private key, PKCS#8 PEM file" },
  JWT_PUBLIC_KEY_FILE: { key: "jwtPublicKeyFile", parse: text, doc: "ES256 public key, SPKI PEM file" },
  ACCESS_TOKEN_TTL_S: { key: "accessTokenTtlS", parse: int(30, 86_400), doc: "access token lifetime (s)" },
  DRIVER_RATE_PER_S: {
    key: "driverRatePerS",
    parse: int(1, 1_000_000),
    doc: "driver socket messages/s per socket",
  },
  DRIVER_BURST: { key: "driverBurst", parse: int(1, 1_000_000), doc: "driver socket burst per socket" },
  HTTP_RATE_PER_MIN: {
    key: "httpRatePerMin",
    parse: int(1, 1_000_000),
    doc: "HTTP requests/min per signed-in user",
  },
  AUTH_RATE_PER_MIN: {
    key: "authRatePerMin",
    parse: int(1, 1_000_000),
    doc: "login requests/min per client address",
  },
  DATA_DIR: { key: "dataDir", parse: text, doc: "embedded database folder (no DATABASE_URL)" },
  PHONE_SECRET: { key: "phoneSecret", parse: text, doc: "phone encryption secret (32+ chars)" },
  QUOTE_KEY: { key: "quoteKey", parse: text, doc: "HMAC key signing price quotes (32+ bytes)" },
  DATABASE_SCHEMA: {
    key: "databaseSchema",
    parse: pattern(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, "an SQL identifier"),
    doc: "schema of the tables with DATABASE_URL",
  },
  KAFKA_TOPIC_PREFIX: {
    key: "kafkaTopicPrefix",
    parse: pattern(/^[A-Za-z0-9._-]{0,100}$/, "letters, digits, '.', '_' or '-'"),
    doc: "prefix of the pipeline topic names",
  },
  KAFKA_PARTITIONS: { key: "kafkaPartitions", parse: int(1, 10_000), doc: "partitions of created topics" },
  KAFKA_GROUP_ID: { key: "kafkaGroupId", parse: text, doc: "consumer group of the persisters" },
  KAFKA_SESSION_TIMEOUT_MS: {
    key: "kafkaSessionTimeoutMs",
    parse: int(1_000, 3_600_000),
    doc: "persister group session timeout (ms)",
  },
  PERSISTER_IN_PROCESS: {
    key: "persisterInProcess",
    parse: bool,
    doc: "serve runs a persister (with Kafka)",
  },
  PERSISTER_PORT: { key: "persisterPort", parse: int(0, 65535), doc: "persister /healthz, /metrics port" },
  PERSISTER_FETCH_BYTES: {
    key: "persisterFetchBytes",
    parse: int(1_024, 256 * 1024 * 1024),
    doc: "persister fetch per partition (bytes)",
  },
  PIPELINE_LINGER_MS: {
    key: "pipelineLingerMs",
    parse: int(0, 10_000),
    doc: "max wait of a fix to batch (ms)",
  },
  PIPELINE_BATCH_MAX: { key: "pipelineBatchMax", parse: int(1, 1_000_000), doc: "largest pipeline batch" },
  PIPELINE_BUFFER_MAX: {
    key: "pipelineBufferMax",
    parse: int(1, 100_000_000),
    doc: "fixes buffered at most (then dropped)",
  },
};

/**
 * Builds the config from command-line flags (named like the environment variables they
 * override) over the environment (process.env by default) over the defaults.
 */
export function loadConfig(
  flags: Record<string, string | undefined> = {},
  env: Record<string, string | undefined> = process.env,
): Config {
  const config: Record<string, unknown> = { ...defaults };
  const errors: string[] = [];
  for (const [name, { key, parse }] of Object.entries(envMap)) {
    const raw = flags[name] ?? env[name];
    if (raw === undefined || raw === "") continue;
    try {
      config[key] = parse(raw, name);
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  const c = config as unknown as Config;
  if ((c.jwtPrivateKeyFile === undefined) !== (c.jwtPublicKeyFile === undefined)) {
    errors.push("JWT_PRIVATE_KEY_FILE and JWT_PUBLIC_KEY_FILE go together");
  }
  if (c.mode === "production" && c.jwtPrivateKeyFile === undefined) {
    errors.push(
      "production mode needs JWT_PRIVATE_KEY_FILE and JWT_PUBLIC_KEY_FILE (every gateway signs with one key)",
    );
  }
  if (c.databaseUrl !== undefined && c.phoneSecret === undefined) {
    errors.push("DATABASE_URL needs PHONE_SECRET (every process must encrypt phones with the same secret)");
  }
  if (c.mode === "production" && c.quoteKey === undefined) {
    errors.push("production mode needs QUOTE_KEY (every gateway must verify every gateway's quotes)");
  }
  if (c.firebaseAuthEmulatorHost !== undefined && c.mode === "production") {
    errors.push("FIREBASE_AUTH_EMULATOR_HOST is refused in production mode (it accepts unsigned tokens)");
  }
  if (errors.length > 0) {
    throw new DispatchError(ErrorCode.InvalidConfig, `configuration rejected:\n  ${errors.join("\n  ")}`);
  }
  return config as unknown as Config;
}
