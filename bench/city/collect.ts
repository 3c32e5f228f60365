/**
 * Gathers what the generators print each second (bench/city/generator.ts) and what /proc says of
 * the server into one-second buckets of the run, and summarises them per phase of the schedule.
 */
import { type Schedule, totalS } from "./demand.js";
import { addEncoded, type Histogram, type LatencySummary, newHistogram, summary } from "./hdr.js";

export const LATENCIES = ["ingest", "eta", "etaDirect", "offer", "accept", "pickup"] as const;
export type LatencyKind = (typeof LATENCIES)[number];

export const COUNTERS = [
  "fixes",
  "probes",
  "probesApplied",
  "probesDropped",
  "requested",
  "offered",
  "offersReceived",
  "accepted",
  "declined",
  "arrived",
  "completed",
  "cancelled",
  "patienceCancels",
  "skipped",
] as const;
export type CounterKind = (typeof COUNTERS)[number];

/** One line a generator prints (`tick` every second, `final` once at the end). */
export interface Tick {
  kind: "tick" | "final" | "idle";
  gen: number;
  at: number;
  open: number;
  online: number;
  riders: number;
  cpuMs: number;
  errors: Record<string, number>;
  hist: Partial<Record<LatencyKind, string>>;
  [counter: string]: unknown;
}

interface Bucket {
  counters: Record<CounterKind, number>;
  hist: Record<LatencyKind, Histogram>;
  open: Map<number, number>;
  riders: Map<number, number>;
  genCpuMs: number;
  serverCpuMs: number;
  serverRss: number;
}

export interface PhaseSummary {
  name: string;
  seconds: number;
  /** Mean driver sockets open over the phase (all generators), and the most at once. */
  sockets: number;
  peakSockets: number;
  riders: number;
  fixesPerS: number;
  counters: Record<CounterKind, number>;
  latency: Record<LatencyKind, LatencySummary>;
  /** Server CPU in % of one core, its mean RSS (bytes), the generators' CPU in % of one core. */
  serverCpuPct: number;
  serverRss: number;
  genCpuPct: number;
}

export class Collector {
  private readonly buckets = new Map<number, Bucket>();
  private readonly lastErrors = new Map<number, Record<string, number>>();

  constructor(
    readonly startAt: number,
    readonly schedule: Schedule,
  ) {}

  private bucket(at: number): Bucket {
    const s = Math.floor((at - this.startAt) / 1000);
    let b = this.buckets.get(s);
    if (!b) {
      b = {
        counters: Object.fromEntries(COUNTERS.map((k) => [k, 0])) as Record<CounterKind, number>,
        hist: Object.fromEntries(LATENCIES.map((k) => [k, newHistogram()])) as Record<LatencyKind, Histogram>,
        open: new Map(),
        riders: new Map(),
        genCpuMs: 0,
        serverCpuMs: 0,
        serverRss: Number.NaN,
      };
      this.buckets.set(s, b);
    }
    return b;
  }

  add(t: Tick): void {
    // A tick counts what happened in the second before it.
    const b = this.bucket(t.at - 500);
    for (const k of COUNTERS) b.counters[k] += Number(t[k] ?? 0);
    for (const k of LATENCIES) addEncoded(b.hist[k], t.hist[k] ?? "");
    b.open.set(t.gen, t.open);
    b.riders.set(t.gen, t.riders);
    b.genCpuMs += t.cpuMs;
    this.lastErrors.set(t.gen, t.errors);
  }

  server(at: number, cpuMsDelta: number, rss: number): void {
    const b = this.bucket(at - 500);
    b.serverCpuMs += cpuMsDelta;
    b.serverRss = rss;
  }

