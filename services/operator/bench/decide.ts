import { performance } from "node:perf_hooks";
import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { INode } from "kubernetes-models/v1/Node";
import type { IPod } from "kubernetes-models/v1/Pod";
import { parseTrainingRun, type TrainingRun } from "@nnunet-operator/api";
import { parseOperatorConfig } from "../src/config.js";
import { type AdmissionRun, decideAdmission, NOTHING_ADMITTED, runKey } from "../src/trainingrun/decide/admission.js";
import { decideRun } from "../src/trainingrun/decide/run.js";
import type { RunWorld } from "../src/trainingrun/decide/parts.js";
import { gpuTolerations } from "../src/trainingrun/manifests/common.js";

// The pure core under the benchmark load: 1,000 TrainingRuns of 5 folds on 250
// nodes of 4 L40S. No API server here: it measures the decisions alone (what a reconcile
// pass costs in CPU) and how many passes fill the cluster. The end-to-end figures (API
// writes per fold, resident memory, wall time to fill) need the reconciler and devcluster.
//
// Run: npm run bench -w services/operator   (or: npx tsx services/operator/bench/decide.ts)

const RUNS = Number(process.env.BENCH_RUNS ?? 1000);
const NODES = Number(process.env.BENCH_NODES ?? 250);
const config = parseOperatorConfig("queues: [{ name: default }]");

const nodes: INode[] = Array.from({ length: NODES }, (_, i) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name: `l40s-${i}`, labels: { "nvidia.com/gpu.product": "NVIDIA-L40S" } },
  spec: { taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" as const }] },
  status: { allocatable: { "nvidia.com/gpu": "4" }, conditions: [{ type: "Ready", status: "True" }] },
}));

const runs: TrainingRun[] = Array.from({ length: RUNS }, (_, i) => {
  const r = parseTrainingRun({
    apiVersion: "nnunet-operator.io/v1alpha1",
    kind: "TrainingRun",
    metadata: {
      name: `run-${i}`,
      namespace: `team-${i % 10}`,
      uid: `uid-${i}`,
      generation: 1,
      creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    },
    spec: {
      dataset: "Dataset003_Liver",
      configuration: "3d_fullres",
      storage: { claimName: "data" },
      batchSize: { mode: "Fixed", value: 4 },
      priority: i % 3,
    },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.run;
});

const jobs: IJob[] = [];
const pods: IPod[] = [];
const jobsByRun = new Map<string, IJob[]>();
const podsByRun = new Map<string, IPod[]>();
const now = new Date("2026-01-01T01:00:00Z");

function world(run: TrainingRun, admission = NOTHING_ADMITTED): RunWorld {
  return {
    config,
    jobs: jobsByRun.get(runKey(run)) ?? [],
    pods: podsByRun.get(runKey(run)) ?? [],
    nodes,
    calibrationCache: undefined,
    claimExists: true,
    admission,
    progress: new Map(),
    heartbeats: new Map(),
    feedSince: undefined,
  };
}

const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const rows: Array<[string, string]> = [];
let passes = 0;
const admissionMs: number[] = [];
const reconcileMs: number[] = [];
const t0 = performance.now();
for (;;) {
  passes += 1;
  const a0 = performance.now();
  const entries: AdmissionRun[] = runs.map((run) => ({
    run,
    claimExists: true,
    wants: decideRun(run, world(run), now).wants,
  }));
  const admission = decideAdmission({
    nodes,
    pods,
    jobs,
    runs: entries,
    queues: config.queues,
    acceptedProducts: config.gpu.acceptedProducts,
    tolerations: gpuTolerations(config),
  });
  admissionMs.push(performance.now() - a0);
  let created = 0;
  for (let i = 0; i < runs.length; i++) {
    const run = runs[i]!;
    const r0 = performance.now();
    const plan = decideRun(run, world(run, admission.runs.get(runKey(run))), now);
    reconcileMs.push(performance.now() - r0);
    runs[i] = { ...run, status: plan.status };
    for (const act of plan.actions) {
      if (act.verb !== "create") continue;
      created += 1;
      const job = { ...act.object, status: { active: 1 } };
      const node = admission.runs
        .get(runKey(run))!
        .nodes.get(`train/${act.object.metadata?.labels?.["nnunet-operator.io/fold"]}`);
      const pod: IPod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name: `${act.object.metadata?.name}-x`,
          namespace: act.object.metadata?.namespace ?? "",
          labels: act.object.spec!.template.metadata!.labels!,
        },
        spec: { ...act.object.spec!.template.spec!, ...(node ? { nodeName: node } : {}) },
        status: { phase: "Running", startTime: now.toISOString() },
      };
      jobs.push(job);
      pods.push(pod);
      jobsByRun.set(runKey(run), [...(jobsByRun.get(runKey(run)) ?? []), job]);
      podsByRun.set(runKey(run), [...(podsByRun.get(runKey(run)) ?? []), pod]);
    }
  }
  if (created === 0) break;
}
const fillMs = performance.now() - t0;
const gpusUsed = pods.length;

// Steady state: the cluster is full and 4,000 folds wait; every pass recomputes the queue.
const wantsMs: number[] = [];
const queueMs: number[] = [];
let waiting = 0;
for (let i = 0; i < 5; i++) {
  const w0 = performance.now();
  const entries: AdmissionRun[] = runs.map((run) => ({
    run,
    claimExists: true,
    wants: decideRun(run, world(run), now).wants,
  }));
  const q0 = performance.now();
  const admission = decideAdmission({
    nodes,
    pods,
    jobs,
    runs: entries,
    queues: config.queues,
    acceptedProducts: config.gpu.acceptedProducts,
    tolerations: gpuTolerations(config),
  });
  queueMs.push(performance.now() - q0);
  wantsMs.push(q0 - w0);
  waiting = admission.waiting;
}

rows.push(["runs x folds / nodes x GPUs", `${RUNS} x 5 / ${NODES} x 4`]);
rows.push(["passes until capacity is full", String(passes - 1)]);
rows.push(["fold Jobs admitted (GPUs in use)", `${gpusUsed} of ${NODES * 4}`]);
rows.push(["CPU time to fill (decisions only)", `${(fillMs / 1000).toFixed(2)} s`]);
rows.push(["first admission pass (empty cluster, cold)", `${admissionMs[0]!.toFixed(1)} ms`]);
rows.push(["full cluster: runs waiting", String(waiting)]);
rows.push(["full cluster: wants of all runs p50", `${percentile(wantsMs, 50).toFixed(1)} ms`]);
rows.push(["full cluster: admission pass p50", `${percentile(queueMs, 50).toFixed(1)} ms`]);
rows.push([
  "decideRun per run p50 / p99",
  `${percentile(reconcileMs, 50).toFixed(3)} / ${percentile(reconcileMs, 99).toFixed(3)} ms`,
]);
rows.push(["heap used", `${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB`]);
const width = Math.max(...rows.map((r) => r[0].length));
console.log(`operator pure core benchmark\n${"-".repeat(width + 24)}`);
for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
