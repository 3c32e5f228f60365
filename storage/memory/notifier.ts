/**
 * Embedded Notifier: in-process fan-out to subscribers (the single-process gateway subscribes per
 * connected user). Delivery is synchronous, in call order; a throwing listener is logged and
 * skipped, never propagated to the engine.
 */
import { type Logger, silentLogger } from "../../engine/logger.js";
import type { DriverId, RiderId } from "../../engine/model.js";
import type { AdminMessage, DriverMessage, Notifier, RiderMessage } from "../../engine/ports.js";

type Listener<M> = (message: M) => void;

export type Sent =
  | { readonly to: "rider"; readonly id: RiderId; readonly message: RiderMessage }
  | { readonly to: "driver"; readonly id: DriverId; readonly message: DriverMessage }
  | { readonly to: "admins"; readonly message: AdminMessage };

export class MemoryNotifier implements Notifier {
  readonly #riders = new Map<string, Set<Listener<RiderMessage>>>();
  readonly #drivers = new Map<string, Set<Listener<DriverMessage>>>();
  readonly #admins = new Set<Listener<AdminMessage>>();
  readonly #log: Logger;
  /** When `record` is on, every message in call order (for tests and debugging). */
  readonly sent: Sent[] = [];
  readonly #record: boolean;

  constructor(options: { readonly log?: Logger; readonly record?: boolean } = {}) {
    this.#log = options.log ?? silentLogger;
    this.#record = options.record ?? false;
  }

  toRider(riderId: RiderId, message: RiderMessage): void {
    if (this.#record) this.sent.push({ to: "rider", id: riderId, message });
    this.#deliver(this.#riders.get(riderId), message);
  }

  toDriver(driverId: DriverId, message: DriverMessage): void {
    if (this.#record) this.sent.push({ to: "driver", id: driverId, message });
    this.#deliver(this.#drivers.get(driverId), message);
  }

  toAdmins(message: AdminMessage): void {
    if (this.#record) this.sent.push({ to: "admins", message });
    this.#deliver(this.#admins, message);
  }

  /** Returns the unsubscribe function. */
  onRider(riderId: string, listener: Listener<RiderMessage>): () => void {
    return subscribe(this.#riders, riderId, listener);
  }

  onDriver(driverId: string, listener: Listener<DriverMessage>): () => void {
    return subscribe(this.#drivers, driverId, listener);
  }

  onAdmins(listener: Listener<AdminMessage>): () => void {
    this.#admins.add(listener);
    return () => this.#admins.delete(listener);
  }

  #deliver<M>(listeners: Set<Listener<M>> | undefined, message: M): void {
    if (listeners === undefined) return;
    for (const listener of [...listeners]) {
      try {
        listener(message);
      } catch (err) {
        this.#log.warn("notification listener threw", { err: String(err) });
      }
    }
  }
}

function subscribe<M>(map: Map<string, Set<Listener<M>>>, key: string, listener: Listener<M>): () => void {
  const listeners = map.get(key) ?? new Set<Listener<M>>();
  map.set(key, listeners);
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0 && map.get(key) === listeners) map.delete(key);
  };
}
