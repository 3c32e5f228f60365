/** Embedded PriceHistory: the points in process memory, de-duplicated by (cell, at). */
import type { PriceHistory, PricePoint } from "../../engine/ports.js";
import { frozenCopy } from "./freeze.js";

export class MemoryPriceHistory implements PriceHistory {
  readonly #points: PricePoint[] = [];
  readonly #keys = new Set<string>();

  async append(points: readonly PricePoint[]): Promise<void> {
    for (const p of points) {
      const key = `${p.cell}@${p.at}`;
      if (this.#keys.has(key)) continue;
      this.#keys.add(key);
      this.#points.push(frozenCopy(p));
    }
  }

  /** Every point in append order, or those of one cell (not part of the port: admin view, tests). */
  list(cell?: string): PricePoint[] {
    return cell === undefined ? [...this.#points] : this.#points.filter((p) => p.cell === cell);
  }
}
