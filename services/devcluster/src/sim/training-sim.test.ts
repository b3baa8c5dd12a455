import { strict as assert } from "node:assert";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseTrainingRun, runResultsSubPath, type TrainingRun } from "@nnunet-operator/api";
import {
  buildCalibrateJob,
  buildTrainingJob,
  buildValidationJob,
  parseOperatorConfig,
  ValidationMessage,
  type OperatorConfig,
} from "@nnunet-operator/operator";
import type { KubeObject } from "../api/resources.js";
import { loadImageMap } from "../kubelet/image-map.js";
import { startDevCluster, type DevCluster } from "../server.js";
import { assertNoUnexpectedFailures } from "./controller-failures.js";
import { condition, containerState, job, podsOf, waitFor } from "./sim-test-support.js";
import { DEFAULT_IMAGE_MAP } from "./simulation.js";
import { trainingRunCrd } from "../test-support.js";

// The operator's own Jobs (its manifest builders, unchanged) on simulated L40S nodes:
// the calibrator in Python with its simulated backend, training with the simulated
// nnU-Net and a native reporter sidecar, validation through the operator's script.
// The reporter is stubbed here (its main lives with the reporter service): it reports the
// fold folder it was given, which shows the container-path rewrite.

const RUN = {
  apiVersion: "nnunet-operator.io/v1alpha1",
  kind: "TrainingRun",
  metadata: { name: "liver", namespace: "default" },
  spec: {
    dataset: "Dataset003_Liver",
    configuration: "3d_fullres",
    folds: [0],
    storage: { claimName: "nnunet-data" },
    gpu: { products: ["NVIDIA-L40S"], perFold: 1 },
    resources: { cpu: "4", memory: "16Gi", shmSize: "2Gi" },
  },
};

const message = (j: string, c: DevCluster, container: string) => {
  const [p] = podsOf(c.cluster, j);
  return (containerState(p, container)?.["terminated"] as { message?: string } | undefined)?.message ?? "";
};

