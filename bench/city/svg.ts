/**
 * A small hand-written SVG line chart: stacked panels sharing the time axis, each with its own
 * y scale and a few named series. No dependency; the output is a complete standalone document.
 */

export interface Series {
  readonly name: string;
  readonly color: string;
  /** y per x (same length as the chart's `x`); NaN leaves a gap. */
  readonly y: readonly number[];
}

export interface Panel {
  readonly title: string;
  readonly unit: string;
  readonly series: readonly Series[];
  /** Log scale (latencies spanning orders of magnitude); values <= 0 are gaps. */
  readonly log?: boolean;
  /** A dot at every point too, so that isolated points (sparse samples) show. */
  readonly markers?: boolean;
}

export interface Chart {
  readonly title: string;
  /** Seconds since the start of the run. */
  readonly x: readonly number[];
  readonly panels: readonly Panel[];
  /** Shaded spans with a label (phases). */
  readonly bands?: readonly { readonly from: number; readonly to: number; readonly label: string }[];
  readonly width?: number;
  readonly panelHeight?: number;
}

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A "nice" round upper bound for an axis (1, 2, 2.5, 5 x 10^k). */
export function niceCeil(v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  if (v >= 1_000_000) return `${+(v / 1_000_000).toPrecision(3)}M`;
  if (v >= 1_000) return `${+(v / 1_000).toPrecision(3)}k`;
  return `${+v.toPrecision(3)}`;
}

/** Path data for one series: `M` starts each run of finite points, `L` continues it. */
export function pathData(
  xs: readonly number[],
  ys: readonly number[],
  sx: (x: number) => number,
  sy: (y: number) => number,
): string {
  const parts: string[] = [];
  let drawing = false;
  for (let i = 0; i < xs.length; i++) {
    const y = ys[i];
    const ok = y !== undefined && Number.isFinite(y) && Number.isFinite(sy(y));
    if (!ok) {
      drawing = false;
      continue;
    }
    parts.push(`${drawing ? "L" : "M"}${sx(xs[i]!).toFixed(1)},${sy(y).toFixed(1)}`);
    drawing = true;
  }
  return parts.join(" ");
}

export function renderChart(c: Chart): string {
  const width = c.width ?? 960;
  const ph = c.panelHeight ?? 220;
  const left = 70;
  const right = 170;
  const top = 40;
  const gap = 50;
  const plotW = width - left - right;
  const height = top + c.panels.length * (ph + gap) + 10;
  const xMax = Math.max(1, ...c.x.filter(Number.isFinite));
  const sx = (x: number) => left + (x / xMax) * plotW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="22" font-size="15" font-weight="bold">${escapeXml(c.title)}</text>`,
  ];
  c.panels.forEach((panel, k) => {
    const y0 = top + k * (ph + gap);
    const values = panel.series.flatMap((s) =>
      s.y.filter((v) => Number.isFinite(v) && (!panel.log || v > 0)),
    );
    const maxV = niceCeil(Math.max(0, ...values));
    const minLog = panel.log ? 10 ** Math.floor(Math.log10(Math.max(1e-3, Math.min(...values, maxV)))) : 0;
    const sy = panel.log
      ? (v: number) =>
          v > 0
            ? y0 +
              ph -
              ((Math.log10(v) - Math.log10(minLog)) / (Math.log10(maxV) - Math.log10(minLog) || 1)) * ph
            : Number.NaN
      : (v: number) => y0 + ph - (v / maxV) * ph;
    for (const b of c.bands ?? []) {
      const x1 = sx(Math.max(0, b.from));
      const x2 = sx(Math.min(xMax, b.to));
      if (x2 <= x1) continue;
      out.push(
        `<rect x="${x1.toFixed(1)}" y="${y0}" width="${(x2 - x1).toFixed(1)}" height="${ph}" fill="#f2f2f2" stroke="#ddd"/>`,
      );
      if (k === 0)
        out.push(
          `<text x="${(x1 + 3).toFixed(1)}" y="${y0 + 12}" fill="#888" font-size="10">${escapeXml(b.label)}</text>`,
        );
    }
    out.push(`<rect x="${left}" y="${y0}" width="${plotW}" height="${ph}" fill="none" stroke="#999"/>`);
    out.push(
      `<text x="${left}" y="${y0 - 8}" font-weight="bold">${escapeXml(panel.title)} (${escapeXml(panel.unit)}${panel.log ? ", log scale" : ""})</text>`,
    );
    const ticks = panel.log
      ? Array.from({ length: Math.round(Math.log10(maxV / minLog)) + 1 }, (_, i) => minLog * 10 ** i)
      : [0, 0.25, 0.5, 0.75, 1].map((f) => f * maxV);
    for (const t of ticks) {
      const y = sy(t);
      if (!Number.isFinite(y)) continue;
      out.push(
        `<line x1="${left - 4}" x2="${left + plotW}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#e4e4e4"/>`,
      );
      out.push(`<text x="${left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`);
    }
    panel.series.forEach((s, i) => {
      const d = pathData(c.x, s.y, sx, sy);
      if (d !== "")
        out.push(`<path d="${d}" fill="none" stroke="${escapeXml(s.color)}" stroke-width="1.6"/>`);
      if (panel.markers) {
        const dots = c.x
          .map((x, j) => [sx(x), sy(s.y[j] ?? Number.NaN)] as const)
          .filter(([, y]) => Number.isFinite(y))
          .map(([x, y]) => `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="1.8"/>`);
        if (dots.length > 0) out.push(`<g fill="${escapeXml(s.color)}">${dots.join("")}</g>`);
      }
      const ly = y0 + 14 + i * 18;
      out.push(
        `<line x1="${left + plotW + 12}" x2="${left + plotW + 32}" y1="${ly - 4}" y2="${ly - 4}" stroke="${escapeXml(s.color)}" stroke-width="3"/>`,
      );
      out.push(`<text x="${left + plotW + 38}" y="${ly}">${escapeXml(s.name)}</text>`);
    });
    const xTicks = 6;
    for (let i = 0; i <= xTicks; i++) {
      const x = (xMax * i) / xTicks;
      out.push(
        `<text x="${sx(x).toFixed(1)}" y="${y0 + ph + 15}" text-anchor="middle">${fmt(Math.round(x))} s</text>`,
      );
    }
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
