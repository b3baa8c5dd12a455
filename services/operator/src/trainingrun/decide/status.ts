import {
  type Condition,
  ConditionReason,
  ConditionType,
  type FoldStatus,
  type RunPhase,
  setCondition,
  type TrainingRun,
  type TrainingRunStatus,
} from "@nnunet-operator/api";
import { computeSummary, computeTotals, withGpuFigures } from "./accounting.js";
import { LABEL_ROLE } from "@nnunet-operator/api";
import { label, TRAINED_PHASES } from "./objects.js";
import { withClusterDefaults } from "./defaults.js";
import { decideParts, type RunParts, type RunWorld } from "./parts.js";
import { estimateQueuedStart } from "./finish.js";
import { runKey } from "./admission.js";
import { computeRunAudit } from "./audit.js";
import { START_TIMEOUT_REASONS } from "./start-timeouts.js";

// The whole TrainingRun status, recomputed from the world on every pass, and the events
// its transitions deserve. Conditions go through setCondition, so lastTransitionTime only
// moves when a status flips; every condition carries the generation it was computed from.

export interface RunEvent {
  readonly type: "Normal" | "Warning";
  readonly reason: string;
  readonly message: string;
}

type CondInput = Omit<Condition, "lastTransitionTime" | "observedGeneration">;

const ACTIVE = new Set<FoldStatus["phase"]>(["Training", "Restarting", "Validating"]);
const WARNING_REASONS = new Set<string>([
  ConditionReason.NoMatchingNodes,
  ConditionReason.ClaimNotFound,
  ConditionReason.ImagePullFailed,
  ConditionReason.CalibrationFailed,
  ConditionReason.TrainerError,
  ConditionReason.Diverged,
  ConditionReason.RestartsExhausted,
  ConditionReason.ValidationFailed,
  ConditionReason.JobNameTaken,
  ...START_TIMEOUT_REASONS,
]);

function foldDone(run: TrainingRun, f: FoldStatus): boolean {
  return (
    f.phase === "Validated" || (!run.spec.validation.enabled && (f.phase === "Converged" || f.phase === "Completed"))
  );
}

export function computePhase(run: TrainingRun, parts: RunParts, world: RunWorld): RunPhase {
  const folds = parts.folds.map((d) => d.status);
  if (folds.some((f) => f.phase === "Failed")) return "Failed";
  if (folds.every((f) => foldDone(run, f))) return "Succeeded";
  if (run.spec.suspend && !folds.some((f) => ACTIVE.has(f.phase))) return "Suspended";
  if (folds.some((f) => f.phase === "Validating") || folds.every((f) => TRAINED_PHASES.has(f.phase)))
    return "Validating";
  if (folds.some((f) => f.phase === "Training" || f.phase === "Restarting" || TRAINED_PHASES.has(f.phase)))
    return "Training";
  if (!parts.calibration.ready && world.jobs.some((j) => label(j, LABEL_ROLE) === "calibrate")) return "Calibrating";
  const wait = world.admission.wait;
  if (wait && wait.reason !== "ClaimNotFound") return "Queued";
  return "Pending";
}

