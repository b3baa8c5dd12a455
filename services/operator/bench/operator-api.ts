import { execFileSync, fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { KubeConfig } from "@kubernetes/client-node";
import { isJobFinished, LABEL_RUN } from "@nnunet-operator/api";
import { startDevCluster } from "@nnunet-operator/devcluster";
import { ClientPort, type KubeObject, Resources } from "@nnunet-operator/kube";
import { podGpuRequest } from "../src/trainingrun/decide/objects.js";

// The operator end to end under the issue's load: 1,000 TrainingRuns x 5 folds on 250
// simulated nodes x 4 L40S, through the real reconciler, against the devcluster's API over
// HTTPS. The operator runs in its own process, bundled as the operator image bundles it
// (images/bundle.sh) and started with plain node, so its resident memory is the operator's
// alone; the devcluster and this driver live here. Phase 1: time until every GPU is
// admitted (1,000 training Jobs). Phase 2: the first runs are driven through their whole
// life (pods run, finish, validate; this driver plays kubelet and Job controller) and the
// operator's API writes are counted per fold lifecycle.
//
// Run: npm run bench:operator-api   (BENCH_RUNS, BENCH_NODES, BENCH_LIFECYCLE_RUNS to scale;
// BENCH_HEAP_SNAPSHOT=file.heapsnapshot writes the operator's heap at the end)

const RUNS = Number(process.env.BENCH_RUNS ?? 1000);
const NODES = Number(process.env.BENCH_NODES ?? 250);
const LIFECYCLE_RUNS = Number(process.env.BENCH_LIFECYCLE_RUNS ?? 40);
const FILL_TIMEOUT_S = Number(process.env.BENCH_FILL_TIMEOUT_S ?? 300);
const FOLDS = 5;
const NS = "bench";
const root = resolve(import.meta.dirname, "../../..");
/** The V8 flags of images/operator/Dockerfile's NODE_OPTIONS; BENCH_NODE_FLAGS replaces them ("" for V8's defaults). */
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? dockerfileNodeOptions(join(root, "images/operator/Dockerfile")))
  .split(" ")
  .filter(Boolean);

function dockerfileNodeOptions(path: string): string {
  const m = /^ENV NODE_OPTIONS="([^"]*)"$/m.exec(readFileSync(path, "utf8"));
  if (!m)
    throw new Error(`${path}: no ENV NODE_OPTIONS="..." line: the bench runs the operator with the image's flags`);
  return m[1]!;
}

interface Report {
  latencies: number[];
  /** CPU milliseconds the operator process used during each pass (its other work included). */
  cpu: number[];
  /** Wall milliseconds of each pass's awaited API calls (summed; Jobs created at once overlap). */
  apiMs: number[];
  marked: number;
  /** Milliseconds of each admission cycle's work, summed over its slices. */
  cycles: number[];
  /** Milliseconds of each cycle's longest slice: the longest it held the event loop. */
  slices: number[];
  /** Milliseconds of each cycle taking its inputs, and applying its decisions. */
  inputs: number[];
  applies: number[];
  markedCycles: number;
  /** The event loop's delay until capacity was full, in milliseconds. */
  fillLoopDelay: { p50: number; p99: number; max: number };
  perRun: Array<[string, number]>;
  verbs: Array<[string, number]>;
  peakRss: number;
  startRss: number;
  afterGc: NodeJS.MemoryUsage;
}

