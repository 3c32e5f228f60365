/**
 * The composition root: turns a Config into running parts. `serve` and the end-to-end tests
 * both build the engine through here, so what the tests run is what production runs.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../engine/logger.js";
import { DevCodes, type FirebasePhoneVerifier, firebaseVerifier } from "../gateway/auth/phone.js";
import { authRoutes } from "../gateway/auth/routes.js";
import { KeyRing, TokenService } from "../gateway/auth/tokens.js";
import { type Gateway, startGateway } from "../gateway/server.js";
import { MemoryRefreshTokenStore, MemoryUserStore } from "../storage/memory/identity.js";
import type { Config } from "./config.js";
import { projectRoot } from "./paths.js";

export interface Running {
  gateway: Gateway;
  tokens: TokenService;
  users: MemoryUserStore;
  /** Orderly shutdown: stop accepting, then release every resource. */
  close(): Promise<void>;
}

async function keyRing(config: Config): Promise<KeyRing> {
  if (config.jwtPrivateKeyFile && config.jwtPublicKeyFile) {
    return KeyRing.fromPem(
      config.jwtKeyId,
      await readFile(config.jwtPrivateKeyFile, "utf8"),
      await readFile(config.jwtPublicKeyFile, "utf8"),
    );
  }
  return KeyRing.ephemeral(config.jwtKeyId);
}

export async function compose(
  config: Config,
  logger: Logger,
  now: () => number = Date.now,
): Promise<Running> {
  const users = new MemoryUserStore();
  const tokens = new TokenService({
    keys: await keyRing(config),
    users,
    refreshTokens: new MemoryRefreshTokenStore(),
    now,
    accessTtlS: config.accessTokenTtlS,
  });
  const firebase: FirebasePhoneVerifier | undefined = config.firebaseProjectId
    ? firebaseVerifier(config.firebaseProjectId)
    : undefined;
  const devCodes =
    config.mode === "development" ? new DevCodes({ mode: config.mode, logger, now }) : undefined;

  const gateway = await startGateway({
    host: config.host,
    port: config.port,
    logger,
    authenticate: (t) => tokens.verify(t),
    routes: authRoutes({ tokens, users, now, firebase, devCodes }),
    documents: {
      "/.well-known/jwks.json": () => tokens.jwks(),
      "/openapi.json": async () =>
        JSON.parse(await readFile(join(projectRoot, "docs", "openapi.json"), "utf8")),
    },
  });

  return {
    gateway,
    tokens,
    users,
    async close() {
      await gateway.close();
      await firebase?.close();
    },
  };
}
