/**
 * The `dispatch` command: the composition root, the only place that knows every part.
 */
import { parseArgs } from "node:util";
import { DispatchError } from "../engine/errors.js";
import { jsonLogger, type Logger } from "../engine/logger.js";
import { type Config, envMap, loadConfig } from "./config.js";
import {
  normalizeSimulateArgs,
  type SimulateOptions,
  simulateFlags,
  simulateHelp,
  simulateOptions,
  startSimulation,
} from "./simulate.js";

const help = `dispatch: real-time dispatch engine for ride-hailing

Usage: dispatch <command> [options]

Commands:
  serve        Start the gateway (HTTP API, driver socket, rider/admin channels).
                 --host <addr>   listen address (default 127.0.0.1, env HOST)
                 --port <n>      listen port (default 8080, env PORT; 0 = any free port)
${simulateHelp}
  persister    Write the Kafka pipeline topics (fixes, order events, price updates) into the
               database (DATABASE_URL, else the embedded DATA_DIR) as a consumer group; needs
               KAFKA_BROKERS. Serves GET /healthz and GET /metrics (lag per partition) on
               HOST:PERSISTER_PORT. Run serve with PERSISTER_IN_PROCESS=false beside it.
               The embedded database is one process's: give it its own DATA_DIR.
  migrate      Apply pending database migrations (DATABASE_URL, else the embedded DATA_DIR).
  grant-role <phone> <role>
               Grant rider, driver or admin to the user with this E.164 phone (created if new).
               With the embedded database, run it while serve is stopped.
  help         Show this help.

Environment (all optional; absent services mean the embedded implementation):
${Object.entries(envMap)
  .map(([name, { doc }]) => `  ${name.padEnd(28)} ${doc}`)
  .join("\n")}
`;

/**
 * Orderly shutdown on SIGINT or SIGTERM: runs `close` once, then exits 0; exits 1 if it outlasts
 * the grace period. Returns whether a shutdown has begun, for start-up work still under way.
 */
function exitOnSignal(config: Config, logger: Logger, close: () => Promise<void>): () => boolean {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("shutting down", { signal, graceMs: config.shutdownGraceMs });
    const force = setTimeout(() => {
      logger.error("shutdown grace period exceeded; exiting");
      process.exit(1);
    }, config.shutdownGraceMs);
    force.unref();
    await close();
    clearTimeout(force);
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
  return () => stopping;
}

async function serve(config: Config, simulate: SimulateOptions | undefined): Promise<void> {
  const logger = jsonLogger(config.logLevel);
  // Imported here so `dispatch help` works even where the uWS binary cannot load.
  const { compose } = await import("./compose.js");
  const running = await compose(config, logger);
  const { gateway } = running;
  process.stdout.write(`dispatch listening on http://${gateway.host}:${gateway.port} (health: /healthz)\n`);

  let simulation: { stop(): void } | undefined;
  const stopping = exitOnSignal(config, logger, async () => {
    simulation?.stop();
    await running.close();
  });

  if (simulate !== undefined) {
    // The simulation logs its own failures and never throws them into the engine.
    let sim: Awaited<ReturnType<typeof startSimulation>>;
    try {
      sim = await startSimulation(running, simulate, logger, (line) => process.stdout.write(`${line}\n`));
    } catch (err) {
      // A bad replay file, say: stop the engine too rather than serve half of what was asked.
      await running.close();
      throw err;
    }
    if (stopping()) sim.stop();
    else simulation = sim;
  }
}

async function persister(config: Config): Promise<void> {
  const logger = jsonLogger(config.logLevel);
  const { startPersisterProcess } = await import("./pipeline.js");
  const running = await startPersisterProcess(config, logger);
  process.stdout.write(
    `dispatch persister running (health: http://${config.host}:${running.port}/healthz)\n`,
  );
  exitOnSignal(config, logger, () => running.stop());
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(help);
    return command === undefined ? 1 : 0;
  }
  switch (command) {
    case "serve": {
      const { values } = parseArgs({
        args: normalizeSimulateArgs(rest),
        options: {
          host: { type: "string" },
          port: { type: "string" },
          help: { type: "boolean", short: "h" },
          ...simulateFlags,
        },
        strict: true,
      });
      if (values.help) {
        process.stdout.write(help);
        return 0;
      }
      let simulate: SimulateOptions | undefined;
      try {
        simulate = simulateOptions(values);
      } catch (err) {
        process.stderr.write(`dispatch: ${(err as Error).message}\n`);
        return 2;
      }
      await serve(loadConfig({ HOST: values.host, PORT: values.port }), simulate);
      return -1; // keeps running
    }
    case "persister": {
      if (rest.length > 0 && (rest[0] === "--help" || rest[0] === "-h")) {
        process.stdout.write(help);
        return 0;
      }
      await persister(loadConfig());
      return -1; // keeps running
    }
    case "migrate": {
      const config = loadConfig();
      const { migrateCommand } = await import("./admin.js");
      const ran = await migrateCommand(config, jsonLogger(config.logLevel));
      process.stdout.write(
        ran.length === 0 ? "dispatch: schema up to date\n" : `dispatch: applied ${ran.join(", ")}\n`,
      );
      return 0;
    }
    case "grant-role": {
      if (rest.length !== 2) {
        process.stderr.write("dispatch: usage: dispatch grant-role <phone> <role>\n");
        return 2;
      }
      const config = loadConfig();
      const { grantRoleCommand } = await import("./admin.js");
      const user = await grantRoleCommand(config, jsonLogger(config.logLevel), rest[0], rest[1]);
      process.stdout.write(`dispatch: user ${user.id} has roles ${user.roles.join(", ")}\n`);
      return 0;
    }
    default:
      process.stderr.write(`dispatch: unknown command "${command}"\n\n${help}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof DispatchError) {
      process.stderr.write(`dispatch: ${err.code}: ${err.message}\n`);
    } else {
      process.stderr.write(`dispatch: ${(err as Error)?.stack ?? String(err)}\n`);
    }
    process.exitCode = 1;
  },
);
