import { latLngToCell } from "h3-js";
import { describe, expect, it } from "vitest";
import { DispatchError } from "../engine/errors.js";
import { mulberry32 } from "../test/support/random.js";
import { cellsOf } from "./index.js";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DispatchError);
    return (err as DispatchError).code;
  }
  return undefined;
}

describe("cellsOf", () => {
  it("agrees with h3-js on 10,000 random points at several resolutions", () => {
    const rand = mulberry32(42);
    const n = 10_000;
    const pts = new Float64Array(n * 2);
    for (let i = 0; i < n; i++) {
      // Uniform on the sphere, so the poles and the antimeridian get their share.
      pts[2 * i] = (Math.asin(2 * rand() - 1) * 180) / Math.PI;
      pts[2 * i + 1] = rand() * 360 - 180;
    }
    for (const res of [0, 5, 9, 15]) {
      const cells = cellsOf(pts, res);
      expect(cells.length).toBe(n);
      for (let i = 0; i < n; i++) {
        const expected = latLngToCell(pts[2 * i]!, pts[2 * i + 1]!, res);
        expect(cells[i]!.toString(16)).toBe(expected);
      }
    }
  });

  it("accepts the edges of the coordinate range and an empty batch", () => {
    expect(cellsOf(new Float64Array([90, 180, -90, -180]), 9).length).toBe(2);
    expect(cellsOf(new Float64Array(0), 9).length).toBe(0);
  });

  it("rejects bad input with a coded error", () => {
    expect(codeOf(() => cellsOf(new Float64Array([Number.NaN, 0]), 9))).toBe("INVALID_COORDINATE");
    expect(codeOf(() => cellsOf(new Float64Array([0, Number.POSITIVE_INFINITY]), 9))).toBe(
      "INVALID_COORDINATE",
    );
    expect(codeOf(() => cellsOf(new Float64Array([91, 0]), 9))).toBe("INVALID_COORDINATE");
    expect(codeOf(() => cellsOf(new Float64Array([0, -180.5]), 9))).toBe("INVALID_COORDINATE");
    expect(codeOf(() => cellsOf(new Float64Array([1, 2, 3]), 9))).toBe("LENGTH_MISMATCH");
    expect(codeOf(() => cellsOf(new Float64Array([1, 2]), 16))).toBe("INVALID_RESOLUTION");
    expect(codeOf(() => cellsOf(new Float64Array([1, 2]), -1))).toBe("INVALID_RESOLUTION");
    expect(codeOf(() => cellsOf(new Float64Array([1, 2]), 1.5))).toBe("INVALID_RESOLUTION");
    expect(codeOf(() => cellsOf([1, 2] as unknown as Float64Array, 9))).toBe("INVALID_ARGUMENT");
  });

  it("names the offending pair in the message", () => {
    expect(() => cellsOf(new Float64Array([1, 2, 3, 4, 95, 0]), 9)).toThrow(/pair 2/);
  });
});
