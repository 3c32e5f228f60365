/**
 * A token bucket per connection: `rate` messages a second sustained, `burst` at once. Plain
 * numbers on the connection's own state, so checking costs no allocation on the hot path.
 */
export interface Bucket {
  tokens: number;
  lastRefill: number;
}

export function newBucket(burst: number, now: number): Bucket {
  return { tokens: burst, lastRefill: now };
}

/** Refills by elapsed time and takes one token; false when the message must be refused. */
export function take(b: Bucket, rate: number, burst: number, now: number): boolean {
  b.tokens = Math.min(burst, b.tokens + ((now - b.lastRefill) / 1000) * rate);
  b.lastRefill = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return true;
  }
  return false;
}
