/**
 * Child processes of the city bench: servers and generators pinned to cores with taskset, read
 * through /proc (CPU time, resident memory), and all killed when the bench ends or is stopped.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "..", "..");

const children = new Set<ChildProcess>();
let hooked = false;

function killAll(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        process.kill(c.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  }
  children.clear();
}

/** Kills every child we started when this process exits or is stopped by a signal. */
function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", killAll);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      killAll();
      process.exit(130);
    });
  }
}

let tasksetOk: boolean | undefined;
export function hasTaskset(): boolean {
  if (tasksetOk === undefined) {
    try {
      execFileSync("taskset", ["-c", "0", "true"], { stdio: "ignore" });
      tasksetOk = true;
    } catch {
      tasksetOk = false;
    }
  }
  return tasksetOk;
}

/** Spawns `node --import tsx <args>` pinned to `core` (taskset execs, so the pid is node's). */
export function spawnNode(
  core: number,
  args: string[],
  env: Record<string, string> = {},
  unset: readonly string[] = [],
): ChildProcess {
  hook();
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const k of unset) delete childEnv[k];
  const node = [process.execPath, "--import", "tsx", ...args];
  const [cmd, argv] = hasTaskset() ? ["taskset", ["-c", String(core), ...node]] : [node[0]!, node.slice(1)];
  const child = spawn(cmd, argv, {
    cwd: ROOT,
    env: childEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  // Always drained, so a chatty child never blocks on a full pipe; the tail explains a failure.
  tails.set(child, "");
  child.stderr!.on("data", (d: Buffer) => {
    tails.set(child, `${tails.get(child) ?? ""}${d}`.slice(-4_000));
  });
  return child;
}

const tails = new WeakMap<ChildProcess, string>();

/** The last few kB a child wrote to stderr. */
export function stderrTail(child: ChildProcess): string {
  return tails.get(child) ?? "";
}

/** Resolves with the first match of `pattern` in the child's output (stdout or stderr). */
export function waitFor(
  child: ChildProcess,
  pattern: RegExp,
  what: string,
  timeoutMs = 60_000,
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = "";
    const done = (err?: Error, m?: RegExpExecArray) => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
      if (err) reject(err);
      else resolve(m!);
    };
    const onData = (d: Buffer) => {
      out += d;
      if (out.length > 100_000) out = out.slice(-50_000);
      const m = pattern.exec(out);
      if (m) done(undefined, m);
    };
    const onExit = (code: number | null) => done(new Error(`${what} exited (${code}): ${out.slice(-2000)}`));
    const timer = setTimeout(
      () => done(new Error(`${what} did not start in ${timeoutMs} ms: ${out.slice(-2000)}`)),
      timeoutMs,
    );
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", onExit);
  });
}

/** Stops a child (SIGTERM, then SIGKILL after `graceMs`) and resolves once it exited. */
export function stop(child: ChildProcess, graceMs = 3_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** CPU milliseconds (user + system, all threads) a process has used so far. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return Number.NaN;
  }
}

/** Resident set size of a process, bytes. */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Open file descriptors of a process (sockets among them). */
export function fdCount(pid: number): number {
  try {
    return execFileSync("ls", [`/proc/${pid}/fd`], { encoding: "utf8" })
      .split("\n")
      .filter(Boolean).length;
  } catch {
    return Number.NaN;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
