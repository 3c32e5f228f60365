// Smoke tests proving that each service scripts/services.sh starts is the real thing and reachable
// with the clients the code uses. Run:
//   bash scripts/services.sh up && eval "$(bash scripts/services.sh env)"
//   npx vitest run --project integration test/integration
// Every name is random, so these run beside any other test against the same services.
import { deleteApp, initializeApp } from "firebase-admin/app";
import { getAuth } from "firebase-admin/auth";
import { Redis } from "ioredis";
import { Kafka, logLevel } from "kafkajs";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { phoneSignIn } from "./firebase-phone.js";
import { serviceEnv, uniqueId, unreachable } from "./services-env.js";

describe("real services", () => {
  it("Redis: GEOADD then GEOSEARCH round trip", async () => {
    const url = serviceEnv("REDIS_URL");
    // No retries: an absent server should fail fast with our message, not hang in reconnects.
    const redis = new Redis(url, {
      lazyConnect: true,
      connectTimeout: 3000,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    try {
      await redis.connect().catch((err: unknown) => {
        throw unreachable("Redis", url, err);
      });
      const key = `test:${uniqueId()}:drivers`;
      // Berlin Mitte: two drivers within 1 km of the rider, one in Paris.
      await redis.geoadd(key, 13.405, 52.52, "near", 13.41, 52.521, "close", 2.3522, 48.8566, "paris");
      const found = (await redis.geosearch(
        key,
        "FROMLONLAT",
        13.4049,
        52.5201,
        "BYRADIUS",
        5,
        "km",
        "ASC",
        "WITHDIST",
      )) as [string, string][];
      expect(found.map(([member]) => member)).toEqual(["near", "close"]);
      expect(Number(found[0]?.[1])).toBeLessThan(0.1);
      await redis.del(key);
    } finally {
      redis.disconnect();
    }
  });

  it("PostgreSQL: create table, insert, select", async () => {
    const url = serviceEnv("DATABASE_URL");
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
    await client.connect().catch((err: unknown) => {
      throw unreachable("PostgreSQL", url, err);
    });
    const table = `smoke_${uniqueId()}`;
    try {
      await client.query(
        `CREATE TABLE ${table} (id bigint PRIMARY KEY, rider text NOT NULL, at timestamptz)`,
      );
      await client.query(`INSERT INTO ${table} (id, rider, at) VALUES ($1, $2, now()), ($3, $4, now())`, [
        1,
        "ann",
        2,
        "bob",
      ]);
      const { rows } = await client.query<{ id: string; rider: string }>(
        `SELECT id, rider FROM ${table} ORDER BY id`,
      );
      // bigint comes back as a string from pg: exact, never a rounded JS number.
      expect(rows).toEqual([
        { id: "1", rider: "ann" },
        { id: "2", rider: "bob" },
      ]);
      const version = await client.query<{ server_version_num: string }>("SHOW server_version_num");
      expect(Number(version.rows[0]?.server_version_num)).toBeGreaterThanOrEqual(150000);
    } finally {
      await client.query(`DROP TABLE IF EXISTS ${table}`).catch(() => {});
      await client.end();
    }
  });

  it("Kafka: create a topic, produce, consume it back", async () => {
    const brokers = serviceEnv("KAFKA_BROKERS").split(",");
    const id = uniqueId();
    const topic = `smoke-${id}`;
    const kafka = new Kafka({
      clientId: `smoke-${id}`,
      brokers,
      connectionTimeout: 3000,
      retry: { retries: 2, initialRetryTime: 200 },
      logLevel: logLevel.ERROR,
    });
    const admin = kafka.admin();
    await admin.connect().catch((err: unknown) => {
      throw unreachable("Kafka", brokers.join(","), err);
    });
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    // The broker's minimum session timeout is 6 s; short heartbeats make the join quick.
    const consumer = kafka.consumer({
      groupId: `smoke-${id}`,
      sessionTimeout: 6000,
      rebalanceTimeout: 6000,
      heartbeatInterval: 500,
      maxWaitTimeInMs: 100,
    });
    try {
      expect(await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })).toBe(
        true,
      );
      expect(await admin.listTopics()).toContain(topic);

      await producer.connect();
      const value = `ride requested ${id}`;
      await producer.send({ topic, acks: -1, messages: [{ key: "order-1", value }] });

      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const received = new Promise<{ key: string; value: string; offset: string }>((resolve) => {
        void consumer.run({
          eachMessage: async ({ message }) => {
            resolve({
              key: message.key?.toString() ?? "",
              value: message.value?.toString() ?? "",
              offset: message.offset,
            });
          },
        });
      });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no message from ${topic} within 30 s`)), 30_000);
      });
      try {
        expect(await Promise.race([received, timeout])).toEqual({ key: "order-1", value, offset: "0" });
      } finally {
        clearTimeout(timer);
      }
    } finally {
      await consumer.disconnect().catch(() => {});
      await producer.disconnect().catch(() => {});
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.disconnect();
    }
  });

  it("Firebase Auth emulator: phone sign-in, then firebase-admin verifies the ID token", async () => {
    serviceEnv("FIREBASE_AUTH_EMULATOR_HOST"); // firebase-admin reads it from the environment
    const projectId = serviceEnv("FIREBASE_PROJECT_ID");
    // A fictional US number (555), random so that parallel runs get distinct users.
    const phone = `+1555${String(Math.floor(Math.random() * 1e7)).padStart(7, "0")}`;
    const session = await phoneSignIn(phone);

    const app = initializeApp({ projectId }, `smoke-${uniqueId()}`);
    try {
      const decoded = await getAuth(app).verifyIdToken(session.idToken);
      expect(decoded.phone_number).toBe(phone);
      expect(decoded.uid).toBe(session.localId);
      expect(decoded.firebase.sign_in_provider).toBe("phone");
      // Same number, same user.
      expect((await phoneSignIn(phone)).localId).toBe(session.localId);
    } finally {
      await deleteApp(app);
    }
  });
});
