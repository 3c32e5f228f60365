/**
 * Clocks: the system one for running, a manual one for tests and simulations that run faster
 * than real time. Both implement the `Clock` contract of ports.ts.
 */
import type { Clock, TimerHandle } from "./ports.js";

/** Node's setTimeout takes at most a signed 32-bit delay; longer ones would fire at once. */
const MAX_DELAY_MS = 2 ** 31 - 1;

class SystemTimer implements TimerHandle {
  constructor(
    readonly dueAt: number,
    readonly timeout: NodeJS.Timeout,
  ) {}
}

export class SystemClock implements Clock {
  #last = 0;

  now(): number {
    // Date.now can step back when NTP corrects the wall clock; the contract says never backwards.
    this.#last = Math.max(this.#last, Date.now());
    return this.#last;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const delay = Math.min(MAX_DELAY_MS, Math.max(0, delayMs));
    return new SystemTimer(this.now() + delay, setTimeout(fn, delay));
  }

  clearTimer(handle: TimerHandle): void {
    if (handle instanceof SystemTimer) clearTimeout(handle.timeout);
  }
}

class ManualTimer implements TimerHandle {
  constructor(
    readonly dueAt: number,
    readonly seq: number,
    readonly fn: () => void,
  ) {}
}

/**
 * Time moves only when told. `advance` fires every timer that falls due, in (dueAt, set order),
 * with `now()` equal to each timer's due time while it runs; timers set by a callback fire in the
 * same call if they fall due before the target.
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Set<ManualTimer>();

  /** Starts at a fixed, realistic epoch (2025-01-01T00:00:00Z) unless told otherwise. */
  constructor(start = Date.UTC(2025, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** `fn` may be async; `advanceAsync` awaits the promise it returns. */
  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const timer = new ManualTimer(this.#now + Math.max(0, delayMs), this.#seq++, fn);
    this.#timers.add(timer);
    return timer;
  }

  clearTimer(handle: TimerHandle): void {
    if (handle instanceof ManualTimer) this.#timers.delete(handle);
  }

  /** Timers not yet fired or cleared. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms` (>= 0), firing due timers synchronously. Returns how many fired. */
  advance(ms: number): number {
    return this.advanceTo(this.#now + ms);
  }

  advanceTo(target: number): number {
    if (!(target >= this.#now))
      throw new RangeError(`ManualClock cannot go back from ${this.#now} to ${target}`);
    let fired = 0;
    for (let t = this.#nextDue(target); t !== undefined; t = this.#nextDue(target)) {
      this.#timers.delete(t);
      this.#now = t.dueAt;
      t.fn();
      fired++;
    }
    this.#now = target;
    return fired;
  }

  /**
   * Like `advance`, but awaits each callback's promise and lets pending promise chains settle
   * before the next timer, so async timeout handlers run to completion in due order.
   */
  async advanceAsync(ms: number): Promise<number> {
    const target = this.#now + ms;
    let fired = 0;
    for (let t = this.#nextDue(target); t !== undefined; t = this.#nextDue(target)) {
      this.#timers.delete(t);
      this.#now = t.dueAt;
      const result: unknown = t.fn();
      if (result instanceof Promise) await result;
      await settle();
      fired++;
    }
    this.#now = Math.max(this.#now, target);
    await settle();
    return fired;
  }

  #nextDue(limit: number): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const t of this.#timers) {
      if (t.dueAt > limit) continue;
      if (best === undefined || t.dueAt < best.dueAt || (t.dueAt === best.dueAt && t.seq < best.seq))
        best = t;
    }
    return best;
  }
}

/** Resolves after every queued microtask (promise continuation) has run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