describe("the operator's Jobs on the devcluster", () => {
  let dc: DevCluster;
  let run: TrainingRun;
  let config: OperatorConfig;
  const create = (o: unknown) => dc.cluster.create(o as KubeObject);
  const complete = (name: string) =>
    waitFor(
      `${name} complete`,
      () =>
        condition(job(dc.cluster, name), "Complete")?.status === "True" ||
        (condition(job(dc.cluster, name), "Failed")?.status === "True" &&
          assert.fail(`${name} failed: ${JSON.stringify(podsOf(dc.cluster, name).map((p) => p["status"]))}`)),
      30_000,
    );

  before(async () => {
    const map = loadImageMap(DEFAULT_IMAGE_MAP);
    const reporter = map.images.find((e) => e.image.includes("reporter"))!;
    reporter.commands["reporter"] = {
      run: [
        "/bin/sh",
        "-c",
        'echo "$NNUNET_FOLD_DIR" > "$TERMINATION_MESSAGE_PATH"; trap "exit 0" TERM; while :; do sleep 0.05; done',
      ],
    };
    dc = await startDevCluster({
      nodes: "1xL40S:2",
      seedClaims: [{ name: "nnunet-data" }],
      epochsPerSecond: 5000,
      imageMap: map,
      tls: false,
      manifests: [trainingRunCrd],
    });
    // The run must exist: the garbage collector removes children of owners that do not.
    const created = await create(RUN);
    const parsed = parseTrainingRun({ ...RUN, metadata: { ...RUN.metadata, uid: created.metadata.uid } });
    assert.ok(parsed.ok);
    run = parsed.run;
    config = parseOperatorConfig("calibration:\n  backend: simulated\n");
  });
  after(async () => {
    await dc.stop();
    assertNoUnexpectedFailures(dc);
  });

  it("calibrates with the real calibrator (simulated L40S) and reports through the termination message", async () => {
    await create(buildCalibrateJob(run, config));
    await complete("liver-calibrate");
    const result = JSON.parse(message("liver-calibrate", dc, "calibrate")) as {
      chosenBatchSize: number;
      backend: string;
      gpu: { name: string };
    };
    assert.deepEqual([result.backend, result.gpu.name], ["simulated", "NVIDIA L40S"]);
    assert.ok(result.chosenBatchSize > 2, JSON.stringify(result));
    const pre = join(dc.simulation!.dataRoot, "pvc/default/nnunet-data/nnUNet_preprocessed/Dataset003_Liver");
    assert.ok(existsSync(join(pre, `nnUNetPlans_bs${result.chosenBatchSize}.json`)));
  });

  it("trains a fold with the stock plans: nnU-Net's log where the operator expects it, the sidecar given that folder on the host", async () => {
    await create(
      buildTrainingJob({ run, config, fold: "0", attempt: 0, batchSize: undefined, trainer: "nnUNetTrainer" }),
    );
    await complete("liver-fold-0");
    const fold = join(
      dc.simulation!.dataRoot,
      `pvc/default/nnunet-data/${runResultsSubPath(run)}/Dataset003_Liver/nnUNetTrainer__nnUNetPlans__3d_fullres/fold_0`,
    );
    assert.equal(message("liver-fold-0", dc, "reporter"), `${fold}\n`);
    assert.ok(readdirSync(fold).some((f) => f.startsWith("training_log_")));
    assert.ok(existsSync(join(fold, "checkpoint_final.pth")));
    assert.equal(
      (containerState(podsOf(dc.cluster, "liver-fold-0")[0], "reporter")!["terminated"] as { exitCode: number })
        .exitCode,
      0,
      "the sidecar was stopped after nnU-Net",
    );
  });

  it("validates through the operator's script, which calls nnUNetv2_train --val and reports the Dice", async () => {
    await create(
      buildValidationJob({
        run,
        config,
        fold: "0",
        trainer: "nnUNetTrainer",
        batchSize: undefined,
        checkpoint: "best",
      }),
    );
    await complete("liver-validate-0");
    const msg = ValidationMessage.parse(JSON.parse(message("liver-validate-0", dc, "nnunet")));
    assert.equal(msg.checkpoint, "best");
    assert.ok(msg.meanDice > 0.5 && msg.meanDice < 1);
    assert.equal(msg.perClassDice?.length, 2);
  });

  it("derives plans in the init container and trains with them; nnU-Net names the folder after the plans' plans_name", async () => {
    const plans = JSON.parse(
      readFileSync(
        join(dc.simulation!.dataRoot, "pvc/default/nnunet-data/nnUNet_preprocessed/Dataset003_Liver/nnUNetPlans.json"),
        "utf8",
      ),
    ) as { plans_name: string };
    assert.equal(plans.plans_name, "nnUNetPlans");
    await dc.cluster.delete(dc.cluster.resource("batch", "v1", "jobs"), "default", "liver-fold-0", {
      propagationPolicy: "Background",
    });
    await waitFor("the old job gone", () => job(dc.cluster, "liver-fold-0") === undefined);
    await create(buildTrainingJob({ run, config, fold: "0", attempt: 1, batchSize: 3, trainer: "nnUNetTrainer" }));
    await complete("liver-fold-0");
    const derived = JSON.parse(
      readFileSync(
        join(
          dc.simulation!.dataRoot,
          "pvc/default/nnunet-data/nnUNet_preprocessed/Dataset003_Liver/nnUNetPlans_bs3.json",
        ),
        "utf8",
      ),
    ) as { plans_name: string; configurations: Record<string, { batch_size: number }> };
    assert.equal(derived.configurations["3d_fullres"]!.batch_size, 3);
    // DERIVE_PLANS_PY keeps plans_name, so this attempt resumes in the stock plans' folder (--c).
    const fold = join(
      dc.simulation!.dataRoot,
      `pvc/default/nnunet-data/${runResultsSubPath(run)}/Dataset003_Liver/nnUNetTrainer__${derived.plans_name}__3d_fullres/fold_0`,
    );
    assert.equal(
      readdirSync(fold).filter((f) => f.startsWith("training_log_")).length,
      1,
      "finished folds are not trained again on --c",
    );
  });
});
