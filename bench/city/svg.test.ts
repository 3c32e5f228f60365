import { describe, expect, it } from "vitest";
import { escapeXml, niceCeil, pathData, renderChart } from "./svg.js";

describe("SVG plot writer", () => {
  it("rounds axis tops up to 1, 2, 2.5 or 5 x 10^k", () => {
    expect(niceCeil(0)).toBe(1);
    expect(niceCeil(7)).toBe(10);
    expect(niceCeil(1_900)).toBe(2_000);
    expect(niceCeil(2_100)).toBe(2_500);
    expect(niceCeil(20_000)).toBe(20_000);
    expect(niceCeil(Number.NaN)).toBe(1);
  });

  it("breaks a line at gaps", () => {
    const d = pathData(
      [0, 1, 2, 3],
      [1, Number.NaN, 2, 3],
      (x) => x * 10,
      (y) => 100 - y,
    );
    expect(d).toBe("M0.0,99.0 M20.0,98.0 L30.0,97.0");
  });

  it("escapes text", () => {
    expect(escapeXml(`a<b & "c"`)).toBe("a&#60;b &#38; &#34;c&#34;");
  });

  it("writes a standalone document with one path per series and a legend", () => {
    const svg = renderChart({
      title: "t <1>",
      x: [0, 1, 2],
      bands: [{ from: 0, to: 1, label: "ramp" }],
      panels: [
        { title: "fixes", unit: "fixes/s", series: [{ name: "ours", color: "#123456", y: [0, 10, 20] }] },
        {
          title: "p99",
          unit: "ms",
          log: true,
          markers: true,
          series: [
            { name: "eta", color: "red", y: [1, 10, 100] },
            { name: "empty", color: "blue", y: [Number.NaN, Number.NaN, Number.NaN] },
          ],
        },
      ],
    });
    expect(svg.startsWith("<svg xmlns=")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg).toContain("t &#60;1&#62;");
    expect(svg.match(/<path /g)?.length).toBe(2);
    expect(svg).toContain(">ours</text>");
    expect(svg).toContain(">empty</text>");
    expect(svg).toContain("log scale");
    // Markers for the finite points of the marked panel only.
    expect(svg.match(/<circle /g)?.length).toBe(3);
    expect(svg).toContain(">ramp</text>");
  });
});
