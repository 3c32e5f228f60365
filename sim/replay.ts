/**
 * Replayed demand: a CSV of ride requests (header `request_time,pickup_lat,pickup_lng,
 * dropoff_lat,dropoff_lng`, columns in any order, extra columns ignored; time as ISO 8601 or
 * epoch seconds) turned into a schedule of requests, with time compressed by a speedup factor.
 * Bad rows are skipped and counted, never fatal.
 */
import type { LatLng } from "./geo.js";

export interface ReplayRow {
  /** Request time, ms since the Unix epoch. */
  readonly at: number;
  readonly pickup: LatLng;
  readonly dropoff: LatLng;
}

export interface ParsedReplay {
  /** Good rows, oldest first. */
  readonly rows: ReplayRow[];
  /** Rows skipped as bad (wrong column count, unparsable time, coordinate out of range). */
  readonly skipped: number;
  /** The first few reasons, `line N: why`, for the operator. */
  readonly problems: string[];
}

export const REPLAY_COLUMNS = [
  "request_time",
  "pickup_lat",
  "pickup_lng",
  "dropoff_lat",
  "dropoff_lng",
] as const;

/** Splits one CSV line; double-quoted fields may hold commas and doubled quotes. */
function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"') {
        if (line[i + 1] === '"') {
          cur += '"';
          i++;
        } else quoted = false;
      } else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out.map((f) => f.trim());
}

/** ISO 8601 (with a date) or epoch seconds (integer or decimal); NaN when neither. */
export function parseTime(raw: string): number {
  if (raw === "") return Number.NaN;
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Math.round(Number(raw) * 1000);
  if (!/^\d{4}-\d{2}-\d{2}/.test(raw)) return Number.NaN;
  return Date.parse(raw);
}

function coordinate(raw: string, max: number): number {
  if (raw === "" || !/^[-+]?\d*\.?\d+(e[-+]?\d+)?$/i.test(raw)) return Number.NaN;
  const n = Number(raw);
  return Number.isFinite(n) && Math.abs(n) <= max ? n : Number.NaN;
}

/** Parses the replay CSV. Throws only when the header lacks a required column. */
export function parseReplayCsv(text: string): ParsedReplay {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  let h = 0;
  while (h < lines.length && lines[h]!.trim() === "") h++;
  if (h >= lines.length)
    throw new Error(`the replay file is empty; expected the header ${REPLAY_COLUMNS.join(",")}`);
  const header = splitCsvLine(lines[h]!).map((c) => c.toLowerCase());
  const index: Record<string, number> = {};
  for (const col of REPLAY_COLUMNS) {
    const i = header.indexOf(col);
    if (i < 0) {
      throw new Error(`the replay header lacks the column ${col}; expected ${REPLAY_COLUMNS.join(",")}`);
    }
    index[col] = i;
  }
  const rows: ReplayRow[] = [];
  const problems: string[] = [];
  let skipped = 0;
  const bad = (line: number, why: string) => {
    skipped++;
    if (problems.length < 10) problems.push(`line ${line}: ${why}`);
  };
  for (let n = h + 1; n < lines.length; n++) {
    const line = lines[n]!;
    if (line.trim() === "") continue;
    const f = splitCsvLine(line);
    if (f.length < header.length) {
      bad(n + 1, `${f.length} fields, the header has ${header.length}`);
      continue;
    }
    const at = parseTime(f[index.request_time!]!);
    if (Number.isNaN(at)) {
      bad(n + 1, `request_time "${f[index.request_time!]}" is neither ISO 8601 nor epoch seconds`);
      continue;
    }
    const pickup = {
      lat: coordinate(f[index.pickup_lat!]!, 90),
      lng: coordinate(f[index.pickup_lng!]!, 180),
    };
    const dropoff = {
      lat: coordinate(f[index.dropoff_lat!]!, 90),
      lng: coordinate(f[index.dropoff_lng!]!, 180),
    };
    if ([pickup.lat, pickup.lng, dropoff.lat, dropoff.lng].some(Number.isNaN)) {
      bad(n + 1, "a coordinate is missing, not a number or out of range");
      continue;
    }
    rows.push({ at, pickup, dropoff });
  }
  rows.sort((a, b) => a.at - b.at);
  return { rows, skipped, problems };
}

/** When each row is requested, in ms after the replay starts: the gaps divided by `speedup`. */
export function replayOffsets(rows: readonly ReplayRow[], speedup: number): number[] {
  if (!(speedup > 0)) throw new Error(`speedup must be a positive number, got ${speedup}`);
  const t0 = rows[0]?.at ?? 0;
  return rows.map((r) => (r.at - t0) / speedup);
}
