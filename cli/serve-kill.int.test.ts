// An acknowledged ride request survives kill -9 of the `dispatch serve` process that took it
// (DATABASE_URL + KAFKA_BROKERS): the order is there after a restart, in a consistent state, and its
// `order.requested` event, which at the kill was only in Kafka, reaches order_events through the
// restarted process's persister.
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../engine/logger.js";
import { kafkaClient, pipelineTopics } from "../storage/kafka/client.js";
import { PgDb, quoteIdent } from "../storage/postgres/db.js";
import { PhoneCipher } from "../storage/postgres/phone-crypto.js";
import { randomSchemaName } from "../storage/postgres/test-support.js";
import { serviceEnv, uniqueId } from "../test/integration/services-env.js";
import { bearer, callJson } from "../test/support/http.js";
import { dispatch, killChildren } from "../test/support/processes.js";
import { randomPhone } from "../test/support/sessions.js";
import { until } from "../test/support/until.js";

const databaseUrl = serviceEnv("DATABASE_URL");
const brokers = serviceEnv("KAFKA_BROKERS");
const cleanups: (() => Promise<void>)[] = [];
afterEach(killChildren);
afterAll(async () => {
  for (const c of cleanups.splice(0)) await c().catch(() => {});
});

const serve = (env: Record<string, string>) => dispatch(["serve", "--port", "0"], env);

/** Development login: ask for a code, read it from the server's log, exchange it for tokens. */
async function devLogin(base: string, phone: string, log: () => string): Promise<string> {
  expect((await callJson(`${base}/v1/auth/dev/code`, "POST", { phone })).status).toBe(202);
  const code = await until("the development code", () => {
    for (const line of log().split("\n")) {
      if (!line.includes("development login code") || !line.includes(phone)) continue;
      return (JSON.parse(line) as { code: string }).code;
    }
    return undefined;
  });
  const login = await callJson(`${base}/v1/auth/dev/login`, "POST", { phone, code });
  expect(login.status).toBe(200);
  return login.body.accessToken as string;
}

describe("dispatch serve under kill -9", () => {
  it("an acknowledged ride request is there after kill -9 and restart; its requested event reaches order_events", async () => {
    const id = uniqueId();
    const schema = randomSchemaName("servekill");
    const prefix = `servekill-${id}-`;
    const env = {
      DISPATCH_MODE: "development",
      LOG_LEVEL: "info",
      DATABASE_URL: databaseUrl,
      DATABASE_SCHEMA: schema,
      PHONE_SECRET: PhoneCipher.newSecret(),
      QUOTE_KEY: "serve-kill-test-quote-key-0123456789abcdef",
      KAFKA_BROKERS: brokers,
      KAFKA_TOPIC_PREFIX: prefix,
      KAFKA_GROUP_ID: `${prefix}persister`,
      KAFKA_SESSION_TIMEOUT_MS: "6000",
    };
    const db = new PgDb({ connectionString: databaseUrl, schema, max: 2 });
    cleanups.push(async () => {
      await db.exec(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
      await db.close();
      const admin = kafkaClient({ brokers: brokers.split(","), log: silentLogger }).admin();
      await admin.connect();
      await admin.deleteTopics({ topics: Object.values(pipelineTopics(prefix)) }).catch(() => {});
      await admin.disconnect();
    });

    // The first process runs no persister: the acknowledged event can only be in Kafka when it dies.
    const first = serve({ ...env, PERSISTER_IN_PROCESS: "false" });
    const base = await until("the first server", () => /listening on (http:\/\/\S+)/.exec(first.out())?.[1]);
    const phone = randomPhone();
    const token = await devLogin(base, phone, first.err);
    const auth = bearer(token);
    const quote = await callJson(
      `${base}/v1/quotes`,
      "POST",
      { pickup: { lat: 41.8781, lng: -87.6298 }, dropoff: { lat: 41.8835, lng: -87.6298 } },
      auth,
    );
    expect(quote.status).toBe(200);
    const order = await callJson(
      `${base}/v1/orders`,
      "POST",
      { quoteToken: quote.body.token },
      { ...auth, "idempotency-key": crypto.randomUUID() },
    );
    expect(order.status, JSON.stringify(order.body)).toBe(201);
    first.child.kill("SIGKILL"); // right after the acknowledgement
    await first.exited;
    const orderId = order.body.id as string;
    expect((await db.query("SELECT 1 FROM order_events WHERE order_id = $1", [orderId])).rowCount).toBe(0);

    const second = serve(env);
    const base2 = await until(
      "the restarted server",
      () => /listening on (http:\/\/\S+)/.exec(second.out())?.[1],
    );
    // The order row is there, and the requested event arrives through Kafka and the persister.
    const events = await until(
      "the order.requested event in order_events",
      async () => {
        const { rows } = await db.query<{ type: string; version: number }>(
          "SELECT type, version FROM order_events WHERE order_id = $1 ORDER BY version",
          [orderId],
        );
        return rows.some((r) => r.type === "order.requested") ? rows : undefined;
      },
      90_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n--- restarted serve stderr (tail):\n${second.err().slice(-3000)}`);
    });
    expect(events[0]).toEqual({ type: "order.requested", version: 1 });
    const { rows } = await db.query<{ state: string; version: number; rider_id: string }>(
      "SELECT state, version, rider_id FROM orders WHERE id = $1",
      [orderId],
    );
    expect(rows).toHaveLength(1);
    // Consistent: every stored event is of a version the order has reached.
    expect(rows[0]!.version).toBeGreaterThanOrEqual(events.at(-1)!.version);
    expect(["searching", "cancelled"]).toContain(rows[0]!.state);

    // The rider sees the order over HTTP after signing in again (the old process's key is gone).
    const token2 = await devLogin(base2, phone, second.err);
    const seen = await callJson(`${base2}/v1/orders/${orderId}`, "GET", undefined, bearer(token2));
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({ id: orderId });

    second.child.kill("SIGTERM");
    expect(await second.exited, second.err().slice(-2000)).toBe(0);
  }, 240_000);
});
