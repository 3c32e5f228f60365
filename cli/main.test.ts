import { afterEach, describe, expect, it } from "vitest";
import { dispatchEmbedded as dispatch, killChildren } from "../test/support/processes.js";
import { until } from "../test/support/until.js";

afterEach(killChildren);

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
    const url = await until(
      "the listening line",
      () => /listening on (http:\/\/\S+)/.exec(run.out())?.[1],
      20_000,
      50,
    );
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