  /** Errors by code over all generators (their counts are cumulative). */
  errors(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const e of this.lastErrors.values())
      for (const [k, v] of Object.entries(e)) out[k] = (out[k] ?? 0) + v;
    return out;
  }

  /** Seconds 0..end of the schedule, in order. */
  seconds(): number[] {
    return Array.from({ length: Math.ceil(totalS(this.schedule)) }, (_, i) => i);
  }

  /** Driver sockets and riders open at second `s`: each generator's newest report up to then. */
  private gauges(): Map<number, { open: number; riders: number }> {
    const out = new Map<number, { open: number; riders: number }>();
    const open = new Map<number, number>();
    const riders = new Map<number, number>();
    const last = Math.max(-1, ...this.buckets.keys());
    for (let s = 0; s <= last; s++) {
      const b = this.buckets.get(s);
      if (b) {
        for (const [g, v] of b.open) open.set(g, v);
        for (const [g, v] of b.riders) riders.set(g, v);
      }
      const sum = (m: Map<number, number>) => [...m.values()].reduce((a, c) => a + c, 0);
      out.set(s, { open: sum(open), riders: sum(riders) });
    }
    return out;
  }

  timeline(): {
    t: number[];
    fixes: number[];
    sockets: number[];
    riders: number[];
    p99: Record<LatencyKind, number[]>;
    serverCpuPct: number[];
    genCpuPct: number[];
  } {
    const t = this.seconds();
    const get = (s: number) => this.buckets.get(s);
    const gauges = this.gauges();
    return {
      t,
      fixes: t.map((s) => get(s)?.counters.fixes ?? 0),
      sockets: t.map((s) => gauges.get(s)?.open ?? Number.NaN),
      riders: t.map((s) => gauges.get(s)?.riders ?? Number.NaN),
      p99: Object.fromEntries(
        LATENCIES.map((k) => [k, t.map((s) => summary(get(s)?.hist[k] ?? newHistogram()).p99)]),
      ) as Record<LatencyKind, number[]>,
      serverCpuPct: t.map((s) => (get(s)?.serverCpuMs ?? Number.NaN) / 10),
      genCpuPct: t.map((s) => (get(s)?.genCpuMs ?? Number.NaN) / 10),
    };
  }

  /** Summary of seconds [fromS, toS) of the run. */
  span(name: string, fromS: number, toS: number): PhaseSummary {
    const counters = Object.fromEntries(COUNTERS.map((k) => [k, 0])) as Record<CounterKind, number>;
    const hist = Object.fromEntries(LATENCIES.map((k) => [k, newHistogram()])) as Record<
      LatencyKind,
      Histogram
    >;
    let n = 0;
    let sockets = 0;
    let peak = 0;
    let riders = 0;
    let serverCpuMs = 0;
    let genCpuMs = 0;
    let rssSum = 0;
    let rssN = 0;
    const gauges = this.gauges();
    for (let s = Math.floor(fromS); s < toS; s++) {
      const b = this.buckets.get(s);
      if (!b) continue;
      n++;
      for (const k of COUNTERS) counters[k] += b.counters[k];
      for (const k of LATENCIES) hist[k].add(b.hist[k]);
      const g = gauges.get(s) ?? { open: 0, riders: 0 };
      sockets += g.open;
      peak = Math.max(peak, g.open);
      riders += g.riders;
      serverCpuMs += b.serverCpuMs;
      genCpuMs += b.genCpuMs;
      if (Number.isFinite(b.serverRss)) {
        rssSum += b.serverRss;
        rssN++;
      }
    }
    const per = (v: number) => (n > 0 ? v / n : Number.NaN);
    return {
      name,
      seconds: n,
      sockets: per(sockets),
      peakSockets: peak,
      riders: per(riders),
      fixesPerS: per(counters.fixes),
      counters,
      latency: Object.fromEntries(LATENCIES.map((k) => [k, summary(hist[k])])) as Record<
        LatencyKind,
        LatencySummary
      >,
      serverCpuPct: per(serverCpuMs) / 10,
      serverRss: rssN > 0 ? rssSum / rssN : Number.NaN,
      genCpuPct: per(genCpuMs) / 10,
    };
  }

  /** One summary per phase of the schedule; the first seconds of a hold are left out (settling). */
  phases(settleS = 2): PhaseSummary[] {
    const out: PhaseSummary[] = [];
    let start = 0;
    for (const p of this.schedule.phases) {
      const from = p.fleet === "hold" ? start + Math.min(settleS, p.durationS / 4) : start;
      out.push(this.span(p.name, from, start + p.durationS));
      start += p.durationS;
    }
    return out;
  }

  /** The whole run. */
  total(): PhaseSummary {
    return this.span("whole run", 0, totalS(this.schedule) + 2);
  }
}
