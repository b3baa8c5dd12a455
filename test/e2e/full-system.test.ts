// The whole system installed with the real helm: the devcluster in RBAC mode (simulated L40S
// nodes, scheduler, Job controller, process kubelet), then `helm install` of the chart, whose
// NATS StatefulSet (Debian's nats-server), two operator replicas and the early-stop
// Deployment run as pods with their ServiceAccount tokens; the reporter sidecars and the
// calibrator (simulated backend) in the training pods, and Prometheus scraping the operator
// and the early-stop pods. The two
// sample runs compete for the GPUs: the low-priority one arrives while the first trains.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runResultsSubPath, TrainingRun } from "@nnunet-operator/api";
import { loadManifests } from "@nnunet-operator/devcluster";
import { makePolicyConfig, parseCurveCsv, replayCurve } from "@nnunet-operator/early-stop";
import { sleep } from "../../scripts/demo/processes.js";
import { promQuery } from "../../scripts/demo/prometheus.js";
import { removeWorkDir, repoRoot, type Stack, startStack } from "../../scripts/demo/stack.js";
import { ClusterObserver } from "./support/observer.js";
import { exposedMetricNames, usedMetricNames } from "../chart/used-metrics.js";

const NS = "default";
const HIGH = "topcow-ctamra";
const LOW = "topcow-mra";
// The curve the simulated nnU-Net replays for a fold of a sample: the one recorded for that
// fold of its dataset and configuration (services/devcluster/src/sim/fake-nnunet/curve.ts).
const curveOf = (run: TrainingRun, fold: string): string =>
  `topcow-hasna__${run.spec.dataset}__${run.spec.configuration}__fold${fold}.csv`;

