import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { IPod } from "kubernetes-models/v1/Pod";
import {
  ConditionReason,
  controllerRefOf,
  isControlledBy,
  KIND,
  LABEL_RUN,
  type TrainingRun,
} from "@nnunet-operator/api";
import type { CalibrationDecision } from "./calibration.js";
import type { FoldDecision } from "./folds.js";

// Which Jobs and pods are a run's own, by the ControllerRef rule (packages/api ownership.ts):
// a Job is the run's only when the TrainingRun with the run's current uid controls it, and a
// pod only when such a Job controls it. A Job that carries the run's label or one of its
// child names but that the run does not control (made by hand, or left by an earlier run of
// the same name that the garbage collector has not removed yet) is foreign: never read as
// the run's, never deleted, never adopted. The work that needs its name waits, and says so,
// until it is gone. Pure.

/** Work held by a foreign Job is looked at again this often, also without a watch event. */
export const FOREIGN_JOB_RECHECK_SECONDS = 5;

export interface RunChildren {
  /** Jobs the run controls. */
  readonly jobs: IJob[];
  /** Pods those Jobs control. */
  readonly pods: IPod[];
  /** Jobs that carry the run's label but that the run does not control. */
  readonly foreignJobs: IJob[];
}

/** Splits the Jobs and pods labelled for a run into its own and the foreign ones. */
export function splitChildren(runUid: string | undefined, jobs: readonly IJob[], pods: readonly IPod[]): RunChildren {
  const own: IJob[] = [];
  const foreignJobs: IJob[] = [];
  for (const j of jobs) (isControlledBy(j, runUid) ? own : foreignJobs).push(j);
  const ownUids = new Set(own.map((j) => j.metadata?.uid).filter((u): u is string => !!u));
  const ownPods = pods.filter((p) => {
    const ref = controllerRefOf(p);
    return ref?.kind === "Job" && ownUids.has(ref.uid);
  });
  return { jobs: own, pods: ownPods, foreignJobs };
}

/**
 * Whether a Job is one of the run's children as the cache would show it: controlled by the
 * run, and with the run label the Job informer selects on (a Job the operator cannot see
 * through its cache is no child it could look after).
 */
export function isChildOf(job: IJob, runName: string | undefined, runUid: string | undefined): boolean {
  return isControlledBy(job, runUid) && runName !== undefined && job.metadata?.labels?.[LABEL_RUN] === runName;
}

/**
 * The Jobs admission counts as GPUs promised to runs (capacity.ts reservations, a queue's
 * use): those a TrainingRun controls and labels as its own. A Job labelled for a run by
 * anyone else promises it nothing and must not eat its queue's quota or hold GPUs on a node
 * in admission's eyes; its pods, once bound, count against their node like any other pod.
 * A Job of an earlier run of the same name counts until it is gone: its pods may still run.
 */
export function runControlledJobs(jobs: readonly IJob[]): IJob[] {
  return jobs.filter((j) => {
    const ref = controllerRefOf(j);
    return ref?.kind === KIND && j.metadata?.labels?.[LABEL_RUN] === ref.name;
  });
}

/** What blocks the run, and how to clear it, naming the Job. */
export function foreignJobMessage(run: TrainingRun, job: IJob): string {
  const ns = job.metadata?.namespace ?? run.metadata.namespace ?? "default";
  const what = `Job ${ns}/${job.metadata?.name}`;
  const runName = run.metadata.name ?? "";
  const runUid = run.metadata.uid ?? "";
  const ref = controllerRefOf(job);
  const deleting = job.metadata?.deletionTimestamp !== undefined;
  if (ref?.uid === runUid)
    return `${what} is controlled by TrainingRun ${runName} but lacks the label ${LABEL_RUN}=${runName} the operator finds its Jobs by; delete it`;
  if (ref?.kind === KIND && ref.name === runName)
    return deleting
      ? `${what} belongs to an earlier TrainingRun ${runName} (uid ${ref.uid}), not to this one (uid ${runUid}), and is being deleted; waiting for it to go`
      : `${what} belongs to an earlier TrainingRun ${runName} (uid ${ref.uid}), not to this one (uid ${runUid}); waiting for the garbage collector to delete it, or delete it`;
  const owner = ref ? `is controlled by ${ref.kind} ${ref.name} (uid ${ref.uid})` : "exists";
  return `${what} ${owner} and is not controlled by TrainingRun ${runName} (uid ${runUid}); delete it or rename the run`;
}

/** A decision, and when it waits for a name a foreign Job holds, why. */
export interface Held<D> {
  readonly decision: D;
  readonly conflict?: string;
}

/**
 * The calibration, when a foreign Job holds `<run>-calibrate` (`taken` says why) and the
 * calibration would create it or ask for its GPU: it waits instead, without either.
 */
export function holdCalibration(decision: CalibrationDecision, taken: string | undefined): Held<CalibrationDecision> {
  const needsName = decision.wantsGpu || decision.actions.some((a) => a.type === "CreateCalibrationJob");
  if (taken === undefined || !needsName) return { decision };
  return {
    decision: {
      ...decision,
      actions: decision.actions.filter((a) => a.type !== "CreateCalibrationJob"),
      wantsGpu: false,
      status: { ...decision.status, message: taken },
      condition: { status: "Unknown", reason: ConditionReason.JobNameTaken, message: taken },
      requeueAfterSeconds: Math.min(decision.requeueAfterSeconds ?? Infinity, FOREIGN_JOB_RECHECK_SECONDS),
    },
    conflict: taken,
  };
}

/**
 * A fold, when a foreign Job holds the name of the Job it would create (or ask a GPU for):
 * `<run>-fold-<f>` to train, `<run>-validate-<f>` to validate. It keeps its phase and
 * attempt and waits with the message. A restarting fold keeps its reason too: that is the
 * cause of the restart, which the next passes read back from status.
 */
export function holdFold(
  decision: FoldDecision,
  taken: { readonly train?: string | undefined; readonly validate?: string | undefined },
): Held<FoldDecision> {
  const trains = decision.wants === "train" || decision.actions.some((a) => a.type === "CreateTrainingJob");
  const validates = decision.wants === "validate" || decision.actions.some((a) => a.type === "CreateValidationJob");
  const message = trains ? taken.train : validates ? taken.validate : undefined;
  if (message === undefined) return { decision };
  const create = trains ? "CreateTrainingJob" : "CreateValidationJob";
  const { wants: _held, ...rest } = decision;
  const reason = decision.status.phase === "Restarting" ? decision.status.reason : ConditionReason.JobNameTaken;
  return {
    decision: {
      ...rest,
      status: { ...decision.status, ...(reason !== undefined ? { reason } : {}), message },
      actions: decision.actions.filter((a) => a.type !== create),
      requeueAfterSeconds: Math.min(decision.requeueAfterSeconds ?? Infinity, FOREIGN_JOB_RECHECK_SECONDS),
    },
    conflict: message,
  };
}
