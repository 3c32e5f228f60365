/**
 * Embedded OrderStore: the default when no DATABASE_URL is configured. Single process, so each
 * method body runs to completion without yielding and is atomic by construction. Orders are
 * stored as frozen copies and handed out as they are (see freeze.ts). Not durable across restarts.
 */
import { DispatchError, ErrorCode } from "../../engine/errors.js";
import {
  type DriverId,
  type IdempotencyKey,
  type Order,
  type OrderId,
  type RiderId,
  TERMINAL_STATES,
} from "../../engine/model.js";
import type { CasResult, CreateOrderResult, OrderPage, OrderStore } from "../../engine/ports.js";
import { frozenCopy } from "./freeze.js";

const IMMUTABLE = ["id", "riderId", "idempotencyKey", "quoteId", "region", "createdAt"] as const;

function newestFirst(a: Order, b: Order): number {
  return b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

function olderThan(o: Order, before: NonNullable<OrderPage["before"]>): boolean {
  return o.createdAt < before.createdAt || (o.createdAt === before.createdAt && o.id < before.id);
}

function addTo<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  let set = index.get(key);
  if (set === undefined) {
    set = new Set();
    index.set(key, set);
  }
  set.add(value);
}

export class MemoryOrderStore implements OrderStore {
  readonly #byId = new Map<OrderId, Order>();
  /** `${riderId}\n${key}`: ids never contain a newline. */
  readonly #byKey = new Map<string, OrderId>();
  readonly #byQuote = new Map<string, OrderId>();
  readonly #byRider = new Map<RiderId, Set<OrderId>>();
  readonly #byDriver = new Map<DriverId, Set<OrderId>>();
  readonly #openByRegion = new Map<string, Set<OrderId>>();

  async create(order: Order): Promise<CreateOrderResult> {
    const keyOf = `${order.riderId}\n${order.idempotencyKey}`;
    const sameKey = this.#byKey.get(keyOf);
    if (sameKey !== undefined) return { status: "replayed", order: this.#byId.get(sameKey)! };
    const sameQuote = this.#byQuote.get(order.quoteId);
    if (sameQuote !== undefined) return { status: "quote_used", order: this.#byId.get(sameQuote)! };
    if (order.version !== 1)
      throw new DispatchError(ErrorCode.Internal, `a new order must have version 1, not ${order.version}`);
    if (this.#byId.has(order.id))
      throw new DispatchError(ErrorCode.Internal, `order id ${order.id} already exists`);
    const stored = frozenCopy(order);
    this.#byId.set(stored.id, stored);
    this.#byKey.set(keyOf, stored.id);
    this.#byQuote.set(stored.quoteId, stored.id);
    addTo(this.#byRider, stored.riderId, stored.id);
    this.#index(undefined, stored);
    return { status: "created", order: stored };
  }

  async get(id: OrderId): Promise<Order | null> {
    const o = this.#byId.get(id);
    return o ?? null;
  }

  async getByIdempotencyKey(riderId: RiderId, key: IdempotencyKey): Promise<Order | null> {
    const id = this.#byKey.get(`${riderId}\n${key}`);
    return id === undefined ? null : this.#byId.get(id)!;
  }

  async compareAndSet(id: OrderId, expectedVersion: number, next: Order): Promise<CasResult<Order>> {
    const current = this.#byId.get(id);
    if (current === undefined) return { ok: false, current: null };
    if (current.version !== expectedVersion) return { ok: false, current };
    if (next.version !== expectedVersion + 1) {
      throw new DispatchError(
        ErrorCode.Internal,
        `order ${id}: next version ${next.version} after ${expectedVersion}`,
      );
    }
    for (const field of IMMUTABLE) {
      if (next[field] !== current[field])
        throw new DispatchError(ErrorCode.Internal, `order ${id}: ${field} is immutable`);
    }
    const stored = frozenCopy(next);
    this.#byId.set(id, stored);
    this.#index(current, stored);
    return { ok: true, value: stored };
  }

  async listByRider(riderId: RiderId, page: OrderPage): Promise<Order[]> {
    return this.#page(this.#byRider.get(riderId), page);
  }

  async listByDriver(driverId: DriverId, page: OrderPage): Promise<Order[]> {
    return this.#page(this.#byDriver.get(driverId), page);
  }

  async listOpen(region: string, limit: number): Promise<Order[]> {
    const ids = this.#openByRegion.get(region) ?? new Set<OrderId>();
    return [...ids]
      .map((id) => this.#byId.get(id)!)
      .sort((a, b) => newestFirst(b, a))
      .slice(0, Math.max(0, limit));
  }

  /** Every order (not part of the port: for the admin view and tests). */
  all(): Order[] {
    return [...this.#byId.values()];
  }

  /** Keeps the driver and open-region indexes in step with a write. */
  #index(before: Order | undefined, after: Order): void {
    if (before?.driverId != null && before.driverId !== after.driverId)
      this.#byDriver.get(before.driverId)?.delete(after.id);
    if (after.driverId !== null) addTo(this.#byDriver, after.driverId, after.id);
    if (TERMINAL_STATES.has(after.state)) this.#openByRegion.get(after.region)?.delete(after.id);
    else addTo(this.#openByRegion, after.region, after.id);
  }

  #page(ids: Set<OrderId> | undefined, page: OrderPage): Order[] {
    if (ids === undefined) return [];
    const { before } = page;
    return [...ids]
      .map((id) => this.#byId.get(id)!)
      .filter((o) => before === undefined || olderThan(o, before))
      .sort(newestFirst)
      .slice(0, Math.max(0, page.limit));
  }
}
