/**
 * The gateway suite: driver-frame ingest through `dispatch serve` (decode, validate, rate
 * limit, live index) beside a bare uWebSockets.js echo server (the transport's limit) and a
 * plain Socket.IO server (what a typical Node team would write), in the same run, each loaded
 * by the same generator from a separate process.
 *
 * Figures are per server core: frames the server took divided by the CPU seconds the server
 * process spent (from /proc), so a generator that cannot saturate the server does not flatter
 * or punish anyone. Probe round trips (a ping after every burst) give the latency under load.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportPKCS8, exportSPKI, generateKeyPair, SignJWT } from "jose";
import { spawnNode, waitFor } from "../city/procs.js";
import { preparedDataDir } from "../city/seed.js";
import { type FloodResult, measureFlood } from "../load/measure.js";
import type { FigureInput, SuiteOptions, SuiteResult } from "../report.js";
import { findService } from "../services.js";

const root = join(import.meta.dirname, "..", "..");

interface Started {
  child: ChildProcess;
  port: number;
}

/** Only the services this bench names reach the server: not whatever the calling shell set. */
const SERVICE_VARIABLES = ["DATABASE_URL", "REDIS_URL", "KAFKA_BROKERS"];

/** Starts a server on core 0 (generators run on core 1) and waits for its port. */
async function start(args: string[], env: Record<string, string>, portPattern: RegExp): Promise<Started> {
  const inherited = SERVICE_VARIABLES.filter((k) => !(k in env));
  const child = spawnNode(0, args, env, inherited);
  const m = await waitFor(child, portPattern, args.join(" "), 30_000);
  return { child, port: Number(m[1]) };
}

