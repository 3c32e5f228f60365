/**
 * The composition root: turns a Config into running parts. `serve` and the end-to-end tests
 * both build the engine through here, so what the tests run is what production runs.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createAdapter } from "@socket.io/redis-adapter";
import { SystemClock } from "../engine/clock.js";
import { Dispatcher, DispatchPool, NativeMatcher, NativePickupEta, tapEvents } from "../engine/dispatch.js";
import { DriverOnboarding } from "../engine/driver-profiles.js";
import { driverStatsListener } from "../engine/driver-stats.js";
import type { UserStore } from "../engine/identity.js";
import { expireSilentDrivers, type LiveLocations, NativeLocations } from "../engine/locations.js";
import type { Logger } from "../engine/logger.js";
import type { DriverId } from "../engine/model.js";
import { LinearFareModel, StraightLineRoutes } from "../engine/pricing.js";
import { HmacQuoteSigner } from "../engine/quotes.js";
import { h3RegionOf } from "../engine/regions.js";
import { RideService } from "../engine/rides.js";
import { SurgePricing } from "../engine/surge.js";
import { LiveTracker } from "../engine/tracking.js";
import * as v from "../engine/validate.js";
import { DevCodes, type FirebasePhoneVerifier, firebaseVerifier } from "../gateway/auth/phone.js";
import { authRoutes } from "../gateway/auth/routes.js";
import { KeyRing, TokenService } from "../gateway/auth/tokens.js";
import { driverHandlers } from "../gateway/driver/handlers.js";
import { driverRoutes } from "../gateway/drivers.js";
import { CloseCode } from "../gateway/errors.js";
import { GatewayNotifier } from "../gateway/notifier.js";
import { rideRoutes } from "../gateway/rides.js";
import { type Gateway, startGateway } from "../gateway/server.js";
import { cellsOf, DriverIndex, EtaModel, SurgeState } from "../native/index.js";
import { openStorage, type Storage } from "../storage/factory.js";
import { MemoryIdempotency } from "../storage/memory/idempotency.js";
import { MemoryRateLimiter } from "../storage/memory/rate-limit.js";
import { openPipeline, type Pipeline } from "../storage/pipeline/index.js";
import type { Config } from "./config.js";
import { projectRoot } from "./paths.js";
import { pipelineConfigOf } from "./pipeline.js";

export interface Running {
  gateway: Gateway;
  tokens: TokenService;
  users: UserStore;
  storage: Storage;
  rides: RideService;
  locations: LiveLocations;
  dispatch: DispatchPool;
  /** Events, fixes and price points on their way to the database (Kafka or the embedded log). */
  pipeline: Pipeline;
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
  // PostgreSQL with DATABASE_URL, else the same schema and repositories on embedded PGlite.
  const storage = await openStorage({
    ...(config.databaseUrl === undefined ? { dataDir: config.dataDir } : { databaseUrl: config.databaseUrl }),
    ...(config.phoneSecret === undefined ? {} : { phoneSecret: config.phoneSecret }),
    ...(config.databaseSchema === undefined ? {} : { databaseSchema: config.databaseSchema }),
    // REDIS_URL: what every gateway shares (rate limits, idempotency keys, live positions,
    // presence; the Socket.IO rooms below).
    ...(config.redisUrl === undefined ? {} : { redisUrl: config.redisUrl }),
    log: logger,
  });
  // Event appends, price points and applied fixes reach the database through one pipeline:
  // Kafka with KAFKA_BROKERS (and a persister in process unless PERSISTER_IN_PROCESS=false),
  // else the embedded log. Reads of events still come from the database.
  const pipeline = await openPipeline(pipelineConfigOf(config, logger), storage.db, storage.events).catch(
    async (err: unknown) => {
      await storage.close();
      throw err;
    },
  );
  const { users, orders } = storage;
  const tokens = new TokenService({
    keys: await keyRing(config),
    users,
    refreshTokens: storage.refreshTokens,
    now,
    accessTtlS: config.accessTokenTtlS,
  });
  const firebase: FirebasePhoneVerifier | undefined = config.firebaseProjectId
    ? firebaseVerifier(config.firebaseProjectId)
    : undefined;
  const devCodes =
    config.mode === "development" ? new DevCodes({ mode: config.mode, logger, now }) : undefined;

  const notifier = new GatewayNotifier();
  const assignments = storage.drivers;
  const locations = new NativeLocations(new DriverIndex({ resolution: config.h3Resolution }));
  const eta = new NativePickupEta(new EtaModel());
  const matcher = new NativeMatcher();
  const tracker = new LiveTracker({ clock, log: logger, orders, locations, eta, notifier });
  // The loops and the surge updater are built before the RideService they call (closures).
  let rides: RideService | undefined;
  const dispatch = new DispatchPool(
    (region) =>
      new Dispatcher({ region, clock, log: logger, rides: rides!, orders, locations, eta, matcher }),
    // The single-process default owns every region; scale-out assigns regions by Kafka partitions.
    { owns: () => true, log: logger },
  );
  const surge = new SurgePricing({
    clock,
    log: logger,
    locations,
    openPickups: () => dispatch.openPickups(),
    model: new SurgeState(),
    area: notifier,
    history: pipeline.priceHistory,
  });
  rides = new RideService({
    clock,
    log: logger,
    orders,
    drivers: assignments,
    events: tapEvents(
      pipeline.events,
      [
        (e) => dispatch.observe(e),
        (e) => tracker.observe(e),
        driverStatsListener(storage.driverStats, logger),
      ],
      logger,
    ),
    notifier,
    quotes: new HmacQuoteSigner({
      keyId: "q1",
      // Quotes only need to outlive their 5 minutes; a per-process key is enough for one process.
      key: config.quoteKey ?? randomBytes(32).toString("base64url"),
    }),
    fares: new LinearFareModel(),
    routes: new StraightLineRoutes(),
    surge,
    regionOf: h3RegionOf(4),
  });
  const ride = rides;

  // Live positions in Redis for other processes (admin views, a region's next owner).
  const livePositions = storage.redis?.livePositions;
  // With Redis: who is online across every gateway. Drivers online here heartbeat every 10 s
  // (presence lasts 30 s), so a driver whose gateway died drops out without anyone noticing.
  const presence = storage.redis?.presence;
  const onlineHere = new Set<DriverId>();
  const beat = (id: DriverId) =>
    presence
      ?.heartbeat(id, clock.now())
      .catch((err: unknown) => logger.warn("redis presence failed", { err: String(err) }));
  const presenceTimer =
    presence === undefined
      ? undefined
      : setInterval(() => {
          for (const id of onlineHere) void beat(id);
        }, 10_000).unref();
  const handlers = driverHandlers({
    rides: ride,
    assignments,
    fixes(driverId, batch) {
      // The hot path: the id is the subject of an access token we signed (checked at connect),
      // so it is not re-validated per frame.
      const id = driverId as DriverId;
      const r = locations.applyFixes(id, batch);
      tracker.onFixes(id, batch, r);
      if (r.applied > 0) {
        // Fire-and-forget, bounded: only what the index applied goes to driver_locations.
        pipeline.sink.publishFixes(id, batch, r.outcomes);
        // With Redis: the newest position, written behind (coalesced, one script per flush).
        if (livePositions !== undefined) {
          const p = locations.positionOf(id);
          if (p !== null) livePositions.write(id, p.lat, p.lng, p.at);
        }
      }
      return { applied: r.applied, dropped: r.dropped };
    },
    async status(driverId, status) {
      const id = v.driverId(driverId);
      if (status === "online") {
        // Free only when nothing holds the driver: an offer or a trip keeps them offered/busy.
        const { hold } = await assignments.get(id);
        // The class of the car the driver registered (drivers made by an operator have none).
        const profile = await storage.driverProfiles.get(id);
        locations.setVehicleClass(id, profile?.vehicle?.vehicleClass ?? "economy");
        locations.setStatus(id, hold === null ? "free" : hold.kind === "offer" ? "offered" : "busy");
        onlineHere.add(id);
        await beat(id);
      } else {
        locations.setStatus(id, "offline");
        if (onlineHere.delete(id))
          await presence
            ?.leave(id)
            .catch((err: unknown) => logger.warn("redis presence failed", { err: String(err) }));
        livePositions
          ?.remove(id)
          .catch((err: unknown) => logger.warn("redis remove failed", { err: String(err) }));
      }
      return { status };
    },
    // Gone from this gateway: no more heartbeats here (presence runs out unless it reconnects).
    disconnected(driverId) {
      onlineHere.delete(driverId as DriverId);
    },
    async trackOf(orderId) {
      // The tracker follows every trip of this process; after a restart without a snapshot the
      // order's estimate is the honest fallback.
      const track = tracker.trackOf(orderId);
      if (track !== null) return track;
      const o = await orders.get(v.orderId(orderId));
      return { distanceM: o?.estimate.distanceM ?? 0, durationS: o?.estimate.durationS ?? 0 };
    },
  });
  const stopExpiry = expireSilentDrivers(locations, clock, 30_000);

  const onboarding = new DriverOnboarding({ profiles: storage.driverProfiles, users, now });
  const roomClients =
    storage.redis === undefined
      ? undefined
      : { pub: storage.redis.client.duplicate(), sub: storage.redis.client.duplicate() };
  const gateway = await startGateway({
    host: config.host,
    port: config.port,
    logger,
    authenticate: (t) => tokens.verify(t),
    // A driver suspended after their token was issued is refused at the socket at once.
    currentRoles: async (userId) => (await users.get(userId))?.roles,
    httpGuards: {
      limiter: storage.redis?.rateLimiter ?? new MemoryRateLimiter(),
      idempotency: storage.redis?.idempotency ?? new MemoryIdempotency({ now }),
      userLimit: { limit: config.httpRatePerMin, windowMs: 60_000 },
      ipLimit: { limit: config.authRatePerMin, windowMs: 60_000 },
      now,
    },
    driverHandlers: handlers,
    driverLimits: { ratePerSecond: config.driverRatePerS, burst: config.driverBurst },
    routes: {
      ...authRoutes({ tokens, users, now, firebase, devCodes }),
      ...driverRoutes({
        onboarding,
        users,
        onDriverRoleRevoked: (driverId) =>
          gateway.drivers?.disconnect(driverId, CloseCode.Forbidden, "driver role revoked"),
      }),
      ...rideRoutes({
        rides: ride,
        users,
        driverStats: (driverId) => storage.driverStats.get(driverId),
        overview: () => ({
          driversConnected: gateway.drivers?.connected ?? 0,
          driversIndexed: locations.size,
          undeliveredToDrivers: notifier.undeliveredToDrivers,
          dispatch: dispatch.stats(),
          surge: surge.heatMap(),
        }),
      }),
    },
    realtime: {
      handlers: {
        authorizeOrderWatch: async (riderId, orderId) => {
          await ride.getOrder({ role: "rider", id: riderId }, orderId);
        },
        areaRoom,
      },
      // With Redis, rooms span every gateway process: a push reaches a rider on any node.
      ...(roomClients === undefined
        ? {}
        : { adapter: createAdapter(roomClients.pub, roomClients.sub, { key: "dispatch:rooms" }) }),
    },
    documents: {
      "/.well-known/jwks.json": () => tokens.jwks(),
      "/openapi.json": async () =>
        JSON.parse(await readFile(join(projectRoot, "docs", "openapi.json"), "utf8")),
    },
  });
  notifier.bind({ realtime: gateway.realtime, drivers: gateway.drivers });
  await dispatch.start();
  surge.start();

  return {
    gateway,
    tokens,
    users,
    storage,
    rides: ride,
    locations,
    dispatch,
    pipeline,
    async close() {
      await gateway.close();
      roomClients?.pub.disconnect();
      roomClients?.sub.disconnect();
      surge.stop();
      stopExpiry();
      if (presenceTimer !== undefined) clearInterval(presenceTimer);
      tracker.stop();
      await dispatch.stop();
      await firebase?.close();
      await pipeline.close();
      await storage.close();
    },
  };
}
