import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { connectBus, ensureEpochStream } from "@nnunet-operator/bus";
import { startNatsServer } from "@nnunet-operator/bus/testing";
import { realNow, realSleep } from "../src/clock.js";
import { NatsReporterBus } from "../src/nats-bus.js";
import { parseLogText } from "../src/parse/nnunet-log.js";
import { EpochPublisher } from "../src/publish.js";
import { Reporter } from "../src/reporter.js";

// The reporter in-process against a real nats-server with JetStream (file storage):
//  1. throughput: a full real log already on disk, tailed, parsed and published until
//     JetStream acknowledged every epoch (epochs/s), next to the parser alone;
//  2. latency: a trainer stand-in writes a real log epoch by epoch; from the moment an
//     epoch's last line is written to its JetStream ack, p50/p99/max, with the fs.watch wake
//     and with polling only (what a network volume gets).
//
// npm run bench:reporter     (BENCH_EPOCH_GAP_MS sets the pause between epochs, default 15)

const LOGS = fileURLToPath(new URL("../../../test/fixtures/nnunet-logs/raw/", import.meta.url));
const THROUGHPUT_LOGS = [
  {
    name: "chasedb1 (v2, 2d)",
    path: "chasedb1-xray/nnunetv2/nnUNet_results/Dataset100_CHASEDB1/nnUNetTrainer__nnUNetPlans__2d/fold_0/training_log_2023_11_29_19_18_29.txt",
  },
  { name: "crf-effunet fold 0 (v1)", path: "crf-effunet/fold_0/training_log_2021_5_15_18_55_53.txt" },
  { name: "crf-effunet fold 2 (v1, restart)", path: "crf-effunet/fold_2/training_log_2021_6_19_09_40_34.txt" },
];
const LATENCY_LOG = THROUGHPUT_LOGS[0]!.path;
const EPOCH_GAP_MS = Number(process.env["BENCH_EPOCH_GAP_MS"] ?? 15);
const quiet = { info: () => undefined, warn: () => undefined, debug: () => undefined, error: () => undefined };

const server = await startNatsServer();
const nc = await connectBus({ servers: server.url, name: "reporter-bench" });
await ensureEpochStream(await jetstreamManager(nc), {
  maxAgeMs: 3600_000,
  maxBytes: 1 << 30,
  duplicateWindowMs: 120_000,
});
const root = await mkdtemp(join(tmpdir(), "reporter-bench-"));
let runs = 0;

interface Harness {
  reporter: Reporter;
  publisher: EpochPublisher;
  stop: () => Promise<void>;
}

/** One reporter on its own fold folder and run uid, publishing through a real connection. */
async function startReporter(
  dir: string,
  options: { watch: boolean; pollMs: number; onAck?: (epoch: number) => void },
): Promise<Harness> {
  runs += 1;
  const abort = new AbortController();
  let publisher: EpochPublisher | undefined;
  const bus = new NatsReporterBus({
    servers: [server.url],
    name: `bench-${runs}`,
    fold: { namespace: "bench", run: `run-${runs}`, fold: "0" },
    logger: quiet,
    sleep: realSleep,
    onUp: () => publisher?.wake(),
  });
  await bus.start(abort.signal);
  publisher = new EpochPublisher({
    bus,
    maxBuffered: 100_000,
    sleep: realSleep,
    events: { published: (epoch) => options.onAck?.(epoch) },
  });
  const reporter = new Reporter({
    identity: { namespace: "bench", run: `run-${runs}`, runUid: `uid-bench-${runs}`, fold: "0", attempt: 0 },
    foldDir: dir,
    pollMs: options.pollMs,
    heartbeatMs: 30_000,
    statsMs: 3600_000,
    publisher,
    heartbeat: (hb) => bus.heartbeat(hb),
    counters: { skippedLines: { inc: () => undefined } },
    logger: quiet,
    now: realNow,
    sleep: realSleep,
    watchFolder: options.watch,
  });
  const running = reporter.run(abort.signal);
  const p = publisher;
  return {
    reporter,
    publisher: p,
    stop: async () => {
      abort.abort();
      await running;
      await p.close();
      await bus.drain(1000);
    },
  };
}

async function until(predicate: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error("benchmark step timed out");
    await new Promise((r) => setImmediate(r));
  }
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