export async function run({ quick, log }: SuiteOptions): Promise<SuiteResult> {
  const connections = quick ? 200 : 1000;
  const durationMs = quick ? 15_000 : 60_000;
  const burst = 20;

  // Our server signs and checks tokens with a key pair the bench made, so it can mint drivers;
  // the drivers exist (the socket checks the stored role), seeded once into a template database.
  const dir = mkdtempSync(join(tmpdir(), "bench-gateway-"));
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  writeFileSync(join(dir, "private.pem"), await exportPKCS8(privateKey));
  writeFileSync(join(dir, "public.pem"), await exportSPKI(publicKey));
  const template = join(root, ".data", "bench-city");
  const ids = await preparedDataDir(template, join(dir, "embedded"), connections, log);
  await preparedDataDir(template, join(dir, "kafka"), connections, log);
  const tokens: string[] = [];
  for (const id of ids) {
    tokens.push(
      await new SignJWT({ roles: ["driver"] })
        .setProtectedHeader({ alg: "ES256", kid: "bench" })
        .setSubject(id)
        .setIssuer("dispatch")
        .setAudience("dispatch-api")
        .setIssuedAt()
        .setExpirationTime("2h")
        .sign(privateKey),
    );
  }
  const notes: string[] = [];
  const kafka = findService("kafka", log, notes);

  const servers: Started[] = [];
  const stopAll = () => {
    for (const s of servers) s.child.kill("SIGKILL");
  };
  // A bench stopped by a signal (Ctrl-C, a timeout) must not leave its servers behind.
  const onSignal = () => {
    stopAll();
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    log("starting dispatch serve (embedded; with Kafka), the uWS echo peer and the Socket.IO peer");
    const serveEnv = {
      LOG_LEVEL: "error",
      JWT_KEY_ID: "bench",
      JWT_PRIVATE_KEY_FILE: join(dir, "private.pem"),
      JWT_PUBLIC_KEY_FILE: join(dir, "public.pem"),
      // The bench floods on purpose; the production limit (10/s) would measure the limiter.
      DRIVER_RATE_PER_S: "1000000",
      DRIVER_BURST: "1000000",
    };
    const listening = /listening on http:\/\/[\d.]+:(\d+)/;
    // Embedded defaults: every applied fix is also written into the in-process PGlite.
    const embedded = await start(
      ["cli/main.ts", "serve", "--port", "0"],
      { ...serveEnv, DATA_DIR: join(dir, "embedded") },
      listening,
    );
    servers.push(embedded);
    // As a fleet runs: fixes go to Kafka (packed, batched); the persister runs elsewhere.
    const withKafka =
      kafka === null
        ? null
        : await start(
            ["cli/main.ts", "serve", "--port", "0"],
            {
              ...serveEnv,
              DATA_DIR: join(dir, "kafka"),
              KAFKA_BROKERS: kafka.url,
              KAFKA_TOPIC_PREFIX: `bench-gateway-${process.pid}-`,
              PERSISTER_IN_PROCESS: "false",
            },
            listening,
          );
    if (withKafka !== null) servers.push(withKafka);
    const echo = await start(["bench/peers/uws-echo.ts"], {}, /PORT (\d+)/);
    servers.push(echo);
    const sio = await start(["bench/peers/socketio.ts"], {}, /PORT (\d+)/);
    servers.push(sio);

    const common = { connections, burst, durationMs };
    log(`loading dispatch serve (embedded): ${connections} driver sockets, ${durationMs / 1000} s`);
    const oe = await measureFlood(embedded.child.pid!, {
      ...common,
      target: "ours",
      url: `ws://127.0.0.1:${embedded.port}`,
      tokens,
    });
    let ok: FloodResult | null = null;
    if (withKafka !== null) {
      log(`loading dispatch serve (Kafka): ${connections} driver sockets, ${durationMs / 1000} s`);
      ok = await measureFlood(withKafka.child.pid!, {
        ...common,
        target: "ours",
        url: `ws://127.0.0.1:${withKafka.port}`,
        tokens,
      });
    }
    // The headline is the fleet configuration when Kafka was there.
    const o = ok ?? oe;
    log(`loading the bare uWS echo server`);
    const e = await measureFlood(echo.child.pid!, {
      ...common,
      target: "echo",
      url: `ws://127.0.0.1:${echo.port}`,
    });
    log(`loading the plain Socket.IO server`);
    const s = await measureFlood(sio.child.pid!, {
      ...common,
      target: "socketio",
      url: `http://127.0.0.1:${sio.port}`,
    });

    const figures: Record<string, FigureInput> = {
      "driver frames/s per server core vs bare uWS echo": {
        ours: o.perCore,
        baseline: e.perCore,
        baselineName: "bare uWebSockets.js echo",
        unit: "frames/s/core",
        better: "higher",
      },
      "driver frames/s per server core vs Socket.IO": {
        ours: o.perCore,
        baseline: s.perCore,
        baselineName: "plain Socket.IO server",
        unit: "frames/s/core",
        better: "higher",
      },
      "probe round trip p99 under load vs Socket.IO": {
        ours: o.p99,
        baseline: s.p99,
        baselineName: "plain Socket.IO server",
        unit: "ms",
        better: "lower",
      },
      "probe round trip p99 under load vs bare uWS echo": {
        ours: o.p99,
        baseline: e.p99,
        baselineName: "bare uWebSockets.js echo",
        unit: "ms",
        better: "lower",
      },
    };
    const line = (name: string, m: FloodResult) =>
      `${name}: ${Math.round(m.wall)} frames/s wall, ${Math.round(m.perCore)} per server core, ` +
      `server CPU ${Math.round(m.serverCpuMs)} ms, generator CPU ${Math.round(m.generatorCpuMs)} ms, ` +
      `probe p50 ${m.p50.toFixed(2)} ms p99 ${m.p99.toFixed(2)} ms, errors ${m.errors}`;
    figures["driver frames/s per server core, embedded vs bare uWS echo"] = {
      ours: oe.perCore,
      baseline: e.perCore,
      baselineName: "bare uWebSockets.js echo",
      unit: "frames/s/core",
      better: "higher",
    };
    return {
      figures,
      notes: [
        ...notes,
        `The figures without "embedded" are dispatch serve ${ok === null ? "with embedded defaults (Kafka was not available)" : "with KAFKA_BROKERS and PERSISTER_IN_PROCESS=false: each applied fix is published to Kafka (packed per partition, batched), the persister runs in another process"}; "embedded" is dispatch serve with no services, which also writes every applied fix into its in-process PGlite (about 30 us of CPU a fix).`,
        `${connections} sockets per server, bursts of ${burst} one-fix binary frames then a ping (awaited), ${durationMs / 1000} s each; server pinned to core 0, generator to core 1 where taskset exists.`,
        "The echo server sends every frame back (twice the socket work of ingest, but no parsing); ours decodes, validates, rate-limits and applies each fix to the native live index.",
        ...(ok === null ? [] : [line("ours (Kafka)", ok)]),
        line("ours (embedded)", oe),
        line("uWS echo", e),
        line("Socket.IO", s),
      ],
    };
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    stopAll();
    kafka?.release();
    rmSync(dir, { recursive: true, force: true });
  }
}
