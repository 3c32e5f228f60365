/**
 * The engine's Notifier, delivered through this gateway's sockets: riders and admins through
 * Socket.IO rooms (across gateways when the Redis adapter is on), drivers through the driver
 * socket. The engine is built before the gateway starts, so the sockets are bound later.
 */
import type {
  AdminMessage,
  AreaMessage,
  AreaNotifier,
  DriverMessage,
  HeatMapMessage,
  Notifier,
  RiderMessage,
} from "../engine/ports.js";
import type { DriverSockets } from "./driver/socket.js";
import type { Realtime } from "./realtime.js";

/** Socket.IO event names of rider messages: state changes are `order.update`, the rest by type. */
function riderEvent(message: RiderMessage): string {
  return message.type === "order" ? "order.update" : message.type;
}

export class GatewayNotifier implements Notifier, AreaNotifier {
  private realtime: Realtime | undefined;
  private drivers: DriverSockets | undefined;
  /** Driver pushes that found no socket on this process (the driver is offline or elsewhere). */
  undeliveredToDrivers = 0;

  bind(sockets: { realtime: Realtime | undefined; drivers: DriverSockets | undefined }): void {
    this.realtime = sockets.realtime;
    this.drivers = sockets.drivers;
  }

  toRider(riderId: string, message: RiderMessage): void {
    this.realtime?.toRider(riderId, riderEvent(message), message);
  }

  toDriver(driverId: string, message: DriverMessage): void {
    // A driver who is offline catches up from the `welcome` state when they reconnect.
    if (!this.drivers?.push(driverId, message)) this.undeliveredToDrivers++;
  }

  toAdmins(message: AdminMessage): void {
    this.realtime?.toAdmins("city", message.type, message);
  }

  /** Riders watching the area (`area.watch`) see its surge. */
  toArea(cell: string, message: AreaMessage): void {
    this.realtime?.toArea(cell, "surge", message);
  }

  /** Every driver connected here gets the heat map; a backed-up socket keeps only the newest. */
  toDrivers(message: HeatMapMessage): void {
    this.drivers?.broadcast(message, "heat_map");
  }
}
