/**
 * PriceHistory on PostgreSQL (or PGlite): the price_history table. A batch is one INSERT over
 * unnested arrays, so it lands whole or not at all; (cell, at) already present is skipped, so a
 * retry after an unclear failure is safe.
 */
import type { PriceHistory, PricePoint } from "../../engine/ports.js";
import type { Db } from "./db.js";

export class PgPriceHistory implements PriceHistory {
  constructor(private readonly db: Db) {}

  async append(points: readonly PricePoint[]): Promise<void> {
    if (points.length === 0) return;
    // Times travel as ISO-8601 text (exact to the millisecond, and castable on every engine).
    await this.db.query(
      `INSERT INTO price_history (cell, at, multiplier)
        SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::float8[])
        ON CONFLICT (cell, at) DO NOTHING`,
      [
        points.map((p) => p.cell),
        points.map((p) => new Date(p.at).toISOString()),
        points.map((p) => p.multiplier),
      ],
    );
  }

  /** A cell's points, oldest first (not part of the port: admin view, tests). */
  async list(cell: string): Promise<PricePoint[]> {
    const { rows } = await this.db.query<{ cell: string; at: Date; multiplier: number }>(
      "SELECT cell, at, multiplier FROM price_history WHERE cell = $1 ORDER BY at",
      [cell],
    );
    return rows.map((r) => ({ cell: r.cell, multiplier: r.multiplier, at: r.at.getTime() }));
  }
}
