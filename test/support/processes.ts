/**
 * The real `dispatch` command as a child process of a test, run from source (tsx) as the bin runs
 * from dist/. The environment is the test's: the service variables the integration project
 * exports are stripped, so a child talks only to the services its test hands it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const children: ChildProcess[] = [];

export interface DispatchProcess {
  readonly child: ChildProcess;
  /** The exit code (null after a signal). */
  readonly exited: Promise<number | null>;
  /** All stdout so far (the listening line, command output). */
  out(): string;
  /** All stderr so far (the JSON log, error messages). */
  err(): string;
}

/** Starts `dispatch <args>` with `env` over the inherited environment minus the service variables. */
export function dispatch(args: string[], env: Record<string, string> = {}): DispatchProcess {
  const { DATABASE_URL: _d, REDIS_URL: _r, KAFKA_BROKERS: _k, ...inherited } = process.env;
  const child = spawn(process.execPath, ["--import", "tsx", "cli/main.ts", ...args], {
    cwd: root,
    env: { ...inherited, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => {
    out += d;
  });
  child.stderr!.on("data", (d) => {
    err += d;
  });
  const exited = once(child, "exit").then(([code]) => code as number | null);
  // A spawn failure rejects `exited`; a test that never awaits it still fails on its own waits.
  exited.catch(() => {});
  return { child, exited, out: () => out, err: () => err };
}

/** SIGKILLs every child still running: `afterEach(killChildren)`, so a failed test leaks none. */
export function killChildren(): void {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
}

/** `dispatch <args>` as it runs with no services: the embedded database in memory, warnings only. */
export function dispatchEmbedded(args: string[], env: Record<string, string> = {}): DispatchProcess {
  return dispatch(args, { LOG_LEVEL: "warn", DATA_DIR: ":memory:", ...env });
}
