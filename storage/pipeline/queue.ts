/**
 * Group commit for the pipeline's producers (the Kafka producer and the embedded log): one send
 * in flight at a time, everything queued meanwhile goes in the next one.
 *
 * - `pushAwaited(item)` (order events, price points) resolves once the send that carried it
 *   succeeded, and rejects when that send failed or refused the item. It starts a send at once
 *   (no linger): the latency of an acknowledged request is one send, shared by all waiting.
 * - `push(item)` (GPS fixes) is fire-and-forget: never awaited, never throws. Items wait at most
 *   `lingerMs` (or until `maxBatch` are queued) so that sends are large. The queue of them is
 *   bounded: past `maxBuffered` a new item is dropped and counted (a stale fix is worth little;
 *   memory that grows while a service is down is worth less). A failed send puts its
 *   fire-and-forget items back at the head (as far as the bound allows) and retries after
 *   `retryMs`.
 * - Items of each class leave in the order they were pushed; awaited ones go first.
 */
import { DispatchError, ErrorCode } from "../../engine/errors.js";
import type { Logger } from "../../engine/logger.js";

export interface QueueOptions {
  /** How long a fire-and-forget item may wait for company (default 5 ms). */
  readonly lingerMs?: number;
  /** Largest send (default 5000 items). */
  readonly maxBatch?: number;
  /** Fire-and-forget items kept at most (default 100 000); more are dropped and counted. */
  readonly maxBuffered?: number;
  /** Pause after a failed send (default 500 ms). */
  readonly retryMs?: number;
  /** An awaited item not sent within this many ms rejects UNAVAILABLE (default 15 000; it may still land later). */
  readonly ackTimeoutMs?: number;
  readonly log: Logger;
  /** What the queue is, for logs. */
  readonly name: string;
}

/**
 * Sends a batch. Resolves with one refusal reason per item (undefined: accepted) or nothing when
 * all were accepted; rejects when the whole send failed.
 */
export type SendBatch<T> = (items: readonly T[]) => Promise<readonly (string | undefined)[] | undefined>;

interface Waiter<T> {
  readonly item: T;
  resolve(): void;
  reject(err: unknown): void;
}

export interface QueueStats {
  /** Items accepted into the queue. */
  readonly accepted: number;
  /** Fire-and-forget items dropped: queue full, refused by the sink, or closed. */
  readonly dropped: number;
  /** Items waiting now. */
  readonly buffered: number;
  readonly sends: number;
  readonly failedSends: number;
}

export class GroupCommitQueue<T> {
  readonly #send: SendBatch<T>;
  readonly #linger: number;
  readonly #maxBatch: number;
  readonly #maxBuffered: number;
  readonly #retryMs: number;
  readonly #ackTimeoutMs: number;
  readonly #log: Logger;
  readonly #name: string;
  #items: T[] = [];
  #head = 0;
  #awaited: Waiter<T>[] = [];
  #inFlight: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #retryUntil = 0;
  #forcing = 0;
  #closed = false;
  #idle: (() => void)[] = [];
  #accepted = 0;
  #dropped = 0;
  #sends = 0;
  #failedSends = 0;

  constructor(send: SendBatch<T>, options: QueueOptions) {
    this.#send = send;
    this.#linger = options.lingerMs ?? 5;
    this.#maxBatch = options.maxBatch ?? 5_000;
    this.#maxBuffered = options.maxBuffered ?? 100_000;
    this.#retryMs = options.retryMs ?? 500;
    this.#ackTimeoutMs = options.ackTimeoutMs ?? 15_000;
    this.#log = options.log;
    this.#name = options.name;
  }

