/**
 * The city suite (issue #7): the whole engine under a simulated city over real sockets, with
 * its peers in the same run.
 *
 * 1. `dispatch serve` (embedded defaults, development mode, our key pair) pinned to core 0;
 *    load generators (bench/city/generator.ts) pinned to core 1. Idle sockets first (the server's
 *    memory per socket), then the city: drivers ramp up, hold at a fix every 4 s, hold at a
 *    faster period (the long profile: 20,000 fixes/s), ramp down; riders order by a Poisson
 *    process with hot spots and a time-of-day profile and watch their orders. Then a saturation
 *    flood (bench/load/flood.ts) for frames per server core.
 * 2. The bare uWebSockets.js echo server (transport limit): idle sockets and the same flood.
 * 3. The Socket.IO + Redis GEO peer (bench/peers/socketio-redis.ts): idle sockets, the same city
 *    flow (its first phases), the same flood.
 * 4. Dispatch quality, global assignment vs greedy, from the quality suite's results file (a
 *    discrete-event simulation of the same engine), and the live served share and pickup time
 *    of ours beside the peer's greedy nearest-driver in this run.
 *
 * Writes, besides bench/results/city.json (by bench/run.ts), city.md (summary) and city.svg
 * (throughput and p99 latency over the run).
 */
import { type ChildProcess, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { exportPKCS8, exportSPKI, generateKeyPair, SignJWT } from "jose";
import { type PlanOptions, parsePortRange, planAddresses, split } from "../city/addresses.js";
import { Collector, type PhaseSummary, type Tick } from "../city/collect.js";
import { totalS } from "../city/demand.js";
import type { GenConfig } from "../city/generator.js";
import { formatSummary } from "../city/hdr.js";
import {
  cpuMs,
  hasTaskset,
  ROOT,
  rssBytes,
  sleep,
  spawnNode,
  stderrTail,
  stop,
  waitFor,
} from "../city/procs.js";
import { type CityRun, LONG, type Profile, QUICK } from "../city/profiles.js";
import { preparedDataDir } from "../city/seed.js";
import { cityMarkdown, citySvg } from "../city/summary.js";
import { type FloodResult, measureFlood } from "../load/measure.js";
import {
  buildReport,
  type FigureInput,
  RESULTS_DIR,
  type SuiteOptions,
  type SuiteResult,
} from "../report.js";
import { findService } from "../services.js";

type Target = GenConfig["target"];

interface Server {
  name: string;
  child: ChildProcess;
  pid: number;
  port: number;
}

export interface IdleResult {
  sockets: number;
  rssBefore: number;
  rssMid: number;
  rssAfter: number;
  /** RSS growth per socket over both batches, and over each. */
  bytesPerSocket: number;
  firstBytesPerSocket: number;
  secondBytesPerSocket: number;
  errors: Record<string, number>;
}

export interface CityResult {
  target: Target;
  run: CityRun;
  collector: Collector;
  phases: PhaseSummary[];
  total: PhaseSummary;
  errors: Record<string, number>;
  sources: string[];
  /** Server RSS just before the city's generators started (after the idle sockets left). */
  rssBefore: number;
}

const UNSET_SERVICES = [
  "REDIS_URL",
  "DATABASE_URL",
  "KAFKA_BROKERS",
  "FIREBASE_PROJECT_ID",
  "FIREBASE_AUTH_EMULATOR_HOST",
];

async function startServer(
  name: string,
  args: string[],
  env: Record<string, string>,
  pattern: RegExp,
  unset: string[] = [],
): Promise<Server> {
  const child = spawnNode(0, args, env, unset);
  const m = await waitFor(child, pattern, name);
  return { name, child, pid: child.pid!, port: Number(m[1]) };
}

/** Runs generators to the end; each stdout line is a JSON tick. */
function spawnGenerators(
  configs: GenConfig[],
  onLine: (t: Tick & { kind: string }) => void,
): { children: ChildProcess[]; done: Promise<void> } {
  const children = configs.map((c) => spawnNode(1, ["bench/city/generator.ts", JSON.stringify(c)]));
  const done = Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve, reject) => {
          createInterface({ input: child.stdout! }).on("line", (line) => {
            if (!line.startsWith("{")) return;
            try {
              onLine(JSON.parse(line) as Tick);
            } catch {
              // A partial line at exit: nothing to count.
            }
          });
          child.once("exit", (code, signal) => {
            if (code === 0 || signal === "SIGTERM") resolve();
            else reject(new Error(`generator exited with ${code ?? signal}: ${stderrTail(child)}`));
          });
        }),
    ),
  ).then(() => undefined);
  return { children, done };
}

