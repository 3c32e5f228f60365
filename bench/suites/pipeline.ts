/**
 * The pipeline suite: what happens to a GPS fix after the hot path took it.
 *
 * 1. Kafka -> PostgreSQL: fixes already in the `driver-locations` topic are written into the
 *    partitioned `driver_locations` table by our persister (consumer group, batches, multi-row
 *    insert, offsets committed after the write) beside the consumer a typical team writes
 *    (kafkajs `eachMessage`, one awaited INSERT per fix), same broker, same data, same database.
 * 2. Redis write-behind: live positions offered at 20,000 fixes/s (20,000 drivers, one fix a
 *    second each) through our coalescing, pipelined writer beside one GEOADD + HSET + PEXPIRE per
 *    fix, sent as each fix arrives. Latency is from the hot path handing the fix over to Redis
 *    acknowledging it; CPU is the client's (this process) and the Redis server's, per fix.
 *
 * Every service is the real one (scripts/services.sh), started when not running.
 */
import { Redis } from "ioredis";
import { Kafka, logLevel } from "kafkajs";
import { type FixRecord, openKafkaProducer, startPersister } from "../../storage/pipeline/index.js";
import type { PgDb } from "../../storage/postgres/db.js";
import { ensureLocationPartitions } from "../../storage/postgres/partitions.js";
import { pgSchemas } from "../../storage/postgres/test-support.js";
import { RedisLivePositions } from "../../storage/redis/live-positions.js";
import type { FigureInput, SuiteOptions, SuiteResult } from "../report.js";
import { findService, redisCpuUs, type ServiceHandle } from "../services.js";
import { mulberry32, summarize } from "../stats.js";

/** Offers `rate` calls of `emit` a second for `seconds`, catching up after every timer tick. */
async function paced(rate: number, seconds: number, emit: (i: number) => void): Promise<number> {
  const total = Math.round(rate * seconds);
  const start = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
    while (sent < due) emit(sent++);
    await new Promise((r) => setTimeout(r, 1));
  }
  return (performance.now() - start) / 1000;
}

/** A city of `drivers` drifting around Chicago's Loop: fix `i` is driver `i % drivers`. */
function fixSource(drivers: number) {
  const rnd = mulberry32(7);
  const lat = new Float64Array(drivers);
  const lng = new Float64Array(drivers);
  for (let d = 0; d < drivers; d++) {
    lat[d] = 41.85 + rnd() * 0.1;
    lng[d] = -87.7 + rnd() * 0.1;
  }
  const ids = Array.from({ length: drivers }, (_, d) => `bench-driver-${d}`);
  return (i: number) => {
    const d = i % drivers;
    lat[d] = lat[d]! + (rnd() - 0.5) * 1e-4;
    lng[d] = lng[d]! + (rnd() - 0.5) * 1e-4;
    return { id: ids[d]!, lat: lat[d]!, lng: lng[d]! };
  };
}

interface RedisRun {
  p50Ms: number;
  p99Ms: number;
  clientCpuUsPerFix: number;
  serverCpuUsPerFix: number;
  offeredPerS: number;
  stored: number;
}

async function cleanup(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 5000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== "0");
}

/** One way of storing live positions: fed fix by fix, then drained; `samples` are delays in ms. */
interface LiveWriter {
  readonly samples: number[];
  write(fix: { id: string; lat: number; lng: number }): void;
  /** Waits for everything written; resolves with how many fixes were stored. */
  done(): Promise<number>;
}

/** Ours: the coalescing write-behind; the delay of a fix is its driver's wait for the flush. */
function writeBehind(redis: Redis, prefix: string): LiveWriter {
  const queuedAt = new Map<string, number>();
  const samples: number[] = [];
  const live = new RedisLivePositions(redis, {
    prefix,
    onFlushed(ids) {
      const now = performance.now();
      for (const id of ids) {
        const t = queuedAt.get(id);
        if (t === undefined) continue;
        samples.push(now - t);
        queuedAt.delete(id);
      }
    },
  });
  return {
    samples,
    write(f) {
      // Coalesced fixes wait with the first one queued for their driver: its age is what counts.
      if (!queuedAt.has(f.id)) queuedAt.set(f.id, performance.now());
      live.write(f.id, f.lat, f.lng, Date.now());
    },
    async done() {
      await live.close();
      return live.stats.flushed;
    },
  };
}

