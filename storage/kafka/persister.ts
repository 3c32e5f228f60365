/**
 * The persister: a Kafka consumer group that writes the pipeline topics into PostgreSQL through
 * the one BatchWriter (storage/pipeline/writer.ts).
 *
 * - eachBatch, auto-commit off: a partition's batch is written (one multi-row INSERT, ON CONFLICT
 *   DO NOTHING), then its offset is committed. A crash between the two redelivers the batch and
 *   the writer counts it as duplicates: every record lands exactly once.
 * - A poison record (unparseable, invalid, refused by the database) goes to the dead-letter topic
 *   with the reason in a header, then is committed past like the others: it never blocks its
 *   partition. A database that is down is retried (backoff, heartbeats) without committing.
 * - `stop()` lets a running write finish (and commits it when the group still owns the partition)
 *   or abandons a retry without committing, leaves the group, disconnects.
 * - `lag()` is the committed offset of the group against the end of every input partition;
 *   it is logged every `lagLogIntervalMs`.
 */
import type { Admin, Consumer, EachBatchPayload, Kafka, Producer } from "kafkajs";
import { Partitioners } from "kafkajs";
import { DispatchError, ErrorCode } from "../../engine/errors.js";
import { type Logger, silentLogger } from "../../engine/logger.js";
import type { RawRecord, RecordKind } from "../pipeline/records.js";
import { BatchWriter } from "../pipeline/writer.js";
import type { Queryable } from "../postgres/db.js";
import { inputTopics, type PipelineTopics, unavailable } from "./client.js";

export interface PersisterOptions {
  readonly kafka: Kafka;
  readonly db: Queryable;
  readonly topics: PipelineTopics;
  /** Consumer group (default "dispatch-persister"). */
  readonly groupId?: string;
  readonly log?: Logger;
  /** Group session timeout (default 30 000; the broker's minimum is usually 6 000). */
  readonly sessionTimeoutMs?: number;
  /** Partitions written concurrently (default 3). */
  readonly partitionsConsumedConcurrently?: number;
  /** Most bytes fetched per partition and batch (default 4 MiB). */
  readonly maxBytesPerPartition?: number;
  /** Pause between attempts while the database is down (default 1 000 ms). */
  readonly retryMs?: number;
  /** How often the lag is logged (default 30 000 ms; 0: never). */
  readonly lagLogIntervalMs?: number;
}

export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  /** End of the partition (offset of the next record). */
  readonly end: number;
  /** Next offset to consume: the group's committed offset, else the partition's start. */
  readonly committed: number;
  readonly lag: number;
}

