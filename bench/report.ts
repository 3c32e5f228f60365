/**
 * The one results format of every bench suite (DESIGN.md, "Benchmarks"): each figure is ours
 * beside a baseline measured in the same run, with the ratio. `writeReport` writes
 * `bench/results/<suite>.json` and prints the same as a table.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** One measured figure as a suite reports it; `advantage` is added here. */
export interface FigureInput {
  ours: number;
  baseline: number;
  baselineName: string;
  unit: string;
  better: "higher" | "lower";
}

export interface Figure extends FigureInput {
  /** How many times better ours is than the baseline (above 1: ahead). */
  advantage: number;
}

/** What a suite's `run` returns. */
export interface SuiteResult {
  figures: Record<string, FigureInput>;
  /** Conditions worth knowing: load, services missing, what a baseline does or does not do. */
  notes: string[];
}

export interface SuiteOptions {
  /** A run of under two minutes. */
  quick: boolean;
  /** Progress lines (stderr), so stdout carries only the table. */
  log: (line: string) => void;
}

/** A suite module under bench/suites/<name>.ts exports this. */
export type Suite = (options: SuiteOptions) => Promise<SuiteResult>;

export interface Report {
  suite: string;
  date: string;
  machine: { cpus: string; node: string; rustc: string };
  figures: Record<string, Figure>;
  notes: string;
}

export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), "results");

export function advantage(f: FigureInput): number {
  const ratio = f.better === "higher" ? f.ours / f.baseline : f.baseline / f.ours;
  return Number.isFinite(ratio) ? ratio : Number.NaN;
}

export function machine(): Report["machine"] {
  let rustc = "unknown";
  try {
    rustc = execFileSync("rustc", ["--version"], { encoding: "utf8" }).trim();
  } catch {
    // No toolchain on this machine: the addon was built elsewhere.
  }
  const model = cpus()[0]?.model.trim() ?? "unknown CPU";
  return { cpus: `${availableParallelism()} x ${model}`, node: process.version, rustc };
}

/** Three significant digits, enough for figures that vary by more than that run to run. */
function round(x: number): number {
  return Number.isFinite(x) ? Number(x.toPrecision(3)) : x;
}

export function buildReport(suite: string, result: SuiteResult, date = new Date()): Report {
  const figures: Record<string, Figure> = {};
  for (const [name, f] of Object.entries(result.figures)) {
    figures[name] = {
      ...f,
      ours: round(f.ours),
      baseline: round(f.baseline),
      advantage: round(advantage(f)),
    };
  }
  return { suite, date: date.toISOString(), machine: machine(), figures, notes: result.notes.join(" ") };
}

export function formatTable(report: Report): string {
  const header = ["figure", "ours", "baseline", "unit", "better", "advantage", "baseline is"];
  const rows = Object.entries(report.figures).map(([name, f]) => [
    name,
    String(f.ours),
    String(f.baseline),
    f.unit,
    f.better,
    `${f.advantage}x`,
    f.baselineName,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 || i >= 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [
    `${report.suite} — ${report.date} — ${report.machine.cpus}, node ${report.machine.node}, ${report.machine.rustc}`,
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map(line),
    "",
    report.notes,
  ].join("\n");
}

/** Writes `<dir>/<suite>.json` (atomically: a .tmp file renamed) and prints the table. */
export function writeReport(suite: string, result: SuiteResult, dir = RESULTS_DIR): Report {
  const report = buildReport(suite, result);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${suite}.json`);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(report, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
  console.log(formatTable(report));
  return report;
}
