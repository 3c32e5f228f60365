/**
 * HDR histograms for the city bench: latencies recorded in microseconds (integers, 3 significant
 * digits, up to an hour), shipped between processes as compressed base64 and summarised in
 * milliseconds.
 */
import * as hdr from "hdr-histogram-js";

export type Histogram = hdr.Histogram;

const HOUR_US = 3_600_000_000;

export function newHistogram(): Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HOUR_US,
    numberOfSignificantValueDigits: 3,
  });
}

/** Records a latency given in milliseconds (clamped into the trackable range; NaN ignored). */
export function recordMs(h: Histogram, ms: number): void {
  if (!Number.isFinite(ms)) return;
  h.recordValue(Math.min(HOUR_US, Math.max(1, Math.round(ms * 1000))));
}

export function encode(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

/** Adds an encoded histogram (from another process) into `into`. */
export function addEncoded(into: Histogram, encoded: string): void {
  if (encoded === "") return;
  into.add(hdr.decodeFromCompressedBase64(encoded));
}

export interface LatencySummary {
  /** Samples recorded. */
  n: number;
  /** Milliseconds; NaN when there are no samples. */
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export function summary(h: Histogram): LatencySummary {
  const n = h.totalCount;
  if (n === 0)
    return { n: 0, p50: Number.NaN, p95: Number.NaN, p99: Number.NaN, max: Number.NaN, mean: Number.NaN };
  const ms = (us: number) => us / 1000;
  return {
    n,
    p50: ms(h.getValueAtPercentile(50)),
    p95: ms(h.getValueAtPercentile(95)),
    p99: ms(h.getValueAtPercentile(99)),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  };
}

/** `p50 / p95 / p99 ms (n)` for a log line or a table cell. */
export function formatSummary(s: LatencySummary): string {
  if (s.n === 0) return "- (n=0)";
  const f = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
  return `${f(s.p50)} / ${f(s.p95)} / ${f(s.p99)} ms (n=${s.n})`;
}
