import { spawn } from "node:child_process";
import { appendFile, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KubeConfig } from "@kubernetes/client-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { ANNOTATION_STOP_DECISION } from "@nnunet-operator/api";
import {
  connectBus,
  encodeEpochMetrics,
  ensureEpochStream,
  epochMessageId,
  epochSubject,
  EPOCH_STREAM,
  publishEpoch,
} from "@nnunet-operator/bus";
import { startNatsServer } from "@nnunet-operator/bus/testing";
import { ClientPort, Informer, type KubePort, Resources } from "@nnunet-operator/kube";
import { pino } from "pino";
import { startEarlyStop } from "../src/app.js";
import { loadConfig, streamLimits } from "../src/config.js";
import { readCurveDir } from "../src/evaluate/curves.js";
import { presetConfig, replayCurve } from "../src/evaluate/replay.js";
import { epochMessage, makeRun, makeTrainingJob } from "../src/testing/index.js";

// The controller end to end, as main.ts composes it, on a real nats-server and the
// devcluster in its own process (HTTPS, CRD validation, watches), reached through
// client-node like a real API server:
// 1. decision latency: from publishing the deciding epoch to the stop patch accepted by the
//    API (seen on a watch of the Jobs, so a little late, never early), one fold at a time
//    (no queueing), for the Forecast policy on every real curve it stops and for Divergence
//    on many folds; p50 and p99 against the 250 ms target;
// 2. sustained ingest through the real JetStream consumer: a backlog of real curve epochs
//    (all 62 curves, several copies, interleaved) consumed by a fresh durable consumer, in
//    messages/s on the controller's one Node.js thread, against the 20,000/s target;
// 3. latency from the log line that ends a diverging epoch, through the reporter process, to the
//    stop patch (the end-to-end figure), one reporter per fold.
//
// npm run bench:early-stop-latency   (BENCH_COPIES=n scales the backlog, default 4;
// BENCH_DIVERGING_FOLDS=n, default 200; BENCH_LOG_SAMPLES=n, default 20;
// BENCH_PROFILE=file.cpuprofile profiles the ingest)

const CURVES = fileURLToPath(new URL("../../../test/fixtures/nnunet-logs/curves/", import.meta.url));
const CRD = fileURLToPath(new URL("../../../crds/trainingruns.nnunet-operator.io.yaml", import.meta.url));
const CLI = fileURLToPath(new URL("../../devcluster/src/cli.ts", import.meta.url));
const REPORTER = fileURLToPath(new URL("../../reporter/src/main.ts", import.meta.url));
const RAW_LOG = fileURLToPath(
  new URL(
    "../../../test/fixtures/nnunet-logs/raw/chasedb1-xray/nnunetv2/nnUNet_results/Dataset100_CHASEDB1/nnUNetTrainer__nnUNetPlans__2d/fold_0/training_log_2023_11_29_19_18_29.txt",
    import.meta.url,
  ),
);
const LOG_SAMPLES = Number(process.env["BENCH_LOG_SAMPLES"] ?? 20);
const COPIES = Number(process.env["BENCH_COPIES"] ?? 4);
const DIVERGING_FOLDS = Number(process.env["BENCH_DIVERGING_FOLDS"] ?? 200);

const profiler = process.env["BENCH_PROFILE"] ? await ingestProfiler(process.env["BENCH_PROFILE"]) : undefined;
async function ingestProfiler(file: string) {
  const { Session } = await import("node:inspector/promises");
  const { writeFile } = await import("node:fs/promises");
  const session = new Session();
  session.connect();
  return {
    start: async () => {
      await session.post("Profiler.enable");
      await session.post("Profiler.start");
    },
    stop: async () => writeFile(file, JSON.stringify((await session.post("Profiler.stop")).profile)),
  };
}

interface Api {
  readonly admin: KubePort;
  /** When each Job's stop decision became visible on a watch (performance.now()). */
  readonly accepted: Map<string, number>;
  kubeConfig(): KubeConfig;
  close(): Promise<void>;
}

