/**
 * The Kafka side of the pipeline: topic names, the client (kafkajs logs into our logger), and
 * topic creation on start.
 *
 * Topics (names after an optional prefix, so several deployments or test runs share a cluster):
 * - `driver-locations`: GPS fixes, key = driver id (one driver's fixes stay in one partition, in order).
 * - `order-events`: domain events, key = order id (one order's events in order).
 * - `price-updates`: surge multipliers per cell, key = cell.
 * - `persister-dead-letters`: records the persister refused, with the reason in the `dlq-reason`
 *   header and where they came from in `dlq-topic`, `dlq-partition`, `dlq-offset`.
 */
import { type Admin, Kafka, logLevel } from "kafkajs";
import { DispatchError, ErrorCode } from "../../engine/errors.js";
import type { Logger } from "../../engine/logger.js";
import type { RecordKind } from "../pipeline/records.js";

export interface PipelineTopics {
  readonly fixes: string;
  readonly events: string;
  readonly prices: string;
  readonly deadLetters: string;
}

export function pipelineTopics(prefix = ""): PipelineTopics {
  return {
    fixes: `${prefix}driver-locations`,
    events: `${prefix}order-events`,
    prices: `${prefix}price-updates`,
    deadLetters: `${prefix}persister-dead-letters`,
  };
}

/** The input topics with the kind of record each carries. */
export function inputTopics(topics: PipelineTopics): ReadonlyMap<string, RecordKind> {
  return new Map<string, RecordKind>([
    [topics.fixes, "fix"],
    [topics.events, "event"],
    [topics.prices, "price"],
  ]);
}

export interface KafkaClientOptions {
  readonly brokers: readonly string[];
  readonly clientId?: string;
  readonly log: Logger;
}

/** A kafkajs client that logs warnings and errors through our logger. */
export function kafkaClient(options: KafkaClientOptions): Kafka {
  const log = options.log;
  return new Kafka({
    clientId: options.clientId ?? "dispatch",
    brokers: [...options.brokers],
    connectionTimeout: 3_000,
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, level, log: entry }) => {
        const { message, timestamp: _t, logger: _l, ...fields } = entry;
        const f = { component: "kafka", namespace, ...fields };
        if (level === logLevel.ERROR) log.error(message, f);
        else if (level === logLevel.WARN) log.warn(message, f);
        else log.debug(message, f);
      },
  });
}

export interface TopicOptions {
  /** Partitions of each new topic (default 6); an existing topic keeps its own. */
  readonly partitions?: number;
  /** Replication factor of new topics (default: the broker's default). */
  readonly replicationFactor?: number;
}

/** Creates whichever pipeline topics are missing; idempotent (several processes may race). */
export async function ensureTopics(
  admin: Admin,
  topics: PipelineTopics,
  options: TopicOptions = {},
): Promise<void> {
  const wanted = [topics.fixes, topics.events, topics.prices, topics.deadLetters];
  try {
    const existing = new Set(await admin.listTopics());
    const missing = wanted.filter((t) => !existing.has(t));
    if (missing.length === 0) return;
    // createTopics answers false (not an error) for topics another process made meanwhile.
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((topic) => ({
        topic,
        numPartitions: options.partitions ?? 6,
        ...(options.replicationFactor === undefined ? {} : { replicationFactor: options.replicationFactor }),
      })),
    });
  } catch (err) {
    if ((err as { type?: string }).type === "TOPIC_ALREADY_EXISTS") return;
    throw unavailable("cannot create the pipeline topics", err);
  }
}

export function unavailable(what: string, err: unknown): DispatchError {
  if (err instanceof DispatchError) return err;
  return new DispatchError(
    ErrorCode.Unavailable,
    `Kafka: ${what}: ${(err as Error)?.message ?? String(err)}`,
    {
      cause: err,
      temporary: true,
    },
  );
}