/** What a typical handler does: one GEOADD, HSET and PEXPIRE per fix, sent as the fix arrives. */
function perFix(redis: Redis, prefix: string): LiveWriter {
  const geoKey = `${prefix}live:geo`;
  const samples: number[] = [];
  const pending = new Set<Promise<void>>();
  let stored = 0;
  return {
    samples,
    write(f) {
      const t = performance.now();
      const key = `${prefix}live:pos:${f.id}`;
      const p = Promise.all([
        redis.geoadd(geoKey, f.lng, f.lat, f.id),
        redis.hset(key, "lat", String(f.lat), "lng", String(f.lng), "t", String(Date.now())),
        redis.pexpire(key, 60_000),
      ]).then(() => {
        samples.push(performance.now() - t);
        stored++;
        pending.delete(p);
      });
      pending.add(p);
    },
    async done() {
      await Promise.all(pending);
      return stored;
    },
  };
}

/** Offers `rate` fixes a second (one driver per fix slot) to `writer` and measures it. */
async function measureLive(
  redis: Redis,
  rate: number,
  seconds: number,
  writer: LiveWriter,
): Promise<RedisRun> {
  const next = fixSource(rate);
  const server0 = await redisCpuUs(redis);
  const cpu0 = process.cpuUsage();
  const wall = await paced(rate, seconds, (i) => writer.write(next(i)));
  const stored = await writer.done();
  const cpu = process.cpuUsage(cpu0);
  const serverCpu = (await redisCpuUs(redis)) - server0;
  const offered = Math.round(rate * seconds);
  const s = summarize(Float64Array.from(writer.samples));
  return {
    p50Ms: s.median,
    p99Ms: s.p99,
    clientCpuUsPerFix: (cpu.user + cpu.system) / offered,
    serverCpuUsPerFix: serverCpu / offered,
    offeredPerS: offered / wall,
    stored,
  };
}

