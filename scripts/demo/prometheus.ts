import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { freePort, type Service, sleep, spawnService, waitHttpOk } from "./processes.js";

// A real Prometheus (Debian's /usr/bin/prometheus) on a free port, with a generated config
// that scrapes the given targets every second and a temporary storage folder.

export interface PrometheusOptions {
  workDir: string;
  /** job name -> host:port targets serving /metrics */
  targets: Record<string, string[]>;
  binary?: string;
}

export function prometheusBinary(): string {
  return ["/usr/bin/prometheus", "/usr/sbin/prometheus"].find((p) => existsSync(p)) ?? "prometheus";
}

export async function startPrometheus(o: PrometheusOptions): Promise<{ url: string; service: Service }> {
  const dir = join(o.workDir, "prometheus");
  mkdirSync(join(dir, "data"), { recursive: true });
  const config = {
    global: { scrape_interval: "1s", evaluation_interval: "1s" },
    scrape_configs: Object.entries(o.targets).map(([job, targets]) => ({
      job_name: job,
      static_configs: [{ targets }],
    })),
  };
  writeFileSync(join(dir, "prometheus.yml"), stringify(config));
  const port = await freePort();
  const service = spawnService({
    name: "prometheus",
    command: o.binary ?? prometheusBinary(),
    args: [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--storage.tsdb.retention.time=1h",
    ],
    cwd: dir,
    env: { PATH: process.env.PATH },
    logFile: join(o.workDir, "logs", "prometheus.log"),
  });
  const url = `http://127.0.0.1:${port}`;
  await waitHttpOk(`${url}/-/ready`, service, 60_000);
  return { url, service };
}

/** An instant PromQL query through the HTTP API: the result vector. */
export async function promQuery(
  url: string,
  query: string,
): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await res.json()) as {
    status: string;
    data?: { result: { metric: Record<string, string>; value: [number, string] }[] };
    error?: string;
  };
  if (body.status !== "success") throw new Error(`PromQL ${query}: ${body.error ?? res.status}`);
  return body.data?.result ?? [];
}

export { sleep };