  get #queued(): number {
    return this.#items.length - this.#head;
  }

  /** Fire-and-forget; false when dropped (queue full or closed). */
  push(item: T): boolean {
    if (this.#closed || this.#queued >= this.#maxBuffered) {
      this.#dropped++;
      return false;
    }
    this.#items.push(item);
    this.#accepted++;
    this.#schedule();
    return true;
  }

  /** Resolves once the item was sent; see the module comment. */
  pushAwaited(item: T): Promise<void> {
    if (this.#closed) {
      return Promise.reject(
        new DispatchError(ErrorCode.Unavailable, `${this.#name} is closed`, { temporary: true }),
      );
    }
    this.#accepted++;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        reject(
          new DispatchError(
            ErrorCode.Unavailable,
            `${this.#name}: not acknowledged within ${this.#ackTimeoutMs} ms`,
            { temporary: true },
          ),
        );
      }, this.#ackTimeoutMs);
      timer.unref();
      this.#awaited.push({
        item,
        resolve: () => {
          clearTimeout(timer);
          if (!settled) resolve();
          settled = true;
        },
        reject: (err) => {
          clearTimeout(timer);
          if (!settled) reject(err);
          settled = true;
        },
      });
      this.#schedule();
    });
  }

  /** Resolves once everything queued before the call was sent (or dropped). */
  async flush(): Promise<void> {
    if (this.#queued === 0 && this.#awaited.length === 0 && this.#inFlight === undefined) return;
    this.#forcing++;
    try {
      await new Promise<void>((resolve) => {
        this.#idle.push(resolve);
        this.#schedule();
      });
    } finally {
      this.#forcing--;
    }
  }

  /**
   * Sends what is queued (waiting at most `timeoutMs`), then refuses new items; what could not
   * be sent is dropped (fire-and-forget) or rejected (awaited).
   */
  async close(timeoutMs = 5_000): Promise<void> {
    if (this.#closed) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.flush(),
      new Promise<void>((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#inFlight;
    const left = this.#queued;
    if (left > 0) {
      this.#dropped += left;
      this.#log.warn("pipeline closed with items unsent", { queue: this.#name, dropped: left });
    }
    this.#items = [];
    this.#head = 0;
    for (const w of this.#awaited.splice(0))
      w.reject(
        new DispatchError(ErrorCode.Unavailable, `${this.#name} closed before sending`, { temporary: true }),
      );
    for (const r of this.#idle.splice(0)) r();
  }

  stats(): QueueStats {
    return {
      accepted: this.#accepted,
      dropped: this.#dropped,
      buffered: this.#queued + this.#awaited.length,
      sends: this.#sends,
      failedSends: this.#failedSends,
    };
  }

  #schedule(): void {
    if (this.#inFlight !== undefined || this.#closed) return;
    if (this.#queued === 0 && this.#awaited.length === 0) {
      for (const r of this.#idle.splice(0)) r();
      return;
    }
    const wait = Math.max(0, this.#retryUntil - Date.now());
    const urgent = this.#awaited.length > 0 || this.#queued >= this.#maxBatch || this.#forcing > 0;
    const delay = urgent ? wait : Math.max(wait, this.#linger);
    if (this.#timer !== undefined) {
      if (!urgent || delay > 0) return; // the pending timer fires soon enough
      clearTimeout(this.#timer);
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#inFlight = this.#sendOnce().finally(() => {
        this.#inFlight = undefined;
        this.#schedule();
      });
    }, delay);
  }

  async #sendOnce(): Promise<void> {
    const waiters = this.#awaited.splice(0, this.#maxBatch);
    const room = this.#maxBatch - waiters.length;
    const n = Math.min(room, this.#queued);
    const items = this.#items.slice(this.#head, this.#head + n);
    this.#head += n;
    if (this.#head > 4096 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    const batch = waiters.length === 0 ? items : [...waiters.map((w) => w.item), ...items];
    this.#sends++;
    let refused: readonly (string | undefined)[] | undefined;
    try {
      refused = await this.#send(batch);
    } catch (err) {
      this.#failedSends++;
      this.#retryUntil = Date.now() + this.#retryMs;
      for (const w of waiters) w.reject(err);
      // Put the fixes back in front, in order, as far as the bound allows.
      const keep = Math.max(0, Math.min(items.length, this.#maxBuffered - this.#queued));
      this.#dropped += items.length - keep;
      if (keep > 0) {
        const back = items.slice(items.length - keep);
        this.#items = [...back, ...this.#items.slice(this.#head)];
        this.#head = 0;
      }
      this.#log.warn("pipeline send failed; retrying", {
        queue: this.#name,
        items: batch.length,
        requeued: keep,
        err: String(err),
      });
      return;
    }
    for (let i = 0; i < waiters.length; i++) {
      const reason = refused?.[i];
      if (reason === undefined) waiters[i]!.resolve();
      else waiters[i]!.reject(new DispatchError(ErrorCode.InvalidArgument, reason));
    }
    if (refused !== undefined) {
      for (let i = waiters.length; i < batch.length; i++) if (refused[i] !== undefined) this.#dropped++;
    }
  }
}