function baseConfig(
  target: Target,
  server: Server,
  keys: Keys | undefined,
): Pick<GenConfig, "target" | "httpUrl" | "wsUrl" | "privateKeyFile" | "keyId" | "driverIdsFile"> {
  return {
    target,
    httpUrl: `http://127.0.0.1:${server.port}`,
    wsUrl: `ws://127.0.0.1:${server.port}`,
    ...(keys ? { privateKeyFile: keys.privateFile, keyId: keys.kid, driverIdsFile: keys.idsFile } : {}),
  };
}

const GEN_DEFAULTS = {
  acceptProbability: 0.85,
  acceptDelayMs: [1_500, 6_000] as [number, number],
  boardingMs: [2_000, 6_000] as [number, number],
  speedMps: [8, 15] as [number, number],
  patienceMs: 60_000,
};

/**
 * Memory per idle socket: two batches of idle sockets, RSS read before, between and after. The
 * figure is the growth over both per socket; each batch's is reported beside it, which shows how
 * much garbage-collection timing moves it.
 */
async function idleRss(
  server: Server,
  target: Target,
  profile: Profile,
  keys: Keys | undefined,
  plan: PlanOptions & { range: ReturnType<typeof parsePortRange> },
  log: SuiteOptions["log"],
): Promise<IdleResult> {
  const sources = planAddresses(profile.idleSockets, plan.range, plan).addresses as string[];
  const errors: Record<string, number> = {};
  const children: ChildProcess[] = [];
  const batch = async (id: number, n: number, offset: number): Promise<number> => {
    const config: GenConfig = {
      ...baseConfig(target, server, keys),
      ...GEN_DEFAULTS,
      id,
      mode: "idle",
      startAt: Date.now(),
      schedule: { phases: [{ name: "idle", durationS: 1, fleet: "hold", fixPeriodMs: 4_000 }] },
      drivers: n,
      driverOffset: offset,
      sources,
      demand: { ordersPerDriverS: 0, drivers: 0, startHour: 0, hoursPerS: 0 },
      demandShare: 0,
      maxRiders: 0,
      probeEvery: 1,
      seed: 7 + id,
      connectConcurrency: 200,
    };
    let open = 0;
    let idle: () => void = () => {};
    const ready = new Promise<void>((r) => {
      idle = r;
    });
    const gens = spawnGenerators([config], (t) => {
      if (t.kind !== "idle") return;
      open = t.open;
      for (const [k, v] of Object.entries(t.errors)) errors[k] = (errors[k] ?? 0) + v;
      idle();
    });
    children.push(...gens.children);
    gens.done.catch(() => {});
    const giveUp = unrefSleep(180_000);
    await Promise.race([ready, gens.done, giveUp.promise]);
    giveUp.cancel();
    await sleep(1_500);
    return open;
  };
  await sleep(1_000);
  const rssBefore = rssBytes(server.pid);
  const half = Math.floor(profile.idleSockets / 2);
  const first = await batch(0, half, 0);
  const rssMid = rssBytes(server.pid);
  const second = await batch(1, profile.idleSockets - half, half);
  const rssAfter = rssBytes(server.pid);
  log(
    `${server.name}: ${first} + ${second} idle sockets, RSS ${mb(rssBefore)} -> ${mb(rssMid)} -> ${mb(rssAfter)} MB`,
  );
  await Promise.all(children.map((c) => stop(c)));
  await sleep(1_000);
  return {
    sockets: first + second,
    rssBefore,
    rssMid,
    rssAfter,
    bytesPerSocket: (rssAfter - rssBefore) / Math.max(1, first + second),
    firstBytesPerSocket: (rssMid - rssBefore) / Math.max(1, first),
    secondBytesPerSocket: (rssAfter - rssMid) / Math.max(1, second),
    errors,
  };
}

