/**
 * OrderStore on PostgreSQL (or PGlite): one row per order. Uniqueness of (rider_id,
 * idempotency_key) and of quote_id is the database's (unique constraints), so it holds across
 * processes; compare-and-set is one `UPDATE ... WHERE id AND version` statement.
 */
import { DispatchError, ErrorCode } from "../../engine/errors.js";
import type {
  Bill,
  CancelReason,
  DriverId,
  FeePolicy,
  IdempotencyKey,
  Offer,
  Order,
  OrderId,
  OrderState,
  QuoteId,
  RiderId,
  Tariff,
} from "../../engine/model.js";
import type { CasResult, CreateOrderResult, OrderPage, OrderStore } from "../../engine/ports.js";
import type { Db } from "./db.js";
import { deepFreeze, jsonParam, msOf, tsParam } from "./sql.js";

interface OrderRow {
  id: string;
  version: number;
  state: OrderState;
  rider_id: string;
  idempotency_key: string;
  quote_id: string;
  region: string;
  vehicle_class: string;
  pickup_lat: number;
  pickup_lng: number;
  dropoff_lat: number;
  dropoff_lng: number;
  estimate: Order["estimate"];
  tariff: Tariff;
  fees: FeePolicy;
  offer: Offer | null;
  driver_id: string | null;
  accepted_offer_id: string | null;
  passed_driver_ids: string[];
  created_at: Date;
  updated_at: Date;
  accepted_at: Date | null;
  arrived_at: Date | null;
  started_at: Date | null;
  completed_at: Date | null;
  cancelled_at: Date | null;
  cancel_reason: CancelReason | null;
  trip: Order["trip"];
  bill: Bill | null;
  rating_by_rider: number | null;
  rating_by_driver: number | null;
}

/** Column, its parameter cast, and how it comes from an Order. Immutable columns go first. */
const COLUMNS: ReadonlyArray<readonly [keyof OrderRow, string, (o: Order) => unknown]> = [
  ["id", "text", (o) => o.id],
  ["rider_id", "text", (o) => o.riderId],
  ["idempotency_key", "text", (o) => o.idempotencyKey],
  ["quote_id", "text", (o) => o.quoteId],
  ["region", "text", (o) => o.region],
  ["created_at", "timestamptz", (o) => tsParam(o.createdAt)],
  ["version", "int4", (o) => o.version],
  ["state", "text", (o) => o.state],
  ["vehicle_class", "text", (o) => o.vehicleClass],
  ["pickup_lat", "float8", (o) => o.pickup.lat],
  ["pickup_lng", "float8", (o) => o.pickup.lng],
  ["dropoff_lat", "float8", (o) => o.dropoff.lat],
  ["dropoff_lng", "float8", (o) => o.dropoff.lng],
  ["estimate", "jsonb", (o) => jsonParam(o.estimate)],
  ["tariff", "jsonb", (o) => jsonParam(o.tariff)],
  ["fees", "jsonb", (o) => jsonParam(o.fees)],
  ["offer", "jsonb", (o) => jsonParam(o.offer)],
  ["driver_id", "text", (o) => o.driverId],
  ["accepted_offer_id", "text", (o) => o.acceptedOfferId],
  ["passed_driver_ids", "text[]", (o) => [...o.passedDriverIds]],
  ["updated_at", "timestamptz", (o) => tsParam(o.updatedAt)],
  ["accepted_at", "timestamptz", (o) => tsParam(o.acceptedAt)],
  ["arrived_at", "timestamptz", (o) => tsParam(o.arrivedAt)],
  ["started_at", "timestamptz", (o) => tsParam(o.startedAt)],
  ["completed_at", "timestamptz", (o) => tsParam(o.completedAt)],
  ["cancelled_at", "timestamptz", (o) => tsParam(o.cancelledAt)],
  ["cancel_reason", "text", (o) => o.cancelReason],
  ["trip", "jsonb", (o) => jsonParam(o.trip)],
  ["bill", "jsonb", (o) => jsonParam(o.bill)],
  ["rating_by_rider", "int2", (o) => o.ratingByRider],
  ["rating_by_driver", "int2", (o) => o.ratingByDriver],
];
/** id, rider_id, idempotency_key, quote_id, region, created_at: fixed at creation. */
const IMMUTABLE_COUNT = 6;

const SELECT = `SELECT ${COLUMNS.map(([c]) => c).join(", ")} FROM orders`;

const INSERT = `INSERT INTO orders (${COLUMNS.map(([c]) => c).join(", ")})
  VALUES (${COLUMNS.map(([, cast], i) => `$${i + 1}::${cast}`).join(", ")})
  ON CONFLICT DO NOTHING`;

// $1..$6 are the immutable columns (matched, never set: a change to one updates nothing), then
// the mutable ones, then the expected version.
const CAS = `UPDATE orders SET ${COLUMNS.slice(IMMUTABLE_COUNT)
  .map(([c, cast], i) => `${c} = $${i + IMMUTABLE_COUNT + 1}::${cast}`)
  .join(", ")}
  WHERE ${COLUMNS.slice(0, IMMUTABLE_COUNT)
    .map(([c, cast], i) => `${c} = $${i + 1}::${cast}`)
    .join(" AND ")} AND version = $${COLUMNS.length + 1}::int4`;