/** The devcluster (HTTPS) in its own process, as an API server would be. */
async function devclusterApi(): Promise<Api> {
  const dir = await mkdtemp(join(tmpdir(), "es-bench-"));
  const kubeconfigPath = join(dir, "kubeconfig");
  const child = spawn(
    process.execPath,
    ["--import", "tsx", CLI, "serve", "--port", "0", "--kubeconfig", kubeconfigPath, "--manifest", CRD],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      if (out.includes("export KUBECONFIG=")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`devcluster exited with ${code}`)));
  });
  const kubeConfig = () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    return kc;
  };
  const admin = new ClientPort(kubeConfig(), { fieldManager: "bench" });
  for (const name of ["team-a", "nnunet-system"])
    await admin.create(Resources.namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
  const accepted = new Map<string, number>();
  const watching = new AbortController();
  const jobs = new Informer({ port: admin, resource: Resources.jobs, namespace: "team-a" });
  jobs.addHandler((change) => {
    const key = `team-a/${change.object.metadata.name}`;
    if (change.object.metadata.annotations?.[ANNOTATION_STOP_DECISION] !== undefined && !accepted.has(key))
      accepted.set(key, performance.now());
  });
  void jobs.run(watching.signal);
  await jobs.waitForSync();
  return {
    admin,
    accepted,
    kubeConfig,
    close: async () => {
      watching.abort();
      child.kill("SIGTERM");
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
const log = pino({ level: "silent" });
const curves = readCurveDir(CURVES);
const nats = await startNatsServer();
const config = (durable: string) =>
  loadConfig({
    NATS_URL: nats.url,
    HTTP_HOST: "127.0.0.1",
    HTTP_PORT: "0",
    LOG_LEVEL: "silent",
    NATS_DURABLE: durable,
    NATS_MAX_ACK_PENDING: "10000",
  });
const nc = await connectBus({ servers: nats.url, name: "bench" });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
await ensureEpochStream(jsm, streamLimits(config("x")));

async function until(predicate: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("bench timed out");
    await new Promise((r) => setTimeout(r, 1));
  }
}

// 1. Latency.
interface LatencyRow {
  scenario: string;
  samples: number;
  p50: number;
  p99: number;
  max: number;
}
const latencyRows: LatencyRow[] = [];
{
  const api = await devclusterApi();
  const kube = api.admin;
  const controller = await startEarlyStop({
    config: config("latency"),
    kubeConfig: api.kubeConfig(),
    log,
    identity: "bench-latency",
  });
  await until(() => controller.controller.active);
  const measure = async (
    scenario: string,
    folds: Array<{
      name: string;
      warmup: Array<Parameters<typeof epochMessage>[0]>;
      decide: Parameters<typeof epochMessage>[0];
      maxEpochs: number;
    }>,
  ) => {
    const samples: number[] = [];
    for (const f of folds) {
      const run = await kube.create(
        Resources.trainingRuns,
        makeRun({ name: f.name, folds: [0], maxEpochs: f.maxEpochs }),
      );
      await kube.create(Resources.jobs, makeTrainingJob(run, "0"));
      const address = { run: f.name, runUid: run.metadata.uid ?? "" };
      await until(() => controller.runs.get("team-a", f.name) !== undefined);
      for (const p of f.warmup) await publishEpoch(js, epochMessage(p, Date.now(), address));
      const key = `team-a/${f.name}/0`;
      await until(
        () =>
          (controller.controller.folds().get(key)?.state.history.last?.epoch ?? -1) === (f.warmup.at(-1)?.epoch ?? -1),
      );
      const t0 = performance.now();
      await publishEpoch(js, epochMessage(f.decide, Date.now(), address));
      await until(() => api.accepted.has(`team-a/${f.name}-fold-0`), 10_000);
      samples.push((api.accepted.get(`team-a/${f.name}-fold-0`) ?? Number.NaN) - t0);
    }
    samples.sort((a, b) => a - b);
    latencyRows.push({
      scenario,
      samples: samples.length,
      p50: quantile(samples, 0.5),
      p99: quantile(samples, 0.99),
      max: samples.at(-1) ?? Number.NaN,
    });
  };
  const forecast = curves.flatMap((c, i) => {
    const stop = replayCurve(c, presetConfig("Forecast")).stopEpoch;
    if (stop === undefined) return [];
    return [
      {
        name: `lat-curve-${i}`,
        warmup: c.points.slice(0, stop) as Array<Parameters<typeof epochMessage>[0]>,
        decide: c.points[stop]!,
        maxEpochs: c.maxEpochs,
      },
    ];
  });
  await measure("Forecast, real curves (decides at its evaluator epoch)", forecast);
  const flat = curves[0]!.points;
  const diverging = Array.from({ length: DIVERGING_FOLDS }, (_, i) => ({
    name: `lat-nan-${i}`,
    warmup: flat.slice(0, 10),
    decide: { ...flat[10]!, trainLoss: Number.NaN },
    maxEpochs: 1000,
  }));
  await measure(`Divergence, ${DIVERGING_FOLDS} folds`, diverging);
  if (LOG_SAMPLES > 0) latencyRows.push(await logToPatch(api, controller));
  await controller.stop();
  await jsm.streams.purge(EPOCH_STREAM);
  await api.close();
}

/**
 * From the log line that ends a diverging epoch (nnU-Net's "Epoch time:") written into the
 * fold folder, through the reporter sidecar (its main.ts, default settings) and NATS, to the
 * stop patch seen on the API: one reporter per fold, one fold at a time.
 */
async function logToPatch(api: Api, controller: Awaited<ReturnType<typeof startEarlyStop>>): Promise<LatencyRow> {
  const lines = (await readFile(RAW_LOG, "utf8")).split("\n");
  const header = lines.findIndex((l) => l.includes(": Epoch 10 "));
  const end = lines.findIndex((l, i) => i > header && l.includes(": Epoch time:"));
  const warmup = lines.slice(0, header);
  const diverging = lines
    .slice(header, end)
    .map((l) => (l.includes(": train_loss ") ? l.replace(/train_loss \S+/, "train_loss nan") : l));
  const closing = lines[end] ?? "";
  const dir = await mkdtemp(join(tmpdir(), "es-bench-log-"));
  const samples: number[] = [];
  try {
    for (let i = 0; i < LOG_SAMPLES; i++) {
      const name = `lat-log-${i}`;
      const run = await api.admin.create(Resources.trainingRuns, makeRun({ name, folds: [0] }));
      await api.admin.create(Resources.jobs, makeTrainingJob(run, "0"));
      await until(() => controller.runs.get("team-a", name) !== undefined);
      const foldDir = join(dir, name, "fold_0");
      await mkdir(foldDir, { recursive: true });
      const env = {
        PATH: process.env["PATH"] ?? "",
        NNUNET_NAMESPACE: "team-a",
        NNUNET_RUN: name,
        NNUNET_RUN_UID: run.metadata.uid ?? "",
        NNUNET_FOLD: "0",
        NNUNET_ATTEMPT: "0",
        NNUNET_FOLD_DIR: foldDir,
        NATS_URL: nats.url,
        LOG_LEVEL: "info",
      };
      const reporter = spawn(process.execPath, ["--import", "tsx", REPORTER], {
        env,
        stdio: ["ignore", "pipe", "ignore"],
      });
      let out = "";
      reporter.stdout.on("data", (c: Buffer) => (out += c.toString()));
      try {
        await until(() => out.includes("connected to NATS"), 30_000);
        const log = join(foldDir, "training_log_2026_1_1_00_00_00.txt");
        await appendFile(log, `${warmup.join("\n")}\n`);
        await until(
          () => (controller.controller.folds().get(`team-a/${name}/0`)?.state.history.last?.epoch ?? -1) === 9,
          30_000,
        );
        await appendFile(log, `${diverging.join("\n")}\n`);
        const t0 = performance.now();
        await appendFile(log, `${closing}\n`);
        await until(() => api.accepted.has(`team-a/${name}-fold-0`), 10_000);
        samples.push((api.accepted.get(`team-a/${name}-fold-0`) ?? Number.NaN) - t0);
      } finally {
        reporter.kill("SIGTERM");
        await new Promise((r) => reporter.once("exit", r));
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  samples.sort((a, b) => a - b);
  return {
    scenario: `log line -> patch via the reporter (${LOG_SAMPLES} folds)`,
    samples: samples.length,
    p50: quantile(samples, 0.5),
    p99: quantile(samples, 0.99),
    max: samples.at(-1) ?? Number.NaN,
  };
}

// 2. Sustained ingest.
let ingestRow: {
  messages: number;
  folds: number;
  seconds: number;
  rate: number;
  cpuSeconds: number;
  decisions: number;
};
{
  const api = await devclusterApi();
  const kube = api.admin;
  const folds = Array.from({ length: COPIES }, (_, copy) =>
    curves.map((c, i) => ({ curve: c, name: `in-${copy}-${i}` })),
  ).flat();
  const uids = new Map<string, string>();
  for (const f of folds)
    uids.set(
      f.name,
      (await kube.create(Resources.trainingRuns, makeRun({ name: f.name, folds: [0], maxEpochs: f.curve.maxEpochs })))
        .metadata.uid ?? "",
    );
  const longest = Math.max(...curves.map((c) => c.points.length));
  const pending: Array<Promise<unknown>> = [];
  let messages = 0;
  for (let e = 0; e < longest; e++) {
    for (const f of folds) {
      const p = f.curve.points[e];
      if (p === undefined) continue;
      const m = epochMessage(p, Date.UTC(2026, 0, 1) + e * 60_000, { run: f.name, runUid: uids.get(f.name) ?? "" });
      pending.push(js.publish(epochSubject(m), encodeEpochMetrics(m), { msgID: epochMessageId(m) }));
      messages += 1;
      if (pending.length >= 2000) await Promise.all(pending.splice(0));
    }
  }
  await Promise.all(pending);
  const controller = await startEarlyStop({
    config: config("ingest"),
    kubeConfig: api.kubeConfig(),
    log,
    identity: "bench-ingest",
  });
  await until(() => folds.every((f) => controller.runs.get("team-a", f.name) !== undefined));
  const counted = async () =>
    ((await controller.registry.getSingleMetric("nnunet_earlystop_messages_total")?.get())?.values ?? []).reduce(
      (a, v) => a + v.value,
      0,
    );
  await until(() => controller.controller.active);
  await profiler?.start();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (;;) {
    if ((await counted()) >= messages) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  // This process only runs the controller now (the publisher is done, the API server and
  // nats-server are other processes): its CPU time is the controller's.
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  await profiler?.stop();
  // No Jobs exist for these folds: a decision costs a GET answered 404, no patch.
  const decisions = [...controller.controller.folds().values()].filter((e) => e.state.decision !== undefined).length;
  const accepted =
    ((await controller.registry.getSingleMetric("nnunet_earlystop_messages_total")?.get())?.values ?? []).find(
      (v) => v.labels.result === "accepted",
    )?.value ?? 0;
  if (accepted !== messages)
    throw new Error(`accepted ${accepted} of ${messages} messages: the bench measures the wrong thing`);
  ingestRow = { messages, folds: folds.length, seconds, rate: messages / seconds, cpuSeconds, decisions };
  await controller.stop();
  await api.close();
}

await nc.close();
await nats.stop();

const table = (header: string[], rows: string[][]) => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  return `${fmt(header)}\n${fmt(widths.map((w) => "-".repeat(w)))}\n${rows.map(fmt).join("\n")}\n`;
};
const ms = (v: number) => v.toFixed(1);
process.stdout.write(
  `early-stop controller on nats-server ${nats.url} (JetStream, file store) and the devcluster in its own process, node ${process.version}\n\n`,
);
process.stdout.write(
  "decision latency, until the stop patch is accepted by the API (ms): from the deciding epoch published, or from its last log line written\n",
);
process.stdout.write(
  table(
    ["scenario", "samples", "p50", "p99", "max"],
    latencyRows.map((r) => [r.scenario, String(r.samples), ms(r.p50), ms(r.p99), ms(r.max)]),
  ),
);
const worstP99 = Math.max(...latencyRows.filter((r) => !r.scenario.startsWith("log line")).map((r) => r.p99));
process.stdout.write(
  `worst p99 from the published epoch: ${ms(worstP99)} ms (target < 250 ms): ${worstP99 < 250 ? "met" : "NOT met"}\n`,
);
const logRow = latencyRows.find((r) => r.scenario.startsWith("log line"));
if (logRow)
  process.stdout.write(
    `from the log line: p99 ${ms(logRow.p99)} ms (target < 250 ms): ${logRow.p99 < 250 ? "met" : "NOT met"}\n`,
  );
process.stdout.write("\n");
process.stdout.write(
  "sustained ingest through the JetStream consumer (backlog consumed by a fresh durable consumer)\n",
);
const perCpu = ingestRow.messages / ingestRow.cpuSeconds;
process.stdout.write(
  table(
    ["messages", "folds", "folds decided", "wall s", "messages/s (wall)", "CPU s", "messages per CPU-second"],
    [
      [
        String(ingestRow.messages),
        String(ingestRow.folds),
        String(ingestRow.decisions),
        ingestRow.seconds.toFixed(2),
        Math.round(ingestRow.rate).toLocaleString("en-US"),
        ingestRow.cpuSeconds.toFixed(2),
        Math.round(perCpu).toLocaleString("en-US"),
      ],
    ],
  ),
);
const load = (await import("node:os")).loadavg()[0] ?? 0;
process.stdout.write(
  `ingest on one core: ${Math.round(perCpu).toLocaleString("en-US")} messages per CPU-second, ${Math.round(ingestRow.rate).toLocaleString("en-US")}/s wall clock at load average ${load.toFixed(1)} (target 20,000): ${perCpu >= 20_000 ? "met" : "NOT met"}\n`,
);
