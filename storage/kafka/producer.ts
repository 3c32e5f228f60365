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
  /** A fix is encoded when its batch is sent, not on the hot path that published it. */
  readonly value: string | Buffer | FixRecord;
}

function encoded(value: Outgoing["value"]): string | Buffer {
  return typeof value === "string" || Buffer.isBuffer(value) ? value : JSON.stringify(value);
}

export type KafkaProducerOptions = Omit<QueueOptions, "log" | "name"> & {
  readonly kafka: Kafka;
  readonly topics: PipelineTopics;
  readonly log?: Logger;
};

export class KafkaPipelineProducer implements PipelineSink {
  readonly topics: PipelineTopics;
  readonly #producer: Producer;
  readonly #fixes: GroupCommitQueue<Outgoing>;
  readonly #acked: GroupCommitQueue<Outgoing>;
  readonly #maxBuffered: number;
  #closing: Promise<void> | undefined;

  private constructor(producer: Producer, options: KafkaProducerOptions) {
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
        list.push({ key: m.key, value: encoded(m.value) });
      }
      await this.#producer.sendBatch({
        acks: -1,
        compression: CompressionTypes.None,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
      return undefined;
    };
    this.#fixes = new GroupCommitQueue(send, { ...options, log, name: "kafka fixes" });
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
    try {
      await producer.connect();
    } catch (err) {
      await producer.disconnect().catch(() => {});
      throw unavailable("cannot connect the producer", err);
    }
    return new KafkaPipelineProducer(producer, options);
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
    return this.#fixes.push({ topic: this.topics.fixes, key: fix.driverId, value: fix });
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
