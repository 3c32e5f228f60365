/**
 * `dispatch serve --simulate[=N]`: a simulated city (sim/city.ts) run in the same process as the
 * engine, over real sockets on the loopback interface, printing one line of live figures every
 * few seconds. Demand is a Poisson process around hot spots, or a replayed CSV (`--replay`).
 */
import { readFile } from "node:fs/promises";
import type { Logger } from "../engine/logger.js";
import type { WebSocketFactory, WebSocketLike } from "../sdk/driver.js";
import { City, type CityOptions, type CityStats, formatStats, seededRandom } from "../sim/city.js";
import { type Bounds, boundsOf, distanceM, offset } from "../sim/geo.js";
import { parseReplayCsv } from "../sim/replay.js";
import type { Running } from "./compose.js";

export interface SimulateOptions {
  drivers: number;
  /** Generated demand, orders per second (ignored with a replay). */
  ordersPerS: number;
  /** CSV of requests to replay instead of generated demand. */
  replay: string | undefined;
  /** Time compression of the replay. */
  speedup: number;
  fixPeriodMs: number;
  seed: number | undefined;
  /** How often the live figures are printed. */
  statsEveryMs: number;
}

export const simulateDefaults: SimulateOptions = {
  drivers: 50,
  ordersPerS: 1 / 3,
  replay: undefined,
  speedup: 60,
  fixPeriodMs: 4_000,
  seed: undefined,
  statsEveryMs: 5_000,
};

/** The `serve` flags of the simulation; `simulate` is "" for a bare `--simulate`. */
export const simulateFlags = {
  simulate: { type: "string" },
  "order-rate": { type: "string" },
  replay: { type: "string" },
  speedup: { type: "string" },
  "fix-period-ms": { type: "string" },
  seed: { type: "string" },
} as const;

export const simulateHelp = `                 --simulate[=N]  also run a simulated city of N drivers (default 50) over real
                                 sockets in this process, printing live figures every 5 s
                 --order-rate <r>      simulated orders per second (default 0.33)
                 --replay <file.csv>   replay requests (request_time,pickup_lat,pickup_lng,
                                       dropoff_lat,dropoff_lng) instead of generated demand
                 --speedup <x>         time compression of the replay (default 60)
                 --fix-period-ms <ms>  time between two fixes of a simulated driver (default 4000)
                 --seed <n>            seed of the simulation's random numbers`;

/** A bare `--simulate` becomes `--simulate=` so that parseArgs takes it as a string option. */
export function normalizeSimulateArgs(args: readonly string[]): string[] {
  return args.map((a) => (a === "--simulate" ? "--simulate=" : a));
}

function num(raw: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new Error(`--${name} must be a number in ${min}..${max}`);
  return n;
}

/** The simulation options from the parsed flags; undefined when `--simulate` is absent. */
export function simulateOptions(
  values: Record<string, string | boolean | undefined>,
): SimulateOptions | undefined {
  const str = (k: string) => (typeof values[k] === "string" ? (values[k] as string) : undefined);
  if (str("simulate") === undefined) {
    const stray = ["order-rate", "replay", "speedup", "fix-period-ms", "seed"].find(
      (k) => values[k] !== undefined,
    );
    if (stray) throw new Error(`--${stray} needs --simulate`);
    return undefined;
  }
  const drivers = num(str("simulate"), "simulate", simulateDefaults.drivers, 0, 100_000);
  if (!Number.isInteger(drivers)) throw new Error("--simulate must be a whole number of drivers");
  const seed = str("seed");
  return {
    drivers,
    ordersPerS: num(str("order-rate"), "order-rate", simulateDefaults.ordersPerS, 0, 10_000),
    replay: str("replay"),
    speedup: num(str("speedup"), "speedup", simulateDefaults.speedup, 0.001, 1_000_000),
    fixPeriodMs: num(str("fix-period-ms"), "fix-period-ms", simulateDefaults.fixPeriodMs, 100, 600_000),
    seed: seed === undefined ? undefined : num(seed, "seed", 0, 0, 2 ** 32 - 1),
    statsEveryMs: simulateDefaults.statsEveryMs,
  };
}

