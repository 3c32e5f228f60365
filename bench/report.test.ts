import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { advantage, buildReport, formatTable, writeReport } from "./report.js";
import { quantile, summarize } from "./stats.js";

describe("bench report", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    vi.restoreAllMocks();
  });

  it("advantage is how many times better ours is, whichever way better points", () => {
    expect(advantage({ ours: 10, baseline: 2, baselineName: "b", unit: "ops/s", better: "higher" })).toBe(5);
    expect(advantage({ ours: 2, baseline: 10, baselineName: "b", unit: "us", better: "lower" })).toBe(5);
    expect(advantage({ ours: 10, baseline: 5, baselineName: "b", unit: "ms", better: "lower" })).toBe(0.5);
    expect(advantage({ ours: 0, baseline: 5, baselineName: "b", unit: "ms", better: "lower" })).toBeNaN();
  });

  it("writes bench/results/<suite>.json in the DESIGN.md format and prints the same", () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-report-"));
    dirs.push(dir);
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    const result = {
      figures: {
        speed: {
          ours: 123.456,
          baseline: 12.3456,
          baselineName: "js",
          unit: "ops/s",
          better: "higher" as const,
        },
      },
      notes: ["one.", "two."],
    };
    const report = writeReport("demo", result, dir);
    const saved = JSON.parse(readFileSync(join(dir, "demo.json"), "utf8"));
    expect(saved).toEqual(report);
    expect(Object.keys(saved)).toEqual(["suite", "date", "machine", "figures", "notes"]);
    expect(Object.keys(saved.machine)).toEqual(["cpus", "node", "rustc"]);
    expect(saved.figures.speed).toEqual({
      ours: 123,
      baseline: 12.3,
      baselineName: "js",
      unit: "ops/s",
      better: "higher",
      advantage: 10,
    });
    expect(saved.notes).toBe("one. two.");
    expect(log).toHaveBeenCalledWith(formatTable(buildReport("demo", result, new Date(saved.date))));
    expect(formatTable(report)).toMatch(/speed\s+123\s+12\.3\s+ops\/s\s+higher\s+10x\s+js/);
  });

  it("summarises samples by nearest rank", () => {
    const s = summarize(Float64Array.from({ length: 100 }, (_, i) => 100 - i));
    expect(s).toEqual({ median: 50, p99: 99, mean: 50.5, max: 100 });
    expect(quantile([], 0.5)).toBeNaN();
  });
});
