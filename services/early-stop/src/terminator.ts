import { ANNOTATION_ATTEMPT, ANNOTATION_STALL_REPORT, ANNOTATION_STOP_DECISION, API_VERSION, foldJobName, KIND, StallReport, type StopDecision } from "@nnunet-operator/api";
import { type EventRecorder, isConflict, isNotFound, type KubeObject, type KubePort, Resources } from "@nnunet-operator/kube";

// Acts on a stop decision (DESIGN.md, "Contracts between the parts"): ONE merge patch on the
// fold's training Job `<run>-fold-<f>` sets the annotation nnunet-operator.io/stop-decision
// (StopDecision JSON) and spec.suspend: true, so the Job controller terminates the pod
// gracefully and makes no replacement; the operator turns that into fold status. The patch
// carries the resourceVersion it was decided on, so it never overwrites a decision another
// writer (an old leader, a manual stop) put there first. Idempotent: a Job that already
// carries a decision, a finished Job, a missing Job or one of another run incarnation is
// left alone. An Event on the TrainingRun records each patch.
//
// A stall goes the same way with the annotation nnunet-operator.io/stall-report (StallReport
// JSON) and nothing else: the Job keeps running, and the operator decides to restart it. Only
// on the Job of the attempt that stalled, never on one with a stop decision, and not again
// when the Job already holds the same report.

export type TerminateOutcome =
  /** This call patched the Job. */
  | "patched"
  /** The Job already carries a stop decision (redelivery, replay, another writer). */
  | "already-decided"
  /** The Job has finished; nothing to stop. */
  | "job-finished"
  /** No such Job (deleted, or not created yet). */
  | "job-missing"
  /** The Job belongs to another incarnation of the run. */
  | "job-foreign";

export type StallReportOutcome =
  | TerminateOutcome
  /** The Job already carries this report (a retry, a new term). */
  | "already-reported"
  /** The Job is of another attempt than the one that stalled (a restart in between). */
  | "other-attempt";

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

/** Whether the Job is Complete or Failed. Pure. */
export function isJobFinished(job: JobView): boolean {
  return (job.status?.conditions ?? []).some((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True");
}

/** The one merge patch that records `decision` and suspends the Job (not in Audit mode: the fold trains on). Pure. */
export function buildStopPatch(decision: StopDecision, resourceVersion: string | undefined): Record<string, unknown> {
  return {
    metadata: { ...(resourceVersion !== undefined && { resourceVersion }), annotations: { [ANNOTATION_STOP_DECISION]: JSON.stringify(decision) } },
    ...(decision.mode !== "Audit" && { spec: { suspend: true } }),
  };
}

/** The merge patch that records a stall report; the Job runs on. Pure. */
export function buildStallPatch(report: StallReport, resourceVersion: string | undefined): Record<string, unknown> {
  return { metadata: { ...(resourceVersion !== undefined && { resourceVersion }), annotations: { [ANNOTATION_STALL_REPORT]: JSON.stringify(report) } } };
}

/** What to do with the Job as read. Pure. */
export function decideJob(job: JobView, target: StopTarget): Exclude<TerminateOutcome, "patched" | "job-missing"> | "patch" {
  const owner = (job.metadata.ownerReferences ?? []).find((r) => r.kind === KIND);
  if (owner !== undefined && owner.uid !== target.runUid) return "job-foreign";
  if (job.metadata.annotations?.[ANNOTATION_STOP_DECISION] !== undefined) return "already-decided";
  if (isJobFinished(job)) return "job-finished";
  return "patch";
}

/** The Job's attempt as the operator wrote it (0 when missing, as the operator reads it). Pure. */
export function jobAttempt(job: JobView): number {
  const text = job.metadata.annotations?.[ANNOTATION_ATTEMPT];
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : 0;
}

/** What to do with the Job as read, for a stall report. Pure. */
export function decideStallJob(job: JobView, target: StopTarget, report: StallReport): Exclude<StallReportOutcome, "patched" | "job-missing"> | "patch" {
  const stop = decideJob(job, target);
  if (stop !== "patch") return stop;
  if (jobAttempt(job) !== report.attempt) return "other-attempt";
  const held = readStallReport(job.metadata.annotations?.[ANNOTATION_STALL_REPORT]);
  if (held !== undefined && held.attempt === report.attempt && held.lastEpoch === report.lastEpoch) return "already-reported";
  return "patch";
}

function readStallReport(text: string | undefined): StallReport | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed = StallReport.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
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
    const outcome = await this.patchJob(target, (job) => decideJob(job, target), (rv) => buildStopPatch(decision, rv));
    if (outcome !== "patched") return outcome;
    if (decision.mode === "Audit") {
      void this.deps.events.record({
        regarding: { apiVersion: API_VERSION, kind: KIND, name: target.run, namespace: target.namespace, uid: target.runUid },
        type: "Normal",
        reason: "FoldAudited",
        action: "RecordDecision",
        note: `fold ${target.fold} would have stopped at epoch ${decision.epoch} by ${decision.policy}; audited, it trains on: ${decision.reason}`,
      });
      return "patched";
    }
    void this.deps.events.record({
      regarding: { apiVersion: API_VERSION, kind: KIND, name: target.run, namespace: target.namespace, uid: target.runUid },
      type: decision.policy === "Divergence" ? "Warning" : "Normal",
      reason: decision.policy === "Divergence" ? "FoldDiverged" : "FoldStopped",
      action: "SuspendJob",
      note: `fold ${target.fold} stopped at epoch ${decision.epoch} by ${decision.policy}${decision.bestEpoch !== undefined ? ` (best EMA ${decision.bestEma?.toFixed(4)} at epoch ${decision.bestEpoch})` : ""}: ${decision.reason}`,
    });
    return "patched";
  }

  /** Puts `report` on the fold's Job. The caller's FoldStalled Event announces the stall. */
  async reportStall(target: StopTarget, report: StallReport): Promise<StallReportOutcome> {
    return this.patchJob(target, (job) => decideStallJob(job, target, report), (rv) => buildStallPatch(report, rv));
  }

  /** Read, decide, patch with the read resourceVersion; a conflict reads again. */
  private async patchJob<O extends string>(target: StopTarget, decide: (job: JobView) => O | "patch", build: (resourceVersion: string | undefined) => Record<string, unknown>): Promise<O | "patched" | "job-missing"> {
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
  const retryable = (err as { retryable?: unknown })?.retryable !== false;
  return new TerminateError(`${what}: ${err instanceof Error ? err.message : String(err)}`, retryable, { cause: err });
}
