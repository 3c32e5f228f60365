/** Small statistics helpers shared by the bench suites. */

/** The `q` quantile (0..1) of already sorted samples, by nearest rank. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

/** Median and tail of a set of samples (sorted in place). */
export function summarize(samples: Float64Array): { median: number; p99: number; mean: number; max: number } {
  samples.sort();
  let sum = 0;
  for (const s of samples) sum += s;
  return {
    median: quantile(samples, 0.5),
    p99: quantile(samples, 0.99),
    mean: sum / samples.length,
    max: samples[samples.length - 1] ?? Number.NaN,
  };
}

/** CPU time (user + system, all threads of this process) spent by `fn`, and its wall time, in µs. */
export function timed<T>(fn: () => T): { value: T; wallUs: number; cpuUs: number } {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const value = fn();
  const wallUs = (performance.now() - start) * 1000;
  const used = process.cpuUsage(cpu);
  return { value, wallUs, cpuUs: used.user + used.system };
}

export { mulberry32 } from "../test/support/random.js";
