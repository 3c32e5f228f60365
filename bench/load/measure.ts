/**
 * Runs the flood generator (flood.ts) in its own process on `core` against one server and
 * measures the server meanwhile: frames per CPU second of the server process (from /proc), so a
 * generator that cannot saturate the server neither flatters nor punishes it.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cpuMs, spawnNode, stderrTail } from "../city/procs.js";

export interface FloodArgs {
  target: "ours" | "echo" | "socketio";
  url: string;
  /** Access tokens for `ours`, one per connection. */
  tokens?: string[];
  connections: number;
  burst: number;
  durationMs: number;
}

export interface FloodResult {
  /** Frames the server took per CPU second it spent. */
  perCore: number;
  /** Frames per wall-clock second. */
  wall: number;
  /** Probe round trips, ms. */
  p50: number;
  p99: number;
  serverCpuMs: number;
  generatorCpuMs: number;
  errors: number;
}

export async function measureFlood(serverPid: number, args: FloodArgs, core = 1): Promise<FloodResult> {
  // Through a file: a thousand tokens exceed Linux's 128 KiB limit on one argument.
  const dir = mkdtempSync(join(tmpdir(), "bench-flood-"));
  writeFileSync(join(dir, "args.json"), JSON.stringify(args));
  try {
    const before = cpuMs(serverPid);
    const child = spawnNode(core, ["bench/load/flood.ts", `@${join(dir, "args.json")}`]);
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
    });
    await new Promise<void>((resolve, reject) => {
      child.once("exit", (code) =>
        code === 0 ? resolve() : reject(new Error(`flood exited with ${code}: ${stderrTail(child)}`)),
      );
    });
    const serverCpuMs = cpuMs(serverPid) - before;
    const r = JSON.parse(out.trim().split("\n").at(-1)!) as {
      sent: number;
      elapsedMs: number;
      p50: number;
      p99: number;
      cpuMs: number;
      errors: number;
    };
    return {
      perCore: r.sent / (serverCpuMs / 1000),
      wall: r.sent / (r.elapsedMs / 1000),
      p50: r.p50,
      p99: r.p99,
      serverCpuMs,
      generatorCpuMs: r.cpuMs,
      errors: r.errors,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
