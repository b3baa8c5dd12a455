import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { Job } from "kubernetes-models/batch/v1/Job";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { IJob } from "kubernetes-models/batch/v1/Job";
import { ANNOTATION_ATTEMPT, CalibrationResult, LABEL_FOLD, LABEL_ROLE, LABEL_RUN } from "@nnunet-operator/api";
import { parseOperatorConfig } from "../../config.js";
import { makeRun } from "../../testing/builders.js";
import { ANNOTATION_BATCH_SIZE, podGpuRequest } from "../decide/objects.js";
import { buildCalibrateJob } from "./calibrate-job.js";
import { buildCalibrationCacheConfigMap, cacheEntryPatch } from "./calibration-cache.js";
import { buildFoldCredsSecret, foldAttemptOf } from "./fold-credentials.js";
import { buildTrainingJob } from "./training-job.js";
import { buildValidationJob, validationCheckpoint } from "./validation-job.js";

const config = parseOperatorConfig(`
images: { training: registry.example/nnunet:2.5 }
nats: { url: nats://nats.ops:4222, credsSecret: { name: nats-reporter } }
gpu: { extraTolerations: [{ key: dedicated, operator: Equal, value: nnunet, effect: NoSchedule }] }
calibration: { retryLimit: 3 }
`);
const run = makeRun()
  .named("liver")
  .with({ priorityClassName: "research-high", resources: { cpu: "16", memory: "96Gi", shmSize: "32Gi" } })
  .gpus(2, ["NVIDIA-L40S", "NVIDIA-A100-SXM4-80GB"])
  .build();

const pod = (job: IJob) => job.spec!.template.spec!;
const container = (job: IJob, name: string) =>
  [...pod(job).containers, ...(pod(job).initContainers ?? [])].find((c) => c.name === name)!;
const env = (job: IJob, c: string) => Object.fromEntries((container(job, c).env ?? []).map((e) => [e.name, e.value]));

function valid(job: IJob): IJob {
  new Job(job).validate();
  return job;
}

