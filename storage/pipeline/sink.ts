/**
 * The producing side of the persistence pipeline, as the composition root sees it, and the two
 * engine ports built on it (EventLog, PriceHistory). Two implementations: the Kafka producer
 * (storage/kafka/producer.ts) and the embedded in-process log (embedded.ts).
 */
import type { FixBatch } from "../../engine/locations.js";
import type { OrderEvent, OrderId } from "../../engine/model.js";
import type { EventLog, PriceHistory, PricePoint } from "../../engine/ports.js";
import type { QueueStats } from "./queue.js";
import type { FixRecord } from "./records.js";

export interface SinkStats {
  /** Fire-and-forget fixes: accepted, dropped (buffer full, refused, closed), waiting. */
  readonly fixes: QueueStats;
  /** Awaited records (events, price points). */
  readonly acknowledged: QueueStats;
}

export interface PipelineSink {
  /**
   * Resolves once the event is durable: acknowledged by every in-sync Kafka replica, or (embedded)
   * written to the database in a group commit. Idempotent by event id downstream. Rejects
   * INVALID_ARGUMENT for an event the pipeline refuses, UNAVAILABLE when it could not be made
   * durable in time (it may still land: a retry is safe).
   */
  publishEvent(event: OrderEvent): Promise<void>;
  /** As publishEvent, for a batch of price points (all acknowledged before it resolves). */
  publishPrices(points: readonly PricePoint[]): Promise<void>;
  /** Fire-and-forget, batched, bounded: false when the fix was dropped. Never throws. */
  publishFix(fix: FixRecord): boolean;
  /**
   * The hot path: the fixes of one driver's frame that the index applied (`outcomes` from
   * LiveLocations.applyFixes; all of them without it). Copies what it needs at once; returns how
   * many were accepted. Never throws, never waits.
   */
  publishFixes(driverId: string, batch: FixBatch, outcomes?: Uint8Array): number;
  /** Resolves once everything published before was sent (fixes included). */
  flush(): Promise<void>;
  stats(): SinkStats;
  /** Sends what is buffered (bounded wait), then releases the connection. Idempotent. */
  close(): Promise<void>;
}

/**
 * The EventLog whose appends go through the pipeline; reads come from the database the
 * persister writes (`reader`, the order_events repository). With Kafka an appended event is
 * durable at once but readable only once the persister wrote it.
 */
export function pipelineEventLog(sink: PipelineSink, reader: EventLog): EventLog {
  return {
    append: (event: OrderEvent) => sink.publishEvent(event),
    readOrder: (orderId: OrderId) => reader.readOrder(orderId),
  };
}

/** The PriceHistory whose points go through the `price-updates` topic (or the embedded log). */
export function pipelinePriceHistory(sink: PipelineSink): PriceHistory {
  return {
    append: (points: readonly PricePoint[]) =>
      points.length === 0 ? Promise.resolve() : sink.publishPrices(points),
  };
}