function conditions(
  run: TrainingRun,
  parts: RunParts,
  world: RunWorld,
  phase: RunPhase,
  admittedAt: string | undefined,
): CondInput[] {
  const folds = parts.folds.map((d) => d.status);
  const n = folds.length;
  const wait = world.admission.wait;
  const out: CondInput[] = [];
  if (run.spec.suspend || run.status?.conditions?.some((c) => c.type === ConditionType.Suspended)) {
    out.push(
      run.spec.suspend
        ? {
            type: ConditionType.Suspended,
            status: "True",
            reason: ConditionReason.Suspended,
            message: "spec.suspend is true: nothing new starts",
          }
        : { type: ConditionType.Suspended, status: "False", reason: "Resumed", message: "spec.suspend is false" },
    );
  }
  if (admittedAt && !(wait && folds.every((f) => f.phase === "Pending" || f.phase === "Queued"))) {
    out.push({
      type: ConditionType.Admitted,
      status: "True",
      reason: ConditionReason.Admitted,
      message: wait ? `admitted in part; ${wait.message}` : "the run's work is admitted",
    });
  } else if (wait) {
    out.push({
      type: ConditionType.Admitted,
      status: "False",
      reason: wait.reason,
      message: wait.position ? `queue position ${wait.position}: ${wait.message}` : wait.message,
    });
  } else {
    out.push({
      type: ConditionType.Admitted,
      status: admittedAt ? "True" : "Unknown",
      reason: admittedAt ? ConditionReason.Admitted : "Pending",
      message: admittedAt ? "the run's work is admitted" : "not yet considered for admission",
    });
  }
  const conflict = jobConflict(run, parts);
  if (conflict) out.push(conflict);
  out.push({ type: ConditionType.Calibrated, ...parts.calibration.condition });

  const pull = folds.find((f) => f.reason === "ImagePullFailed");
  const running = folds.filter((f) => f.phase === "Training" || f.phase === "Restarting").length;
  const trained = folds.filter((f) => TRAINED_PHASES.has(f.phase)).length;
  if (pull)
    out.push({
      type: ConditionType.Training,
      status: "False",
      reason: ConditionReason.ImagePullFailed,
      message: `fold ${pull.fold}: ${pull.message}`,
    });
  else if (running > 0)
    out.push({
      type: ConditionType.Training,
      status: "True",
      reason: ConditionReason.FoldsRunning,
      message: `${running} of ${n} fold(s) training`,
    });
  else
    out.push({
      type: ConditionType.Training,
      status: "False",
      reason: trained === n ? ConditionReason.Completed : "NotTraining",
      message: trained === n ? "every fold finished training" : "no fold is training",
    });

  const stopped = folds.filter(
    (f) => f.stopDecision && f.stopDecision.mode !== "Audit" && TRAINED_PHASES.has(f.phase),
  ).length;
  out.push(
    trained === n
      ? {
          type: ConditionType.Converged,
          status: "True",
          reason: stopped > 0 ? ConditionReason.EarlyStopped : ConditionReason.Completed,
          message: `${stopped} of ${n} fold(s) stopped early, ${n - stopped} trained the full schedule`,
        }
      : {
          type: ConditionType.Converged,
          status: "False",
          reason: "FoldsRunning",
          message: `${trained} of ${n} fold(s) finished training`,
        },
  );

  if (run.spec.validation.enabled) {
    const validated = folds.filter((f) => f.phase === "Validated").length;
    const failed = folds.find((f) => f.reason === ConditionReason.ValidationFailed);
    out.push(
      failed
        ? {
            type: ConditionType.Validated,
            status: "False",
            reason: ConditionReason.ValidationFailed,
            message: `fold ${failed.fold}: ${failed.message}`,
          }
        : validated === n
          ? {
              type: ConditionType.Validated,
              status: "True",
              reason: ConditionReason.ValidationPassed,
              message: `every fold validated; mean Dice ${meanDice(folds)}`,
            }
          : {
              type: ConditionType.Validated,
              status: "Unknown",
              reason: "Pending",
              message: `${validated} of ${n} fold(s) validated`,
            },
    );
  }

  const failed = folds.find((f) => f.phase === "Failed");
  out.push(
    failed
      ? {
          type: ConditionType.Failed,
          status: "True",
          reason: failed.reason ?? ConditionReason.TrainerError,
          message: `fold ${failed.fold}: ${failed.message ?? ""}`,
        }
      : { type: ConditionType.Failed, status: "False", reason: "NoFailure", message: "no fold failed" },
  );
  out.push(
    phase === "Succeeded"
      ? {
          type: ConditionType.Ready,
          status: "True",
          reason: ConditionReason.Succeeded,
          message: run.spec.validation.enabled
            ? `every fold validated; mean Dice ${meanDice(folds)}`
            : "every fold trained",
        }
      : { type: ConditionType.Ready, status: "False", reason: phase, message: `the run is ${phase}` },
  );
  return out;
}

/**
 * JobConflict, once a Job the run does not control has held a name it needs (ownership.ts):
 * True with every such Job and the fix while one does, False once none does.
 */
function jobConflict(run: TrainingRun, parts: RunParts): CondInput | undefined {
  if (parts.conflicts.length > 0)
    return {
      type: ConditionType.JobConflict,
      status: "True",
      reason: ConditionReason.JobNameTaken,
      message: parts.conflicts.join("; "),
    };
  if (!run.status?.conditions?.some((c) => c.type === ConditionType.JobConflict)) return undefined;
  return {
    type: ConditionType.JobConflict,
    status: "False",
    reason: "NoConflict",
    message: "no Job the run does not control holds a name it needs",
  };
}

function meanDice(folds: readonly FoldStatus[]): string {
  const d = folds.map((f) => f.validation?.meanDice).filter((x): x is number => x !== undefined);
  return d.length ? (d.reduce((a, b) => a + b, 0) / d.length).toFixed(4) : "n/a";
}