async function cityRun(
  server: Server,
  target: Target,
  run: CityRun,
  profile: Profile,
  keys: Keys | undefined,
  plan: PlanOptions & { range: ReturnType<typeof parsePortRange> },
  log: SuiteOptions["log"],
): Promise<CityResult> {
  const startAt = Date.now() + 4_000;
  const collector = new Collector(startAt, run.schedule);
  const sources = planAddresses(run.drivers, plan.range, plan).addresses as string[];
  const shares = split(run.drivers, run.generators);
  let offset = 0;
  const configs = shares.map((n, id): GenConfig => {
    const c: GenConfig = {
      ...baseConfig(target, server, keys),
      ...GEN_DEFAULTS,
      id,
      mode: "city",
      startAt,
      schedule: run.schedule,
      drivers: n,
      driverOffset: offset,
      sources,
      demand: { ...run.demand, drivers: run.drivers },
      demandShare: n / run.drivers,
      maxRiders: Math.floor(run.maxRiders / run.generators),
      probeEvery: profile.probeEvery,
      seed: 1_000 + id,
      connectConcurrency: 100,
    };
    offset += n;
    return c;
  });
  log(
    `${server.name}: city of ${run.drivers} drivers over ${run.generators} generators from ${sources.join(", ")}; ` +
      run.schedule.phases.map((p) => `${p.name} ${p.durationS} s`).join(", "),
  );
  const rssBefore = rssBytes(server.pid);
  const gens = spawnGenerators(configs, (t) => collector.add(t));
  let lastCpu = cpuMs(server.pid);
  const sampler = setInterval(() => {
    const c = cpuMs(server.pid);
    collector.server(Date.now(), c - lastCpu, rssBytes(server.pid));
    lastCpu = c;
  }, 1_000);
  const progress = setInterval(() => {
    const s = Math.floor((Date.now() - startAt) / 1000);
    const p = collector.span("last", Math.max(0, s - 5), s);
    if (p.seconds === 0) return;
    const errs = Object.values(collector.errors()).reduce((a, b) => a + b, 0);
    log(
      `${server.name} ${s}s: ${Math.round(p.sockets)} driver sockets, ${Math.round(p.riders)} riders, ${Math.round(p.fixesPerS)} fixes/s` +
        ` | ingest p99 ${fmtMs(p.latency.ingest.p99)}, eta p99 ${fmtMs(p.latency.eta.p99)}, offer p99 ${fmtMs(p.latency.offer.p99)}` +
        ` | orders ${p.counters.requested} offered ${p.counters.offered} arrived ${p.counters.arrived} completed ${p.counters.completed}` +
        ` | server ${Math.round(p.serverCpuPct)}% CPU ${mb(p.serverRss)} MB, generators ${Math.round(p.genCpuPct)}% CPU | errors ${errs}`,
    );
  }, 5_000);
  const giveUp = unrefSleep((totalS(run.schedule) + 60) * 1000 + 4_000);
  const deadline = giveUp.promise.then(() => {
    throw new Error("city generators did not finish in time");
  });
  try {
    await Promise.race([gens.done, deadline]);
  } finally {
    giveUp.cancel();
    clearInterval(sampler);
    clearInterval(progress);
    await Promise.all(gens.children.map((c) => stop(c)));
  }
  await sleep(1_000);
  return {
    target,
    run,
    collector,
    phases: collector.phases(),
    total: collector.total(),
    errors: collector.errors(),
    sources,
    rssBefore,
  };
}

interface Keys {
  kid: string;
  /** The seeded drivers' user ids (JSON), for the generators. */
  idsFile: string;
  ids: string[];
  privateFile: string;
  publicFile: string;
  mint(sub: string): Promise<string>;
}

