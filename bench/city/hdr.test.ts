import { describe, expect, it } from "vitest";
import { addEncoded, encode, formatSummary, newHistogram, recordMs, summary } from "./hdr.js";

describe("HDR summary", () => {
  it("gives percentiles in milliseconds from microsecond recordings", () => {
    const h = newHistogram();
    for (let i = 1; i <= 1000; i++) recordMs(h, i / 10); // 0.1 .. 100 ms
    const s = summary(h);
    expect(s.n).toBe(1000);
    expect(s.p50).toBeCloseTo(50, 0);
    expect(s.p95).toBeCloseTo(95, 0);
    expect(s.p99).toBeCloseTo(99, 0);
    expect(s.max).toBeCloseTo(100, 0);
    expect(s.mean).toBeCloseTo(50.05, 0);
  });

  it("survives the trip between processes and merges", () => {
    const a = newHistogram();
    const b = newHistogram();
    for (let i = 0; i < 100; i++) recordMs(a, 1);
    for (let i = 0; i < 100; i++) recordMs(b, 1000);
    const into = newHistogram();
    addEncoded(into, encode(a));
    addEncoded(into, encode(b));
    addEncoded(into, "");
    const s = summary(into);
    expect(s.n).toBe(200);
    expect(s.p50).toBeCloseTo(1, 1);
    expect(s.p99).toBeGreaterThan(990);
  });

  it("ignores non-finite samples and clamps tiny ones", () => {
    const h = newHistogram();
    recordMs(h, Number.NaN);
    recordMs(h, Number.POSITIVE_INFINITY);
    expect(summary(h).n).toBe(0);
    expect(Number.isNaN(summary(h).p99)).toBe(true);
    expect(formatSummary(summary(h))).toBe("- (n=0)");
    recordMs(h, 0);
    expect(summary(h).p50).toBeCloseTo(0.001, 4);
  });
});