describe("training Job of a fold", () => {
  const first = valid(
    buildTrainingJob({ run, config, fold: "2", attempt: 0, batchSize: 8, trainer: "nnUNetTrainer_250epochs" }),
  );
  const resumed = valid(
    buildTrainingJob({ run, config, fold: "2", attempt: 2, batchSize: 6, trainer: "nnUNetTrainer_250epochs" }),
  );
  const plans = valid(
    buildTrainingJob({ run, config, fold: "all", attempt: 0, batchSize: undefined, trainer: "nnUNetTrainer" }),
  );

  it("is named <run>-fold-<f>, labelled run/fold/role and owned by the run as controller", () => {
    assert.equal(first.metadata!.name, "liver-fold-2");
    assert.equal(first.metadata!.namespace, "team-a");
    assert.deepEqual(
      [first.metadata!.labels![LABEL_RUN], first.metadata!.labels![LABEL_FOLD], first.metadata!.labels![LABEL_ROLE]],
      ["liver", "2", "train"],
    );
    assert.deepEqual(first.spec!.template.metadata!.labels, first.metadata!.labels);
    assert.deepEqual(first.metadata!.ownerReferences, [
      {
        apiVersion: "nnunet-operator.io/v1alpha1",
        kind: "TrainingRun",
        name: "liver",
        uid: "uid-liver",
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
  });

  it("runs nnUNetv2_train with the derived plans, trainer and GPU count, and --c only when resuming", () => {
    assert.deepEqual(container(first, "nnunet").command, ["nnUNetv2_train"]);
    assert.deepEqual(container(first, "nnunet").args, [
      "Dataset003_Liver",
      "3d_fullres",
      "2",
      "-tr",
      "nnUNetTrainer_250epochs",
      "-p",
      "nnUNetPlans_bs8",
      "-num_gpus",
      "2",
    ]);
    assert.deepEqual(container(resumed, "nnunet").args?.slice(-5), ["-p", "nnUNetPlans_bs6", "-num_gpus", "2", "--c"]);
    assert.equal(container(resumed, "nnunet").args?.at(-1), "--c");
    assert.deepEqual(container(plans, "nnunet").args?.slice(5, 7), ["-p", "nnUNetPlans"]);
  });

  it("carries attempt and batch size as annotations, and allows no pod retry inside the Job", () => {
    assert.equal(resumed.metadata!.annotations![ANNOTATION_ATTEMPT], "2");
    assert.equal(resumed.metadata!.annotations![ANNOTATION_BATCH_SIZE], "6");
    assert.equal(plans.metadata!.annotations![ANNOTATION_BATCH_SIZE], undefined);
    assert.equal(first.spec!.backoffLimit, 0);
    assert.equal(first.spec!.podReplacementPolicy, "Failed");
  });

  it("derives the plans file in an init container only when the batch size differs from the plans", () => {
    assert.deepEqual(container(first, "derive-plans").args, [
      "/nnunet/preprocessed",
      "Dataset003_Liver",
      "nnUNetPlans",
      "3d_fullres",
      "8",
    ]);
    assert.equal(
      pod(plans).initContainers?.some((c) => c.name === "derive-plans"),
      false,
    );
  });

  it("mounts the claim's three folders as the nnU-Net environment and a memory-backed /dev/shm of shmSize", () => {
    assert.deepEqual(env(first, "nnunet"), {
      nnUNet_raw: "/nnunet/raw",
      nnUNet_preprocessed: "/nnunet/preprocessed",
      nnUNet_results: "/nnunet/results",
      PYTHONUNBUFFERED: "1",
    });
    const mounts = container(first, "nnunet").volumeMounts!;
    assert.deepEqual(
      mounts.map((m) => [m.mountPath, m.subPath]),
      [
        ["/nnunet/raw", "nnUNet_raw"],
        ["/nnunet/preprocessed", "nnUNet_preprocessed"],
        ["/nnunet/results", "nnUNet_results/team-a/liver/uid-liver"],
        ["/dev/shm", undefined],
      ],
    );
    assert.deepEqual(pod(first).volumes?.find((v) => v.name === "dshm")?.emptyDir, {
      medium: "Memory",
      sizeLimit: "32Gi",
    });
    assert.equal(pod(first).volumes?.find((v) => v.name === "data")?.persistentVolumeClaim?.claimName, "nnunet-data");
  });

  it("requests and limits GPUs, cpu and memory, and keeps the log tail as termination message", () => {
    const r = container(first, "nnunet").resources!;
    assert.deepEqual(r.requests, { cpu: "16", memory: "96Gi", "nvidia.com/gpu": "2" });
    assert.deepEqual(r.limits, r.requests);
    assert.equal(container(first, "nnunet").terminationMessagePolicy, "FallbackToLogsOnError");
    assert.equal(podGpuRequest(pod(first)), 2, "the sidecar and init container add no GPUs");
  });

  it("is placed by required node affinity on the accepted products, tolerates the GPU taint and uses the priority class", () => {
    const terms = pod(first).affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms;
    assert.deepEqual(terms, [
      {
        matchExpressions: [
          { key: "nvidia.com/gpu.product", operator: "In", values: ["NVIDIA-L40S", "NVIDIA-A100-SXM4-80GB"] },
        ],
      },
    ]);
    assert.deepEqual(pod(first).tolerations, [
      { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
      { key: "dedicated", operator: "Equal", value: "nnunet", effect: "NoSchedule" },
    ]);
    assert.equal(pod(first).priorityClassName, "research-high");
    assert.equal(
      pod(
        valid(
          buildTrainingJob({
            run: makeRun().build(),
            config,
            fold: "0",
            attempt: 0,
            batchSize: undefined,
            trainer: "nnUNetTrainer",
          }),
        ),
      ).priorityClassName,
      undefined,
    );
  });

  it("runs the reporter as a native sidecar with the run identity, the attempt, the fold folder and NATS settings", () => {
    const reporter = container(resumed, "reporter");
    assert.equal(reporter.restartPolicy, "Always");
    assert.equal(reporter.image, "nnunet-operator/reporter:latest");
    assert.deepEqual(env(resumed, "reporter"), {
      NNUNET_NAMESPACE: "team-a",
      NNUNET_RUN: "liver",
      NNUNET_RUN_UID: "uid-liver",
      NNUNET_FOLD: "2",
      NNUNET_ATTEMPT: "2",
      NNUNET_FOLD_DIR: "/nnunet/results/Dataset003_Liver/nnUNetTrainer_250epochs__nnUNetPlans_bs6__3d_fullres/fold_2",
      NATS_URL: "nats://nats.ops:4222",
      NATS_CREDS_FILE: "/etc/nnunet-operator/nats/nats.creds",
    });
    assert.equal(pod(resumed).volumes?.find((v) => v.name === "nats-creds")?.secret?.secretName, "nats-reporter");
    assert.equal(reporter.volumeMounts?.find((m) => m.mountPath === "/nnunet/results")?.readOnly, true);
  });

  it("names the fold folder after the plans it trains with: the derived plans' own plans_name, or the plans when the batch size is the plans' own", () => {
    const plain = valid(
      buildTrainingJob({ run, config, fold: "1", attempt: 0, batchSize: undefined, trainer: "nnUNetTrainer" }),
    );
    assert.equal(
      env(plain, "reporter").NNUNET_FOLD_DIR,
      "/nnunet/results/Dataset003_Liver/nnUNetTrainer__nnUNetPlans__3d_fullres/fold_1",
    );
    assert.equal(container(plain, "nnunet").args?.[container(plain, "nnunet").args!.indexOf("-p") + 1], "nnUNetPlans");
    assert.equal(
      container(resumed, "nnunet").args?.[container(resumed, "nnunet").args!.indexOf("-p") + 1],
      "nnUNetPlans_bs6",
    );
  });

  it("with NATS auth mounts the attempt's own credential (and the CA) into the reporter only, never into the trainer", () => {
    const auth = parseOperatorConfig(
      "nats: {url: tls://nats.ops:4222, tlsCaFile: /etc/ca.crt, auth: {credsFile: /a, signingKeyFile: /b, accountPublicKeyFile: /c}}",
    );
    const job = valid(
      buildTrainingJob({ run, config: auth, fold: "3", attempt: 1, batchSize: undefined, trainer: "nnUNetTrainer" }),
    );
    const volume = pod(job).volumes?.find((v) => v.name === "nats-creds");
    assert.equal(volume?.secret?.secretName, "liver-fold-3-nats-1");
    assert.deepEqual(
      volume?.secret?.items?.map((i) => i.key),
      ["nats.creds", "ca.crt"],
    );
    assert.equal(env(job, "reporter").NATS_CREDS_FILE, "/etc/nnunet-operator/nats/nats.creds");
    assert.equal(env(job, "reporter").NATS_TLS_CA_FILE, "/etc/nnunet-operator/nats/ca.crt");
    for (const c of [...pod(job).containers, ...(pod(job).initContainers ?? [])].filter((c) => c.name !== "reporter")) {
      assert.equal(
        c.volumeMounts?.some((m) => m.name === "nats-creds"),
        false,
        `${c.name} must not mount the credential`,
      );
      assert.equal(
        c.env?.some((e) => e.name.startsWith("NATS_")),
        false,
        `${c.name} must not see NATS settings`,
      );
    }
    const secret = buildFoldCredsSecret(job, "CREDS");
    assert.equal(secret.metadata?.name, "liver-fold-3-nats-1");
    assert.deepEqual(
      secret.metadata?.ownerReferences?.map((o) => [o.kind, o.uid, o.controller]),
      [["TrainingRun", "uid-liver", true]],
    );
    assert.deepEqual(foldAttemptOf(job), { namespace: "team-a", run: "liver", fold: "3", attempt: 1 });
    assert.equal(
      foldAttemptOf(
        buildValidationJob({
          run,
          config,
          fold: "3",
          trainer: "nnUNetTrainer",
          batchSize: undefined,
          checkpoint: "best",
        }),
      ),
      undefined,
    );
  });

  it("without a credentials secret the reporter gets no NATS_CREDS_FILE and no secret volume", () => {
    const bare = valid(
      buildTrainingJob({
        run,
        config: parseOperatorConfig(""),
        fold: "0",
        attempt: 0,
        batchSize: 4,
        trainer: "nnUNetTrainer",
      }),
    );
    assert.equal(env(bare, "reporter").NATS_CREDS_FILE, undefined);
    assert.equal(
      pod(bare).volumes?.some((v) => v.name === "nats-creds"),
      false,
    );
    assert.equal(container(bare, "nnunet").image, "nnunet-operator/nnunet:latest");
  });
});

describe("hardening of every pod the operator builds", () => {
  const jobs = {
    calibration: buildCalibrateJob(run, config),
    training: buildTrainingJob({ run, config, fold: "0", attempt: 0, batchSize: 8, trainer: "nnUNetTrainer" }),
    validation: buildValidationJob({
      run,
      config,
      fold: "0",
      trainer: "nnUNetTrainer",
      batchSize: 8,
      checkpoint: "best",
    }),
  };
  for (const [name, job] of Object.entries(jobs)) {
    it(`the ${name} pod mounts no API token, runs as non-root with the default seccomp profile, and no container may escalate or keep a capability`, () => {
      valid(job);
      assert.equal(pod(job).automountServiceAccountToken, false);
      assert.deepEqual(pod(job).securityContext, { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
      const containers = [...pod(job).containers, ...(pod(job).initContainers ?? [])];
      assert.ok(containers.length > 0);
      for (const c of containers) {
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false, c.name);
        assert.deepEqual(c.securityContext?.capabilities, { drop: ["ALL"] }, c.name);
        assert.equal(c.securityContext?.runAsNonRoot, true, c.name);
        assert.equal(c.securityContext?.privileged, undefined, c.name);
      }
    });
  }
});

describe("calibration Job", () => {
  const job = valid(
    buildCalibrateJob(
      makeRun().batch({ mode: "Auto", memoryHeadroom: 0.15, maxBatchSize: 32, objective: "Memory" }).build(),
      config,
    ),
  );

  it("runs the calibrator CLI in the training image with the run's settings, on one GPU", () => {
    const c = container(job, "calibrate");
    assert.equal(job.metadata!.name, "liver-calibrate");
    assert.equal(c.image, "registry.example/nnunet:2.5");
    assert.deepEqual(c.command, ["python3", "-m", "nnunet_calibrate"]);
    assert.deepEqual(c.args, [
      "--dataset",
      "Dataset003_Liver",
      "--configuration",
      "3d_fullres",
      "--plans",
      "nnUNetPlans",
      "--headroom",
      "0.15",
      "--max-batch",
      "32",
      "--objective",
      "memory",
      "--precision",
      "mixed",
      "--backend",
      "torch",
    ]);
    assert.equal(c.resources?.limits?.["nvidia.com/gpu"], "1");
    assert.equal(job.metadata!.labels![LABEL_ROLE], "calibrate");
  });

  it("retries inside the Job up to the retry limit, but not on bad input or nothing-fits exits nor on disruption", () => {
    assert.equal(job.spec!.backoffLimit, 3);
    assert.deepEqual(job.spec!.podFailurePolicy!.rules[0]!.onExitCodes!.values, [2, 3]);
    assert.equal(job.spec!.podFailurePolicy!.rules[1]!.action, "Ignore");
  });
});

describe("validation Job", () => {
  it("validates checkpoint_best with --val --val_best after an early stop when spec asks for best", () => {
    assert.equal(validationCheckpoint(run, true), "best");
    assert.equal(validationCheckpoint(run, false), "final");
    assert.equal(
      validationCheckpoint(
        makeRun()
          .with({ validation: { checkpoint: "final" } })
          .build(),
        true,
      ),
      "final",
    );
    const job = valid(
      buildValidationJob({
        run,
        config,
        fold: "3",
        trainer: "nnUNetTrainer_250epochs",
        batchSize: 8,
        checkpoint: "best",
      }),
    );
    const c = container(job, "nnunet");
    assert.equal(job.metadata!.name, "liver-validate-3");
    assert.equal(job.metadata!.labels![LABEL_ROLE], "validate");
    assert.deepEqual(c.args?.slice(0, 3), [
      "/nnunet/results/Dataset003_Liver/nnUNetTrainer_250epochs__nnUNetPlans_bs8__3d_fullres/fold_3",
      "best",
      "nnUNetv2_train",
    ]);
    assert.equal(
      c.args?.[c.args.indexOf("-p") + 1],
      "nnUNetPlans_bs8",
      "validation uses the plans the fold trained with",
    );
    assert.deepEqual(c.args?.slice(-4), ["-num_gpus", "1", "--val", "--val_best"]);
    assert.equal(c.resources?.limits?.["nvidia.com/gpu"], "1");
  });

  it("validates the final checkpoint with --val alone after a completed schedule", () => {
    const job = valid(
      buildValidationJob({
        run,
        config,
        fold: "0",
        trainer: "nnUNetTrainer",
        batchSize: undefined,
        checkpoint: "final",
      }),
    );
    assert.deepEqual(container(job, "nnunet").args?.slice(-3), ["-num_gpus", "1", "--val"]);
  });
});

describe("calibration cache ConfigMap", () => {
  it("holds serialised entries, has no owner and validates", () => {
    const result = CalibrationResult.parse({
      schemaVersion: 1,
      chosenBatchSize: 8,
      plansBatchSize: 2,
      plans: "nnUNetPlans",
      derivedPlans: "nnUNetPlans_bs8",
      configuration: "3d_fullres",
      objective: "throughput",
      precision: "mixed",
      headroom: 0.1,
      backend: "simulated",
      builder: "simulated",
      gpu: { name: "NVIDIA L40S", memoryMiB: 46068 },
      probes: [{ batchSize: 2, fits: true }],
    });
    const entry = {
      result,
      gpuProduct: "NVIDIA-L40S",
      image: "x",
      source: "team-a/liver",
      cachedAt: "2026-01-01T00:00:00Z",
    };
    const cm = buildCalibrationCacheConfigMap("team-a", "nnunet-calibration-cache", { "k.1": entry });
    new ConfigMap(cm).validate();
    assert.equal(cm.metadata?.ownerReferences, undefined);
    assert.deepEqual(JSON.parse(cm.data!["k.1"]!), entry);
    assert.deepEqual(Object.keys(cacheEntryPatch("k.2", entry).data), ["k.2"]);
  });
});