function params(o: Order): unknown[] {
  return COLUMNS.map(([, , get]) => get(o));
}

function toOrder(r: OrderRow): Order {
  return deepFreeze({
    id: r.id as OrderId,
    version: r.version,
    state: r.state,
    riderId: r.rider_id as RiderId,
    idempotencyKey: r.idempotency_key as IdempotencyKey,
    quoteId: r.quote_id as QuoteId,
    region: r.region,
    vehicleClass: r.vehicle_class,
    pickup: { lat: r.pickup_lat, lng: r.pickup_lng },
    dropoff: { lat: r.dropoff_lat, lng: r.dropoff_lng },
    estimate: r.estimate,
    tariff: r.tariff,
    fees: r.fees,
    offer: r.offer,
    driverId: r.driver_id as DriverId | null,
    acceptedOfferId: r.accepted_offer_id,
    passedDriverIds: r.passed_driver_ids as DriverId[],
    createdAt: msOf(r.created_at),
    updatedAt: msOf(r.updated_at),
    acceptedAt: msOf(r.accepted_at),
    arrivedAt: msOf(r.arrived_at),
    startedAt: msOf(r.started_at),
    completedAt: msOf(r.completed_at),
    cancelledAt: msOf(r.cancelled_at),
    cancelReason: r.cancel_reason,
    trip: r.trip,
    bill: r.bill,
    ratingByRider: r.rating_by_rider,
    ratingByDriver: r.rating_by_driver,
  });
}

export class PgOrderStore implements OrderStore {
  constructor(private readonly db: Db) {}

  async create(order: Order): Promise<CreateOrderResult> {
    if (order.version !== 1)
      throw new DispatchError(ErrorCode.Internal, `a new order must have version 1, not ${order.version}`);
    // ON CONFLICT DO NOTHING covers all three unique keys; when a concurrent insert holds one of
    // them it waits for that transaction, so the reads below see the winner.
    const inserted = await this.db.query(INSERT, params(order));
    if (inserted.rowCount === 1) return { status: "created", order: deepFreeze(structuredClone(order)) };
    const sameKey = await this.getByIdempotencyKey(order.riderId, order.idempotencyKey);
    if (sameKey !== null) return { status: "replayed", order: sameKey };
    const sameQuote = await this.#one(`${SELECT} WHERE quote_id = $1`, [order.quoteId]);
    if (sameQuote !== null) return { status: "quote_used", order: sameQuote };
    throw new DispatchError(ErrorCode.Internal, `order id ${order.id} already exists`);
  }

  get(id: OrderId): Promise<Order | null> {
    return this.#one(`${SELECT} WHERE id = $1`, [id]);
  }

  getByIdempotencyKey(riderId: RiderId, key: IdempotencyKey): Promise<Order | null> {
    return this.#one(`${SELECT} WHERE rider_id = $1 AND idempotency_key = $2`, [riderId, key]);
  }

  async compareAndSet(id: OrderId, expectedVersion: number, next: Order): Promise<CasResult<Order>> {
    if (next.version !== expectedVersion + 1) {
      throw new DispatchError(
        ErrorCode.Internal,
        `order ${id}: next version ${next.version} after ${expectedVersion}`,
      );
    }
    // A different id would make the UPDATE below match nothing: read the current row to tell
    // "not found" and "lost the race" from the caller's bug, as for any immutable field.
    const updated =
      next.id === id ? await this.db.query(CAS, [...params(next), expectedVersion]) : { rowCount: 0 };
    if (updated.rowCount === 1) return { ok: true, value: deepFreeze(structuredClone(next)) };
    const current = await this.get(id);
    if (current === null || current.version !== expectedVersion) return { ok: false, current };
    // The version matched, so an immutable column did not: a caller bug.
    throw new DispatchError(ErrorCode.Internal, `order ${id}: an immutable field changed`);
  }

  listByRider(riderId: RiderId, page: OrderPage): Promise<Order[]> {
    return this.#page("rider_id", riderId, page);
  }

  listByDriver(driverId: DriverId, page: OrderPage): Promise<Order[]> {
    return this.#page("driver_id", driverId, page);
  }

  async listOpen(region: string, limit: number): Promise<Order[]> {
    const { rows } = await this.db.query<OrderRow>(
      `${SELECT} WHERE region = $1 AND state NOT IN ('completed', 'cancelled')
        ORDER BY created_at, id LIMIT $2`,
      [region, Math.max(0, limit)],
    );
    return rows.map(toOrder);
  }

  async #page(column: "rider_id" | "driver_id", value: string, page: OrderPage): Promise<Order[]> {
    const limit = Math.max(0, page.limit);
    const { rows } =
      page.before === undefined
        ? await this.db.query<OrderRow>(
            `${SELECT} WHERE ${column} = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,
            [value, limit],
          )
        : await this.db.query<OrderRow>(
            `${SELECT} WHERE ${column} = $1 AND (created_at, id) < ($2::timestamptz, $3::text)
              ORDER BY created_at DESC, id DESC LIMIT $4`,
            [value, tsParam(page.before.createdAt), page.before.id, limit],
          );
    return rows.map(toOrder);
  }

  async #one(sql: string, values: unknown[]): Promise<Order | null> {
    const { rows } = await this.db.query<OrderRow>(sql, values);
    return rows[0] === undefined ? null : toOrder(rows[0]);
  }
}
