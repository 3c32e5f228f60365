/**
 * The persistence pipeline from the config: what `serve` wires (compose.ts) and the
 * `dispatch persister` command (a consumer group writing Kafka into the database, with
 * `/healthz` and `/metrics`).
 */
import { DispatchError, ErrorCode } from "../engine/errors.js";
import type { Logger } from "../engine/logger.js";
import { openStorage } from "../storage/factory.js";
import type { PipelineConfig } from "../storage/pipeline/index.js";
import type { Config } from "./config.js";

export function pipelineConfigOf(config: Config, log: Logger): PipelineConfig {
  return {
    kafkaBrokers: config.kafkaBrokers,
    topicPrefix: config.kafkaTopicPrefix,
    partitions: config.kafkaPartitions,
    groupId: config.kafkaGroupId,
    sessionTimeoutMs: config.kafkaSessionTimeoutMs,
    persisterInProcess: config.persisterInProcess,
    maxBytesPerPartition: config.persisterFetchBytes,
    lingerMs: config.pipelineLingerMs,
    maxBatch: config.pipelineBatchMax,
    maxBuffered: config.pipelineBufferMax,
    log,
  };
}

export interface PersisterProcess {
  readonly port: number;
  /** Stops consuming (the running write finishes or is abandoned uncommitted), disconnects, closes the database. */
  stop(): Promise<void>;
}

/** `dispatch persister`: refuses without KAFKA_BROKERS (INVALID_CONFIG). */
export async function startPersisterProcess(config: Config, log: Logger): Promise<PersisterProcess> {
  if (config.kafkaBrokers === undefined) {
    throw new DispatchError(
      ErrorCode.InvalidConfig,
      "dispatch persister needs KAFKA_BROKERS (without Kafka, serve writes through the embedded log itself)",
    );
  }
  const storage = await openStorage({
    ...(config.databaseUrl === undefined ? { dataDir: config.dataDir } : { databaseUrl: config.databaseUrl }),
    ...(config.databaseSchema === undefined ? {} : { databaseSchema: config.databaseSchema }),
    ...(config.phoneSecret === undefined ? {} : { phoneSecret: config.phoneSecret }),
    log,
  });
  const { startPersister } = await import("../storage/pipeline/index.js");
  const { startPersisterHttp } = await import("../storage/kafka/http.js");
  let persister: Awaited<ReturnType<typeof startPersister>>;
  let http: Awaited<ReturnType<typeof startPersisterHttp>>;
  try {
    persister = await startPersister({
      brokers: config.kafkaBrokers,
      db: storage.db,
      topicPrefix: config.kafkaTopicPrefix,
      partitions: config.kafkaPartitions,
      groupId: config.kafkaGroupId,
      sessionTimeoutMs: config.kafkaSessionTimeoutMs,
      maxBytesPerPartition: config.persisterFetchBytes,
      log,
    });
  } catch (err) {
    await storage.close();
    throw err;
  }
  try {
    http = await startPersisterHttp(persister, { host: config.host, port: config.persisterPort });
  } catch (err) {
    await persister.stop();
    await storage.close();
    throw new DispatchError(
      ErrorCode.Unavailable,
      `cannot listen on ${config.host}:${config.persisterPort}`,
      {
        cause: err,
      },
    );
  }
  let stopping: Promise<void> | undefined;
  return {
    port: http.port,
    stop() {
      stopping ??= (async () => {
        await http.close();
        try {
          await persister.stop();
        } finally {
          await storage.close();
        }
      })();
      return stopping;
    },
  };
}
