/**
 * Driver-app client for the driver socket (docs/protocol.md). Connects with an access token,
 * reconnects with backoff, buffers fixes while offline and sends them as one batch on reconnect,
 * and hands the app the `welcome` state after every (re)connect, so an offer or an active order
 * is never lost across a reconnect.
 */
import { encodeBinary, MAX_BATCH } from "../gateway/driver/codec.js";

export interface Fix {
  lat: number;
  lng: number;
  /** ms since the Unix epoch. */
  t: number;
  heading?: number;
  speed?: number;
}

/** The subset of the WebSocket API we use: the browser's, Node 22's, or the `ws` package's. */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  send(data: string | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketFactory = (url: string) => WebSocketLike;

export class SdkError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly temporary = false,
  ) {
    super(message);
    this.name = "SdkError";
  }
}

export interface DriverClientOptions {
  /** Base URL of the gateway, e.g. `ws://127.0.0.1:8080`. */
  url: string;
  /** Returns a valid access token (the app refreshes it when needed). */
  getToken: () => Promise<string>;
  /** Opens a WebSocket; default: `new WebSocket(url)` of the global scope. */
  webSocket?: WebSocketFactory;
  /** Reconnect backoff bounds. */
  minReconnectMs?: number;
  maxReconnectMs?: number;
  /** Fixes kept while offline; the oldest are dropped beyond this. */
  maxBufferedFixes?: number;
  /** Acks not received within this time reject with a temporary TIMEOUT. */
  requestTimeoutMs?: number;
}

type Listener = (payload: Record<string, unknown>) => void;

export class DriverClient {
  private ws: WebSocketLike | undefined;
  private readonly buffered: Fix[] = [];
  private readonly pending = new Map<
    string,
    {
      resolve: (v: Record<string, unknown>) => void;
      reject: (e: Error) => void;
      timer: ReturnType<typeof setTimeout>;
    }
  >();
  private readonly listeners = new Map<string, Set<Listener>>();
  private nextId = 1;
  private attempts = 0;
  private stopped = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private open = false;

  constructor(private readonly o: DriverClientOptions) {}

  /** Connects and resolves with the first `welcome` state. Reconnects by itself afterwards. */
  connect(): Promise<Record<string, unknown>> {
    this.stopped = false;
    return new Promise((resolve, reject) => {
      let first = true;
      const off = this.on("welcome", (w) => {
        if (first) {
          first = false;
          off();
          resolve(w);
        }
      });
      this.dial().catch((err: unknown) => {
        off();
        reject(err);
      });
    });
  }

  get connected(): boolean {
    return this.open;
  }

  /** Subscribes to a server message type (`welcome`, `offer`, `order.update`, `surge`, `error`, `close`). */
  on(type: string, fn: Listener): () => void {
    let set = this.listeners.get(type);
    if (!set) {
      set = new Set();
      this.listeners.set(type, set);
    }
    set.add(fn);
    return () => set.delete(fn);
  }

  /** Sends a fix now (binary frame) or buffers it until the socket is back. */
  sendFix(fix: Fix): void {
    if (this.open && this.ws) {
      this.ws.send(encodeBinary([fix]));
      return;
    }
    this.buffered.push(fix);
    const max = this.o.maxBufferedFixes ?? 5_000;
    if (this.buffered.length > max) this.buffered.splice(0, this.buffered.length - max);
  }

  setStatus(status: "online" | "offline" | "break") {
    return this.request({ type: "status", status });
  }
  acceptOffer(orderId: string) {
    return this.request({ type: "offer.accept", orderId });
  }
  declineOffer(orderId: string, reason?: string) {
    return this.request({ type: "offer.decline", orderId, ...(reason ? { reason } : {}) });
  }
  arrived(orderId: string) {
    return this.request({ type: "trip.arrived", orderId });
  }
  started(orderId: string) {
    return this.request({ type: "trip.started", orderId });
  }
  completed(orderId: string) {
    return this.request({ type: "trip.completed", orderId });
  }
  ping() {
    return this.request({ type: "ping" });
  }

  /** Sends a message with an id and resolves with its ack, or rejects with the coded error. */
  request(message: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (!this.open || !this.ws) {
      return Promise.reject(new SdkError("DISCONNECTED", "the driver socket is not connected", true));
    }
    const id = String(this.nextId++);
    const ws = this.ws;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SdkError("TIMEOUT", `no answer to ${String(message.type)}`, true));
      }, this.o.requestTimeoutMs ?? 10_000);
      this.pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ ...message, id }));
    });
  }

  /** Closes for good (no reconnect). */
  close(): void {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.ws?.close(1000, "bye");
  }

  private emit(type: string, payload: Record<string, unknown>) {
    for (const fn of this.listeners.get(type) ?? []) fn(payload);
  }

  private async dial(): Promise<void> {
    const token = await this.o.getToken();
    const url = `${this.o.url.replace(/\/$/, "")}/v1/driver/ws?access_token=${encodeURIComponent(token)}`;
    const factory =
      this.o.webSocket ??
      ((u: string) =>
        new (globalThis as unknown as { WebSocket: new (u: string) => WebSocketLike }).WebSocket(u));
    const ws = factory(url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") return;
      let m: Record<string, unknown>;
      try {
        m = JSON.parse(ev.data) as Record<string, unknown>;
      } catch {
        return;
      }
      const id = typeof m.id === "string" ? m.id : undefined;
      const waiting = id ? this.pending.get(id) : undefined;
      if (waiting && id) {
        this.pending.delete(id);
        clearTimeout(waiting.timer);
        if (m.type === "error") waiting.reject(new SdkError(String(m.code), String(m.message)));
        else waiting.resolve(m);
        return;
      }
      if (m.type === "welcome") {
        this.open = true;
        this.attempts = 0;
        this.flush();
      }
      this.emit(String(m.type), m);
    };
    ws.onclose = (ev) => {
      const wasCurrent = this.ws === ws;
      this.open = false;
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new SdkError("DISCONNECTED", "the socket closed before the answer came", true));
        this.pending.delete(id);
      }
      this.emit("close", { code: ev.code, reason: ev.reason });
      // 4009: another connection of this driver took over; reconnecting would fight it.
      if (wasCurrent && !this.stopped && ev.code !== 4009) this.scheduleReconnect();
    };
    ws.onerror = () => {};
  }

  private flush() {
    while (this.buffered.length > 0 && this.ws) {
      this.ws.send(encodeBinary(this.buffered.splice(0, MAX_BATCH)));
    }
  }

  private scheduleReconnect() {
    const min = this.o.minReconnectMs ?? 250;
    const max = this.o.maxReconnectMs ?? 15_000;
    const delay = Math.min(max, min * 2 ** this.attempts++) * (0.5 + Math.random() / 2);
    this.reconnectTimer = setTimeout(() => {
      this.dial().catch(() => this.scheduleReconnect());
    }, delay);
  }
}
