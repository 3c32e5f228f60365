/**
 * The persister's small HTTP face (the `dispatch persister` process has no gateway):
 * - `GET /healthz`: 200 with the lag while the consumer runs, 503 once it stopped or Kafka does
 *   not answer the lag query.
 * - `GET /metrics`: Prometheus text: records written (per kind), duplicates, poison, batches,
 *   retries, and the lag per partition.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { KafkaPersister } from "./persister.js";

export interface PersisterHttp {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

function label(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

async function metrics(p: KafkaPersister): Promise<string> {
  const s = p.stats();
  const lines = [
    "# TYPE dispatch_persister_records_written_total counter",
    ...Object.entries(s.written).map(
      ([k, n]) => `dispatch_persister_records_written_total{kind="${k}"} ${n}`,
    ),
    "# TYPE dispatch_persister_records_duplicate_total counter",
    `dispatch_persister_records_duplicate_total ${s.duplicates}`,
    "# TYPE dispatch_persister_records_poison_total counter",
    `dispatch_persister_records_poison_total ${s.poison}`,
    "# TYPE dispatch_persister_batches_total counter",
    `dispatch_persister_batches_total ${s.batches}`,
    "# TYPE dispatch_persister_retries_total counter",
    `dispatch_persister_retries_total ${s.retries}`,
    "# TYPE dispatch_persister_running gauge",
    `dispatch_persister_running ${s.running ? 1 : 0}`,
  ];
  try {
    const lag = await p.lag();
    lines.push("# TYPE dispatch_persister_consumer_lag gauge");
    for (const l of lag) {
      lines.push(
        `dispatch_persister_consumer_lag{topic="${label(l.topic)}",partition="${l.partition}"} ${l.lag}`,
      );
    }
  } catch {
    // Kafka away: the counters still tell something.
  }
  return `${lines.join("\n")}\n`;
}

export async function startPersisterHttp(
  persister: KafkaPersister,
  options: { host: string; port: number },
): Promise<PersisterHttp> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    if (req.method !== "GET") return send(405, "text/plain", "method not allowed\n");
    if (path === "/healthz") {
      if (!persister.running) return send(503, "application/json", JSON.stringify({ status: "stopped" }));
      persister.lag().then(
        (lag) =>
          send(
            200,
            "application/json",
            JSON.stringify({ status: "ok", lag: lag.reduce((n, l) => n + l.lag, 0), partitions: lag }),
          ),
        (err: unknown) =>
          send(503, "application/json", JSON.stringify({ status: "kafka unavailable", err: String(err) })),
      );
      return;
    }
    if (path === "/metrics") {
      metrics(persister).then(
        (text) => send(200, "text/plain; version=0.0.4", text),
        (err: unknown) => send(500, "text/plain", `${String(err)}\n`),
      );
      return;
    }
    send(404, "text/plain", "not found\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    host: options.host,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
