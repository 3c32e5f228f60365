/** Embedded EventLog: events kept per order in version order, de-duplicated by id. */
import type { OrderEvent, OrderId } from "../../engine/model.js";
import type { EventLog } from "../../engine/ports.js";
import { frozenCopy } from "./freeze.js";

export class MemoryEventLog implements EventLog {
  readonly #ids = new Set<string>();
  readonly #byOrder = new Map<OrderId, OrderEvent[]>();
  readonly #all: OrderEvent[] = [];

  async append(event: OrderEvent): Promise<void> {
    if (this.#ids.has(event.id)) return;
    this.#ids.add(event.id);
    const copy = frozenCopy(event);
    this.#all.push(copy);
    let list = this.#byOrder.get(event.orderId);
    if (list === undefined) {
      list = [];
      this.#byOrder.set(event.orderId, list);
    }
    // Appends of one order may arrive out of version order when calls race; keep it sorted.
    let i = list.length;
    while (i > 0 && list[i - 1]!.version > copy.version) i--;
    list.splice(i, 0, copy);
  }

  async readOrder(orderId: OrderId): Promise<OrderEvent[]> {
    return [...(this.#byOrder.get(orderId) ?? [])];
  }

  /** Every event in arrival order (not part of the port: for the embedded persister and tests). */
  all(): OrderEvent[] {
    return [...this.#all];
  }
}
