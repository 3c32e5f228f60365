/**
 * Rider-app client: the HTTP API (quotes, orders, trips) and the live `/rider` channel
 * (order updates, ETA pushes, surge). Errors reject with SdkError carrying the server's code.
 */
import { io, type Socket } from "socket.io-client";
import { SdkError } from "./driver.js";

export interface LatLng {
  lat: number;
  lng: number;
}

export interface RiderClientOptions {
  /** Base URL of the gateway, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** Returns a valid access token (the app refreshes it when needed). */
  getToken: () => Promise<string>;
}

type Json = Record<string, unknown>;

export class RiderClient {
  private socket: Socket | undefined;

  constructor(private readonly o: RiderClientOptions) {}

  private async http(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Json> {
    const res = await fetch(this.o.url.replace(/\/$/, "") + path, {
      method,
      headers: {
        authorization: `Bearer ${await this.o.getToken()}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await res.json()) as Json;
    if (!res.ok) {
      throw new SdkError(
        String(json.code ?? res.status),
        String(json.message ?? res.statusText),
        res.status >= 500,
      );
    }
    return json;
  }

  quote(pickup: LatLng, dropoff: LatLng, vehicleClass = "economy") {
    return this.http("POST", "/v1/quotes", { pickup, dropoff, vehicleClass });
  }

  /** Orders from a quote. Retry with the same `idempotencyKey`: the same order comes back. */
  order(quoteToken: string, idempotencyKey: string = crypto.randomUUID()) {
    return this.http("POST", "/v1/orders", { quoteToken }, { "idempotency-key": idempotencyKey });
  }

  get(orderId: string) {
    return this.http("GET", `/v1/orders/${encodeURIComponent(orderId)}`);
  }

  /** Cancels. Retry with the same `idempotencyKey`: the first answer comes back, not an error. */
  cancel(orderId: string, idempotencyKey: string = crypto.randomUUID()) {
    return this.http(
      "POST",
      `/v1/orders/${encodeURIComponent(orderId)}/cancel`,
      {},
      { "idempotency-key": idempotencyKey },
    );
  }

  /** Rates the trip. Retry with the same `idempotencyKey`: the first answer comes back. */
  rate(orderId: string, stars: number, idempotencyKey: string = crypto.randomUUID()) {
    return this.http(
      "POST",
      `/v1/orders/${encodeURIComponent(orderId)}/rating`,
      { stars },
      { "idempotency-key": idempotencyKey },
    );
  }

  /** Applies to drive (or corrects a pending or rejected application). */
  applyToDrive(profile: { displayName: string; licenseNumber: string }) {
    return this.http("POST", "/v1/driver/profile", profile);
  }

  /** The caller's driver profile (status, reason, vehicle); NOT_FOUND before applying. */
  driverProfile() {
    return this.http("GET", "/v1/driver/profile");
  }

  /** Registers the car the caller drives (replaces the active one). */
  setVehicle(vehicle: {
    plate: string;
    make: string;
    model: string;
    color: string;
    year: number;
    vehicleClass?: string;
    seats?: number;
  }) {
    return this.http("PUT", "/v1/driver/vehicle", vehicle);
  }

  trips(options: { limit?: number; cursor?: string } = {}) {
    const q = new URLSearchParams();
    if (options.limit !== undefined) q.set("limit", String(options.limit));
    if (options.cursor !== undefined) q.set("cursor", options.cursor);
    return this.http("GET", `/v1/trips${q.size ? `?${q}` : ""}`);
  }

  /** Opens the live channel; Socket.IO reconnects by itself and re-sends the handshake token. */
  async connect(): Promise<void> {
    if (this.socket?.connected) return;
    const socket = io(`${this.o.url.replace(/\/$/, "")}/rider`, {
      transports: ["websocket"],
      auth: (cb) => {
        this.o.getToken().then(
          (token) => cb({ token }),
          () => cb({}),
        );
      },
    });
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("connect_error", (err) => {
        const data = (err as unknown as { data?: { code?: string; message?: string } }).data;
        reject(new SdkError(data?.code ?? "UNAVAILABLE", data?.message ?? err.message, data === undefined));
      });
    });
  }

  /** Subscribes to a push (`order.update`, `eta`, `surge`, ...). */
  on(event: string, fn: (payload: Json) => void): () => void {
    if (!this.socket) throw new SdkError("DISCONNECTED", "call connect() first");
    this.socket.on(event, fn);
    return () => this.socket?.off(event, fn);
  }

  /** Watches an order (yours): its updates arrive as `order.update` and `eta`. */
  watchOrder(orderId: string) {
    return this.emit("order.watch", { orderId });
  }

  watchArea(at: LatLng) {
    return this.emit("area.watch", at);
  }

  private async emit(event: string, payload: unknown): Promise<Json> {
    if (!this.socket) throw new SdkError("DISCONNECTED", "call connect() first");
    const reply = (await this.socket.timeout(10_000).emitWithAck(event, payload)) as Json & {
      error?: { code: string; message: string };
    };
    if (reply.ok !== true)
      throw new SdkError(reply.error?.code ?? "INTERNAL", reply.error?.message ?? "refused");
    return reply;
  }

  close(): void {
    this.socket?.disconnect();
  }
}