export interface PersisterStats {
  readonly running: boolean;
  readonly batches: number;
  readonly written: Readonly<Record<RecordKind, number>>;
  readonly duplicates: number;
  readonly poison: number;
  /** Failed write or dead-letter attempts (each retried). */
  readonly retries: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The elements of a packed fix message (a JSON array), or undefined for a single record. */
function unpack(value: Buffer | null): unknown[] | undefined {
  // '[' first: a pack; anything else (an object, or garbage) is checked as one record.
  if (value === null || value.length === 0 || value[0] !== 0x5b) return undefined;
  try {
    const parsed: unknown = JSON.parse(value.toString("utf8"));
    return Array.isArray(parsed) && parsed.length > 0 ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export class KafkaPersister {
  readonly groupId: string;
  readonly topics: PipelineTopics;
  readonly #kinds: ReadonlyMap<string, RecordKind>;
  readonly #consumer: Consumer;
  readonly #dlq: Producer;
  readonly #admin: Admin;
  readonly #writer: BatchWriter;
  readonly #log: Logger;
  readonly #retryMs: number;
  #running = false;
  #timer: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;
  #firstLogged = false;
  #stats = { batches: 0, duplicates: 0, poison: 0, retries: 0, written: { fix: 0, event: 0, price: 0 } };

  private constructor(options: PersisterOptions) {
    this.groupId = options.groupId ?? "dispatch-persister";
    this.topics = options.topics;
    this.#kinds = inputTopics(options.topics);
    this.#log = options.log ?? silentLogger;
    this.#retryMs = options.retryMs ?? 1_000;
    this.#writer = new BatchWriter(options.db);
    const sessionTimeout = options.sessionTimeoutMs ?? 30_000;
    this.#consumer = options.kafka.consumer({
      groupId: this.groupId,
      sessionTimeout,
      rebalanceTimeout: Math.max(sessionTimeout, 10_000),
      heartbeatInterval: Math.min(3_000, Math.floor(sessionTimeout / 4)),
      maxWaitTimeInMs: 200,
      maxBytesPerPartition: options.maxBytesPerPartition ?? 4 * 1024 * 1024,
      maxBytes: 32 * 1024 * 1024,
      allowAutoTopicCreation: false,
    });
    this.#dlq = options.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    this.#admin = options.kafka.admin();
  }

  /** Joins the group and starts consuming (from the beginning for a new group). UNAVAILABLE without Kafka. */
  static async start(options: PersisterOptions): Promise<KafkaPersister> {
    const p = new KafkaPersister(options);
    try {
      await p.#admin.connect();
      await p.#dlq.connect();
      await p.#consumer.connect();
      await p.#consumer.subscribe({ topics: [...p.#kinds.keys()], fromBeginning: true });
      await p.#consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 3,
        eachBatch: (payload) => p.#eachBatch(payload),
      });
    } catch (err) {
      await p.#disconnect();
      throw unavailable("cannot start the persister", err);
    }
    p.#running = true;
    const every = options.lagLogIntervalMs ?? 30_000;
    if (every > 0) {
      p.#timer = setInterval(() => {
        p.lag().then(
          (lag) => {
            const total = lag.reduce((s, l) => s + l.lag, 0);
            p.#log.info("persister lag", {
              total,
              behind: lag.filter((l) => l.lag > 0).map((l) => `${l.topic}/${l.partition}:${l.lag}`),
              ...p.stats(),
            });
          },
          (err: unknown) => p.#log.warn("persister lag unavailable", { err: String(err) }),
        );
      }, every);
      p.#timer.unref();
    }
    p.#log.info("persister started", { groupId: p.groupId, topics: [...p.#kinds.keys()] });
    return p;
  }

  async #eachBatch({ batch, heartbeat, isRunning, isStale, resolveOffset }: EachBatchPayload): Promise<void> {
    const kind = this.#kinds.get(batch.topic);
    const messages = batch.messages;
    if (kind === undefined || messages.length === 0) return;
    // A fix message may be a pack (a JSON array of fixes, see producer.ts): each element is a
    // record of its own; `source[i]` is the message record i came from (for dead letters).
    const raws: RawRecord[] = [];
    const source: number[] = [];
    const packed: boolean[] = [];
    messages.forEach((m, i) => {
      const pack = kind === "fix" ? unpack(m.value) : undefined;
      if (pack === undefined) {
        raws.push({ kind, value: m.value });
        source.push(i);
        packed.push(false);
        return;
      }
      for (const value of pack) {
        raws.push({ kind, value });
        source.push(i);
        packed.push(true);
      }
    });
    const started = Date.now();
    let report: Awaited<ReturnType<BatchWriter["write"]>> | undefined;
    while (report === undefined) {
      if (!isRunning() || isStale()) return; // not written: not committed, delivered again
      try {
        report = await this.#writer.write(raws);
      } catch (err) {
        this.#stats.retries++;
        this.#log.warn("persister write failed; retrying", {
          topic: batch.topic,
          partition: batch.partition,
          records: raws.length,
          temporary: err instanceof DispatchError && err.temporary,
          err: String(err),
        });
        await sleep(this.#retryMs);
        await heartbeat().catch(() => {});
      }
    }
    if (report.poison.length > 0) {
      const dead = report.poison.map((p) => {
        const m = messages[source[p.index]!]!;
        return {
          key: m.key,
          // A bad element of a pack goes alone; the rest of its pack was written.
          value: packed[p.index] ? JSON.stringify(raws[p.index]!.value) : m.value,
          headers: {
            "dlq-reason": p.reason,
            "dlq-topic": batch.topic,
            "dlq-partition": String(batch.partition),
            "dlq-offset": m.offset,
          },
        };
      });
      for (;;) {
        try {
          await this.#dlq.send({ topic: this.topics.deadLetters, acks: -1, messages: dead });
          break;
        } catch (err) {
          // Not committed past until the dead letters are safe: a restart sends them again.
          this.#stats.retries++;
          this.#log.warn("dead-letter send failed; retrying", { err: String(err) });
          if (!isRunning() || isStale()) return;
          await sleep(this.#retryMs);
        }
      }
      for (const p of report.poison) {
        this.#log.warn("persister: poison record to the dead-letter topic", {
          topic: batch.topic,
          partition: batch.partition,
          offset: messages[source[p.index]!]!.offset,
          reason: p.reason,
        });
      }
    }
    const last = messages[messages.length - 1]!.offset;
    resolveOffset(last);
    try {
      await this.#consumer.commitOffsets([
        { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
      ]);
    } catch (err) {
      // Lost the partition (rebalance) or stopping: the next owner writes the batch again and
      // counts it as duplicates.
      this.#log.warn("persister commit failed", {
        topic: batch.topic,
        partition: batch.partition,
        err: String(err),
      });
      return;
    }
    this.#stats.batches++;
    this.#stats.written[kind] += report.written;
    this.#stats.duplicates += report.duplicates;
    this.#stats.poison += report.poison.length;
    const fields = {
      topic: batch.topic,
      partition: batch.partition,
      records: raws.length,
      written: report.written,
      duplicates: report.duplicates,
      poison: report.poison.length,
      ms: Date.now() - started,
    };
    if (!this.#firstLogged) {
      this.#firstLogged = true;
      this.#log.info("persister first batch written", fields);
    } else this.#log.debug("persister batch written", fields);
    await heartbeat().catch(() => {});
  }

  /** Lag per input partition (committed offset of the group against the partition's end). */
  async lag(): Promise<PartitionLag[]> {
    try {
      const topics = [...this.#kinds.keys()];
      const committed = new Map<string, number>();
      for (const t of await this.#admin.fetchOffsets({ groupId: this.groupId, topics })) {
        for (const p of t.partitions) committed.set(`${t.topic}/${p.partition}`, Number(p.offset));
      }
      const out: PartitionLag[] = [];
      for (const topic of topics) {
        for (const p of await this.#admin.fetchTopicOffsets(topic)) {
          const end = Number(p.high);
          const c = committed.get(`${topic}/${p.partition}`) ?? -1;
          const next = c < 0 ? Number(p.low) : c;
          out.push({ topic, partition: p.partition, end, committed: next, lag: Math.max(0, end - next) });
        }
      }
      return out.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
    } catch (err) {
      throw unavailable("cannot read the consumer lag", err);
    }
  }

  /** Resolves once the lag of every input partition is 0; UNAVAILABLE after `timeoutMs`. */
  async waitForLag0(timeoutMs = 60_000, pollMs = 100): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const lag = await this.lag();
      if (lag.every((l) => l.lag === 0)) return;
      if (Date.now() > until) {
        throw new DispatchError(
          ErrorCode.Unavailable,
          `persister lag still ${lag.reduce((s, l) => s + l.lag, 0)} after ${timeoutMs} ms`,
          { temporary: true },
        );
      }
      await sleep(pollMs);
    }
  }

  stats(): PersisterStats {
    const s = this.#stats;
    return {
      running: this.#running,
      batches: s.batches,
      written: { ...s.written },
      duplicates: s.duplicates,
      poison: s.poison,
      retries: s.retries,
    };
  }

  get running(): boolean {
    return this.#running;
  }

  /** Stops consuming (see the module comment), leaves the group, disconnects. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#timer !== undefined) clearInterval(this.#timer);
      this.#running = false;
      await this.#disconnect();
      this.#log.info("persister stopped", { ...this.stats() });
    })();
    return this.#stopping;
  }

  async #disconnect(): Promise<void> {
    await this.#consumer.disconnect().catch(() => {});
    await this.#dlq.disconnect().catch(() => {});
    await this.#admin.disconnect().catch(() => {});
  }
}