/** Node 20 has no global WebSocket: the `ws` package, else the global one (Node 22). */
async function webSocketFactory(): Promise<WebSocketFactory> {
  try {
    const { default: WS } = await import("ws");
    return (url) => new WS(url) as unknown as WebSocketLike;
  } catch {
    const G = (globalThis as { WebSocket?: new (u: string) => WebSocketLike }).WebSocket;
    if (!G) throw new Error("the simulation needs the `ws` package (or Node 22's global WebSocket)");
    return (url) => new G(url);
  }
}

/** Mints sessions of simulated users straight from the running engine (no login round trip). */
function sessions(running: Running): CityOptions["session"] {
  return async (kind, n) => {
    const phone = `${kind === "driver" ? "+1312" : "+1773"}${String(n % 10_000_000).padStart(7, "0")}`;
    const u = await running.users.findOrCreateByPhone(phone, Date.now());
    const user =
      kind === "driver" && !u.roles.includes("driver") ? await running.users.grantRole(u.id, "driver") : u;
    if (!user) throw new Error(`simulated ${kind} ${n} vanished`);
    return (await running.tokens.startSession(user)).accessToken;
  };
}

/** Replay bounds: the box of the pickups plus a kilometre, when it is city-sized. */
function replayBounds(points: { lat: number; lng: number }[], log: Logger): Bounds | undefined {
  const b = boundsOf(points);
  if (b === null) return undefined;
  const sw = offset({ lat: b.south, lng: b.west }, -1_000, -1_000);
  const ne = offset({ lat: b.north, lng: b.east }, 1_000, 1_000);
  if (distanceM(sw, ne) > 150_000) {
    log.warn("replay pickups span more than a city; drivers cruise the default bounds", { bounds: b });
    return undefined;
  }
  return { south: sw.lat, west: sw.lng, north: ne.lat, east: ne.lng };
}

export interface Simulation {
  readonly city: City;
  stats(): CityStats;
  stop(): void;
}

/**
 * Starts the simulated city against `running` (its gateway on the loopback interface) and
 * prints a line of figures every `statsEveryMs` through `print`. Resolves once the drivers are
 * connected. `overrides` tune the city (tests: small bounds, fast cars).
 */
export async function startSimulation(
  running: Running,
  options: SimulateOptions,
  log: Logger,
  print: (line: string) => void,
  overrides: Partial<CityOptions> = {},
): Promise<Simulation> {
  const host =
    running.gateway.host === "0.0.0.0" || running.gateway.host === "::" ? "127.0.0.1" : running.gateway.host;
  const hostPart = host.includes(":") ? `[${host}]` : host;
  const base = `${hostPart}:${running.gateway.port}`;
  let demand: CityOptions["demand"] = { kind: "poisson", ordersPerS: options.ordersPerS };
  let bounds: Bounds | undefined;
  if (options.replay !== undefined) {
    const parsed = parseReplayCsv(await readFile(options.replay, "utf8"));
    print(
      `replaying ${parsed.rows.length} requests from ${options.replay} at ${options.speedup}x` +
        (parsed.skipped > 0 ? ` (${parsed.skipped} bad rows skipped)` : ""),
    );
    for (const p of parsed.problems) log.warn("replay row skipped", { problem: p });
    demand = { kind: "replay", rows: parsed.rows, speedup: options.speedup };
    bounds = replayBounds(
      parsed.rows.map((r) => r.pickup),
      log,
    );
  }
  const city = new City({
    httpUrl: `http://${base}`,
    wsUrl: `ws://${base}`,
    session: sessions(running),
    webSocket: await webSocketFactory(),
    log,
    drivers: options.drivers,
    demand,
    fixPeriodMs: options.fixPeriodMs,
    ...(bounds ? { bounds, hotSpots: [] } : {}),
    ...(options.seed !== undefined ? { random: seededRandom(options.seed) } : {}),
    ...overrides,
  });
  let prev: CityStats | null = null;
  const timer = setInterval(() => {
    try {
      const s = city.stats();
      print(formatStats(s, prev));
      prev = s;
    } catch (err) {
      log.warn("simulation figures failed", { error: (err as Error).message });
    }
  }, options.statsEveryMs);
  timer.unref();
  await city.start();
  print(`simulating ${options.drivers} drivers over real sockets on ${base}`);
  return {
    city,
    stats: () => city.stats(),
    stop() {
      clearInterval(timer);
      city.stop();
    },
  };
}
