// `dispatch persister` without Kafka: a coded refusal, not a crash; and its help.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));

function dispatch(args: string[], env: Record<string, string> = {}) {
  const { DATABASE_URL: _d, REDIS_URL: _r, KAFKA_BROKERS: _k, ...inherited } = process.env;
  const child = spawn(process.execPath, ["--import", "tsx", "cli/main.ts", ...args], {
    cwd: root,
    env: { ...inherited, LOG_LEVEL: "warn", DATA_DIR: ":memory:", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    err += d;
  });
  const exited = once(child, "exit").then(([code]) => code as number);
  return { exited, out: () => out, err: () => err };
}

describe("dispatch persister", () => {
  it("refuses to run without KAFKA_BROKERS, with a coded message", async () => {
    const run = dispatch(["persister"]);
    expect(await run.exited).toBe(1);
    expect(run.err()).toMatch(/INVALID_CONFIG: dispatch persister needs KAFKA_BROKERS/);
  });

  it("is in the help, with its variables", async () => {
    const run = dispatch(["--help"]);
    expect(await run.exited).toBe(0);
    expect(run.out()).toMatch(/persister\s+Write the Kafka pipeline topics/);
    expect(run.out()).toMatch(/PERSISTER_IN_PROCESS/);
  });

  it("refuses a bad PERSISTER_IN_PROCESS", async () => {
    const run = dispatch(["persister"], { PERSISTER_IN_PROCESS: "maybe" });
    expect(await run.exited).toBe(1);
    expect(run.err()).toMatch(/INVALID_CONFIG: .*PERSISTER_IN_PROCESS="maybe"/s);
  });
});