function startOperator(kubeconfig: string): {
  child: ChildProcess;
  ask: <T>(type: string, reply: string) => Promise<T>;
} {
  const dir = mkdtempSync(join(tmpdir(), "bench-operator-"));
  const bundle = join(dir, "operator.mjs");
  execFileSync("sh", [join(root, "images/bundle.sh"), join(root, "services/operator/bench/operator-proc.ts"), bundle], {
    cwd: root,
    stdio: "inherit",
  });
  const child = fork(bundle, [], {
    execPath: process.execPath,
    execArgv: ["--expose-gc", ...NODE_FLAGS],
    env: { ...process.env, KUBECONFIG: kubeconfig },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const ask = <T>(type: string, reply: string) =>
    new Promise<T>((ok) => {
      const on = (m: { type: string }) => {
        if (m.type !== reply) return;
        child.off("message", on);
        ok(m as T);
      };
      child.on("message", on);
      if (type) child.send({ type });
    });
  return { child, ask };
}

async function pool<T>(items: readonly T[], n: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const now = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");

async function main(): Promise<void> {
  const tSeed = performance.now();
  const dc = await startDevCluster({ manifests: [join(root, "crds/trainingruns.nnunet-operator.io.yaml")] });
  const kc = new KubeConfig();
  kc.loadFromFile(dc.kubeconfigPath);
  const admin = new ClientPort(kc, { fieldManager: "bench" });

  await admin.create(Resources.namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
  await admin.create(Resources.namespaces, {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: "nnunet-system" },
  });
  await admin.create(Resources.persistentVolumeClaims, {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: "data", namespace: NS },
    spec: { accessModes: ["ReadWriteMany"], resources: { requests: { storage: "1Ti" } } },
  });
  const nodes = Array.from({ length: NODES }, (_, i) => `l40s-${i}`);
  await pool(nodes, 16, (name) =>
    admin.create(Resources.nodes, {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name, labels: { "nvidia.com/gpu.product": "NVIDIA-L40S" } },
      spec: { taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }] },
      status: { allocatable: { "nvidia.com/gpu": "4" }, conditions: [{ type: "Ready", status: "True" }] },
    }),
  );
  const runNames = Array.from({ length: RUNS }, (_, i) => `run-${String(i).padStart(4, "0")}`);
  await pool(runNames, 16, (name) =>
    admin.create(Resources.trainingRuns, {
      apiVersion: "nnunet-operator.io/v1alpha1",
      kind: "TrainingRun",
      metadata: { name, namespace: NS },
      spec: {
        dataset: "Dataset003_Liver",
        configuration: "3d_fullres",
        storage: { claimName: "data" },
        batchSize: { mode: "Fixed", value: 4 },
      },
    }),
  );

  console.error(`devcluster started and seeded in ${((performance.now() - tSeed) / 1000).toFixed(1)} s`);
  // Every stored change of one of our Jobs is a moment at which no GPU may be over-committed:
  // the GPUs held by Jobs neither finished, suspended nor deleted never exceed the nodes'
  // (no pod is bound in phase 1, so each such Job is a reservation). Kept incrementally.
  const jobsStorage = dc.cluster.resource("batch", "v1", "jobs").storage;
  const held = new Map<string, number>();
  const gpuCheck = { total: 0, peak: 0, changes: 0, overCommitted: 0, worst: 0 };
  dc.cluster.store.watchAll((e) => {
    if (e.storage !== jobsStorage) return;
    const job = (e as unknown as { object: KubeObject & { spec?: any; status?: any } }).object;
    if (job.metadata.labels?.[LABEL_RUN] === undefined) return;
    const key = `${job.metadata.namespace}/${job.metadata.name}`;
    const holding =
      e.type !== "DELETED" && !job.spec?.suspend && !isJobFinished(job as never) && !job.metadata.deletionTimestamp;
    const gpus = holding ? podGpuRequest(job.spec?.template?.spec) : 0;
    gpuCheck.total += gpus - (held.get(key) ?? 0);
    held.set(key, gpus);
    gpuCheck.changes += 1;
    gpuCheck.peak = Math.max(gpuCheck.peak, gpuCheck.total);
    const over = gpuCheck.total - NODES * 4;
    if (over > 0) {
      gpuCheck.overCommitted += 1;
      gpuCheck.worst = Math.max(gpuCheck.worst, over);
    }
  });
  const { child, ask } = startOperator(dc.kubeconfigPath);
  await ask("", "started");
  const t0 = performance.now();
  const jobsDef = dc.cluster.resource("batch", "v1", "jobs");
  const allJobs = () =>
    [...dc.cluster.store.scan(jobsDef.storage, NS)].map((e) => e.object as KubeObject & { spec?: any });
  const trainingJobs = () => allJobs().filter((j) => j.metadata.labels?.["nnunet-operator.io/role"] === "train").length;
  const capacity = NODES * 4;
  while (trainingJobs() < Math.min(capacity, RUNS * FOLDS)) {
    if (performance.now() - t0 > FILL_TIMEOUT_S * 1000)
      throw new Error(`capacity not full after ${FILL_TIMEOUT_S} s: ${trainingJobs()} Jobs`);
    if (process.env.BENCH_DEBUG) console.error(((performance.now() - t0) / 1000).toFixed(1), "jobs", trainingJobs());
    await new Promise((r) => setTimeout(r, 100));
  }
  const fillSeconds = (performance.now() - t0) / 1000;
  const fullJobs = trainingJobs();
  const { rss: rssAtFull } = await ask<{ rss: number }>("mark", "marked");
  // Phase 1's figures now, so that they are on record even if phase 2 fails.
  const atFull = await ask<Report>("report", "report");
  const fillPasses = atFull.latencies.slice(0, atFull.marked);
  console.error(
    `capacity full after ${fillSeconds.toFixed(1)} s (${fullJobs} training Jobs), operator RSS ${mb(rssAtFull)} MB (peak ${mb(atFull.peakRss)}), reconcile p50/p99 ${pct(fillPasses, 50).toFixed(1)}/${pct(fillPasses, 99).toFixed(1)} ms over ${fillPasses.length} passes`,
  );

  // Phase 2: the first runs through their whole life.
  const lifecycle = runNames.slice(0, LIFECYCLE_RUNS);
  const writesBefore = new Map((await ask<Report>("report", "report")).perRun);
  const finished = new Set<string>();
  const startPods = (role: string, message?: string) =>
    runPods(
      allJobs().filter(
        (j) =>
          lifecycle.includes(j.metadata.labels?.[LABEL_RUN] ?? "") &&
          j.metadata.labels?.["nnunet-operator.io/role"] === role,
      ),
      message,
    );
  /** Plays kubelet and Job controller: a pod per Job, run to Succeeded, and the Job Complete. */
  const runPods = async (jobs: Array<KubeObject & { spec?: any }>, message?: string) => {
    for (const j of jobs) finished.add(j.metadata.name!);
    await pool(jobs, 8, async (job) => {
      const name = `${job.metadata!.name}-p`;
      const tpl = job.spec!.template;
      const node = nodes[Math.abs(hash(name)) % NODES]!;
      await admin.create(Resources.pods, {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name,
          namespace: NS,
          labels: tpl.metadata!.labels!,
          ownerReferences: [
            {
              apiVersion: "batch/v1",
              kind: "Job",
              name: job.metadata!.name!,
              uid: job.metadata!.uid!,
              controller: true,
            },
          ],
        },
        spec: { ...tpl.spec, nodeName: node },
      } as KubeObject);
      const t = now();
      await admin.patchStatus(
        Resources.pods,
        { namespace: NS, name },
        {
          status: {
            phase: "Succeeded",
            startTime: t,
            containerStatuses: [
              {
                name: "nnunet",
                ready: false,
                restartCount: 0,
                image: "x",
                imageID: "",
                state: {
                  terminated: {
                    exitCode: 0,
                    reason: "Completed",
                    startedAt: t,
                    finishedAt: t,
                    ...(message ? { message } : {}),
                  },
                },
              },
            ],
          },
        },
        { type: "merge" },
      );
      await admin.patchStatus(
        Resources.jobs,
        { namespace: NS, name: job.metadata!.name! },
        {
          status: {
            succeeded: 1,
            completionTime: t,
            conditions: [{ type: "Complete", status: "True", lastTransitionTime: t }],
          },
        },
        { type: "merge" },
      );
    });
  };
  const runsDef = dc.cluster.resource("nnunet-operator.io", "v1alpha1", "trainingruns");
  const phaseOf = (r: string) =>
    (dc.cluster.store.get(runsDef.storage, NS, r)?.["status"] as { phase?: string } | undefined)?.phase;
  await startPods("train");
  const until = async (what: string, ok: () => boolean, eachSecond?: () => Promise<void>) => {
    const t = performance.now();
    let lastRound = t;
    while (!ok()) {
      if (eachSecond && performance.now() - lastRound > 1000) {
        lastRound = performance.now();
        await eachSecond();
      }
      if (performance.now() - t > 120_000) {
        const lagging = lifecycle.filter((r) => phaseOf(r) !== "Succeeded");
        const validations = allJobs().filter((j) => j.metadata.labels?.["nnunet-operator.io/role"] === "validate");
        const validated = (r: string) =>
          validations.filter((j) => j.metadata.labels?.[LABEL_RUN] === r).length === FOLDS;
        // The runs short of validation Jobs first: they are what the first wait is for.
        const detail = [...lagging.filter((r) => !validated(r)), ...lagging.filter(validated)].slice(0, 5).map((r) => {
          const st = dc.cluster.store.get(runsDef.storage, NS, r)?.["status"] as
            | { phase?: string; queue?: unknown; folds?: Array<{ fold: string; phase: string; message?: string }> }
            | undefined;
          const jobs = validations.filter((j) => j.metadata.labels?.[LABEL_RUN] === r).map((j) => j.metadata.name);
          return `${r} ${st?.phase} queue ${JSON.stringify(st?.queue)} folds ${st?.folds?.map((f) => `${f.fold}:${f.phase}: ${f.message}`).join(" | ")} validation Jobs ${jobs.join(",")}`;
        });
        throw new Error(`timed out: ${what}; ${lagging.length} runs not Succeeded:\n${detail.join("\n")}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  // GPUs freed by finished folds go to the runs that asked first: a pass of a finished run
  // that publishes its validation after the admission cycle on the pods' end finds them
  // taken by waiting runs' training (the queue order puts its validation first, but it was
  // not asked for yet), and waits for the next GPUs to free. As on a busy cluster, other
  // training folds finish meanwhile: a round of them every second, until every lifecycle
  // run's validation has a GPU.
  const validations = () =>
    allJobs().filter(
      (j) =>
        lifecycle.includes(j.metadata.labels?.[LABEL_RUN] ?? "") &&
        j.metadata.labels?.["nnunet-operator.io/role"] === "validate",
    ).length;
  let othersFinished = 0;
  await until(
    "validation Jobs",
    () => validations() === LIFECYCLE_RUNS * FOLDS,
    async () => {
      if (validations() === LIFECYCLE_RUNS * FOLDS) return;
      const others = allJobs()
        .filter(
          (j) =>
            !lifecycle.includes(j.metadata.labels?.[LABEL_RUN] ?? "") &&
            j.metadata.labels?.["nnunet-operator.io/role"] === "train" &&
            !finished.has(j.metadata.name!),
        )
        .slice(0, LIFECYCLE_RUNS);
      othersFinished += others.length;
      await runPods(others);
    },
  );
  await startPods(
    "validate",
    JSON.stringify({ schemaVersion: 1, checkpoint: "final", meanDice: 0.9, perClassDice: [0.9] }),
  );
  await until("Succeeded", () => lifecycle.every((r) => phaseOf(r) === "Succeeded"));
  await new Promise((r) => setTimeout(r, 1000)); // late events
  const report = await ask<Report>("report", "report");
  const perRun = new Map(report.perRun);
  const lifecycleWrites = lifecycle.reduce((s, r) => s + (perRun.get(r) ?? 0), 0);
  const fillWrites = lifecycle.reduce((s, r) => s + (writesBefore.get(r) ?? 0), 0);
  const { latencies, afterGc } = report;
  const fillLatencies = latencies.slice(0, report.marked);
  const fillCpu = report.cpu.slice(0, report.marked);
  const fillApi = report.apiMs.slice(0, report.marked);
  const fillCycles = report.cycles.slice(0, report.markedCycles);
  const fillSlices = report.slices.slice(0, report.markedCycles);
  const fillInputs = report.inputs.slice(0, report.markedCycles);
  const fillApplies = report.applies.slice(0, report.markedCycles);
  const fillRest = fillLatencies.map((l, i) => l - Math.min(l, fillApi[i] ?? 0));
  const peakRss = report.peakRss;
  const baselineRss = report.startRss;
  const verbs = report.verbs;
  if (process.env.BENCH_HEAP_SNAPSHOT)
    console.error(`heap snapshot: ${(await ask<{ path: string }>("heap", "heap")).path}`);
  child.send({ type: "stop" });
  await new Promise((r) => child.once("exit", r));
  await dc.stop();

  const rows: Array<[string, string, string]> = [
    ["runs x folds / nodes x GPUs", `${RUNS} x ${FOLDS} / ${NODES} x 4 L40S`, ""],
    [
      "time until capacity is full",
      `${fillSeconds.toFixed(1)} s (${fullJobs} training Jobs then, ${trainingJobs()} at the end)`,
      "< 60 s",
    ],
    [
      "reconcile latency p50 / p99 (fill)",
      `${pct(fillLatencies, 50).toFixed(1)} / ${pct(fillLatencies, 99).toFixed(1)} ms over ${fillLatencies.length} passes`,
      "p99 < 100 ms",
    ],
    [
      "  process CPU during a pass p50 / p99",
      `${pct(fillCpu, 50).toFixed(1)} / ${pct(fillCpu, 99).toFixed(1)} ms (fill; the rest of a pass is waiting on the API)`,
      "",
    ],
    [
      "  of a pass: its API calls p50 / p99",
      `${pct(fillApi, 50).toFixed(1)} / ${pct(fillApi, 99).toFixed(1)} ms (fill; wall time of the calls it awaited, summed: Jobs created at once overlap)`,
      "",
    ],
    [
      "  of a pass: the rest p50 / p99",
      `${pct(fillRest, 50).toFixed(1)} / ${pct(fillRest, 99).toFixed(1)} ms (fill; its decisions, and waiting for the event loop)`,
      "",
    ],
    [
      "  admission cycles p50 / p99 / max",
      `${pct(fillCycles, 50).toFixed(1)} / ${pct(fillCycles, 99).toFixed(1)} / ${Math.max(0, ...fillCycles).toFixed(1)} ms (fill, ${fillCycles.length} cycles, ${(fillCycles.reduce((a, b) => a + b, 0) / 1000).toFixed(1)} s of work in all, summed over each cycle's slices)`,
      "",
    ],
    [
      "  of a cycle: its longest slice p50 / p99 / max",
      `${pct(fillSlices, 50).toFixed(1)} / ${pct(fillSlices, 99).toFixed(1)} / ${Math.max(0, ...fillSlices).toFixed(1)} ms (fill; what a cycle holds the event loop for at once)`,
      "",
    ],
    [
      "  of a cycle: inputs / applying p99",
      `${pct(fillInputs, 99).toFixed(1)} / ${pct(fillApplies, 99).toFixed(1)} ms (fill; its first slice takes its inputs, its last applies its decisions)`,
      "",
    ],
    [
      "  event-loop delay p50 / p99 / max",
      `${report.fillLoopDelay.p50.toFixed(1)} / ${report.fillLoopDelay.p99.toFixed(1)} / ${report.fillLoopDelay.max.toFixed(1)} ms (fill; the loop's own work, GC, and waits for a core)`,
      "",
    ],
    [
      "reconcile latency p50 / p99 (all)",
      `${pct(latencies, 50).toFixed(1)} / ${pct(latencies, 99).toFixed(1)} ms over ${latencies.length} passes`,
      "",
    ],
    [
      "GPUs over-committed",
      `${gpuCheck.worst} (at ${gpuCheck.overCommitted} of ${gpuCheck.changes} stored Job changes; peak ${gpuCheck.peak} of ${NODES * 4} GPUs held)`,
      "0",
    ],
    [
      "phase 2: other training folds finished",
      `${othersFinished} (rounds of ${LIFECYCLE_RUNS} a second until every lifecycle validation had a GPU)`,
      "",
    ],
    [
      "API writes per fold lifecycle",
      `${(lifecycleWrites / (LIFECYCLE_RUNS * FOLDS)).toFixed(1)} (${lifecycleWrites} writes, ${LIFECYCLE_RUNS} runs x ${FOLDS} folds, ${fillWrites} of them until admitted)`,
      "<= 15",
    ],
    [
      "operator RSS at full / peak",
      `${mb(rssAtFull)} / ${mb(peakRss)} MB (node ${NODE_FLAGS.join(" ") || "with V8's defaults"})`,
      "< 400 MB",
    ],
    ["  of which at start", `${mb(baselineRss)} MB (node with the bundle loaded, before any object)`, ""],
    [
      "  at the end, after a GC",
      `RSS ${mb(afterGc.rss)}, heap used ${mb(afterGc.heapUsed)} of ${mb(afterGc.heapTotal)}, external ${mb(afterGc.external)} MB`,
      "",
    ],
    [
      "operator writes by verb",
      verbs
        .sort()
        .map(([v, n]) => `${v} ${n}`)
        .join(", "),
      "",
    ],
  ];
  const w = [Math.max(...rows.map((r) => r[0].length)), Math.max(...rows.map((r) => r[1].length))];
  console.log(`| ${"metric".padEnd(w[0]!)} | ${"value".padEnd(w[1]!)} | target |`);
  console.log(`|${"-".repeat(w[0]! + 2)}|${"-".repeat(w[1]! + 2)}|--------|`);
  for (const [a, b, c] of rows) console.log(`| ${a.padEnd(w[0]!)} | ${b.padEnd(w[1]!)} | ${c} |`);
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return h;
}

main().catch((err) => {
  console.error(err);
  // The operator's process and the devcluster would keep this one alive.
  process.exit(1);
});
