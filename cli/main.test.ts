import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
});

/** Runs the real `dispatch` entry point from source (tsx), as the bin does from dist/. */
function dispatch(args: string[], env: Record<string, string> = {}) {
  // The command under test runs embedded: the services the integration project exports are not its.
  const { DATABASE_URL, REDIS_URL, KAFKA_BROKERS, ...inherited } = process.env;
  const child = spawn(process.execPath, ["--import", "tsx", "cli/main.ts", ...args], {
    cwd: root,
    env: { ...inherited, LOG_LEVEL: "warn", DATA_DIR: ":memory:", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => {
    stdout += d;
  });
  child.stderr!.on("data", (d) => {
    stderr += d;
  });
  const exited = once(child, "exit").then(([code]) => code as number);
  return { child, exited, out: () => stdout, err: () => stderr };
}

async function waitFor<T>(fn: () => T | undefined, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("dispatch command", () => {
  it("explains its commands with --help", async () => {
    const run = dispatch(["--help"]);
    expect(await run.exited).toBe(0);
    expect(run.out()).toMatch(/serve\s+Start the gateway/);
    expect(run.out()).toMatch(/REDIS_URL/);
  });

  it("refuses an unknown command with exit code 2", async () => {
    const run = dispatch(["frobnicate"]);
    expect(await run.exited).toBe(2);
    expect(run.err()).toMatch(/unknown command "frobnicate"/);
  });

  it("refuses bad configuration with a coded message", async () => {
    const run = dispatch(["serve"], { PORT: "-3" });
    expect(await run.exited).toBe(1);
    expect(run.err()).toMatch(/INVALID_CONFIG: .*PORT="-3"/s);
  });

  it("fails loudly when asked for the uWS pure-JS fallback", async () => {
    const run = dispatch(["serve", "--port", "0"], { UWS_USE_FALLBACK: "1" });
    expect(await run.exited).toBe(1);
    expect(run.err()).toMatch(/UNAVAILABLE: UWS_USE_FALLBACK/);
  });

  it("serves /healthz and exits 0 on SIGTERM", async () => {
    const run = dispatch(["serve", "--port", "0"]);
    const url = await waitFor(() => /listening on (http:\/\/\S+)/.exec(run.out())?.[1]);
    const res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(200);
    run.child.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    // Start-up compiles TypeScript on the fly and opens the embedded database: slow on a busy machine.
  }, 60_000);
});

describe("operator commands", () => {
  it("migrates the embedded database once, grants a role that the engine then sees, refuses bad input", async () => {
    const { mkdtempSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dataDir = mkdtempSync(join(tmpdir(), "dispatch-cli-"));
    const env = { DATA_DIR: dataDir };
    try {
      const first = dispatch(["migrate"], env);
      expect(await first.exited).toBe(0);
      expect(first.out()).toMatch(/applied .*0001/);
      const again = dispatch(["migrate"], env);
      expect(await again.exited).toBe(0);
      expect(again.out()).toMatch(/schema up to date/);

      const grant = dispatch(["grant-role", "+15557654321", "admin"], env);
      expect(await grant.exited).toBe(0);
      expect(grant.out()).toMatch(/has roles rider, admin/);

      const badPhone = dispatch(["grant-role", "555", "admin"], env);
      expect(await badPhone.exited).toBe(1);
      expect(badPhone.err()).toMatch(/INVALID_ARGUMENT: phone must be an E\.164 number/);
      const badRole = dispatch(["grant-role", "+15557654321", "god"], env);
      expect(await badRole.exited).toBe(1);
      expect(badRole.err()).toMatch(/INVALID_ARGUMENT: role must be one of/);
      const usage = dispatch(["grant-role", "+15557654321"], env);
      expect(await usage.exited).toBe(2);

      // The engine reads the same database: the user is an admin there.
      const { compose } = await import("./compose.js");
      const { defaults } = await import("./config.js");
      const { silentLogger } = await import("../engine/logger.js");
      const running = await compose({ ...defaults, port: 0, dataDir }, silentLogger);
      try {
        expect((await running.users.findOrCreateByPhone("+15557654321", Date.now())).roles).toEqual([
          "rider",
          "admin",
        ]);
      } finally {
        await running.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
});
