// The factory on embedded PGlite: in memory, on disk across a restart, and across a kill -9.
import { spawn } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { sampleOrder, successor } from "../engine/contracts/fixtures.js";
import { ErrorCode } from "../engine/errors.js";
import { openStorage } from "./factory.js";

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "dispatch-pglite-"));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("openStorage without a database URL (PGlite)", () => {
  it("in memory: migrated, partitions made, every port works, close is idempotent", async () => {
    const s = await openStorage({ dataDir: ":memory:", now: () => Date.UTC(2025, 0, 1, 12) });
    try {
      expect(s.kind).toBe("pglite");
      expect(s.redis).toBeUndefined();
      expect(await s.migrate()).toEqual([]);
      const o = sampleOrder();
      expect((await s.orders.create(o)).status).toBe("created");
      expect(await s.orders.get(o.id)).toEqual(o);
      expect((await s.drivers.compareAndSet("d" as never, 0, null)).ok).toBe(true);
      const u = await s.users.findOrCreateByPhone("+15555550100", 1);
      expect(await s.users.get(u.id)).toEqual(u);
      expect(await s.maintainPartitions()).toEqual({ created: [], dropped: [] });
    } finally {
      await s.close();
      await s.close();
    }
  }, 60_000);

  it("on disk: data and the phone secret survive a restart", async () => {
    const dataDir = await tempDir();
    const first = await openStorage({ dataDir });
    const o = sampleOrder();
    await first.orders.create(o);
    const next = successor(o, { state: "cancelled" });
    await first.orders.compareAndSet(o.id, 1, next);
    const u = await first.users.findOrCreateByPhone("+15555550199", 7);
    await first.close();
    expect((await stat(join(dataDir, "phone-secret"))).mode & 0o777).toBe(0o600);

    const second = await openStorage({ dataDir });
    try {
      expect(await second.orders.get(o.id)).toEqual(next);
      expect(await second.users.findOrCreateByPhone("+15555550199", 8)).toEqual(u);
    } finally {
      await second.close();
    }
  }, 60_000);

  it("an acknowledged order survives kill -9 of the process that wrote it", async () => {
    const dataDir = await tempDir();
    const factory = fileURLToPath(new URL("./factory.ts", import.meta.url));
    // The child creates an order, prints its id once create() resolved, and is killed at once.
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        `const { openStorage } = await import(${JSON.stringify(factory)});
         const s = await openStorage({ dataDir: ${JSON.stringify(dataDir)} });
         const o = { ...${JSON.stringify(sampleOrder({ id: "order-kill9" as never }))} };
         const r = await s.orders.create(o);
         process.stdout.write("ACK " + r.order.id + "\\n");
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const acked = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (b: Buffer) => {
        out += b.toString();
        const m = /ACK (\S+)\n/.exec(out);
        if (m) {
          child.kill("SIGKILL");
          resolve(m[1]!);
        }
      });
      child.on("exit", (code, signal) => {
        if (signal !== "SIGKILL") reject(new Error(`child exited early: ${code ?? signal}`));
      });
    });
    await new Promise((r) => child.once("close", r));
    const s = await openStorage({ dataDir });
    try {
      expect((await s.orders.get(acked as never))?.id).toBe("order-kill9");
    } finally {
      await s.close();
    }
  }, 120_000);

  it("refuses a database URL without a phone secret, and a short secret, before connecting", async () => {
    await expect(openStorage({ databaseUrl: "postgres://127.0.0.1:1/x" })).rejects.toMatchObject({
      code: ErrorCode.InvalidConfig,
    });
    await expect(openStorage({ dataDir: ":memory:", phoneSecret: "short" })).rejects.toMatchObject({
      code: ErrorCode.InvalidConfig,
    });
  });
});