async function redisSection(
  service: ServiceHandle,
  quick: boolean,
  log: SuiteOptions["log"],
  figures: Record<string, FigureInput>,
  notes: string[],
): Promise<void> {
  const redis = new Redis(service.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const rate = 20_000;
  const seconds = quick ? 5 : 30;
  const prefix = `bench:${process.pid}:`;
  try {
    // A short warm-up of both paths so neither pays for JIT or connection set-up.
    await measureLive(redis, rate, 1, writeBehind(redis, `${prefix}warm:`));
    await measureLive(redis, rate, 1, perFix(redis, `${prefix}warm:`));
    // What the pacing loop itself costs this process per fix, subtracted from both below.
    const idle0 = process.cpuUsage();
    const next = fixSource(rate);
    await paced(rate, Math.min(seconds, 3), (i) => next(i));
    const idle = process.cpuUsage(idle0);
    const loopUs = (idle.user + idle.system) / Math.round(rate * Math.min(seconds, 3));
    log(`redis: write-behind at ${rate} fixes/s for ${seconds} s`);
    const ours = await measureLive(redis, rate, seconds, writeBehind(redis, `${prefix}ours:`));
    log(`redis: one command set per fix at ${rate} fixes/s for ${seconds} s`);
    const base = await measureLive(redis, rate, seconds, perFix(redis, `${prefix}base:`));
    const baselineName = "GEOADD + HSET + PEXPIRE per fix, sent as each fix arrives";
    figures.redis_live_p99_ms_at_20k = {
      ours: ours.p99Ms,
      baseline: base.p99Ms,
      baselineName,
      unit: "ms (fix handed over -> Redis acknowledged), p99",
      better: "lower",
    };
    figures.redis_live_client_cpu_us_per_fix = {
      ours: ours.clientCpuUsPerFix - loopUs,
      baseline: base.clientCpuUsPerFix - loopUs,
      baselineName,
      unit: "us CPU of the writing process per fix (pacing loop's own cost subtracted)",
      better: "lower",
    };
    figures.redis_live_server_cpu_us_per_fix = {
      ours: ours.serverCpuUsPerFix,
      baseline: base.serverCpuUsPerFix,
      baselineName,
      unit: "us CPU of redis-server per fix",
      better: "lower",
    };
    notes.push(
      `Redis write-behind: offered ${Math.round(ours.offeredPerS)} fixes/s (baseline ${Math.round(base.offeredPerS)}) from 20,000 drivers for ${seconds} s; p50 ${ours.p50Ms.toFixed(1)} ms (baseline ${base.p50Ms.toFixed(2)} ms); the pacing loop alone cost ${loopUs.toFixed(2)} us of CPU per fix. Ours sends at most every 50 ms (its flush interval, the floor of its latency) and keeps only each driver's newest fix, so it wrote ${ours.stored} of the ${Math.round(rate * seconds)} fixes offered (the others were replaced by a newer fix of the same driver while waiting); the baseline writes every fix. Redis ${service.started ? "was started by this run" : "was already running"}; client and server share this machine's 2 cores.`,
    );
  } finally {
    await cleanup(redis, prefix).catch(() => {});
    redis.disconnect();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Puts `n` fixes of `drivers` drivers (one a second each, in time order) into `<prefix>driver-locations`. */
async function loadFixes(brokers: string[], prefix: string, n: number, drivers: number): Promise<number> {
  const producer = await openKafkaProducer({ brokers, topicPrefix: prefix, partitions: 6, maxBuffered: n });
  const next = fixSource(drivers);
  const t0 = Date.now() - Math.ceil(n / drivers) * 1000;
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const f = next(i);
    const fix: FixRecord = {
      driverId: f.id,
      at: t0 + Math.floor(i / drivers) * 1000 + (i % 1000),
      lat: f.lat,
      lng: f.lng,
      heading: 90,
      speedMps: 8.5,
      accuracyM: 5,
    };
    while (!producer.publishFix(fix)) await sleep(5);
  }
  await producer.flush();
  const seconds = (performance.now() - started) / 1000;
  await producer.close();
  return n / seconds;
}

async function rows(db: PgDb): Promise<number> {
  const { rows: r } = await db.query<{ n: string }>("SELECT count(*)::text AS n FROM driver_locations");
  return Number(r[0]!.n);
}

/** Rows a second between the first row landing and the last (or the deadline). */
async function measureDrain(
  db: PgDb,
  n: number,
  deadlineMs: number,
): Promise<{ rate: number; done: number }> {
  const until = performance.now() + deadlineMs;
  let first: number | undefined;
  let firstRows = 0;
  let done = 0;
  for (;;) {
    done = await rows(db);
    const now = performance.now();
    if (first === undefined && done > 0) {
      first = now;
      firstRows = done;
    }
    if (done >= n || now > until) {
      const seconds = first === undefined ? Number.NaN : (now - first) / 1000;
      return { rate: (done - firstRows) / seconds, done };
    }
    await sleep(50);
  }
}

/** What a typical team writes: kafkajs eachMessage, one awaited INSERT per fix. */
async function perRowConsumer(brokers: string[], prefix: string, db: PgDb): Promise<() => Promise<void>> {
  const kafka = new Kafka({ brokers, clientId: "bench-per-row", logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `${prefix}per-row` });
  await consumer.connect();
  await consumer.subscribe({ topic: `${prefix}driver-locations`, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      // Our producer packs fixes (a JSON array per partition and send); one row each still.
      const parsed = JSON.parse(message.value!.toString()) as FixRecord | FixRecord[];
      for (const f of Array.isArray(parsed) ? parsed : [parsed]) {
        await db.query(
          `INSERT INTO driver_locations (driver_id, at, lat, lng, heading, speed_mps, accuracy_m)
            VALUES ($1, $2::timestamptz, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
          [f.driverId, new Date(f.at).toISOString(), f.lat, f.lng, f.heading, f.speedMps, f.accuracyM],
        );
      }
    },
  });
  return () => consumer.disconnect();
}

async function kafkaSection(
  kafka: ServiceHandle,
  postgres: ServiceHandle,
  quick: boolean,
  log: SuiteOptions["log"],
  figures: Record<string, FigureInput>,
  notes: string[],
): Promise<void> {
  const brokers = kafka.url.split(",");
  const n = quick ? 100_000 : 1_000_000;
  const drivers = 20_000;
  const run = `bench-${process.pid}-${Date.now().toString(36)}-`;
  const schemas = pgSchemas(postgres.url);
  try {
    const oursDb = await schemas.fresh();
    const baseDb = await schemas.fresh();
    for (const db of [oursDb, baseDb]) await ensureLocationPartitions(db, Date.now() - 2 * 86_400_000, 3);
    log(`kafka: producing ${n} fixes twice (ours, baseline)`);
    const produced = await loadFixes(brokers, `${run}ours-`, n, drivers);
    await loadFixes(brokers, `${run}base-`, n, drivers);

    log("kafka -> postgres: our persister");
    const persister = await startPersister({
      brokers,
      db: oursDb,
      topicPrefix: `${run}ours-`,
      groupId: `${run}ours`,
    });
    const ours = await measureDrain(oursDb, n, quick ? 60_000 : 300_000);
    await persister.waitForLag0(30_000).catch(() => {});
    const stats = persister.stats();
    await persister.stop();

    log("kafka -> postgres: per-row INSERT consumer");
    const stop = await perRowConsumer(brokers, `${run}base-`, baseDb);
    const base = await measureDrain(baseDb, n, quick ? 10_000 : 60_000);
    await stop();

    figures.kafka_to_postgres_fixes_per_s = {
      ours: ours.rate,
      baseline: base.rate,
      baselineName: "kafkajs eachMessage, one awaited INSERT per fix",
      unit: "fixes/s into driver_locations",
      better: "higher",
    };
    notes.push(
      `Kafka -> PostgreSQL: ${n} fixes of ${drivers} drivers in a 6-partition topic, written into the day-partitioned driver_locations table of a real PostgreSQL 15; rate from the first row landing to the last (the baseline ran ${quick ? 10 : 60} s and wrote ${base.done}). Ours wrote ${ours.done} rows in ${stats.batches} batches (${stats.duplicates} duplicates, ${stats.poison} poison). The producer put ${Math.round(produced)} fixes/s into Kafka (idempotent, acks all). Persister, PostgreSQL and Kafka share this machine's 2 cores.`,
    );
  } finally {
    await schemas.dropAll().catch(() => {});
    const admin = new Kafka({ brokers, clientId: "bench-cleanup", logLevel: logLevel.NOTHING }).admin();
    try {
      await admin.connect();
      const topics = (await admin.listTopics()).filter((t) => t.startsWith(run));
      if (topics.length > 0) await admin.deleteTopics({ topics });
    } catch {
      // Topics of a bench run are harmless; `scripts/services.sh clean` removes everything.
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }
}

export async function run({ quick, log }: SuiteOptions): Promise<SuiteResult> {
  const figures: Record<string, FigureInput> = {};
  const notes: string[] = [];
  const kafka = findService("kafka", log, notes);
  const postgres = findService("postgres", log, notes);
  if (kafka !== null && postgres !== null) {
    try {
      await kafkaSection(kafka, postgres, quick, log, figures, notes);
    } catch (err) {
      notes.push(`The Kafka -> PostgreSQL run failed (${(err as Error).message}), so no figures for it.`);
    }
  }
  kafka?.release();
  postgres?.release();
  const redis = findService("redis", log, notes);
  if (redis !== null) {
    try {
      await redisSection(redis, quick, log, figures, notes);
    } catch (err) {
      notes.push(`Redis failed during the run (${(err as Error).message}), so no Redis figures.`);
    } finally {
      redis.release();
    }
  }
  return { figures, notes };
}
