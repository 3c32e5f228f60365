/**
 * The pipeline's Kafka producer: idempotent (the broker drops a retried duplicate, so a record
 * is in its partition once and in order), acks from all in-sync replicas.
 *
 * - Fixes go through a fire-and-forget, bounded, batching queue (linger a few ms or a full
 *   batch; past the bound they are dropped and counted): the GPS hot path never waits for Kafka.
 * - Order events and price points are awaited: `publishEvent` resolves once Kafka acknowledged
 *   the send that carried it, so an acknowledged ride request is durable. Events waiting while a
 *   send is in flight share the next one (group commit).
 *
 * One send in flight per queue and the two queues write different topics, so the idempotent
 * producer never has two requests for one partition outstanding.
 *
 * Fixes travel packed: one message per partition and send holds a JSON array of the fixes whose
 * driver id hashes to that partition (kafkajs's own key hash, so a driver keeps the partition it
 * would have as a message key, and its fixes stay in order). One message per fix cost about
 * 30 us of CPU per fix in kafkajs (per-message encoding, and grouping by partition that grows
 * with the square of the batch); a pack costs a few.
 */
import { CompressionTypes, type Kafka, type Message, Partitioners, type Producer } from "kafkajs";
import type { FixBatch } from "../../engine/locations.js";
import { type Logger, silentLogger } from "../../engine/logger.js";
import type { OrderEvent } from "../../engine/model.js";
import type { PricePoint } from "../../engine/ports.js";
import { GroupCommitQueue, type QueueOptions } from "../pipeline/queue.js";
import { type FixRecord, fixRecords } from "../pipeline/records.js";
import type { PipelineSink, SinkStats } from "../pipeline/sink.js";
import { type PipelineTopics, unavailable } from "./client.js";

interface Outgoing {
  readonly topic: string;
  readonly key: string;
  readonly value: string | Buffer;
}

export type KafkaProducerOptions = Omit<QueueOptions, "log" | "name"> & {
  readonly kafka: Kafka;
  readonly topics: PipelineTopics;
  readonly log?: Logger;
};

/** Most fixes in one packed message (~150 bytes each: far below Kafka's 1 MB message limit). */
export const MAX_FIXES_PER_MESSAGE = 2_000;

/** The partition kafkajs would choose for `key` among `count` partitions (murmur2, as Java's). */
export function partitionOfKey(topic: string, key: string, count: number): number {
  const metadata = Array.from({ length: count }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    replicas: [0],
    isr: [0],
    partitionErrorCode: 0,
  }));
  return DEFAULT_PARTITIONER({ topic, partitionMetadata: metadata, message: { key, value: null } });
}

const DEFAULT_PARTITIONER = Partitioners.DefaultPartitioner();

/** The fixes of one send as one message per partition (and per MAX_FIXES_PER_MESSAGE). */
export function packFixes(fixes: readonly FixRecord[], partitionOf: (driverId: string) => number): Message[] {
  const packs = new Map<number, FixRecord[]>();
  for (const f of fixes) {
    const p = partitionOf(f.driverId);
    let pack = packs.get(p);
    if (pack === undefined) {
      pack = [];
      packs.set(p, pack);
    }
    pack.push(f);
  }
  const messages: Message[] = [];
  for (const [partition, pack] of packs) {
    for (let i = 0; i < pack.length; i += MAX_FIXES_PER_MESSAGE) {
      const part = pack.slice(i, i + MAX_FIXES_PER_MESSAGE);
      messages.push({ partition, key: part[0]!.driverId, value: JSON.stringify(part) });
    }
  }
  return messages;
}

export class KafkaPipelineProducer implements PipelineSink {
  readonly topics: PipelineTopics;
  readonly #producer: Producer;
  readonly #fixes: GroupCommitQueue<FixRecord>;
  readonly #acked: GroupCommitQueue<Outgoing>;
  readonly #maxBuffered: number;
  #closing: Promise<void> | undefined;

