/**
 * The composition root: turns a Config into running parts. `serve` and the end-to-end tests
 * both build the engine through here, so what the tests run is what production runs.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { SystemClock } from "../engine/clock.js";
import type { Logger } from "../engine/logger.js";
import { FlatSurge, LinearFareModel, StraightLineRoutes } from "../engine/pricing.js";
import { HmacQuoteSigner } from "../engine/quotes.js";
import { h3RegionOf } from "../engine/regions.js";
import { RideService } from "../engine/rides.js";
import { DevCodes, type FirebasePhoneVerifier, firebaseVerifier } from "../gateway/auth/phone.js";
import { authRoutes } from "../gateway/auth/routes.js";
import { KeyRing, TokenService } from "../gateway/auth/tokens.js";
import { GatewayNotifier } from "../gateway/notifier.js";
import { rideRoutes } from "../gateway/rides.js";
import { type Gateway, startGateway } from "../gateway/server.js";
import { cellsOf } from "../native/index.js";
import { MemoryRefreshTokenStore, MemoryUserStore } from "../storage/memory/identity.js";
import { MemoryDriverAssignments, MemoryEventLog, MemoryOrderStore } from "../storage/memory/index.js";
import type { Config } from "./config.js";
import { projectRoot } from "./paths.js";

export interface Running {
  gateway: Gateway;
  tokens: TokenService;
  users: MemoryUserStore;
  rides: RideService;
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

/** The H3 cell (resolution 7, a few km²) whose surge room a rider watches. */
function areaRoom(lat: number, lng: number): string {
  return cellsOf(Float64Array.of(lat, lng), 7)[0]!.toString(16);
}

export async function compose(config: Config, logger: Logger): Promise<Running> {
  const clock = new SystemClock();
  const now = () => clock.now();
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

  const notifier = new GatewayNotifier();
  const assignments = new MemoryDriverAssignments();
  const rides = new RideService({
    clock,
    log: logger,
    orders: new MemoryOrderStore(),
    drivers: assignments,
    events: new MemoryEventLog(),
    notifier,
    quotes: new HmacQuoteSigner({
      keyId: "q1",
      // Quotes only need to outlive their 5 minutes; a per-process key is enough for one process.
      key: config.quoteKey ?? randomBytes(32).toString("base64url"),
    }),
    fares: new LinearFareModel(),
    routes: new StraightLineRoutes(),
    surge: new FlatSurge(1),
    regionOf: h3RegionOf(4),
  });

  const gateway = await startGateway({
    host: config.host,
    port: config.port,
    logger,
    authenticate: (t) => tokens.verify(t),
    routes: {
      ...authRoutes({ tokens, users, now, firebase, devCodes }),
      ...rideRoutes({
        rides,
        users,
        overview: () => ({
          driversConnected: gateway.drivers?.connected ?? 0,
          undeliveredToDrivers: notifier.undeliveredToDrivers,
        }),
      }),
    },
    realtime: {
      handlers: {
        authorizeOrderWatch: async (riderId, orderId) => {
          await rides.getOrder({ role: "rider", id: riderId }, orderId);
        },
        areaRoom,
      },
    },
    documents: {
      "/.well-known/jwks.json": () => tokens.jwks(),
      "/openapi.json": async () =>
        JSON.parse(await readFile(join(projectRoot, "docs", "openapi.json"), "utf8")),
    },
  });
  notifier.bind({ realtime: gateway.realtime, drivers: gateway.drivers });

  return {
    gateway,
    tokens,
    users,
    rides,
    async close() {
      await gateway.close();
      await firebase?.close();
    },
  };
}