// 1. Throughput.
const throughput: string[][] = [];
for (const log of THROUGHPUT_LOGS) {
  const text = await readFile(join(LOGS, log.path), "utf8");
  const epochs = parseLogText(text).length;
  let reps = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 1000 || reps < 3) {
    parseLogText(text);
    reps += 1;
  }
  const parseRate = (epochs * reps) / ((performance.now() - t0) / 1000);

  const dir = join(root, `throughput-${runs}`);
  await mkdir(dir, { recursive: true });
  // The file appears after the reporter started, as a trainer's does (a file that was
  // already there would be held by the gate until it grows).
  const h = await startReporter(dir, { watch: true, pollMs: 250 });
  const t1 = performance.now();
  await writeFile(join(dir, log.path.split("/").pop() ?? ""), text);
  const unique = new Set(parseLogText(text).map((e) => e.epoch)).size;
  await until(() => h.publisher.stats.published >= epochs, 60_000);
  const seconds = (performance.now() - t1) / 1000;
  await h.stop();
  throughput.push([
    log.name,
    fmt(text.split("\n").length),
    fmt(epochs),
    fmt(unique),
    fmt(parseRate),
    fmt(epochs / seconds),
    fmt(seconds * 1000, 1),
  ]);
}

// 2. Latency from an epoch's last line written to its JetStream ack.
async function latency(watch: boolean, pollMs: number): Promise<number[]> {
  const lines = (await readFile(join(LOGS, LATENCY_LOG), "utf8")).split("\n");
  const dir = join(root, `latency-${runs}`);
  await mkdir(dir, { recursive: true });
  const written = new Map<number, number>();
  const acked = new Map<number, number>();
  const h = await startReporter(dir, { watch, pollMs, onAck: (epoch) => acked.set(epoch, performance.now()) });
  const path = join(dir, "training_log_2023_11_29_19_18_29.txt");
  await writeFile(path, "");
  await new Promise((r) => setTimeout(r, 300));
  let epoch = 0;
  let chunk = "";
  for (const line of lines) {
    chunk += `${line}\n`;
    if (!line.includes("Epoch time:")) continue;
    // Everything up to the end line in one write, then the end line alone: the latency
    // clock starts when the line that finishes the epoch is on disk.
    const end = chunk.lastIndexOf(line);
    await appendFile(path, chunk.slice(0, end));
    await appendFile(path, chunk.slice(end));
    written.set(epoch, performance.now());
    chunk = "";
    epoch += 1;
    await new Promise((r) => setTimeout(r, EPOCH_GAP_MS));
  }
  await until(() => acked.size >= epoch, 30_000);
  await h.stop();
  return [...written].map(([e, t]) => (acked.get(e) ?? Number.NaN) - t).sort((a, b) => a - b);
}

const latencyRows: string[][] = [];
for (const [label, watch, pollMs] of [
  ["fs.watch wake, poll 250 ms (default)", true, 250],
  ["poll 250 ms only (network volume)", false, 250],
  ["poll 50 ms only", false, 50],
] as const) {
  const ms = await latency(watch, pollMs);
  latencyRows.push([
    label,
    fmt(ms.length),
    fmt(quantile(ms, 0.5), 1),
    fmt(quantile(ms, 0.99), 1),
    fmt(ms.at(-1) ?? Number.NaN, 1),
  ]);
}

await nc.close();
await server.stop();
await rm(root, { recursive: true, force: true });

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(" | ")} |`;
  return [
    line(header),
    `|${widths.map((w, i) => (i === 0 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`,
    ...rows.map(line),
  ].join("\n");
}

console.log(
  `reporter benchmark: node ${process.version}, nats-server with JetStream (file storage), in-process reporter\n`,
);
console.log(
  "Throughput of a full real log: tail + parse + publish until every epoch is acknowledged (sequential acks)",
);
console.log(
  table(
    ["log", "lines", "epochs", "epoch ids", "parse only (epochs/s)", "parse + publish (epochs/s)", "wall (ms)"],
    throughput,
  ),
);
console.log(`\nLatency from an epoch's last log line written to its JetStream ack (${EPOCH_GAP_MS} ms between epochs)`);
console.log(table(["tail wake-up", "epochs", "p50 (ms)", "p99 (ms)", "max (ms)"], latencyRows));
process.exit(0);
