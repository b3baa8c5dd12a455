// An audited fold end to end, with real processes (scripts/demo/stack.ts: the devcluster,
// nats-server, the operator and the early-stop controller as their own processes, the
// reporter sidecar and the simulated nnU-Net in the training pod): a run in Audit mode
// trains its fold to the end of the schedule, and its status shows the would-be stop epoch
// and what that stop would have cost and saved, equal to the early-stop evaluator's figures
// for the curve the fold trained (exported from the stream with kubectl nnunet curves
// export, as a platform team would). The fold is fold 3 of the TopCoW CTA circle-of-Willis
// region run, whose recorded curve Forecast stops at epoch 755 of 1000.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runResultsSubPath, TrainingRun } from "@nnunet-operator/api";
import { runCli } from "@nnunet-operator/cli";
import { parseCurveCsv, presetConfig, readCurveDir, replayCurve } from "@nnunet-operator/early-stop";
import { sleep } from "../../scripts/demo/processes.js";
import { RELEASE, removeWorkDir, repoRoot, type Stack, startStack, SYSTEM_NS } from "../../scripts/demo/stack.js";

const NS = "default";
const NAME = "audit-ctamra";
const FOLD = 3;
// The read-only export user of the chart's nats-auth Secret.
const EXPORT_CREDS_KEY = "export.creds";
const SOURCE = `topcow-hasna__Dataset705_TopCoWDetCTAextendedMaskCTAMRA__3d_fullres_spacing_ps__fold${FOLD}.csv`;

