import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ANNOTATION_STOP_DECISION, StopDecision } from "@nnunet-operator/api";
import { convergedFold, makeRun } from "@nnunet-operator/cli/testing";
import { assertNoUnexpectedFailures, startDevCluster } from "@nnunet-operator/devcluster";
import { type KubeObject, Resources } from "@nnunet-operator/kube";
import { parse, stringify } from "yaml";
import { CliWorld } from "./kubectl-nnunet-support.js";

// `kubectl nnunet status` and `stop` against a devcluster (see kubectl-nnunet-support.ts).

let world: CliWorld;
before(async () => {
  world = await CliWorld.start();
});
after(async () => {
  await world?.stop();
});

describe("kubectl nnunet status", () => {
  it("lists the runs of the context's namespace, one line each", async () => {
    const r = await world.cli(["status"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.match(lines[0] as string, /^NAME +PHASE +FOLDS +EPOCHS +BEST-EMA +BATCH +GPU-H +SAVED +QUEUE +ETA +AGE$/);
    assert.match(r.stdout, /liver-low +Queued +0\/5 +- +- +- +- +- +#1 NoGpuCapacity +start (now|in \S+)/);
    assert.match(r.stdout, /topcow-ctamra +Training +1\/3 +120\/250 +0\.8380 +12 +7\.7 +45\.3 \(90\.6%\) +-/);
    assert.ok(!r.stdout.includes("other"), "runs of other namespaces stay out without -A");
  });

  it("with -A adds the namespace column and every namespace's runs", async () => {
    const r = await world.cli(["status", "-A"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^NAMESPACE +NAME/);
    assert.match(r.stdout, /team-b +other +Succeeded +2\/2/);
  });

  it("with RUN prints a table per fold: phase, attempt, epochs, EMA, batch, node, GPU-h, stop decision", async () => {
    const r = await world.cli(["status", "topcow-ctamra"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^TrainingRun default\/topcow-ctamra: Training \(Dataset705_TopCoWDetCTAextendedMaskCTAMRA 3d_fullres_spacing_ps/,
    );
    assert.match(
      r.stdout,
      /Calibration: batch 12 \(Calibrated, plans 2\), 41\.3 samples\/s, NVIDIA-L40S, 250 epochs planned/,
    );
    assert.match(
      r.stdout,
      /^GPU-hours 7\.7 used of 100\.0 for the full schedule, saved 45\.3 \(90\.6%\) on the 1 of 3 folds that finished$/m,
    );
    assert.match(r.stdout, /FOLD +PHASE +ATTEMPT +EPOCH +EMA +BEST-EMA +BATCH +NODE +GPU-H +FINISH +STOP\/VALIDATION/);
    assert.match(r.stdout, /\n0 +Training +0 +120\/250 +0\.8123 +0\.8150 @118 +12 +l40s-1 +3\.0 +(now|in \S+) +-/);
    assert.match(
      r.stdout,
      /\n1 +Converged +0 +187\/250 +0\.8601 +0\.8610 @184 +12 +l40s-1 +4\.7 +- +stopped @187 by Forecast: forecast gain/,
    );
    assert.match(r.stdout, /\n2 +Queued +0 +-\/250/);
  });

  it("with -A and RUN finds the run in whatever namespace holds it", async () => {
    const r = await world.cli(["status", "-A", "other"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^TrainingRun team-b\/other: Succeeded/);
    assert.match(r.stdout, /\n0 +Validated .*validation Dice 0\.8231 \(checkpoint_best\)/);
  });

  it("reads the namespace from --context and -n, like kubectl", async () => {
    const config = parse(readFileSync(world.dc.kubeconfigPath, "utf8"));
    config.contexts.push({ name: "team-b", context: { cluster: "devcluster", user: "admin", namespace: "team-b" } });
    const file = join(mkdtempSync(join(tmpdir(), "kc-")), "config");
    writeFileSync(file, stringify(config));
    const byContext = await world.cli(["status", "--kubeconfig", file, "--context", "team-b"], { KUBECONFIG: "" });
    assert.equal(byContext.code, 0, byContext.stderr);
    assert.match(byContext.stdout, /other +Succeeded/);
    const byFlag = await world.cli(["status", "-n", "team-b", "other"]);
    assert.match(byFlag.stdout, /TrainingRun team-b\/other: Succeeded/);
    const missing = await world.cli(["status", "--kubeconfig", file, "--context", "nope"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /context "nope" is not in .* \(contexts: devcluster, team-b\)/);
  });

  it("says when the API server cannot be reached, and what to check", async () => {
    const config = parse(readFileSync(world.dc.kubeconfigPath, "utf8"));
    config.clusters[0].cluster.server = "https://127.0.0.1:1";
    const file = join(mkdtempSync(join(tmpdir(), "kc-")), "config");
    writeFileSync(file, stringify(config));
    const r = await world.cli(["status", "--kubeconfig", file]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^error: cannot reach the API server: .*ECONNREFUSED.*; check the kubeconfig's server and that the cluster is up\n$/,
    );
  });

  it("says when the cluster does not serve TrainingRuns, and how to install them", async () => {
    const bare = await startDevCluster({});
    try {
      const r = await world.cli(["status"], { KUBECONFIG: bare.kubeconfigPath });
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /^error: this cluster does not serve TrainingRuns: install nnunet-operator \(its chart, or kubectl apply -f crds\/\) or pick another --context\n$/,
      );
    } finally {
      await bare.stop();
    }
    assertNoUnexpectedFailures(bare);
  });

  it("says which run is missing, where it looked and how to list runs; exit code 1", async () => {
    const r = await world.cli(["status", "nope"]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      /^error: TrainingRun "nope" not found in namespace "default": list runs with kubectl nnunet status -n default, or look in every namespace with -A\n$/,
    );
  });
});

describe("kubectl nnunet stop", () => {
  it("patches the fold's Job once: the Manual decision annotation and suspend, as the early-stop controller does", async () => {
    const r = await world.cli(["stop", "topcow-ctamra", "--fold", "0", "--reason", "good enough for the demo"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /fold 0 of TrainingRun default\/topcow-ctamra: stop requested at epoch 120 \(best EMA 0\.8150 at epoch 118\); Job topcow-ctamra-fold-0 suspended/,
    );
    const job = await world.port.get<KubeObject & { spec: { suspend?: boolean } }>(Resources.jobs, {
      namespace: "default",
      name: "topcow-ctamra-fold-0",
    });
    assert.equal(job.spec.suspend, true);
    const decision = StopDecision.parse(JSON.parse(job.metadata.annotations?.[ANNOTATION_STOP_DECISION] ?? "null"));
    assert.equal(decision.policy, "Manual");
    assert.equal(decision.epoch, 120);
    assert.equal(decision.bestEpoch, 118);
    assert.equal(decision.bestEma, 0.815);
    assert.equal(decision.reason, "good enough for the demo");
    const managers =
      (job.metadata as { managedFields?: Array<{ manager: string; operation: string }> }).managedFields ?? [];
    assert.deepEqual(
      managers.filter((m) => m.manager === "kubectl-nnunet").map((m) => m.operation),
      ["Update"],
      "one write by the plugin",
    );
  });

  it("a second stop changes nothing, also through the real plugin", async () => {
    const before = await world.port.get(Resources.jobs, { namespace: "default", name: "topcow-ctamra-fold-0" });
    const r = await world.plugin(["stop", "topcow-ctamra", "--fold", "0"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /fold 0 of TrainingRun default\/topcow-ctamra already has a stop decision \(Manual at epoch 120, .*\): nothing to do/,
    );
    const afterStop = await world.port.get(Resources.jobs, { namespace: "default", name: "topcow-ctamra-fold-0" });
    assert.equal(afterStop.metadata.resourceVersion, before.metadata.resourceVersion);
  });

  const refusals = [
    {
      name: "a fold that has converged",
      args: ["--fold", "1"],
      code: 1,
      message: /fold 1 of TrainingRun default\/topcow-ctamra is Converged, not Training: its training is already over/,
    },
    {
      name: "a fold still queued",
      args: ["--fold", "2"],
      code: 1,
      message: /fold 2 of TrainingRun default\/topcow-ctamra is Queued, not Training: it has not started/,
    },
    {
      name: "a fold the run does not have",
      args: ["--fold", "4"],
      code: 1,
      message: /fold 4 is not a fold of TrainingRun default\/topcow-ctamra \(its folds: 0, 1, 2\)/,
    },
    { name: "a missing --fold", args: [], code: 2, message: /"stop" needs --fold N/ },
  ];
  for (const c of refusals) {
    it(`refuses ${c.name} with exit code ${c.code} and leaves the Job alone`, async () => {
      const r = await world.cli(["stop", "topcow-ctamra", ...c.args]);
      assert.equal(r.code, c.code);
      assert.match(r.stderr, c.message);
      const job1 = await world.port.get<KubeObject & { spec: { suspend?: boolean } }>(Resources.jobs, {
        namespace: "default",
        name: "topcow-ctamra-fold-1",
      });
      assert.notEqual(job1.spec.suspend, true);
    });
  }

  it("refuses a training fold whose Job is missing, naming the Job", async () => {
    const run = makeRun(
      "no-job",
      { phase: "Training", folds: [convergedFold("1", 10), { fold: "0", phase: "Training", attempt: 0, epoch: 3 }] },
      { folds: [0, 1] },
    );
    await world.createRun(run);
    const r = await world.cli(["stop", "no-job", "--fold", "0"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /training Job no-job-fold-0 of fold 0 of TrainingRun default\/no-job not found/);
  });
});
