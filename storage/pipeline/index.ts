/**
 * The persistence pipeline: domain events, GPS fixes and price points on their way into
 * PostgreSQL (DESIGN "Persistence"). Two logs, one writer:
 *
 * - With Kafka brokers: producers publish to `driver-locations` / `order-events` /
 *   `price-updates` (storage/kafka/client.ts), and a consumer group (the persister, in the
 *   `dispatch serve` process or in `dispatch persister` processes) writes them in batches.
 * - Without: the embedded in-process log (embedded.ts) feeds the same BatchWriter directly.
 *
 * The programmatic API (what `dispatch serve`, `dispatch persister`, the tests and the pipeline
 * bench use):
 *
 * ```ts
 * import { BatchWriter, openKafkaProducer, startPersister } from "./storage/pipeline/index.js";
 * // The batch writer alone: validate + multi-row INSERT ... ON CONFLICT DO NOTHING.
 * const report = await new BatchWriter(db).write([{ kind: "fix", value: fixRecord }]);
 * // Produce N fixes, then wait until Kafka has them all. publishFix is the hot path's call
 * // (fire-and-forget, false = dropped past `maxBuffered`); publishAllFixes waits for room instead.
 * const producer = await openKafkaProducer({ brokers, topicPrefix: "bench-1-", partitions: 6 });
 * await producer.publishAllFixes(fixes); // Iterable<FixRecord>: { driverId, at, lat, lng, heading, speedMps, accuracyM }
 * // Drain them into the database with the consumer group, and wait for lag 0.
 * const persister = await startPersister({ brokers, db, topicPrefix: "bench-1-", groupId: "bench-1" });
 * await persister.waitForLag0(120_000);
 * persister.stats(); // written per kind, duplicates, poison, batches
 * await persister.stop(); await producer.close();
 * ```
 *
 * `db` is a storage/postgres/db.ts `Db` (PgDb or PgliteDb) with the schema migrated.
 */
import type { Logger } from "../../engine/logger.js";
import { silentLogger } from "../../engine/logger.js";
import type { EventLog, PriceHistory } from "../../engine/ports.js";
import type { KafkaPersister } from "../kafka/persister.js";
import type { KafkaPipelineProducer } from "../kafka/producer.js";
import type { Queryable } from "../postgres/db.js";
import { EmbeddedLog } from "./embedded.js";
import type { QueueOptions } from "./queue.js";
import { type PipelineSink, pipelineEventLog, pipelinePriceHistory } from "./sink.js";

export type { PartitionLag, PersisterStats } from "../kafka/persister.js";
export { EmbeddedLog } from "./embedded.js";
export { GroupCommitQueue } from "./queue.js";
export type { FixRecord, PipelineRecord, RawRecord, RecordKind } from "./records.js";
export { checkRecord, fixRecords } from "./records.js";
export type { PipelineSink, SinkStats } from "./sink.js";
export { pipelineEventLog, pipelinePriceHistory } from "./sink.js";
export { BatchWriter, type Poison, type WriteReport } from "./writer.js";

export interface KafkaTarget {
  readonly brokers: readonly string[];
  /** Prepended to every topic name (default ""). */
  readonly topicPrefix?: string;
  /** Partitions of topics created on start (default 6). */
  readonly partitions?: number;
  readonly clientId?: string;
  readonly log?: Logger;
}

export type ProducerTuning = Pick<QueueOptions, "lingerMs" | "maxBatch" | "maxBuffered" | "ackTimeoutMs">;

/** Creates the topics if missing and connects an idempotent batching producer. */
export async function openKafkaProducer(
  target: KafkaTarget & ProducerTuning,
): Promise<KafkaPipelineProducer> {
  const { kafkaClient, pipelineTopics, ensureTopics } = await import("../kafka/client.js");
  const { KafkaPipelineProducer } = await import("../kafka/producer.js");
  const log = target.log ?? silentLogger;
  const kafka = kafkaClient({
    brokers: target.brokers,
    clientId: target.clientId ?? "dispatch-producer",
    log,
  });
  const topics = pipelineTopics(target.topicPrefix);
  await withAdmin(kafka, (admin) => ensureTopics(admin, topics, { partitions: target.partitions ?? 6 }));
  return KafkaPipelineProducer.connect({ ...target, kafka, topics, log });
}

export interface PersisterTarget extends KafkaTarget {
  readonly db: Queryable;
  /** Consumer group (default "dispatch-persister"). */
  readonly groupId?: string;
  readonly sessionTimeoutMs?: number;
  readonly partitionsConsumedConcurrently?: number;
  /** Most bytes fetched per partition at once: the write batch size (default 4 MiB). */
  readonly maxBytesPerPartition?: number;
  readonly lagLogIntervalMs?: number;
}

