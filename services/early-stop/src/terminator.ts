import {
  API_VERSION,
  controllerRefOf,
  decideStopWrite,
  foldJobName,
  KIND,
  LABEL_FOLD,
  LABEL_ROLE,
  LABEL_RUN,
  type StopDecision,
  stopDecisionPatch,
} from "@nnunet-operator/api";
import {
  defaultIsRetryable,
  type EventRecorder,
  isConflict,
  isNotFound,
  type KubeObject,
  type KubePort,
  Resources,
} from "@nnunet-operator/kube";

// Acts on a stop decision (DESIGN.md, "Contracts between the parts"): ONE merge patch on the
// fold's training Job `<run>-fold-<f>` sets the annotation nnunet-operator.io/stop-decision
// (StopDecision JSON) and spec.suspend: true, so the Job controller terminates the pod
// gracefully and makes no replacement; the operator turns that into fold status. The patch
// carries the resourceVersion it was decided on, so it never overwrites a decision another
// writer (an old leader, a manual stop) put there first. What counts as a decision, as a
// finished Job and what a malformed decision means is packages/api's (fold-job.ts): a
// malformed one is replaced. Idempotent: a Job that already carries a decision, a finished Job, a missing Job or one of another run incarnation is
// left alone. An Event on the TrainingRun records each patch.

export type TerminateOutcome =
  /** This call patched the Job. */
  | "patched"
  /** The Job already carries a stop decision (redelivery, replay, another writer). */
  | "already-decided"
  /** The Job has finished; nothing to stop. */
  | "job-finished"
  /** No such Job (deleted, or not created yet). */
  | "job-missing"
  /** The Job is not this run incarnation's fold Job (another uid, no TrainingRun controller, wrong labels). */
  | "job-foreign";

export interface StopTarget {
  readonly namespace: string;
  readonly run: string;
  readonly runUid: string;
  readonly fold: string;
}

export class TerminateError extends Error {
  override readonly name = "TerminateError";
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface JobView extends KubeObject {
  spec?: { suspend?: boolean };
  status?: { conditions?: Array<{ type?: string; status?: string }> };
}

/**
 * Whether the Job is the fold's training Job of the run in the message: controlled by the
 * TrainingRun with that uid, and labelled with its run, fold and role. A Job merely named
 * like a fold's (`<run>-fold-0` created by hand) is not. Pure.
 */
export function isFoldJobOf(job: JobView, target: StopTarget): boolean {
  const controller = controllerRefOf(job);
  const labels = job.metadata.labels ?? {};
  return (
    controller?.apiVersion === API_VERSION &&
    controller.kind === KIND &&
    controller.uid === target.runUid &&
    controller.name === target.run &&
    labels[LABEL_RUN] === target.run &&
    labels[LABEL_FOLD] === target.fold &&
    labels[LABEL_ROLE] === "train"
  );
}

/** What to do with the Job as read. Pure. */
export function decideJob(
  job: JobView,
  target: StopTarget,
): Exclude<TerminateOutcome, "patched" | "job-missing"> | "patch" {
  if (!isFoldJobOf(job, target)) return "job-foreign";
  const write = decideStopWrite(job);
  if (write.write) return "patch";
  return write.why === "decided" ? "already-decided" : "job-finished";
}

export interface TerminatorDeps {
  readonly port: Pick<KubePort, "get" | "patch">;
  readonly events: Pick<EventRecorder, "record">;
  /** Conflicts (the Job changed between read and patch) retried at most this often. */
  readonly maxConflicts?: number;
}

export class Terminator {
  constructor(private readonly deps: TerminatorDeps) {}

  async terminate(target: StopTarget, decision: StopDecision): Promise<TerminateOutcome> {
    const outcome = await this.patchJob(
      target,
      (job) => decideJob(job, target),
      (rv) => stopDecisionPatch(decision, rv),
    );
    if (outcome !== "patched") return outcome;
    if (decision.mode === "Audit") {
      void this.deps.events.record({
        regarding: {
          apiVersion: API_VERSION,
          kind: KIND,
          name: target.run,
          namespace: target.namespace,
          uid: target.runUid,
        },
        type: "Normal",
        reason: "FoldAudited",
        action: "RecordDecision",
        note: `fold ${target.fold} would have stopped at epoch ${decision.epoch} by ${decision.policy}; audited, it trains on: ${decision.reason}`,
      });
      return "patched";
    }
    void this.deps.events.record({
      regarding: {
        apiVersion: API_VERSION,
        kind: KIND,
        name: target.run,
        namespace: target.namespace,
        uid: target.runUid,
      },
      type: decision.policy === "Divergence" ? "Warning" : "Normal",
      reason: decision.policy === "Divergence" ? "FoldDiverged" : "FoldStopped",
      action: "SuspendJob",
      note: `fold ${target.fold} stopped at epoch ${decision.epoch} by ${decision.policy}${decision.bestEpoch !== undefined ? ` (best EMA ${decision.bestEma?.toFixed(4)} at epoch ${decision.bestEpoch})` : ""}: ${decision.reason}`,
    });
    return "patched";
  }

  /** Read, decide, patch with the read resourceVersion; a conflict reads again. */
  private async patchJob<O extends string>(
    target: StopTarget,
    decide: (job: JobView) => O | "patch",
    build: (resourceVersion: string | undefined) => Record<string, unknown>,
  ): Promise<O | "patched" | "job-missing"> {
    const key = { namespace: target.namespace, name: foldJobName(target.run, target.fold) };
    const maxConflicts = this.deps.maxConflicts ?? 3;
    for (let attempt = 0; ; attempt++) {
      let job: JobView;
      try {
        job = await this.deps.port.get<JobView>(Resources.jobs, key);
      } catch (err) {
        if (isNotFound(err)) return "job-missing";
        throw wrap(err, `reading Job ${key.namespace}/${key.name}`);
      }
      const next = decide(job);
      if (next !== "patch") return next;
      try {
        await this.deps.port.patch(Resources.jobs, key, build(job.metadata.resourceVersion), { type: "merge" });
        return "patched";
      } catch (err) {
        if (isNotFound(err)) return "job-missing";
        if (isConflict(err) && attempt < maxConflicts) continue;
        throw wrap(err, `patching Job ${key.namespace}/${key.name}`);
      }
    }
  }
}

function wrap(err: unknown, what: string): TerminateError {
  const retryable = defaultIsRetryable(err);
  return new TerminateError(`${what}: ${err instanceof Error ? err.message : String(err)}`, retryable, { cause: err });
}
