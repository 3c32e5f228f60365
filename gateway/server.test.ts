import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../engine/logger.js";
import { type Gateway, startGateway } from "./server.js";

const started: Gateway[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((g) => g.close()));
});

async function start(readiness?: Parameters<typeof startGateway>[0]["readiness"]): Promise<Gateway> {
  const g = await startGateway({
    host: "127.0.0.1",
    port: 0,
    logger: silentLogger,
    readiness,
    readinessTimeoutMs: 200,
  });
  started.push(g);
  return g;
}

describe("gateway health", () => {
  it("answers /healthz on a free port", async () => {
    const g = await start();
    expect(g.port).toBeGreaterThan(0);
    const res = await fetch(`http://127.0.0.1:${g.port}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok" });
  });

  it("is ready only when every check passes, and names the failing one", async () => {
    const ok = await start({ db: async () => {} });
    expect((await fetch(`http://127.0.0.1:${ok.port}/readyz`)).status).toBe(200);

    const failing = await start({
      db: async () => {},
      redis: async () => {
        throw new Error("connection refused");
      },
      kafka: () => new Promise(() => {}), // never answers: must time out, not hang
    });
    const res = await fetch(`http://127.0.0.1:${failing.port}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      status: "not_ready",
      checks: {
        db: { ok: true },
        redis: { ok: false, error: "connection refused" },
        kafka: { ok: false, error: "no answer within 200 ms" },
      },
    });
  });

  it("answers unknown routes with the error body shape", async () => {
    const g = await start();
    const res = await fetch(`http://127.0.0.1:${g.port}/nope`, { method: "POST" });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ code: "NOT_FOUND", message: "no route POST /nope" });
  });

  it("stops accepting connections on close", async () => {
    const g = await start();
    await g.close();
    await expect(fetch(`http://127.0.0.1:${g.port}/healthz`)).rejects.toThrow();
  });
});
