import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { INode } from "kubernetes-models/v1/Node";
import type { IPod } from "kubernetes-models/v1/Pod";
import {
  calibrateJobName,
  foldJobName,
  foldKey,
  LABEL_FOLD,
  LABEL_ROLE,
  type Role,
  type TrainingRun,
  validateJobName,
} from "@nnunet-operator/api";
import type { OperatorConfig } from "../../config.js";
import { type Demand, demandKey, type RunAdmission } from "./admission.js";
import { type CalibrationDecision, decideCalibration } from "./calibration.js";
import { decideFold, type FoldDecision } from "./folds.js";
import { label } from "./objects.js";
import { foreignJobMessage, holdCalibration, holdFold } from "./ownership.js";
import type { FoldProgress } from "./progress.js";
import type { QueueOutlook } from "./finish.js";
import type { HeartbeatSeen } from "./stall.js";

// The observed world of one run, as the reconciler hands it to the pure decisions, and the
// step that runs the calibration and fold decisions over it.

export interface RunWorld {
  readonly config: OperatorConfig;
  /** The Jobs the run controls (ownership.ts): the only ones read or deleted as its own. */
  readonly jobs: readonly IJob[];
  /** The pods those Jobs control. */
  readonly pods: readonly IPod[];
  /**
   * Jobs in the run's namespace that hold names of its children but that it does not
   * control (ownership.ts): the work that needs such a name waits. Absent: none.
   */
  readonly foreignJobs?: readonly IJob[];
  readonly nodes: readonly INode[];
  /** data of the namespace's calibration cache ConfigMap, when it exists. */
  readonly calibrationCache: Readonly<Record<string, string>> | undefined;
  readonly claimExists: boolean;
  /** This run's share of the cluster-wide admission pass. */
  readonly admission: RunAdmission;
  /** Latest progress per fold key, from the in-memory cache fed by the NATS subscription. */
  readonly progress: ReadonlyMap<string, FoldProgress>;
  /** Latest reporter heartbeat per fold key, as the operator received it. */
  readonly heartbeats: ReadonlyMap<string, HeartbeatSeen>;
  /** Since when the operator's NATS feed is connected; undefined while down or without NATS. */
  readonly feedSince: string | undefined;
  /** What the other runs' statuses say of the GPUs: when training folds free theirs, and who waits. */
  readonly queueOutlook?: QueueOutlook;
}

export interface RunParts {
  readonly calibration: CalibrationDecision;
  readonly folds: readonly FoldDecision[];
  readonly wants: readonly Demand[];
  /** Why work waits for a name a foreign Job holds, one message per held name. */
  readonly conflicts: readonly string[];
}

function childPods(world: RunWorld, role: Role, fold?: string): IPod[] {
  return world.pods.filter(
    (p) => label(p, LABEL_ROLE) === role && (fold === undefined || label(p, LABEL_FOLD) === fold),
  );
}

function job(world: RunWorld, name: string): IJob | undefined {
  return world.jobs.find((j) => j.metadata?.name === name);
}

export function decideParts(run: TrainingRun, world: RunWorld, now: Date): RunParts {
  const name = run.metadata.name ?? "";
  const admitted = (kind: Demand["kind"], fold?: string) => world.admission.admitted.has(demandKey({ kind, fold }));
  const taken = (jobName: string): string | undefined => {
    const foreign = world.foreignJobs?.find((j) => j.metadata?.name === jobName);
    return foreign ? foreignJobMessage(run, foreign) : undefined;
  };
  const heldCalibration = holdCalibration(
    decideCalibration({
      run,
      config: world.config,
      job: job(world, calibrateJobName(name)),
      pods: childPods(world, "calibrate"),
      nodes: world.nodes,
      cache: world.calibrationCache,
      previous: run.status?.calibration,
      admitted: admitted("calibrate"),
      now,
    }),
    taken(calibrateJobName(name)),
  );
  const calibration = heldCalibration.decision;
  const heldFolds = run.spec.folds.map((f) => {
    const fold = foldKey(f);
    const decided = decideFold({
      run,
      config: world.config,
      fold,
      job: job(world, foldJobName(name, fold)),
      pods: childPods(world, "train", fold),
      validateJob: job(world, validateJobName(name, fold)),
      validatePods: childPods(world, "validate", fold),
      previous: run.status?.folds?.find((s) => s.fold === fold),
      calibration,
      admitted: { train: admitted("train", fold), validate: admitted("validate", fold) },
      progress: world.progress.get(fold),
      liveness: { heartbeat: world.heartbeats.get(fold), feedSince: world.feedSince },
      now,
    });
    return holdFold(decided, { train: taken(foldJobName(name, fold)), validate: taken(validateJobName(name, fold)) });
  });
  const folds = heldFolds.map((h) => h.decision);
  const conflicts = [heldCalibration, ...heldFolds].flatMap((h) => (h.conflict !== undefined ? [h.conflict] : []));
  const wants: Demand[] = [
    ...(calibration.wantsGpu ? [{ kind: "calibrate" as const, gpus: 1 }] : []),
    ...folds.flatMap((d): Demand[] =>
      d.wants === "train"
        ? [{ kind: "train", fold: d.status.fold, gpus: run.spec.gpu.perFold }]
        : d.wants === "validate"
          ? [{ kind: "validate", fold: d.status.fold, gpus: 1 }]
          : [],
    ),
  ];
  return { calibration, folds, wants, conflicts };
}
