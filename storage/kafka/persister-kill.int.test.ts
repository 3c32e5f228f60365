// Kill -9 of `dispatch persister` in the middle of its batches, restart: every fix and every order
// event produced is in PostgreSQL exactly once (offsets are committed only after the write, and
// the redelivered batch is written idempotently).
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { sampleEvent } from "../../engine/contracts/fixtures.js";
import { silentLogger } from "../../engine/logger.js";
import type { OrderId } from "../../engine/model.js";
import { serviceEnv, uniqueId } from "../../test/integration/services-env.js";
import { dispatch, killChildren } from "../../test/support/processes.js";
import { until } from "../../test/support/until.js";
import { openKafkaProducer } from "../pipeline/index.js";
import { PgDb, quoteIdent } from "../postgres/db.js";
import { migrate } from "../postgres/migrate.js";
import { PhoneCipher } from "../postgres/phone-crypto.js";
import { randomSchemaName } from "../postgres/test-support.js";
import { kafkaClient, pipelineTopics } from "./client.js";

const databaseUrl = serviceEnv("DATABASE_URL");
const brokers = serviceEnv("KAFKA_BROKERS");
const cleanups: (() => Promise<void>)[] = [];
afterEach(killChildren);
afterAll(async () => {
  for (const c of cleanups.splice(0)) await c().catch(() => {});
});

const persister = (env: Record<string, string>) => dispatch(["persister"], env);

describe("dispatch persister under kill -9", () => {
  it("writes every record exactly once across a kill -9 mid-batch and a restart", async () => {
    const id = uniqueId();
    const schema = randomSchemaName("kill");
    const prefix = `kill-${id}-`;
    const groupId = `${prefix}persister`;
    const db = new PgDb({ connectionString: databaseUrl, schema, max: 2 });
    cleanups.push(async () => {
      await db.exec(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
      await db.close();
    });
    await migrate(db);

    const FIXES = 18_000;
    const EVENTS = 2_000;
    const producer = await openKafkaProducer({
      brokers: brokers.split(","),
      topicPrefix: prefix,
      partitions: 6,
      // Small sends: fixes travel packed per partition and send, so this makes ~150 messages.
      maxBatch: 600,
    });
    // Recent times: the persister's partition upkeep deletes fixes past the retention at start.
    const t0 = Date.now() - 3_600_000;
    for (let i = 0; i < FIXES; i++) {
      const ok = producer.publishFix({
        driverId: `kd-${i % 97}`,
        at: t0 + i,
        lat: 41.8 + (i % 100) * 1e-4,
        lng: -87.6,
        heading: null,
        speedMps: 3,
        accuracyM: 5,
      });
      expect(ok).toBe(true);
    }
    await Promise.all(
      Array.from({ length: EVENTS }, (_, i) =>
        producer.publishEvent(sampleEvent(`ko-${i % 400}` as OrderId, 1 + Math.floor(i / 400))),
      ),
    );
    await producer.flush();
    await producer.close();

    const env = {
      DATABASE_URL: databaseUrl,
      DATABASE_SCHEMA: schema,
      PHONE_SECRET: PhoneCipher.newSecret(),
      KAFKA_BROKERS: brokers,
      KAFKA_TOPIC_PREFIX: prefix,
      KAFKA_GROUP_ID: groupId,
      KAFKA_SESSION_TIMEOUT_MS: "6000",
      // Small fetches: many batches, so the kill lands while some are in flight.
      PERSISTER_FETCH_BYTES: "32768",
      PERSISTER_PORT: "0",
      LOG_LEVEL: "info",
    };
    const first = persister(env);
    await until("the first batch", () =>
      /persister first batch written/.test(first.err()) ? true : undefined,
    );
    first.child.kill("SIGKILL");
    await first.exited;

    // Killed mid-way: the group's committed offsets are not at the end yet.
    const admin = kafkaClient({ brokers: brokers.split(","), log: silentLogger }).admin();
    await admin.connect();
    cleanups.push(async () => {
      const topics = Object.values(pipelineTopics(prefix));
      await admin.deleteTopics({ topics }).catch(() => {});
      await admin.disconnect();
    });
    const topics = pipelineTopics(prefix);
    const sumEnds = async (topic: string) =>
      (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
    const fixMessages = await sumEnds(topics.fixes);
    expect(fixMessages).toBeGreaterThan(30);
    expect(fixMessages).toBeLessThanOrEqual(FIXES);
    expect(await sumEnds(topics.events)).toBe(EVENTS);
    const lagOf = async () => {
      let lag = 0;
      const committed = await admin.fetchOffsets({ groupId, topics: [topics.fixes, topics.events] });
      for (const t of committed) {
        const ends = await admin.fetchTopicOffsets(t.topic);
        for (const p of t.partitions) {
          const end = Number(ends.find((e) => e.partition === p.partition)!.high);
          lag += end - Math.max(0, Number(p.offset));
        }
      }
      return lag;
    };
    expect(await lagOf()).toBeGreaterThan(0);

    const second = persister(env);
    const health = await until("the health address", () => /health: (http:[^\s)]+)/.exec(second.out())?.[1]);
    await until(
      "lag 0",
      async () => {
        const res = await fetch(health).catch(() => undefined);
        if (res?.status !== 200) return undefined;
        const body = (await res.json()) as { lag: number };
        return body.lag === 0 ? true : undefined;
      },
      120_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n--- restarted persister stderr (tail):\n${second.err().slice(-3000)}`);
    });
    const counts = await db.query<{
      fixes: number;
      distinct_fixes: number;
      events: number;
      distinct_events: number;
    }>(
      `SELECT (SELECT count(*)::int4 FROM driver_locations) AS fixes,
        (SELECT count(DISTINCT (driver_id, at))::int4 FROM driver_locations) AS distinct_fixes,
        (SELECT count(*)::int4 FROM order_events) AS events,
        (SELECT count(DISTINCT id)::int4 FROM order_events) AS distinct_events`,
    );
    expect(counts.rows[0], `${first.err().slice(-3000)}\n---\n${second.err().slice(-3000)}`).toEqual({
      fixes: FIXES,
      distinct_fixes: FIXES,
      events: EVENTS,
      distinct_events: EVENTS,
    });
    const metrics = await (await fetch(health.replace("/healthz", "/metrics"))).text();
    expect(metrics).toMatch(/dispatch_persister_consumer_lag\{topic="[^"]+order-events",partition="0"\} 0/);

    second.child.kill("SIGTERM");
    expect(await second.exited, second.err()).toBe(0);
  }, 240_000);
});
