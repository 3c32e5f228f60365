/**
 * Surge pricing (DESIGN flow 2): every `intervalMs` the free drivers per area cell (H3 res 7,
 * from the live index) are set against the demand there (open requests, plus a forecast when one
 * is configured); the native SurgeState smooths, caps and rounds the multiplier per cell. Quotes
 * read it through `multiplierAt` (the SurgeSource port). Cells whose shown multiplier changed are
 * pushed to the riders watching that area, the whole heat map to drivers, and the change is
 * recorded in the price history.
 *
 * One multiplier per cell for all vehicle classes: supply and demand are counted over every
 * class, so `multiplierAt` ignores its `vehicleClass`.
 */
import { cellsOf } from "../native/index.js";
import { DispatchError, ErrorCode } from "./errors.js";
import type { LiveLocations } from "./locations.js";
import type { Logger } from "./logger.js";
import type { LatLng } from "./model.js";
import type {
  AreaNotifier,
  CellMultiplier,
  Clock,
  PriceHistory,
  PricePoint,
  SurgeSource,
  TimerHandle,
} from "./ports.js";

/**
 * The smoothing model (native SurgeState, which fits this structurally). `update` takes one
 * round's demand and supply per cell (at the model's resolution; cells not listed decay toward
 * 1), all or nothing; `multiplierAt` is the shown multiplier at a point (>= 1, on the step grid,
 * capped); `surging` lists the cells shown above 1.
 */
export interface SurgeModel {
  update(cells: BigUint64Array, demand: Float64Array, supply: Float64Array): void;
  multiplierAt(lat: number, lng: number): number;
  surging(): { readonly cells: BigUint64Array; readonly multipliers: Float64Array };
}

/**
 * Expected requests per area cell over the next interval (the demand forecast module). Pure and
 * synchronous; cells at the asked resolution, values finite and >= 0. Cells left out expect none.
 */
export interface DemandForecast {
  expected(
    resolution: number,
    at: number,
  ): { readonly cells: BigUint64Array; readonly expected: Float64Array };
}

export interface SurgeConfig {
  /** Time between two updates. */
  readonly intervalMs: number;
  /** H3 resolution of the area cells; must be the model's. */
  readonly resolution: number;
  /** Weight of the forecast next to the open requests (0 ignores it). */
  readonly forecastWeight: number;
}

export const DEFAULT_SURGE_CONFIG: SurgeConfig = { intervalMs: 30_000, resolution: 7, forecastWeight: 1 };

export interface SurgeDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly locations: Pick<LiveLocations, "supplyByCell">;
  /** Pickups of the requests searching for a driver now (the dispatch loops' `openPickups`). */
  readonly openPickups: () => Iterable<LatLng>;
  readonly forecast?: DemandForecast;
  readonly model: SurgeModel;
  readonly area: AreaNotifier;
  readonly history: PriceHistory;
}

export interface SurgeRound {
  readonly at: number;
  /** Cells fed to the model (those with demand). */
  readonly cells: number;
  /** Cells whose shown multiplier changed, with the new value (1 when a surge ended). */
  readonly changed: readonly CellMultiplier[];
}

/** Largest backlog of price points kept while the history store is down. */
const MAX_PENDING_POINTS = 100_000;

const hex = (cell: bigint) => cell.toString(16);
/** Shown multipliers are on a 0.1-ish grid; strip binary noise (1.2000000000000002). */
const tidy = (m: number) => Math.round(m * 10_000) / 10_000;

export class SurgePricing implements SurgeSource {
  readonly config: SurgeConfig;
  readonly #d: SurgeDeps;
  /** Cell (hex) -> shown multiplier above 1, as last published. */
  #shown = new Map<string, number>();
  #pending: PricePoint[] = [];
  #timer: TimerHandle | null = null;
  #running = false;
  #rounds = 0;

  constructor(deps: SurgeDeps, config: Partial<SurgeConfig> = {}) {
    this.#d = deps;
    this.config = { ...DEFAULT_SURGE_CONFIG, ...config };
    const c = this.config;
    if (!Number.isSafeInteger(c.intervalMs) || c.intervalMs < 1)
      throw new DispatchError(
        ErrorCode.InvalidConfig,
        `surge intervalMs must be an integer >= 1 (got ${c.intervalMs})`,
      );
    if (!Number.isInteger(c.resolution) || c.resolution < 0 || c.resolution > 15)
      throw new DispatchError(
        ErrorCode.InvalidConfig,
        `surge resolution must be 0..15 (got ${c.resolution})`,
      );
    if (!(Number.isFinite(c.forecastWeight) && c.forecastWeight >= 0))
      throw new DispatchError(
        ErrorCode.InvalidConfig,
        `surge forecastWeight must be >= 0 (got ${c.forecastWeight})`,
      );
  }