export function assembleStatus(run: TrainingRun, parts: RunParts, world: RunWorld, now: Date): TrainingRunStatus {
  const prev = run.status;
  const generation = run.metadata.generation ?? 0;
  const folds = parts.folds.map((d) =>
    withGpuFigures(run, d.status, world.progress.get(d.status.fold), parts.calibration.status),
  );
  const wait = world.admission.wait;
  const anyChild = world.jobs.length > 0 || world.admission.admitted.size > 0;
  const admittedAt = prev?.queue?.admittedAt ?? (anyChild ? now.toISOString() : undefined);
  // Holds (suspended, missing claim) are not waiting for GPUs, so they do not start the clock.
  const queuedAt = prev?.queue?.queuedAt ?? (wait?.position !== undefined && !anyChild ? now.toISOString() : undefined);
  const phase = computePhase(run, parts, world);

  let list: Condition[] = prev?.conditions ?? [];
  for (const c of conditions(run, parts, world, phase, admittedAt))
    list = setCondition(list, { ...c, observedGeneration: generation }, now).conditions;

  const estimatedStartAt =
    wait?.position !== undefined && world.queueOutlook
      ? estimateQueuedStart(
          { key: runKey(run), position: wait.position, pieces: parts.wants.map((w) => w.gpus) },
          world.queueOutlook.waiting,
          world.queueOutlook.releases,
          now,
        )
      : undefined;
  const runAudit = computeRunAudit(folds);
  const totals = computeTotals(folds);
  return {
    phase,
    observedGeneration: generation,
    conditions: list,
    queue: {
      ...(wait?.position !== undefined ? { position: wait.position } : {}),
      ...(wait ? { reason: wait.reason, message: wait.message } : {}),
      ...(queuedAt ? { queuedAt } : {}),
      ...(admittedAt ? { admittedAt } : {}),
      ...(estimatedStartAt ? { estimatedStartAt: estimatedStartAt.toISOString() } : {}),
    },
    calibration: parts.calibration.status,
    folds,
    totals,
    ...(runAudit ? { audit: runAudit } : {}),
    summary: withPredictedFinish(computeSummary(folds, totals), folds),
  };
}

/** The latest predicted finish of the training folds, for the printer column. */
function withPredictedFinish<S extends object>(
  summary: S,
  folds: readonly FoldStatus[],
): S & { predictedFinishAt?: string } {
  const ends = folds
    .map((f) => f.predictedFinishAt)
    .filter((t): t is string => t !== undefined)
    .sort();
  const last = ends[ends.length - 1];
  return last === undefined ? summary : { ...summary, predictedFinishAt: last };
}

/** Events for what changed between the stored status and the new one. */
export function transitionEvents(prev: TrainingRunStatus | undefined, next: TrainingRunStatus): RunEvent[] {
  const events: RunEvent[] = [];
  for (const c of next.conditions ?? []) {
    const old = prev?.conditions?.find((o) => o.type === c.type);
    if (old && old.status === c.status && old.reason === c.reason) continue;
    if (!old && c.status !== "True" && !WARNING_REASONS.has(c.reason)) continue;
    const warning = WARNING_REASONS.has(c.reason) || (c.type === ConditionType.Failed && c.status === "True");
    events.push({
      type: warning ? "Warning" : "Normal",
      reason: c.reason,
      message: `${c.type}=${c.status}: ${c.message}`,
    });
  }
  for (const f of next.folds ?? []) {
    const old = prev?.folds?.find((o) => o.fold === f.fold);
    if (old?.phase === f.phase) continue;
    // A new run's folds all start out waiting; that is no news.
    if (!old && (f.phase === "Pending" || f.phase === "Queued")) continue;
    const warning = f.phase === "Failed" || f.phase === "Restarting";
    events.push({
      type: warning ? "Warning" : "Normal",
      reason: `Fold${f.phase}`,
      message: `fold ${f.fold}: ${f.message ?? f.phase}`,
    });
  }
  return events;
}

/** The status a pass writes, with the events of its transitions. */
export function computeStatus(
  stored: TrainingRun,
  world: RunWorld,
  now: Date,
): { status: TrainingRunStatus; events: RunEvent[] } {
  const run = withClusterDefaults(stored, world.config);
  const status = assembleStatus(run, decideParts(run, world, now), world, now);
  return { status, events: transitionEvents(run.status, status) };
}
