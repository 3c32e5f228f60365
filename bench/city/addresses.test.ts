import { describe, expect, it } from "vitest";
import {
  addressOf,
  DEFAULT_PORT_RANGE,
  parsePortRange,
  planAddresses,
  portsPerAddress,
  split,
} from "./addresses.js";

describe("source address planning", () => {
  it("reads the kernel's port range, falling back on the default", () => {
    expect(parsePortRange("32768\t60999\n")).toEqual({ low: 32_768, high: 60_999 });
    expect(parsePortRange("1024 65000")).toEqual({ low: 1_024, high: 65_000 });
    expect(parsePortRange(undefined)).toEqual(DEFAULT_PORT_RANGE);
    expect(parsePortRange("garbage")).toEqual(DEFAULT_PORT_RANGE);
    expect(parsePortRange("60000 1000")).toEqual(DEFAULT_PORT_RANGE);
  });

  it("uses one address while the range suffices, more beyond it", () => {
    const per = portsPerAddress(DEFAULT_PORT_RANGE); // 28,232 - 2,000
    expect(per).toBe(26_232);
    expect(planAddresses(20_000, DEFAULT_PORT_RANGE).addresses).toEqual(["127.0.0.2"]);
    const big = planAddresses(50_000, DEFAULT_PORT_RANGE);
    expect(big.addresses).toEqual(["127.0.0.2", "127.0.0.3"]);
    expect(big.counts).toEqual([25_000, 25_000]);
    const huge = planAddresses(100_001, DEFAULT_PORT_RANGE, { first: 10 });
    expect(huge.addresses).toEqual(["127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.13"]);
    expect(huge.counts.reduce((a, b) => a + b, 0)).toBe(100_001);
    expect(Math.max(...huge.counts)).toBeLessThanOrEqual(per);
  });

  it("honours a minimum number of addresses and spreads round robin", () => {
    const p = planAddresses(5, DEFAULT_PORT_RANGE, { minAddresses: 2 });
    expect(p.counts).toEqual([3, 2]);
    expect([0, 1, 2, 3, 4].map((i) => addressOf(p, i))).toEqual([
      "127.0.0.2",
      "127.0.0.3",
      "127.0.0.2",
      "127.0.0.3",
      "127.0.0.2",
    ]);
  });

  it("refuses what does not fit in 127.0.0.x or is not a count", () => {
    expect(() => planAddresses(10, DEFAULT_PORT_RANGE, { first: 254, minAddresses: 2 })).toThrow(RangeError);
    expect(() => planAddresses(-1, DEFAULT_PORT_RANGE)).toThrow(RangeError);
    expect(() => planAddresses(1.5, DEFAULT_PORT_RANGE)).toThrow(RangeError);
  });

  it("splits totals into near-equal shares", () => {
    expect(split(10, 3)).toEqual([4, 3, 3]);
    expect(split(2, 4)).toEqual([1, 1, 0, 0]);
  });
});