async function makeKeys(dir: string, ids: string[]): Promise<Keys> {
  const idsFile = join(dir, "driver-ids.json");
  writeFileSync(idsFile, JSON.stringify(ids));
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const privateFile = join(dir, "private.pem");
  const publicFile = join(dir, "public.pem");
  writeFileSync(privateFile, await exportPKCS8(privateKey));
  writeFileSync(publicFile, await exportSPKI(publicKey));
  return {
    kid: "bench",
    idsFile,
    ids,
    privateFile,
    publicFile,
    mint: (sub) =>
      new SignJWT({ roles: ["driver"] })
        .setProtectedHeader({ alg: "ES256", kid: "bench" })
        .setSubject(sub)
        .setIssuer("dispatch")
        .setAudience("dispatch-api")
        .setIssuedAt()
        .setExpirationTime("2h")
        .sign(privateKey),
  };
}

async function flood(
  server: Server,
  target: "ours" | "echo" | "socketio",
  profile: Profile,
  keys: Keys | undefined,
): Promise<FloodResult> {
  const tokens: string[] = [];
  if (target === "ours" && keys)
    for (let i = 0; i < profile.flood.connections; i++) tokens.push(await keys.mint(keys.ids[i]!));
  return measureFlood(server.pid, {
    target,
    url: target === "socketio" ? `http://127.0.0.1:${server.port}` : `ws://127.0.0.1:${server.port}`,
    connections: profile.flood.connections,
    burst: 20,
    durationMs: profile.flood.durationMs,
    ...(tokens.length > 0 ? { tokens } : {}),
  });
}

/** The 1, 5 and 15 minute load averages, e.g. "1.20 0.90 0.70". */
function loadAverage(): string {
  try {
    return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  } catch {
    return "unknown";
  }
}

function openFilesLimit(pid: number): string {
  try {
    const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(
      readFileSync(`/proc/${pid}/limits`, "utf8"),
    );
    return m ? `${m[1]} soft / ${m[2]} hard` : "unknown";
  } catch {
    return "unknown";
  }
}

interface QualityFigure {
  ours: number;
  baseline: number;
}
function qualityFigures(): { date: string; figures: Record<string, QualityFigure> } | undefined {
  const file = join(RESULTS_DIR, "quality.json");
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as { date: string; figures: Record<string, QualityFigure> };
  } catch {
    return undefined;
  }
}

