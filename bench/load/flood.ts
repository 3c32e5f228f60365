/**
 * Load generator for the `gateway` suite, run in its own process so it does not share the
 * server's event loop. Opens `connections` sockets to one target and makes each send bursts of
 * `burst` fix frames followed by one probe whose answer it awaits (so in-flight work stays
 * bounded), until `durationMs` is over. Prints one JSON line: frames sent, probe round trips,
 * its own CPU time (round trips summarised as p50/p99).
 *
 * Targets: `ours` (driver socket, binary fix frames, probe = ping with id), `echo` (bare uWS,
 * the same binary frames echoed, probe = one more frame), `socketio` (a `fix` event each,
 * probe = a `fix` with an ack).
 *
 * argv: JSON {target, url, tokens?: string[], connections, burst, durationMs}, or `@<file>` holding
 * that JSON (a thousand tokens exceed Linux's 128 KiB limit on one argument).
 */
import { readFileSync } from "node:fs";
import { io } from "socket.io-client";
import WebSocket from "ws";
import { encodeBinary } from "../../gateway/driver/codec.js";
import type { FloodArgs } from "./measure.js";

const raw = process.argv[2]!;
const args = JSON.parse(raw.startsWith("@") ? readFileSync(raw.slice(1), "utf8") : raw) as FloodArgs;
const rtts: number[] = [];
let sent = 0;
let errors = 0;
const base = Date.now();

interface Conn {
  sendBurst(): void;
  probe(): Promise<void>;
  close(): void;
}

function frame(i: number, t: number): ArrayBuffer {
  return encodeBinary([{ lat: 41.88 + (i % 100) * 1e-4, lng: -87.63, t, speed: 10 }]);
}

async function openWs(i: number): Promise<Conn> {
  const url =
    args.target === "ours"
      ? `${args.url}/v1/driver/ws?access_token=${args.tokens![i % args.tokens!.length]}`
      : args.url;
  const ws = new WebSocket(url);
  let t = base;
  let waiting: (() => void) | undefined;
  // The welcome can arrive in the same read as the upgrade: listen before `open` resolves.
  let welcomed: () => void = () => {};
  const welcome = new Promise<void>((resolve) => {
    welcomed = resolve;
  });
  ws.on("message", (data, isBinary) => {
    if (args.target === "echo") {
      // Every frame comes back; the probe is the last of its burst.
      if (isBinary && (data as Buffer).byteLength === 36 && (data as Buffer).readUInt8(3) === 0xff)
        waiting?.();
      return;
    }
    const m = JSON.parse(String(data)) as { type: string };
    if (m.type === "welcome") welcomed();
    else if (m.type === "pong") waiting?.();
    else if (m.type === "error") errors++;
  });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  if (args.target === "ours") await welcome;
  return {
    sendBurst() {
      for (let k = 0; k < args.burst; k++) {
        ws.send(frame(i, ++t));
        sent++;
      }
    },
    probe() {
      const started = performance.now();
      return new Promise<void>((resolve) => {
        waiting = () => {
          waiting = undefined;
          rtts.push(performance.now() - started);
          resolve();
        };
        if (args.target === "echo") {
          const f = new Uint8Array(frame(i, ++t));
          f[3] = 0xff; // marks the probe; the echo server does not look inside
          ws.send(f);
          sent++;
        } else ws.send(JSON.stringify({ type: "ping", id: "p" }));
      });
    },
    close: () => ws.close(),
  };
}

async function openSocketIo(i: number): Promise<Conn> {
  const s = io(args.url, { transports: ["websocket"], reconnection: false });
  await new Promise<void>((resolve, reject) => {
    s.once("connect", () => resolve());
    s.once("connect_error", reject);
  });
  let t = base;
  return {
    sendBurst() {
      for (let k = 0; k < args.burst; k++) {
        s.emit("fix", { lat: 41.88 + (i % 100) * 1e-4, lng: -87.63, t: ++t, speed: 10 });
        sent++;
      }
    },
    async probe() {
      const started = performance.now();
      await s.emitWithAck("fix", { lat: 41.88, lng: -87.63, t: ++t, speed: 10 });
      sent++;
      rtts.push(performance.now() - started);
    },
    close: () => s.disconnect(),
  };
}

const conns: Conn[] = [];
for (let i = 0; i < args.connections; i++) {
  conns.push(await (args.target === "socketio" ? openSocketIo(i) : openWs(i)));
}
const cpu0 = process.cpuUsage();
const started = performance.now();
const until = started + args.durationMs;
await Promise.all(
  conns.map(async (c) => {
    while (performance.now() < until) {
      c.sendBurst();
      await c.probe();
    }
  }),
);
const elapsedMs = performance.now() - started;
const cpu = process.cpuUsage(cpu0);
for (const c of conns) c.close();
rtts.sort((a, b) => a - b);
const q = (p: number) => rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))] ?? Number.NaN;
const summary = {
  sent,
  errors,
  elapsedMs,
  probes: rtts.length,
  p50: q(0.5),
  p99: q(0.99),
  cpuMs: (cpu.user + cpu.system) / 1000,
};
// Exit only once the line is out: a pipe is written asynchronously.
process.stdout.write(`${JSON.stringify(summary)}\n`, () => process.exit(0));
