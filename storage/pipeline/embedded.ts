/**
 * The embedded pipeline (no KAFKA_BROKERS): an in-process log that feeds the same BatchWriter
 * the Kafka persister uses, straight into the database (PGlite or PostgreSQL).
 *
 * - Order events and price points: group commit. `publishEvent` enqueues and resolves when the
 *   batch that carried the event is written, so an acknowledged event is in the database.
 * - Fixes: fire-and-forget, bounded, batched (linger a few ms or a full batch).
 * - Poison (a record the writer refuses) is counted and kept in `deadLetters` (the newest 100)
 *   with its reason; an awaited one rejects INVALID_ARGUMENT.
 */
import type { FixBatch } from "../../engine/locations.js";
import { type Logger, silentLogger } from "../../engine/logger.js";
import type { OrderEvent } from "../../engine/model.js";
import type { PricePoint } from "../../engine/ports.js";
import type { Queryable } from "../postgres/db.js";
import { GroupCommitQueue, type QueueOptions } from "./queue.js";
import { type FixRecord, fixRecords, type RawRecord } from "./records.js";
import type { PipelineSink, SinkStats } from "./sink.js";
import { BatchWriter, type WriteReport } from "./writer.js";

export interface DeadLetter {
  readonly kind: RawRecord["kind"];
  readonly value: unknown;
  readonly reason: string;
}

export interface WriterTotals {
  readonly batches: number;
  readonly written: number;
  readonly duplicates: number;
  readonly poison: number;
}

export type EmbeddedLogOptions = Omit<QueueOptions, "log" | "name"> & { readonly log?: Logger };

const DEAD_LETTERS_KEPT = 100;

export class EmbeddedLog implements PipelineSink {
  readonly writer: BatchWriter;
  readonly #fixes: GroupCommitQueue<RawRecord>;
  readonly #acked: GroupCommitQueue<RawRecord>;
  readonly #log: Logger;
  readonly #dead: DeadLetter[] = [];
  #totals = { batches: 0, written: 0, duplicates: 0, poison: 0 };

  constructor(db: Queryable, options: EmbeddedLogOptions = {}) {
    this.writer = new BatchWriter(db);
    this.#log = options.log ?? silentLogger;
    const send = async (items: readonly RawRecord[]) => this.#write(items);
    this.#fixes = new GroupCommitQueue(send, { ...options, log: this.#log, name: "embedded fixes" });
    this.#acked = new GroupCommitQueue(send, { ...options, log: this.#log, name: "embedded events" });
  }

  async #write(items: readonly RawRecord[]): Promise<(string | undefined)[] | undefined> {
    const r: WriteReport = await this.writer.write(items);
    this.#totals.batches++;
    this.#totals.written += r.written;
    this.#totals.duplicates += r.duplicates;
    if (r.poison.length === 0) return undefined;
    this.#totals.poison += r.poison.length;
    const refused: (string | undefined)[] = new Array(items.length);
    for (const p of r.poison) {
      refused[p.index] = p.reason;
      this.#dead.push({ kind: p.kind, value: items[p.index]!.value, reason: p.reason });
      this.#log.warn("pipeline record refused", { kind: p.kind, reason: p.reason });
    }
    if (this.#dead.length > DEAD_LETTERS_KEPT) this.#dead.splice(0, this.#dead.length - DEAD_LETTERS_KEPT);
    return refused;
  }

  publishEvent(event: OrderEvent): Promise<void> {
    return this.#acked.pushAwaited({ kind: "event", value: event });
  }

  async publishPrices(points: readonly PricePoint[]): Promise<void> {
    await Promise.all(points.map((p) => this.#acked.pushAwaited({ kind: "price", value: p })));
  }

  publishFix(fix: FixRecord): boolean {
    return this.#fixes.push({ kind: "fix", value: fix });
  }

  publishFixes(driverId: string, batch: FixBatch, outcomes?: Uint8Array): number {
    let n = 0;
    for (const f of fixRecords(driverId, batch, outcomes)) if (this.publishFix(f)) n++;
    return n;
  }

  /** Any record, as a log would hand it over (tests: poison). Awaited: resolves once written. */
  publishRaw(record: RawRecord): Promise<void> {
    return this.#acked.pushAwaited(record);
  }

  async flush(): Promise<void> {
    await Promise.all([this.#fixes.flush(), this.#acked.flush()]);
  }

  stats(): SinkStats {
    return { fixes: this.#fixes.stats(), acknowledged: this.#acked.stats() };
  }

  /** What the writer did so far. */
  totals(): WriterTotals {
    return { ...this.#totals };
  }

  /** The newest refused records with their reasons, oldest first. */
  get deadLetters(): readonly DeadLetter[] {
    return this.#dead;
  }

  /** Writes what is queued (waiting at most `timeoutMs`), then refuses new records. */
  async close(timeoutMs?: number): Promise<void> {
    await Promise.all([this.#fixes.close(timeoutMs), this.#acked.close(timeoutMs)]);
  }
}