describe("an audited fold on the devcluster", { timeout: 240_000 }, () => {
  let stack: Stack;
  let run: TrainingRun;

  const get = (): TrainingRun | undefined => {
    const def = stack.dc.cluster.resourceFor("nnunet-operator.io/v1alpha1", "TrainingRun");
    const obj = stack.dc.cluster.store.get(def.storage, NS, NAME);
    return obj ? TrainingRun.parse(obj) : undefined;
  };

  before(async () => {
    stack = await startStack({ timeScale: 4000, logLevel: "warn" });
    await stack.dc.cluster.create({
      apiVersion: "nnunet-operator.io/v1alpha1",
      kind: "TrainingRun",
      metadata: { name: NAME, namespace: NS },
      // The plans' batch size keeps the schedule at 1000 epochs and the simulated epoch times
      // those of the recorded curve.
      spec: {
        dataset: "Dataset705_TopCoWDetCTAextendedMaskCTAMRA",
        configuration: "3d_fullres_spacing_ps",
        folds: [FOLD],
        storage: { claimName: "nnunet-data" },
        batchSize: { mode: "Plans" },
        schedule: { earlyStop: { mode: "Audit" } },
      },
    });
    const deadline = Date.now() + 200_000;
    for (;;) {
      const r = get();
      if (r?.status?.phase === "Succeeded" || r?.status?.phase === "Failed") break;
      if (Date.now() > deadline) throw new Error(`timed out: ${JSON.stringify(r?.status)}\n${stack.diagnostics()}`);
      await sleep(500);
    }
    // The operator's progress feed may trail the Job's completion by an epoch or two.
    for (
      let i = 0;
      i < 20 &&
      get()?.status?.folds?.[0]?.audit?.epochsSaved !== 999 - (get()?.status?.folds?.[0]?.audit?.stopEpoch ?? 0);
      i++
    )
      await sleep(250);
    run = get()!;
  });

  after(async () => {
    try {
      await stack?.stop();
    } finally {
      if (stack) removeWorkDir(stack.workDir);
    }
  });

  it("trains the audited fold to the end of its schedule, validates it, and the run Succeeded", () => {
    assert.equal(run.status?.phase, "Succeeded", JSON.stringify(run.status?.conditions));
    const fold = run.status?.folds?.[0];
    assert.equal(fold?.phase, "Validated");
    assert.equal(fold?.reason, "ValidationPassed");
    assert.equal(fold?.epoch, 999);
    assert.equal(fold?.stopDecision?.mode, "Audit");
  });

  it("shows the would-be stop and its cost equal to the evaluator's figures for the curve the fold trained", async () => {
    const dir = mkdtempSync(join(tmpdir(), "audit-curves-"));
    let out = "";
    let err = "";
    // As a platform team would: the NATS pod reached on its IP (a port-forward in a real
    // cluster), with the read-only export credential of the chart's nats-auth Secret.
    const nats = stack.pods("nats")[0];
    const natsUrl = `nats://${(nats?.["status"] as { podIP?: string } | undefined)?.podIP}:4222`;
    const code = await runCli(
      [
        "curves",
        "export",
        NAME,
        "-n",
        NS,
        "--dir",
        dir,
        "--nats",
        natsUrl,
        "--creds-secret",
        `${SYSTEM_NS}/${RELEASE}-nats-auth:${EXPORT_CREDS_KEY}`,
        "--kubeconfig",
        stack.kubeconfigPath,
      ],
      {
        env: {},
        stdout: { write: (t: string) => (out += t) },
        stderr: { write: (t: string) => (err += t) },
        signal: new AbortController().signal,
      },
    );
    assert.equal(code, 0, err);
    assert.match(out, /wrote 1 curve\(s\), 1000 epochs/);
    const [trained] = readCurveDir(dir);
    const evaluated = replayCurve(trained!, presetConfig("Forecast"));
    const audit = run.status?.folds?.[0]?.audit;
    assert.equal(audit?.stopEpoch, evaluated.stopEpoch);
    assert.equal(audit?.epochsSaved, evaluated.epochsSaved);
    assert.ok(
      Math.abs((audit?.bestEmaLost ?? -1) - evaluated.bestEmaLoss) < 1e-6,
      `best EMA lost ${audit?.bestEmaLost} vs ${evaluated.bestEmaLoss}`,
    );
    assert.ok(
      Math.abs((audit?.gpuSecondsSaved ?? -1) - evaluated.gpuSecondsSaved) < 0.01,
      `GPU-seconds saved ${audit?.gpuSecondsSaved} vs ${evaluated.gpuSecondsSaved}`,
    );
    // And the recorded curve the simulation replayed stops at the same epoch.
    const source = parseCurveCsv(
      SOURCE,
      readFileSync(join(repoRoot, "test/fixtures/nnunet-logs/curves", SOURCE), "utf8"),
    );
    assert.equal(replayCurve(source, presetConfig("Forecast")).stopEpoch, audit?.stopEpoch);
    assert.deepEqual(run.status?.audit, {
      folds: 1,
      meanBestEmaLost: audit?.bestEmaLost,
      meanDiceLost: audit?.validation?.meanDiceLost,
      gpuSecondsSaved: audit?.gpuSecondsSaved,
    });
  });

  it("has the reporter sidecar keep checkpoint_best.pth as it stood at the would-be stop, beside the one the full schedule left", () => {
    const c = run.status?.calibration;
    const foldDir = join(
      stack.dataRoot,
      "pvc",
      NS,
      "nnunet-data",
      runResultsSubPath(run),
      run.spec.dataset,
      `${c?.trainer}__${c?.plans}__${run.spec.configuration}`,
      `fold_${FOLD}`,
    );
    // The simulated nnU-Net writes its checkpoints as JSON: the epoch after the one saved, and the best EMA.
    const kept = JSON.parse(readFileSync(join(foldDir, "checkpoint_best_at_decision.pth"), "utf8")) as {
      current_epoch: number;
      best_ema: number;
    };
    const decision = run.status?.folds?.[0]?.stopDecision;
    assert.ok(
      kept.current_epoch - 1 <= (decision?.epoch ?? -1) + 1,
      `the copy is of epoch ${kept.current_epoch - 1}, the decision at ${decision?.epoch}`,
    );
    assert.ok(
      Math.abs(kept.best_ema - (decision?.bestEma ?? 0)) < 1e-4,
      `kept best EMA ${kept.best_ema}, decision's ${decision?.bestEma}`,
    );
    assert.ok(
      JSON.parse(readFileSync(join(foldDir, "checkpoint_final.pth"), "utf8")).current_epoch >= 1000,
      "the full schedule's checkpoint is there too",
    );
  });

  it("validates both checkpoints and records the validation Dice the would-be stop would have given up, per class", () => {
    const fold = run.status?.folds?.[0];
    const v = fold?.audit?.validation;
    assert.ok(v?.atEnd && v.atDecision, JSON.stringify(fold?.audit));
    assert.deepEqual(v.atEnd.meanDice, fold?.validation?.meanDice);
    assert.ok(Math.abs((v.meanDiceLost ?? NaN) - (v.atEnd.meanDice - v.atDecision.meanDice)) < 1e-5);
    assert.equal(v.perClassDiceLost?.length, v.atEnd.perClassDice?.length);
    // The simulated validation scores a checkpoint by the curve's pseudo Dice around its
    // epoch: the kept copy (the best up to the stop) and the end's best are different epochs.
    assert.notEqual(v.atDecision.meanDice, v.atEnd.meanDice);
  });
});
