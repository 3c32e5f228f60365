// The composed engine writes through the pipeline (embedded log + PGlite here): a driver's
// applied fixes reach driver_locations (the dropped ones do not), and order events reach
// order_events by the time the request is acknowledged.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { silentLogger } from "../engine/logger.js";
import { DriverClient, type WebSocketLike } from "../sdk/driver.js";
import { signIn } from "../test/support/sessions.js";
import { compose, type Running } from "./compose.js";
import { defaults } from "./config.js";

let running: Running;
beforeAll(async () => {
  running = await compose({ ...defaults, port: 0, dataDir: ":memory:", pipelineLingerMs: 1 }, silentLogger);
});
afterAll(() => running?.close());

describe("the composed engine's pipeline (embedded)", () => {
  it("persists the fixes the index applied, not the ones it dropped", async () => {
    expect(running.pipeline.kind).toBe("embedded");
    const d = await signIn(running, "+13125550177", "driver");
    const driver = new DriverClient({
      url: `ws://127.0.0.1:${running.gateway.port}`,
      getToken: async () => d.token,
      webSocket: (u) => new WebSocket(u) as unknown as WebSocketLike,
    });
    try {
      await driver.connect();
      const t0 = Date.now() - 60_000;
      for (let i = 0; i < 5; i++) {
        const ack = await driver.request({
          type: "fix",
          lat: 41.88 + i * 1e-4,
          lng: -87.63,
          t: t0 + i * 1000,
        });
        expect(ack).toMatchObject({ applied: 1 });
      }
      // Stale: not newer than the last applied fix.
      expect(await driver.request({ type: "fix", lat: 41.9, lng: -87.63, t: t0 })).toMatchObject({
        dropped: 1,
      });
    } finally {
      driver.close();
    }
    await running.pipeline.sink.flush();
    const { rows } = await running.storage.db.query<{ lat: number; at: Date }>(
      "SELECT lat, at FROM driver_locations WHERE driver_id = $1 ORDER BY at",
      [d.id],
    );
    expect(rows.map((r) => r.lat)).toEqual([0, 1, 2, 3, 4].map((i) => 41.88 + i * 1e-4));
  });

  it("an acknowledged ride request's event is in order_events", async () => {
    const r = await signIn(running, "+13125550178");
    const base = `http://127.0.0.1:${running.gateway.port}`;
    const auth = { authorization: `Bearer ${r.token}`, "content-type": "application/json" };
    const quote = (await (
      await fetch(`${base}/v1/quotes`, {
        method: "POST",
        headers: auth,
        body: JSON.stringify({
          pickup: { lat: 41.8781, lng: -87.6298 },
          dropoff: { lat: 41.8835, lng: -87.6298 },
        }),
      })
    ).json()) as { token: string };
    const res = await fetch(`${base}/v1/orders`, {
      method: "POST",
      headers: { ...auth, "idempotency-key": crypto.randomUUID() },
      body: JSON.stringify({ quoteToken: quote.token }),
    });
    expect(res.status).toBe(201);
    const order = (await res.json()) as { id: string };
    // Group commit: the append resolved only once its batch was written.
    const { rows } = await running.storage.db.query<{ type: string }>(
      "SELECT type FROM order_events WHERE order_id = $1",
      [order.id],
    );
    expect(rows).toEqual([{ type: "order.requested" }]);
  });
});
