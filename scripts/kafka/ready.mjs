#!/usr/bin/env node
// Readiness probe for the test Kafka (run by services.sh): exits 0 once the broker at argv[2]
// answers metadata, creates a topic, lists it back and has a group coordinator. One quick attempt
// per run; the shell loops.
import kafkajs from "kafkajs";

const { Kafka, logLevel } = kafkajs;
const broker = process.argv[2];
const topic = process.argv[3] ?? "__dispatch_services_ready";
if (!broker) {
  process.stderr.write("usage: ready.mjs HOST:PORT [TOPIC]\n");
  process.exit(2);
}

const kafka = new Kafka({
  clientId: "dispatch-services-ready",
  brokers: [broker],
  connectionTimeout: 1000,
  requestTimeout: 5000,
  retry: { retries: 0 },
  logLevel: logLevel.NOTHING,
});
const admin = kafka.admin();
try {
  await admin.connect();
  // false when it already exists (a warm start): both mean the controller accepts new topics.
  await admin.createTopics({
    topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
    waitForLeaders: true,
  });
  const topics = await admin.listTopics();
  if (!topics.includes(topic)) throw new Error(`topic ${topic} not listed after creation`);
  // Needs the group coordinator, whose first use creates __consumer_offsets: done here, the first
  // consumer group of a test joins at once instead of meeting "coordinator not available".
  await admin.fetchOffsets({ groupId: "dispatch-services-ready", topics: [topic] });
  await admin.disconnect();
  process.exit(0);
} catch (err) {
  process.stderr.write(`kafka not ready: ${err instanceof Error ? err.message : String(err)}\n`);
  await admin.disconnect().catch(() => {});
  process.exit(1);
}
