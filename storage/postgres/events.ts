/**
 * EventLog on PostgreSQL (or PGlite): the order_events table, idempotent by event id through
 * its primary key. This is also where the persister lands events consumed from Kafka.
 */
import type { OrderEvent, OrderId } from "../../engine/model.js";
import type { EventLog } from "../../engine/ports.js";
import type { Db } from "./db.js";
import { deepFreeze, jsonParam, msOf, tsParam } from "./sql.js";

interface EventRow {
  id: string;
  order_id: string;
  version: number;
  type: OrderEvent["type"];
  state: OrderEvent["state"];
  payload: OrderEvent["payload"];
  at: Date;
}

function toEvent(r: EventRow): OrderEvent {
  return deepFreeze({
    id: r.id,
    type: r.type,
    orderId: r.order_id as OrderId,
    version: r.version,
    state: r.state,
    at: msOf(r.at),
    payload: r.payload,
  } as OrderEvent);
}

export class PgEventLog implements EventLog {
  constructor(private readonly db: Db) {}

  async append(event: OrderEvent): Promise<void> {
    await this.db.query(
      `INSERT INTO order_events (id, order_id, version, type, state, payload, at)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::timestamptz)
        ON CONFLICT (id) DO NOTHING`,
      [
        event.id,
        event.orderId,
        event.version,
        event.type,
        event.state,
        jsonParam(event.payload),
        tsParam(event.at),
      ],
    );
  }

  async readOrder(orderId: OrderId): Promise<OrderEvent[]> {
    const { rows } = await this.db.query<EventRow>(
      `SELECT id, order_id, version, type, state, payload, at FROM order_events
        WHERE order_id = $1 ORDER BY version, at, id`,
      [orderId],
    );
    return rows.map(toEvent);
  }
}
