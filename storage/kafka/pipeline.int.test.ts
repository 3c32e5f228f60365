// The pipeline through real Kafka into a real PostgreSQL: the same contract suite as the embedded
// log, with fresh topics, group and schema per test; plus the persister's lag, metrics and
// dead-letter headers.
import { afterAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../engine/logger.js";
import { serviceEnv, uniqueId } from "../../test/integration/services-env.js";
import { openKafkaProducer, startPersister } from "../pipeline/index.js";
import { pipelineContract } from "../pipeline/pipeline.contract.js";
import type { RecordKind } from "../pipeline/records.js";
import { pgSchemas } from "../postgres/test-support.js";
import { kafkaClient, pipelineTopics } from "./client.js";
import { startPersisterHttp } from "./http.js";
import type { KafkaPersister } from "./persister.js";
import type { KafkaPipelineProducer } from "./producer.js";

const brokers = serviceEnv("KAFKA_BROKERS").split(",");
const schemas = pgSchemas(serviceEnv("DATABASE_URL"));
const prefixes: string[] = [];
afterAll(async () => {
  await schemas.dropAll();
  // Best effort: the topics of this run (they are also unique, so leftovers harm nobody).
  const admin = kafkaClient({ brokers, log: silentLogger }).admin();
  try {
    await admin.connect();
    const all = await admin.listTopics();
    const mine = all.filter((t) => prefixes.some((p) => t.startsWith(p)));
    if (mine.length > 0) await admin.deleteTopics({ topics: mine });
  } catch {
    // ignore
  } finally {
    await admin.disconnect();
  }
});

async function open(): Promise<{
  producer: KafkaPipelineProducer;
  persister: KafkaPersister;
  prefix: string;
  db: Awaited<ReturnType<typeof schemas.fresh>>;
}> {
  const db = await schemas.fresh();
  const prefix = `test-${uniqueId()}-`;
  prefixes.push(prefix);
  const producer = await openKafkaProducer({
    brokers,
    topicPrefix: prefix,
    partitions: 3,
    lingerMs: 2,
    maxBatch: 300,
  });
  const persister = await startPersister({
    brokers,
    db,
    topicPrefix: prefix,
    partitions: 3,
    groupId: `${prefix}persister`,
    sessionTimeoutMs: 6_000,
    lagLogIntervalMs: 0,
  });
  return { producer, persister, prefix, db };
}

const TOPIC_OF: Record<RecordKind, "fixes" | "events" | "prices"> = {
  fix: "fixes",
  event: "events",
  price: "prices",
};

/** Reads every message of the dead-letter topic (a fresh group from the beginning). */
async function deadLetters(prefix: string, expected: number): Promise<{ reason: string; topic: string }[]> {
  const kafka = kafkaClient({ brokers, log: silentLogger });
  const consumer = kafka.consumer({
    groupId: `${prefix}dlq-reader-${uniqueId()}`,
    sessionTimeout: 6000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 100,
  });
  await consumer.connect();
  const out: { reason: string; topic: string }[] = [];
  try {
    await consumer.subscribe({ topic: pipelineTopics(prefix).deadLetters, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`only ${out.length} of ${expected} dead letters`)),
        30_000,
      );
      void consumer.run({
        eachMessage: async ({ message }) => {
          out.push({
            reason: String(message.headers?.["dlq-reason"] ?? ""),
            topic: String(message.headers?.["dlq-topic"] ?? ""),
          });
          if (out.length >= expected) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

pipelineContract("Kafka + PostgreSQL", async () => {
  const { producer, persister, prefix, db } = await open();
  let expectedDead = 0;
  return {
    db,
    sink: producer,
    publishRaw: async (kind, key, value) => {
      expectedDead++;
      await producer.publishRaw(pipelineTopics(prefix)[TOPIC_OF[kind]], key, value);
    },
    drain: async () => {
      await producer.flush();
      await persister.waitForLag0(60_000);
    },
    deadLetterReasons: async () => {
      expect(persister.stats().poison).toBe(expectedDead);
      return (await deadLetters(prefix, expectedDead)).map((d) => d.reason);
    },
    close: async () => {
      await producer.close();
      await persister.stop();
    },
  };
});

describe("the Kafka persister", () => {
  it("a packed fix message with one bad element writes the rest and dead-letters that one alone", async () => {
    const { producer, persister, prefix, db } = await open();
    try {
      const good = (i: number) => ({
        driverId: "drv-pack",
        at: Date.UTC(2025, 0, 1) + i,
        lat: 41.88,
        lng: -87.63,
        heading: null,
        speedMps: null,
        accuracyM: null,
      });
      const pack = [good(1), { ...good(2), lat: 91 }, good(3)];
      await producer.publishRaw(pipelineTopics(prefix).fixes, "drv-pack", JSON.stringify(pack));
      await persister.waitForLag0(60_000);
      const { rows } = await db.query<{ n: string }>(
        "SELECT count(*)::text AS n FROM driver_locations WHERE driver_id = 'drv-pack'",
      );
      expect(rows[0]!.n).toBe("2");
      const dead = await deadLetters(prefix, 1);
      expect(dead).toHaveLength(1);
      expect(dead[0]!.reason).toMatch(/lat/);
      expect(persister.stats()).toMatchObject({ poison: 1, written: { fix: 2 } });
    } finally {
      await producer.close();
      await persister.stop();
    }
  });

  it("exposes its lag, metrics and health; stops cleanly", async () => {
    const { producer, persister } = await open();
    const http = await startPersisterHttp(persister, { host: "127.0.0.1", port: 0 });
    try {
      for (let i = 0; i < 1000; i++) {
        producer.publishFix({
          driverId: `d-${i % 7}`,
          at: Date.UTC(2025, 0, 1) + i,
          lat: 1,
          lng: 2,
          heading: null,
          speedMps: null,
          accuracyM: null,
        });
      }
      await producer.flush();
      await persister.waitForLag0(60_000);
      const lag = await persister.lag();
      expect(lag).toHaveLength(9); // 3 topics x 3 partitions
      // Packed: far fewer messages than fixes (one per partition and send).
      const messages = lag.filter((l) => l.topic.endsWith("driver-locations")).reduce((n, l) => n + l.end, 0);
      expect(messages).toBeGreaterThan(0);
      expect(messages).toBeLessThan(1000);
      expect(persister.stats().written.fix).toBe(1000);
      const health = await fetch(`http://127.0.0.1:${http.port}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: "ok", lag: 0 });
      const metrics = await (await fetch(`http://127.0.0.1:${http.port}/metrics`)).text();
      expect(metrics).toMatch(/dispatch_persister_records_written_total\{kind="fix"\} 1000/);
      expect(metrics).toMatch(
        /dispatch_persister_consumer_lag\{topic="[^"]+driver-locations",partition="0"\} 0/,
      );
    } finally {
      await producer.close();
      await persister.stop();
    }
    expect((await fetch(`http://127.0.0.1:${http.port}/healthz`)).status).toBe(503);
    await http.close();
  });
});