  /** Runs an update every `intervalMs` (the first one interval after start). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule();
  }

  stop(): void {
    this.#running = false;
    if (this.#timer) this.#d.clock.clearTimer(this.#timer);
    this.#timer = null;
  }

  async multiplierAt(pickup: LatLng, _vehicleClass?: string): Promise<number> {
    return this.#d.model.multiplierAt(pickup.lat, pickup.lng);
  }

  /** The cells shown above x1.0 now, by cell. */
  heatMap(): CellMultiplier[] {
    return [...this.#shown]
      .map(([cell, multiplier]) => ({ cell, multiplier }))
      .sort((a, b) => (a.cell < b.cell ? -1 : a.cell > b.cell ? 1 : 0));
  }

  stats(): { rounds: number; surging: number; pendingHistory: number } {
    return { rounds: this.#rounds, surging: this.#shown.size, pendingHistory: this.#pending.length };
  }

  /** One round: count, update the model, publish and record what changed. */
  async update(): Promise<SurgeRound> {
    const { clock, locations, model, forecast, area } = this.#d;
    const res = this.config.resolution;
    const at = clock.now();
    const demand = new Map<bigint, number>();
    const add = (cell: bigint, n: number) => demand.set(cell, (demand.get(cell) ?? 0) + n);

    const pickups: LatLng[] = [...this.#d.openPickups()];
    if (pickups.length > 0) {
      const points = new Float64Array(pickups.length * 2);
      pickups.forEach((p, i) => {
        points[2 * i] = p.lat;
        points[2 * i + 1] = p.lng;
      });
      for (const cell of cellsOf(points, res)) add(cell, 1);
    }
    if (forecast && this.config.forecastWeight > 0) {
      const f = forecast.expected(res, at);
      f.cells.forEach((cell, i) => {
        const x = f.expected[i]!;
        if (Number.isFinite(x) && x > 0) add(cell, this.config.forecastWeight * x);
      });
    }
    const supplyOf = new Map<bigint, number>();
    const s = locations.supplyByCell(res);
    s.cells.forEach((cell, i) => {
      supplyOf.set(cell, s.counts[i]!);
    });

    const cells = BigUint64Array.from(demand.keys());
    const d = Float64Array.from(cells, (c) => demand.get(c)!);
    const sup = Float64Array.from(cells, (c) => supplyOf.get(c) ?? 0);
    model.update(cells, d, sup);
    this.#rounds++;

    const now = new Map<string, number>();
    const surging = model.surging();
    surging.cells.forEach((cell, i) => {
      now.set(hex(cell), tidy(surging.multipliers[i]!));
    });
    const changed: CellMultiplier[] = [];
    for (const [cell, m] of now) if (this.#shown.get(cell) !== m) changed.push({ cell, multiplier: m });
    for (const cell of this.#shown.keys()) if (!now.has(cell)) changed.push({ cell, multiplier: 1 });
    changed.sort((a, b) => (a.cell < b.cell ? -1 : a.cell > b.cell ? 1 : 0));
    this.#shown = now;

    if (changed.length > 0) {
      for (const c of changed)
        area.toArea(c.cell, { type: "surge", cell: c.cell, multiplier: c.multiplier, at });
      area.toDrivers({ type: "heat_map", cells: this.heatMap(), at });
      for (const c of changed) this.#pending.push({ cell: c.cell, multiplier: c.multiplier, at });
      if (this.#pending.length > MAX_PENDING_POINTS) {
        this.#d.log.warn("price history backlog full; oldest points dropped", {
          dropped: this.#pending.length - MAX_PENDING_POINTS,
        });
        this.#pending = this.#pending.slice(-MAX_PENDING_POINTS);
      }
    }
    await this.#flush();
    return { at, cells: cells.length, changed };
  }

  async #flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    try {
      await this.#d.history.append(batch);
    } catch (err) {
      // Kept in order ahead of anything added meanwhile.
      this.#pending = batch.concat(this.#pending);
      this.#d.log.warn("price history append failed; kept for the next round", {
        points: batch.length,
        err: String(err),
      });
    }
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#timer = this.#d.clock.setTimer(this.config.intervalMs, () => {
      this.#timer = null;
      return this.update()
        .catch((err) => this.#d.log.error("surge update failed", { err: String(err) }))
        .finally(() => this.#schedule());
    });
  }
}