async function eventually<T>(
  probe: () => T | undefined | false,
  what: string,
  timeoutMs: number,
  stack: Stack,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${stack.diagnostics()}`);
    await sleep(200);
  }
}

describe("the full system: two runs competing for simulated L40S GPUs", { timeout: 240_000 }, () => {
  let stack: Stack;
  let observer: ClusterObserver;
  const lowWaits: { reason?: string | undefined; position?: number | undefined; highPhase?: string | undefined }[] = [];
  let runs: Record<string, TrainingRun> = {};

  const get = (name: string): TrainingRun | undefined => {
    const def = stack.dc.cluster.resourceFor("nnunet-operator.io/v1alpha1", "TrainingRun");
    const obj = stack.dc.cluster.store.get(def.storage, NS, name);
    return obj ? TrainingRun.parse(obj) : undefined;
  };

  before(async () => {
    stack = await startStack({ operatorReplicas: 2, prometheus: true, timeScale: 2400, logLevel: "info" });
    observer = new ClusterObserver(stack.dc);
    for (const obj of loadManifests(join(repoRoot, "deploy/samples/trainingrun.yaml")))
      await stack.dc.cluster.create(obj);
    await eventually(
      () => (get(HIGH)?.status?.folds ?? []).some((f) => f.phase === "Training"),
      `${HIGH} training`,
      60_000,
      stack,
    );
    for (const obj of loadManifests(join(repoRoot, "deploy/samples/trainingrun-low-priority.yaml")))
      await stack.dc.cluster.create(obj);
    await eventually(
      () => {
        const low = get(LOW)?.status;
        if (low?.queue?.reason)
          lowWaits.push({
            reason: low.queue.reason,
            position: low.queue.position,
            highPhase: get(HIGH)?.status?.phase,
          });
        return [HIGH, LOW].every((n) => ["Succeeded", "Failed"].includes(get(n)?.status?.phase ?? ""));
      },
      "both runs to finish",
      150_000,
      stack,
    );
    runs = { [HIGH]: get(HIGH)!, [LOW]: get(LOW)! };
  });

  after(async () => {
    observer?.stop();
    try {
      await stack?.stop();
    } finally {
      if (stack) removeWorkDir(stack.workDir);
    }
  });

  it("both runs succeed", () => {
    for (const run of Object.values(runs))
      assert.equal(run.status?.phase, "Succeeded", `${run.metadata.name}: ${JSON.stringify(run.status?.conditions)}`);
  });

  it("runs two operator replicas with one leader, and the early-stop controller, all Ready and never restarted", () => {
    const lease = stack.dc.cluster.store.get(
      stack.dc.cluster.resourceFor("coordination.k8s.io/v1", "Lease").storage,
      "nnunet-system",
      "nnunet-operator",
    ) as { spec?: { holderIdentity?: string } } | undefined;
    const operators = stack.pods("operator");
    assert.equal(operators.length, 2);
    assert.ok(
      operators.some((p) => (lease?.spec?.holderIdentity ?? "").startsWith(`${p.metadata.name}_`)),
      `leader ${lease?.spec?.holderIdentity}`,
    );
    for (const p of [...operators, ...stack.pods("early-stop"), ...stack.pods("nats")]) {
      const st = p["status"] as { phase?: string; containerStatuses?: { ready: boolean; restartCount: number }[] };
      assert.equal(st.phase, "Running", p.metadata.name);
      assert.ok(
        st.containerStatuses?.every((c) => c.ready && c.restartCount === 0),
        `${p.metadata.name}: ${JSON.stringify(st.containerStatuses)}`,
      );
    }
  });

  it("places pods only on L40S nodes and never uses more GPUs than exist (checked on every pod event)", () => {
    assert.deepEqual(observer.violations, []);
    const gpuPods = [...observer.pods.values()].filter((p) => p.gpus > 0);
    assert.ok(gpuPods.length >= 5 + 4 + 2, `GPU pods seen: ${gpuPods.length}`);
    for (const p of gpuPods) assert.match(p.node ?? "", /^l40s-\d$/, p.name);
    assert.ok(observer.maxGpusInUse <= 16 && observer.maxGpusInUse >= 5, `max GPUs in use ${observer.maxGpusInUse}`);
  });

  it("queues the low-priority run while the high-priority one holds the GPUs, and admits its folds after", () => {
    assert.ok(
      lowWaits.some((w) => w.reason === "NoGpuCapacity" && w.position === 1 && w.highPhase === "Training"),
      JSON.stringify(lowWaits.slice(0, 3)),
    );
    const firstLow = Math.min(...observer.podsOf(LOW, "train").map((p) => p.createdAt));
    const highTrain = observer.podsOf(HIGH, "train");
    assert.equal(highTrain.length, 5);
    for (const p of highTrain)
      assert.ok(p.createdAt < firstLow, `${p.name} admitted after the low-priority run's first fold`);
  });

  it("trains every fold with the calibrated batch size: in status, in the derived plans file, in the checkpoints", () => {
    const claim = join(stack.dataRoot, "pvc", NS, "nnunet-data");
    for (const run of Object.values(runs)) {
      const cal = run.status?.calibration;
      assert.equal(cal?.source, "Calibrated");
      const batch = cal?.batchSize ?? 0;
      assert.ok(
        batch > (cal?.plansBatchSize ?? 0),
        `${run.metadata.name}: calibrated ${batch}, plans ${cal?.plansBatchSize}`,
      );
      assert.equal(cal?.plans, `${run.spec.plans}_bs${batch}`);
      const plans = JSON.parse(
        readFileSync(join(claim, "nnUNet_preprocessed", run.spec.dataset, `${cal?.plans}.json`), "utf8"),
      ) as { plans_name: string; configurations: Record<string, { batch_size?: number }> };
      assert.equal(plans.configurations[run.spec.configuration]?.batch_size, batch);
      assert.equal(plans.plans_name, cal?.plans);
      for (const f of run.status?.folds ?? []) {
        assert.equal(f.batchSize, batch, `${run.metadata.name} fold ${f.fold}`);
        const dir = join(
          claim,
          runResultsSubPath(run),
          run.spec.dataset,
          `${cal?.trainer}__${cal?.plans}__${run.spec.configuration}`,
          `fold_${f.fold}`,
        );
        const best = JSON.parse(readFileSync(join(dir, "checkpoint_best.pth"), "utf8")) as {
          batch_size: number;
          plans_name: string;
        };
        assert.deepEqual([best.batch_size, best.plans_name], [batch, cal?.plans], dir);
      }
    }
  });

  it("replays a different recorded curve in every fold: each fold's best EMA is its own curve's", () => {
    for (const run of Object.values(runs)) {
      const bests = new Set<number | undefined>();
      for (const f of run.status?.folds ?? []) {
        const replayed = readCurve(curveOf(run, f.fold))
          .points.slice(0, (f.epoch ?? -1) + 1)
          .map((p) => p.emaPseudoDice ?? 0);
        const best = Math.max(...replayed);
        assert.ok(
          Math.abs((f.bestEma ?? 0) - best) < 1e-4,
          `${run.metadata.name} fold ${f.fold}: best EMA ${f.bestEma}, its curve's ${best}`,
        );
        bests.add(f.bestEma);
      }
      assert.equal(bests.size, run.spec.folds.length, `${run.metadata.name}: ${[...bests].join(", ")}`);
    }
  });

  it("stops a fold where the evaluator stops its curve within the schedule, and trains the others to the end of it", () => {
    let stopped = 0;
    for (const run of Object.values(runs)) {
      for (const f of run.status?.folds ?? []) {
        // The planned schedule after keepSamplesConstant: what the controller configures the fold with.
        assert.equal(f.maxEpochs, run.status?.calibration?.effectiveMaxEpochs);
        const predicted = replayCurve(readCurve(curveOf(run, f.fold)), () =>
          makePolicyConfig(run.spec.schedule.earlyStop, f.maxEpochs!),
        );
        const within = predicted.stopEpoch !== undefined && predicted.stopEpoch < f.maxEpochs! ? predicted : undefined;
        const job = observer.jobs.get(`${NS}/${run.metadata.name}-validate-${f.fold}`);
        const args: string[] = (job?.spec?.template?.spec?.containers ?? []).flatMap((c: any) => [
          ...(c.command ?? []),
          ...(c.args ?? []),
        ]);
        const where = `${run.metadata.name} fold ${f.fold} (${curveOf(run, f.fold)})`;
        // An audited fold trains its whole schedule whatever its curve: the devcluster values sample none.
        assert.notEqual(f.stopDecision?.mode, "Audit", `${where}: audited (earlyStop.auditFraction is not 0)`);
        if (within) {
          stopped++;
          assert.equal(f.phase, "Validated", where);
          assert.equal(f.stopDecision?.epoch, within.stopEpoch, where);
          assert.equal(f.stopDecision?.policy, "Forecast", where);
          assert.equal(f.validation?.checkpoint, "best", where);
          assert.ok(args.includes("--val_best"), `validation args of ${where}: ${args.join(" ")}`);
        } else {
          // Still learning at the end of its schedule: Forecast leaves it alone.
          assert.equal(f.stopDecision, undefined, where);
          assert.equal(f.epoch, f.maxEpochs! - 1, where);
          assert.equal(f.validation?.checkpoint, "final", where);
          assert.ok(!args.includes("--val_best"), `validation args of ${where}: ${args.join(" ")}`);
        }
      }
    }
    assert.ok(stopped > 0, "no fold stopped early");
  });

  it("accounts GPU-seconds from the epoch times the trainer logged: per fold, summed per run, the same in Prometheus", async () => {
    const claim = join(stack.dataRoot, "pvc", NS, "nnunet-data");
    for (const run of Object.values(runs)) {
      const name = run.metadata.name!;
      const totals = run.status?.totals;
      const cal = run.status?.calibration;
      assert.ok(totals !== undefined);
      const gpus = run.spec.gpu.perFold;
      for (const f of run.status?.folds ?? []) {
        // Read back independently: every `Epoch time:` line of the fold's training logs.
        const times = loggedEpochTimes(
          join(
            claim,
            runResultsSubPath(run),
            run.spec.dataset,
            `${cal?.trainer}__${cal?.plans}__${run.spec.configuration}`,
            `fold_${f.fold}`,
          ),
        );
        const logged = times.reduce((a, b) => a + b, 0) * gpus;
        // The reporter of a pod stopped mid-epoch may not have published the epoch its log
        // finished last: up to one epoch per attempt, plus rounding.
        const slack = (f.attempt + 1) * Math.max(...times) * gpus + 1;
        assert.ok(
          Math.abs((f.gpuSecondsUsed ?? 0) - logged) <= slack,
          `${name} fold ${f.fold}: status ${f.gpuSecondsUsed} vs logs ${logged.toFixed(1)}`,
        );
        assert.ok(
          (f.gpuSecondsPlanned ?? 0) > (f.gpuSecondsUsed ?? 0),
          `${name} fold ${f.fold}: a larger batch and a shorter schedule, or an early stop, so planned ${f.gpuSecondsPlanned} > used ${f.gpuSecondsUsed}`,
        );
      }
      const folds = run.status?.folds ?? [];
      const sum = (pick: (f: (typeof folds)[number]) => number | undefined) =>
        folds.reduce((s, f) => s + (pick(f) ?? 0), 0);
      assert.equal(
        totals.gpuSecondsUsed,
        sum((f) => f.gpuSecondsUsed),
      );
      assert.equal(
        totals.gpuSecondsPlanned,
        sum((f) => f.gpuSecondsPlanned),
      );
      assert.equal(totals.gpuSecondsSaved, sum((f) => f.gpuSecondsPlanned) - sum((f) => f.gpuSecondsUsed));
      assert.equal(totals.savedPercent, Math.round((1000 * totals.gpuSecondsSaved!) / totals.gpuSecondsPlanned!) / 10);
      for (const [metric, value] of [
        ["nnunet_run_gpu_seconds_used", totals.gpuSecondsUsed],
        ["nnunet_run_gpu_seconds_saved", totals.gpuSecondsSaved],
      ] as const) {
        const scraped = await eventuallyAsync(async () => {
          const r = await promQuery(stack.prometheusUrl!, `max(${metric}{namespace="${NS}",run="${name}"})`);
          return r.length === 1 && Number(r[0]!.value[1]) === value ? Number(r[0]!.value[1]) : undefined;
        }, 20_000).catch(() => undefined);
        assert.equal(scraped, value, `${metric} of ${name} as Prometheus scraped it`);
      }
    }
  });

  it("is seen by Prometheus: the run's per-fold epoch and EMA series", async () => {
    const url = stack.prometheusUrl!;
    for (const metric of ["nnunet_fold_epoch", "nnunet_fold_ema_pseudo_dice"]) {
      const result = await eventuallyAsync(async () => {
        const r = await promQuery(url, `max_over_time(${metric}{namespace="${NS}",run="${HIGH}"}[10m])`);
        return r.length === 5 ? r : undefined;
      }, 20_000);
      assert.deepEqual(result.map((s) => s.metric["fold"]).sort(), ["0", "1", "2", "3", "4"]);
      for (const s of result) assert.ok(Number(s.value[1]) > 0, `${metric} ${JSON.stringify(s)}`);
    }
  });

  it("serves, on the live /metrics of the operator and the early-stop controller, every metric the chart's dashboard and alert rules query", async () => {
    const exposed = new Set<string>();
    for (const hostPort of [...stack.operatorMetrics, ...stack.earlyStopMetrics]) {
      const res = await fetch(`http://${hostPort}/metrics`);
      assert.equal(res.status, 200, `${hostPort}/metrics`);
      for (const name of exposedMetricNames(await res.text())) exposed.add(name);
    }
    const missing = [...usedMetricNames()].filter((name) => !exposed.has(name));
    assert.deepEqual(missing, [], "queried by the dashboard or the rules but served by neither service");
  });
});

async function eventuallyAsync<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error("timed out waiting for Prometheus");
    await sleep(500);
  }
}

function readCurve(file: string) {
  return parseCurveCsv(file, readFileSync(join(repoRoot, "test/fixtures/nnunet-logs/curves", file), "utf8"));
}

/** Every `Epoch time: t s` of a fold folder's training logs (all attempts), in seconds. */
function loggedEpochTimes(foldDir: string): number[] {
  if (!existsSync(foldDir)) return [];
  return readdirSync(foldDir)
    .filter((n) => n.startsWith("training_log_"))
    .flatMap((n) =>
      [...readFileSync(join(foldDir, n), "utf8").matchAll(/Epoch time: ([0-9.]+) s/g)].map((m) => Number(m[1])),
    );
}