/** Creates the topics if missing and starts the persister consumer group against `db`. */
export async function startPersister(target: PersisterTarget): Promise<KafkaPersister> {
  const { kafkaClient, pipelineTopics, ensureTopics } = await import("../kafka/client.js");
  const { KafkaPersister } = await import("../kafka/persister.js");
  const log = target.log ?? silentLogger;
  const kafka = kafkaClient({
    brokers: target.brokers,
    clientId: target.clientId ?? "dispatch-persister",
    log,
  });
  const topics = pipelineTopics(target.topicPrefix);
  await withAdmin(kafka, (admin) => ensureTopics(admin, topics, { partitions: target.partitions ?? 6 }));
  return KafkaPersister.start({
    kafka,
    db: target.db,
    topics,
    log,
    ...(target.groupId === undefined ? {} : { groupId: target.groupId }),
    ...(target.sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs: target.sessionTimeoutMs }),
    ...(target.partitionsConsumedConcurrently === undefined
      ? {}
      : { partitionsConsumedConcurrently: target.partitionsConsumedConcurrently }),
    ...(target.lagLogIntervalMs === undefined ? {} : { lagLogIntervalMs: target.lagLogIntervalMs }),
    ...(target.maxBytesPerPartition === undefined
      ? {}
      : { maxBytesPerPartition: target.maxBytesPerPartition }),
  });
}

async function withAdmin<T>(
  kafka: import("kafkajs").Kafka,
  fn: (admin: import("kafkajs").Admin) => Promise<T>,
): Promise<T> {
  const { unavailable } = await import("../kafka/client.js");
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (err) {
    await admin.disconnect().catch(() => {});
    throw unavailable("cannot connect", err);
  }
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

export interface PipelineConfig extends ProducerTuning {
  /** Kafka brokers; absent means the embedded log. */
  readonly kafkaBrokers?: readonly string[] | undefined;
  readonly topicPrefix?: string;
  readonly partitions?: number;
  readonly groupId?: string;
  /** With Kafka: run the persister consumer in this process (default true). */
  readonly persisterInProcess?: boolean;
  readonly sessionTimeoutMs?: number;
  /** Persister fetch size per partition (bytes). */
  readonly maxBytesPerPartition?: number;
  readonly log?: Logger;
}

/** What the composition root wires: the sink for fixes and the two ports on it. */
export interface Pipeline {
  readonly kind: "kafka" | "embedded";
  readonly sink: PipelineSink;
  /** Appends through the pipeline; reads from `reader` (the database). */
  readonly events: EventLog;
  readonly priceHistory: PriceHistory;
  /** The in-process persister consumer (Kafka with `persisterInProcess`). */
  readonly persister: KafkaPersister | undefined;
  /** Sends what is buffered, stops the persister, disconnects. Idempotent. */
  close(): Promise<void>;
}

export async function openPipeline(
  config: PipelineConfig,
  db: Queryable,
  reader: EventLog,
): Promise<Pipeline> {
  const log = config.log ?? silentLogger;
  const tuning: ProducerTuning = {
    ...(config.lingerMs === undefined ? {} : { lingerMs: config.lingerMs }),
    ...(config.maxBatch === undefined ? {} : { maxBatch: config.maxBatch }),
    ...(config.maxBuffered === undefined ? {} : { maxBuffered: config.maxBuffered }),
    ...(config.ackTimeoutMs === undefined ? {} : { ackTimeoutMs: config.ackTimeoutMs }),
  };
  let sink: PipelineSink;
  let persister: KafkaPersister | undefined;
  if (config.kafkaBrokers === undefined || config.kafkaBrokers.length === 0) {
    sink = new EmbeddedLog(db, { ...tuning, log });
  } else {
    const target = {
      brokers: config.kafkaBrokers,
      ...(config.topicPrefix === undefined ? {} : { topicPrefix: config.topicPrefix }),
      ...(config.partitions === undefined ? {} : { partitions: config.partitions }),
      log,
    };
    sink = await openKafkaProducer({ ...target, ...tuning });
    if (config.persisterInProcess !== false) {
      try {
        persister = await startPersister({
          ...target,
          db,
          ...(config.groupId === undefined ? {} : { groupId: config.groupId }),
          ...(config.sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs: config.sessionTimeoutMs }),
          ...(config.maxBytesPerPartition === undefined
            ? {}
            : { maxBytesPerPartition: config.maxBytesPerPartition }),
        });
      } catch (err) {
        await sink.close();
        throw err;
      }
    }
  }
  let closing: Promise<void> | undefined;
  return {
    kind: config.kafkaBrokers?.length ? "kafka" : "embedded",
    sink,
    events: pipelineEventLog(sink, reader),
    priceHistory: pipelinePriceHistory(sink),
    persister,
    close() {
      closing ??= (async () => {
        try {
          await sink.close();
        } finally {
          await persister?.stop();
        }
      })();
      return closing;
    },
  };
}