/** A timer that does not keep the process alive, and can be cancelled. */
function unrefSleep(ms: number): { promise: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

const mb = (b: number) => (Number.isFinite(b) ? (b / 1_048_576).toFixed(0) : "-");
const fmtMs = (v: number) => (Number.isFinite(v) ? `${v.toFixed(v >= 100 ? 0 : 1)} ms` : "-");

export async function run({ quick, log: print }: SuiteOptions): Promise<SuiteResult> {
  const began = performance.now();
  const loadBefore = loadAverage();
  // This process (collecting and merging) stays off the server's core too; its own affinity comes
  // back at the end (the report's machine line counts the cores this process may use).
  const affinity = hasTaskset()
    ? /list:\s*(\S+)/.exec(execFileSync("taskset", ["-pc", String(process.pid)], { encoding: "utf8" }))?.[1]
    : undefined;
  const pin = (cores: string) =>
    execFileSync("taskset", ["-pc", cores, String(process.pid)], { stdio: "ignore" });
  if (affinity) pin("1");
  const log = (line: string) => print(`+${((performance.now() - began) / 1000).toFixed(0)}s ${line}`);
  const profile = quick ? QUICK : LONG;
  // The peer's Redis: REDIS_URL, or the project's (started now, and stopped at the end if so).
  const missing: string[] = [];
  const redis = findService("redis", log, missing);
  if (redis === null) throw new Error(`the Socket.IO + Redis peer needs Redis: ${missing.join(" ")}`);
  const redisUrl = redis.url;
  // Ours runs as a fleet node would: fixes and events to Kafka, the persister elsewhere (not
  // measured here); without Kafka it writes every fix into its in-process PGlite (~30 us a fix).
  const kafka = findService("kafka", log, []);
  // The embedded database on tmpfs where there is one: the bench measures the gateway and engine,
  // not how long this machine's disk takes to sync under other people's load.
  const tmpfs = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
  const dir = mkdtempSync(join(tmpfs, "bench-city-"));
  const dataDir = join(dir, "pglite");
  const seeded = Math.max(profile.ours.drivers, profile.idleSockets, profile.flood.connections);
  const ids = await preparedDataDir(join(ROOT, ".data", "bench-city"), dataDir, seeded, log);
  const keys = await makeKeys(dir, ids);
  let rangeText: string | undefined;
  try {
    rangeText = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8");
  } catch {
    rangeText = undefined;
  }
  const range = parsePortRange(rangeText);
  // Each step binds its own loopback addresses, so ports in TIME_WAIT from one step never block the next.
  const addr = (first: number) => ({ range, minAddresses: 2, first });
  const servers: Server[] = [];
  try {
    // ----- ours ---------------------------------------------------------------------------------
    log("starting dispatch serve (embedded defaults, development mode, the bench's key pair) on core 0");
    const ours = await startServer(
      "ours",
      ["cli/main.ts", "serve", "--port", "0"],
      {
        DISPATCH_MODE: "development",
        LOG_LEVEL: "error",
        DATA_DIR: dataDir,
        JWT_KEY_ID: keys.kid,
        JWT_PRIVATE_KEY_FILE: keys.privateFile,
        JWT_PUBLIC_KEY_FILE: keys.publicFile,
        // The flood step sends on purpose faster than an app; the city's drivers stay under 2/s.
        DRIVER_RATE_PER_S: "1000000",
        DRIVER_BURST: "1000000",
        ...(kafka === null
          ? {}
          : {
              KAFKA_BROKERS: kafka.url,
              KAFKA_TOPIC_PREFIX: `bench-city-${process.pid}-`,
              PERSISTER_IN_PROCESS: "false",
            }),
      },
      /listening on http:\/\/[\d.]+:(\d+)/,
      kafka === null ? UNSET_SERVICES : UNSET_SERVICES.filter((k) => k !== "KAFKA_BROKERS"),
    );
    const oursConfig =
      kafka === null
        ? "embedded defaults (no Kafka here: every fix is also written into the in-process PGlite)"
        : "KAFKA_BROKERS set, PERSISTER_IN_PROCESS=false (fixes and events published to Kafka, packed and batched; the persister, not measured here, runs elsewhere), users and orders in the embedded PGlite";
    servers.push(ours);
    const fdLimit = openFilesLimit(ours.pid);
    const oursIdle = await idleRss(ours, "ours", profile, keys, addr(40), log);
    const oursCity = await cityRun(ours, "ours", profile.ours, profile, keys, addr(2), log);
    log("ours: saturation flood");
    const oursFlood = await flood(ours, "ours", profile, keys);
    log(`ours: ${Math.round(oursFlood.perCore)} frames/s per server core`);
    // No graceful drain needed: what was measured is in.
    await stop(ours.child, 500);

    // ----- bare uWS echo --------------------------------------------------------------------------
    const echo = await startServer("uWS echo", ["bench/peers/uws-echo.ts"], {}, /PORT (\d+)/);
    servers.push(echo);
    const echoIdle = await idleRss(echo, "echo", profile, undefined, addr(50), log);
    log("uWS echo: saturation flood");
    const echoFlood = await flood(echo, "echo", profile, undefined);
    log(`uWS echo: ${Math.round(echoFlood.perCore)} frames/s per server core`);
    await stop(echo.child);

    // ----- Socket.IO + Redis ------------------------------------------------------------------------
    const sio = await startServer(
      "Socket.IO+Redis",
      ["bench/peers/socketio-redis.ts"],
      { REDIS_URL: redisUrl },
      /PORT (\d+)/,
    );
    servers.push(sio);
    const sioIdle = await idleRss(sio, "sio-redis", profile, undefined, addr(60), log);
    const sioCity = await cityRun(sio, "sio-redis", profile.peer, profile, undefined, addr(10), log);
    log("Socket.IO+Redis: saturation flood");
    const sioFlood = await flood(sio, "socketio", profile, undefined);
    log(`Socket.IO+Redis: ${Math.round(sioFlood.perCore)} frames/s per server core`);
    await stop(sio.child);

    if (affinity) pin(affinity);
    const quality = qualityFigures();
    const result = assemble({
      profile,
      oursConfig,
      fdLimit,
      oursIdle,
      echoIdle,
      sioIdle,
      oursCity,
      sioCity,
      oursFlood,
      echoFlood,
      sioFlood,
      quality,
      load: { before: loadBefore, after: loadAverage() },
    });
    const report = buildReport("city", result);
    writeFileSync(
      join(RESULTS_DIR, "city.md"),
      cityMarkdown(report, {
        profile,
        oursCity,
        sioCity,
        oursIdle,
        echoIdle,
        sioIdle,
        oursFlood,
        echoFlood,
        sioFlood,
        fdLimit,
      }),
    );
    writeFileSync(join(RESULTS_DIR, "city.svg"), citySvg(profile, oursCity, sioCity));
    log("wrote bench/results/city.md and city.svg");
    return result;
  } finally {
    await Promise.all(servers.map((s) => stop(s.child)));
    kafka?.release();
    redis.release();
    rmSync(dir, { recursive: true, force: true });
    if (affinity) pin(affinity);
  }
}

interface Measured {
  profile: Profile;
  fdLimit: string;
  /** How ours was configured (services, persistence). */
  oursConfig: string;
  oursIdle: IdleResult;
  echoIdle: IdleResult;
  sioIdle: IdleResult;
  oursCity: CityResult;
  sioCity: CityResult;
  oursFlood: FloodResult;
  echoFlood: FloodResult;
  sioFlood: FloodResult;
  quality: ReturnType<typeof qualityFigures>;
  load: { before: string; after: string };
}

/** The phase both city runs share (a fix every 4 s, full fleet) and ours' fastest one. */
function keyPhases(m: Measured): { o: PhaseSummary; s: PhaseSummary; fast: PhaseSummary } {
  const o = m.oursCity.phases[1]!;
  const s = m.sioCity.phases[1]!;
  const fast = m.oursCity.phases.reduce((a, p) => (p.fixesPerS > a.fixesPerS ? p : a), o);
  return { o, s, fast };
}

function assemble(m: Measured): SuiteResult {
  const { o, s, fast } = keyPhases(m);
  const SIO = "Socket.IO + Redis GEO peer (bench/peers/socketio-redis.ts)";
  const ECHO = "bare uWebSockets.js echo (bench/peers/uws-echo.ts)";
  const hold = o.name;
  const fig = (
    ours: number,
    baseline: number,
    baselineName: string,
    unit: string,
    better: "higher" | "lower",
  ): FigureInput => ({
    ours,
    baseline,
    baselineName,
    unit,
    better,
  });
  const perCpuS = (p: PhaseSummary) => p.fixesPerS / (p.serverCpuPct / 100);
  const served = (p: PhaseSummary) => p.counters.arrived / Math.max(1, p.counters.requested);
  const whole = (r: CityResult) => r.collector.span("run", 0, totalS(r.run.schedule) + 2);
  const figures: Record<string, FigureInput> = {
    "driver sockets held (peak)": fig(
      m.oursCity.total.peakSockets,
      m.sioCity.total.peakSockets,
      `${SIO}, its own run`,
      "sockets",
      "higher",
    ),
    "idle RSS per socket vs Socket.IO+Redis": fig(
      m.oursIdle.bytesPerSocket,
      m.sioIdle.bytesPerSocket,
      SIO,
      "bytes/socket",
      "lower",
    ),
    "idle RSS per socket vs bare uWS echo": fig(
      m.oursIdle.bytesPerSocket,
      m.echoIdle.bytesPerSocket,
      ECHO,
      "bytes/socket",
      "lower",
    ),
    "ingest frames/s per server core (flood) vs bare uWS echo": fig(
      m.oursFlood.perCore,
      m.echoFlood.perCore,
      ECHO,
      "frames/s/core",
      "higher",
    ),
    "ingest frames/s per server core (flood) vs Socket.IO+Redis": fig(
      m.oursFlood.perCore,
      m.sioFlood.perCore,
      SIO,
      "frames/s/core",
      "higher",
    ),
    [`city fixes per server CPU second (${hold})`]: fig(perCpuS(o), perCpuS(s), SIO, "fixes/CPU-s", "higher"),
    [`server CPU per 1,000 driver sockets (${hold})`]: fig(
      (o.serverCpuPct / o.sockets) * 1000,
      (s.serverCpuPct / s.sockets) * 1000,
      SIO,
      "% of a core",
      "lower",
    ),
    [`ingest probe round trip p99 (${hold})`]: fig(
      o.latency.ingest.p99,
      s.latency.ingest.p99,
      SIO,
      "ms",
      "lower",
    ),
    [`match latency order->offer p50 (${hold})`]: fig(
      o.latency.offer.p50,
      s.latency.offer.p50,
      SIO,
      "ms",
      "lower",
    ),
    [`match latency order->offer p99 (${hold})`]: fig(
      o.latency.offer.p99,
      s.latency.offer.p99,
      SIO,
      "ms",
      "lower",
    ),
    [`ETA push latency p50 (${hold})`]: fig(o.latency.eta.p50, s.latency.eta.p50, SIO, "ms", "lower"),
    [`ETA push latency p99 (${hold})`]: fig(o.latency.eta.p99, s.latency.eta.p99, SIO, "ms", "lower"),
    [`ETA push latency p99, pushes not held by coalescing (${hold})`]: fig(
      o.latency.etaDirect.p99,
      s.latency.etaDirect.p99,
      SIO,
      "ms",
      "lower",
    ),
    "live served share (driver at pickup / ordered, whole run)": fig(
      served(whole(m.oursCity)),
      served(whole(m.sioCity)),
      `${SIO}: greedy nearest free driver`,
      "share",
      "higher",
    ),
    "live mean pickup time (order -> driver arrived, whole run)": fig(
      whole(m.oursCity).latency.pickup.mean / 1000,
      whole(m.sioCity).latency.pickup.mean / 1000,
      `${SIO}: greedy nearest free driver`,
      "s",
      "lower",
    ),
  };
  if (m.quality) {
    const q = m.quality.figures;
    const greedy = `greedy nearest-first, same simulated demand (quality suite, ${m.quality.date.slice(0, 10)})`;
    for (const key of ["served_share@1", "mean_pickup_s@1", "served_share@0.8", "mean_pickup_s@0.8"]) {
      const f = q[key];
      if (!f) continue;
      const share = key.startsWith("served");
      figures[`dispatch quality (simulation): ${key}`] = fig(
        f.ours,
        f.baseline,
        greedy,
        share ? "share" : "s",
        share ? "higher" : "lower",
      );
    }
  }
  const notes = [
    `Profile ${m.profile.name}: dispatch serve (${m.oursConfig}; development mode, DATA_DIR: a copy of the bench's seeded drivers on tmpfs (/dev/shm), tokens minted with the bench's ES256 key pair) pinned to core 0; generators pinned to core 1 (taskset), each a separate process; peers started one after the other on the same core.`,
    `Ours: ${m.profile.ours.drivers} driver sockets over ${m.profile.ours.generators} generators from ${m.oursCity.sources.join(", ")}; phases ${m.profile.ours.schedule.phases.map((p) => `${p.name} ${p.durationS} s`).join(", ")}. Peer: ${m.profile.peer.drivers} drivers, phases ${m.profile.peer.schedule.phases.map((p) => `${p.name} ${p.durationS} s`).join(", ")}; the comparisons use the phase "${hold}" of each (its first 2 s left out).`,
    `Goal 50,000 sockets in one gateway process: not reachable on this machine, whose per-process open-files limit is ${m.fdLimit} (RLIMIT_NOFILE; raising the hard limit needs CAP_SYS_RESOURCE), so one process can hold about 19,900 sockets; held ${m.oursCity.total.peakSockets} driver sockets at peak. Idle memory: ${Math.round(m.oursIdle.bytesPerSocket)} B per idle driver socket (goal <= 2,048), Socket.IO+Redis ${Math.round(m.sioIdle.bytesPerSocket)} B, bare uWS ${Math.round(m.echoIdle.bytesPerSocket)} B: server RSS growth over ${m.oursIdle.sockets} idle sockets opened in two batches, per socket (first batch / second batch: ours ${Math.round(m.oursIdle.firstBytesPerSocket)} / ${Math.round(m.oursIdle.secondBytesPerSocket)} B, peer ${Math.round(m.sioIdle.firstBytesPerSocket)} / ${Math.round(m.sioIdle.secondBytesPerSocket)} B, uWS ${Math.round(m.echoIdle.firstBytesPerSocket)} / ${Math.round(m.echoIdle.secondBytesPerSocket)} B); GC timing makes these vary by 20% or more.`,
    `Goal ingest >= 50% of bare uWS per server core: ${((100 * m.oursFlood.perCore) / m.echoFlood.perCore).toFixed(0)}%; goal 10x Socket.IO+Redis: ${(m.oursFlood.perCore / m.sioFlood.perCore).toFixed(1)}x (flood: ${m.profile.flood.connections} sockets, bursts of 20 frames then an awaited probe, ${m.profile.flood.durationMs / 1000} s).`,
    `Goal ETA push p99 <= 50 ms at 20,000 fixes/s: the fastest phase ("${fast.name}") ran ${Math.round(fast.fixesPerS)} fixes/s with ETA push p50/p95/p99 ${formatSummary(fast.latency.eta)}, ${formatSummary(fast.latency.etaDirect)} for pushes not held by the coalescing${fast.fixesPerS < 18_000 ? " (the quick profile does not reach 20,000 fixes/s; the long one does)" : ""}.`,
    `Ingest latency is a probe: one fix in ${m.profile.probeEvery} is sent as a text frame with an id and acknowledged (ours: decoded, applied to the live index, ack; peer: acked after its Redis pipeline). ETA push latency: from the fix's timestamp (set at send) to the rider's eta push carrying it, counting only pushes of a newer fix on the same leg; ours coalesces pushes to at most one per 0.75 s per order (DESIGN flow 5: about one a second), so a fix arriving sooner after the previous push waits for the rest of those 0.75 s: "not held by coalescing" counts only pushes that came at least 0.8 s after the previous one of the order. The peer pushes every fix. Match latency: from the rider's POST /v1/orders (peer: order event) to the offered push; ours batches orders in 2 s windows and solves them globally, the peer offers the nearest free driver at once.`,
    `Fixes/s are fixes written to open sockets; ours acknowledges none but the probes (${m.oursCity.total.counters.probesApplied} applied, ${m.oursCity.total.counters.probesDropped} dropped of ${m.oursCity.total.counters.probes}); errors by code (ours): ${JSON.stringify(m.oursCity.errors)}; peer: ${JSON.stringify(m.sioCity.errors)}.`,
    `Generators' CPU (one core shared by all of them): ours' run ${Math.round(o.genCpuPct)}% in "${hold}", ${Math.round(fast.genCpuPct)}% in "${fast.name}"; peer's run ${Math.round(s.genCpuPct)}%. Flood generator CPU: ours ${Math.round(m.oursFlood.generatorCpuMs)} ms, echo ${Math.round(m.echoFlood.generatorCpuMs)} ms, peer ${Math.round(m.sioFlood.generatorCpuMs)} ms against server CPU ${Math.round(m.oursFlood.serverCpuMs)}/${Math.round(m.echoFlood.serverCpuMs)}/${Math.round(m.sioFlood.serverCpuMs)} ms.`,
    `Live dispatch figures count orders of the whole run, many still open at its end (a short run, trips of 0.8-3 km at 8-15 m/s); the dispatch-quality figures are the quality suite's simulation of the same engine (global assignment vs greedy nearest-first on identical demand), read from bench/results/quality.json.`,
    `The machine's 2 cores are shared with other work (taskset pins our processes, not theirs): load average ${m.load.before} at the start, ${m.load.after} at the end (1, 5, 15 min); on a busy machine every figure moves, by 10-30% on a quiet one.`,
  ];
  return { figures, notes };
}
