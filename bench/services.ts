/**
 * The real services a bench suite needs (Redis, PostgreSQL, Kafka): the configured one when its
 * variable is set, else the project's own from `scripts/services.sh`, started when it is not
 * running and stopped again by `release()` only if this run started it.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Redis } from "ioredis";
import type { SuiteOptions } from "./report.js";

const SERVICES_SH = fileURLToPath(new URL("../scripts/services.sh", import.meta.url));

export type ServiceName = "redis" | "postgres" | "kafka";

const VARIABLE: Record<ServiceName, string> = {
  redis: "REDIS_URL",
  postgres: "DATABASE_URL",
  kafka: "KAFKA_BROKERS",
};

export interface ServiceHandle {
  readonly name: ServiceName;
  /** The URL (or broker list) to connect to. */
  readonly url: string;
  /** Whether this run started the service (and so `release()` stops it). */
  readonly started: boolean;
  release(): void;
}

function services(...args: string[]): string {
  return execFileSync("bash", [SERVICES_SH, ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/**
 * The service's address, or null (with a note saying why) when it cannot be had, so a suite can
 * still report what it measured without it.
 */
export function findService(
  name: ServiceName,
  log: SuiteOptions["log"],
  notes: string[],
): ServiceHandle | null {
  const variable = VARIABLE[name];
  const configured = process.env[variable];
  const handle = (url: string, started: boolean): ServiceHandle => ({
    name,
    url,
    started,
    release() {
      if (!started) return;
      try {
        services("down", name);
      } catch {
        // Leave it; `bash scripts/services.sh down` stops it later.
      }
    },
  });
  if (configured) return handle(configured, false);
  let started = false;
  try {
    try {
      services("status", name);
    } catch {
      log(`starting ${name}: bash scripts/services.sh up ${name}`);
      services("up", name);
      started = true;
    }
    const url = new RegExp(`${variable}=(\\S+)`).exec(services("env"))?.[1];
    if (url === undefined) throw new Error(`scripts/services.sh env printed no ${variable}`);
    return handle(url.replace(/^'|'$/g, ""), started);
  } catch (err) {
    notes.push(`${name} was unavailable (${(err as Error).message.split("\n")[0]}), so no ${name} figures.`);
    return null;
  }
}

/** CPU microseconds (user + system) the Redis server has used so far, from INFO. */
export async function redisCpuUs(redis: Redis): Promise<number> {
  const info = await redis.info("cpu");
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? Number.NaN);
  return (field("used_cpu_user") + field("used_cpu_sys")) * 1e6;
}