  private constructor(producer: Producer, fixPartitions: number, options: KafkaProducerOptions) {
    this.topics = options.topics;
    this.#producer = producer;
    this.#maxBuffered = options.maxBuffered ?? 100_000;
    const log = options.log ?? silentLogger;
    const send = async (items: readonly Outgoing[]) => {
      const byTopic = new Map<string, Message[]>();
      for (const m of items) {
        let list = byTopic.get(m.topic);
        if (list === undefined) {
          list = [];
          byTopic.set(m.topic, list);
        }
        list.push({ key: m.key, value: m.value });
      }
      await this.#producer.sendBatch({
        acks: -1,
        compression: CompressionTypes.None,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
      return undefined;
    };
    // A driver's partition, remembered: the hash is cheap, but drivers are few and fixes many.
    const partitions = new Map<string, number>();
    const partitionOf = (driverId: string) => {
      let p = partitions.get(driverId);
      if (p === undefined) {
        if (partitions.size >= 1_000_000) partitions.clear();
        p = partitionOfKey(this.topics.fixes, driverId, fixPartitions);
        partitions.set(driverId, p);
      }
      return p;
    };
    const sendFixes = async (items: readonly FixRecord[]) => {
      await this.#producer.sendBatch({
        acks: -1,
        compression: CompressionTypes.None,
        topicMessages: [{ topic: this.topics.fixes, messages: packFixes(items, partitionOf) }],
      });
      return undefined;
    };
    this.#fixes = new GroupCommitQueue(sendFixes, { ...options, log, name: "kafka fixes" });
    this.#acked = new GroupCommitQueue(send, { ...options, log, name: "kafka events" });
  }

  /** Connects the producer (topics must exist: `ensureTopics`). UNAVAILABLE when Kafka is not there. */
  static async connect(options: KafkaProducerOptions): Promise<KafkaPipelineProducer> {
    const producer = options.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    const admin = options.kafka.admin();
    let fixPartitions: number;
    try {
      await producer.connect();
      await admin.connect();
      const meta = await admin.fetchTopicMetadata({ topics: [options.topics.fixes] });
      fixPartitions = meta.topics[0]?.partitions.length ?? 0;
      if (fixPartitions < 1) throw new Error(`topic ${options.topics.fixes} has no partitions`);
    } catch (err) {
      await producer.disconnect().catch(() => {});
      throw unavailable("cannot connect the producer", err);
    } finally {
      await admin.disconnect().catch(() => {});
    }
    return new KafkaPipelineProducer(producer, fixPartitions, options);
  }

  publishEvent(event: OrderEvent): Promise<void> {
    return this.#acked.pushAwaited({
      topic: this.topics.events,
      key: event.orderId,
      value: JSON.stringify(event),
    });
  }

  async publishPrices(points: readonly PricePoint[]): Promise<void> {
    await Promise.all(
      points.map((p) =>
        this.#acked.pushAwaited({ topic: this.topics.prices, key: p.cell, value: JSON.stringify(p) }),
      ),
    );
  }

  publishFix(fix: FixRecord): boolean {
    return this.#fixes.push(fix);
  }

  publishFixes(driverId: string, batch: FixBatch, outcomes?: Uint8Array): number {
    let n = 0;
    for (const f of fixRecords(driverId, batch, outcomes)) if (this.publishFix(f)) n++;
    return n;
  }

  /**
   * Bulk load (benches, replays): publishes every fix, waiting for room instead of dropping when
   * the buffer is full, and resolves once Kafka acknowledged them all. Resolves with the count.
   */
  async publishAllFixes(fixes: Iterable<FixRecord>): Promise<number> {
    let n = 0;
    for (const fix of fixes) {
      if (this.#fixes.stats().buffered >= this.#maxBuffered) await this.#fixes.flush();
      if (this.publishFix(fix)) n++;
    }
    await this.#fixes.flush();
    return n;
  }

  /** Any bytes to any topic, awaited (tests: poison; tools: replays). */
  publishRaw(topic: string, key: string, value: string | Buffer): Promise<void> {
    return this.#acked.pushAwaited({ topic, key, value });
  }

  async flush(): Promise<void> {
    await Promise.all([this.#fixes.flush(), this.#acked.flush()]);
  }

  stats(): SinkStats {
    return { fixes: this.#fixes.stats(), acknowledged: this.#acked.stats() };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all([this.#fixes.close(), this.#acked.close()]);
      await this.#producer.disconnect().catch(() => {});
    })();
    return this.#closing;
  }
}
