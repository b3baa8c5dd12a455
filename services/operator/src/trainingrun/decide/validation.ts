import { type FoldStatus, isJobComplete, isJobFailed } from "@nnunet-operator/api";
import { NNUNET_CONTAINER } from "../manifests/common.js";
import { ValidationMessage } from "../manifests/scripts.js";
import { validationCheckpoint } from "../manifests/validation-job.js";
import type { FoldAction, FoldDecision, FoldInput } from "./folds.js";
import { containerTerminated, containerWaitingReason, isPodActive, lastLines, newestPod } from "./objects.js";
import { decideStart, isStartTimeout } from "./start-timeouts.js";

// The validation step of a fold that converged or completed: `<run>-validate-<f>` and its
// Dice, read from the termination message the validation wrapper writes.

type ValidationResult = NonNullable<FoldStatus["validation"]>;

export function parseValidationMessage(
  text: string | undefined,
  completedAt: string | undefined,
): { ok: true; result: ValidationResult; atDecision?: ValidationResult } | { ok: false; error: string } {
  if (!text?.trim()) return { ok: false, error: "validation left no termination message" };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, error: `the validation result is not JSON: "${lastLines(text, 6, 600)}"` };
  }
  const parsed = ValidationMessage.safeParse(json);
  if (!parsed.success)
    return {
      ok: false,
      error: `the validation result has no valid ${parsed.error.issues[0]?.path.join(".") || "content"}: "${text.slice(0, 600)}"`,
    };
  const m = parsed.data;
  // A NaN Dice (a class absent from every case) has no place in a list of numbers; the
  // per-class list is left out rather than shifted.
  const perClass = m.perClassDice?.every((d): d is number => d !== null) ? m.perClassDice : undefined;
  const result: ValidationResult = {
    checkpoint: m.checkpoint,
    meanDice: m.meanDice,
    ...(perClass ? { perClassDice: perClass } : {}),
    ...(completedAt ? { completedAt } : {}),
  };
  if (m.atDecision === undefined) return { ok: true, result };
  const decisionPerClass = m.atDecision.perClassDice?.every((d): d is number => d !== null)
    ? m.atDecision.perClassDice
    : undefined;
  return {
    ok: true,
    result,
    atDecision: {
      checkpoint: "best",
      meanDice: m.atDecision.meanDice,
      ...(decisionPerClass ? { perClassDice: decisionPerClass } : {}),
      ...(completedAt ? { completedAt } : {}),
    },
  };
}

/**
 * An audited fold's two validations side by side: the checkpoint the full schedule left and
 * the one kept at the would-be stop, and what the stop would have given up (end minus stop).
 */
export function auditedValidation(
  atEnd: ValidationResult,
  atDecision: ValidationResult,
): NonNullable<NonNullable<FoldStatus["audit"]>["validation"]> {
  const r = (x: number) => Math.round(x * 1e5) / 1e5;
  const a = atEnd.perClassDice;
  const b = atDecision.perClassDice;
  return {
    atDecision,
    atEnd,
    meanDiceLost: r(atEnd.meanDice - atDecision.meanDice),
    ...(a && b && a.length === b.length ? { perClassDiceLost: a.map((x, i) => r(x - (b[i] ?? 0))) } : {}),
  };
}

export function decideValidation(input: FoldInput, trained: FoldStatus): FoldDecision {
  const { run, validateJob: job, previous } = input;
  // An audit's would-be decision did not stop the fold: it trained its full schedule.
  const earlyStopped = trained.stopDecision !== undefined && trained.stopDecision.mode !== "Audit";
  const outcome: FoldStatus = { ...trained, phase: earlyStopped ? "Converged" : "Completed" };
  if (!run.spec.validation.enabled) return { status: outcome, actions: [] };
  // A validation pod that could not start failed the fold, and its Job is deleted to free
  // the GPU: the failure stands (validation has no attempts to retry with).
  if (previous?.phase === "Failed" && isStartTimeout(previous.reason))
    return {
      status: { ...outcome, phase: "Failed", reason: previous.reason, message: previous.message },
      actions: deleteValidation(input, previous.reason),
    };

  if (!job) {
    if (previous?.validation)
      return {
        status: validated(
          withAuditValidation(outcome, previous.validation, previous.audit?.validation?.atDecision),
          previous.validation,
        ),
        actions: [],
      };
    const checkpoint = validationCheckpoint(run, earlyStopped);
    if (!input.admitted.validate) {
      return {
        status: { ...outcome, message: `${outcome.message ?? ""}; validation waits for a GPU`.replace(/^; /, "") },
        actions: [],
        wants: "validate",
      };
    }
    return {
      status: outcome,
      actions: [
        {
          type: "CreateValidationJob",
          fold: input.fold,
          checkpoint,
          batchSize: trained.batchSize,
          trainer: input.calibration.schedule.trainer,
        },
      ],
    };
  }

  const pod =
    newestPod(input.validatePods.filter((p) => p.status?.phase === "Succeeded")) ?? newestPod(input.validatePods);
  const term = pod ? containerTerminated(pod, NNUNET_CONTAINER) : undefined;
  if (isJobComplete(job)) {
    const wait = awaitTerminatedPod(job, term, input.now);
    if (wait !== undefined)
      return {
        status: {
          ...outcome,
          phase: "Validating",
          reason: "Validating",
          message: "the validation Job completed; waiting for its pod's termination message",
        },
        actions: [],
        requeueAfterSeconds: wait,
      };
    const completedAt = term?.finishedAt ? String(term.finishedAt) : undefined;
    const parsed = parseValidationMessage(term?.message, completedAt);
    if (parsed.ok)
      return {
        status: validated(withAuditValidation(outcome, parsed.result, parsed.atDecision), parsed.result),
        actions: [],
      };
    if (previous?.validation)
      return {
        status: validated(
          withAuditValidation(outcome, previous.validation, previous.audit?.validation?.atDecision),
          previous.validation,
        ),
        actions: [],
      };
    return { status: { ...outcome, phase: "Failed", reason: "ValidationFailed", message: parsed.error }, actions: [] };
  }
  if (isJobFailed(job)) {
    const why = term
      ? `exit code ${term.exitCode}:\n${lastLines(term.message) || "(no log output)"}`
      : "the validation Job failed";
    return {
      status: { ...outcome, phase: "Failed", reason: "ValidationFailed", message: `validation failed, ${why}` },
      actions: [],
    };
  }
  const active = newestPod(input.validatePods.filter(isPodActive));
  const start = active
    ? decideStart({
        pod: active,
        role: "validation",
        main: NNUNET_CONTAINER,
        timeouts: input.config.startTimeouts,
        now: input.now,
      })
    : undefined;
  if (start?.kind === "timedOut")
    return {
      status: { ...outcome, phase: "Failed", reason: start.failure.reason, message: start.failure.message },
      actions: deleteValidation(input, start.failure.reason),
    };
  const waiting = pod ? containerWaitingReason(pod, NNUNET_CONTAINER) : undefined;
  const message =
    start?.kind === "waiting"
      ? start.message
      : waiting
        ? `validation pod waits: ${waiting.reason}${waiting.message ? ` (${waiting.message})` : ""}`
        : `validating ${validationCheckpoint(run, earlyStopped)} checkpoint`;
  return {
    status: { ...outcome, phase: "Validating", reason: "Validating", message },
    actions: [],
    ...(start?.kind === "waiting" && start.requeueAfterSeconds !== undefined
      ? { requeueAfterSeconds: start.requeueAfterSeconds }
      : {}),
  };
}

function deleteValidation(input: FoldInput, reason: string | undefined): FoldAction[] {
  const job = input.validateJob;
  if (!job || job.metadata?.deletionTimestamp !== undefined) return [];
  return [
    { type: "DeleteValidationJob", fold: input.fold, name: job.metadata?.name ?? "", reason: reason ?? "failed" },
  ];
}

/**
 * Seconds a completed validation Job may wait for its pod's terminated state to reach the
 * pod cache. The Job controller marks the Job Complete after it saw the pod succeed, but the
 * operator watches Jobs and pods on separate streams, so the Job can arrive first; reading
 * the missing termination message as "validation left no result" would fail the fold (and
 * the run) for a moment, and a view that printed that moment would disagree with the end.
 */
const TERMINATED_POD_GRACE_SECONDS = 30;

/** Seconds to wait for the pod of a completed validation Job, or undefined to decide now. */
function awaitTerminatedPod(
  job: NonNullable<FoldInput["validateJob"]>,
  term: ReturnType<typeof containerTerminated>,
  now: Date,
): number | undefined {
  if (term !== undefined) return undefined;
  const done = job.status?.conditions?.find((c) => c.type === "Complete" || c.type === "SuccessCriteriaMet");
  const since = done?.lastTransitionTime ? (now.getTime() - Date.parse(String(done.lastTransitionTime))) / 1000 : 0;
  const left = TERMINATED_POD_GRACE_SECONDS - (Number.isFinite(since) ? since : 0);
  return left > 0 ? Math.max(1, Math.ceil(left)) : undefined;
}

/** An audited fold with both validations gets them in its audit. */
function withAuditValidation(
  outcome: FoldStatus,
  atEnd: ValidationResult,
  atDecision: ValidationResult | undefined,
): FoldStatus {
  if (outcome.audit === undefined || atDecision === undefined) return outcome;
  return { ...outcome, audit: { ...outcome.audit, validation: auditedValidation(atEnd, atDecision) } };
}

function validated(outcome: FoldStatus, v: ValidationResult): FoldStatus {
  return {
    ...outcome,
    phase: "Validated",
    reason: "ValidationPassed",
    message: `mean Dice ${v.meanDice.toFixed(4)} (${v.checkpoint} checkpoint)`,
    validation: v,
  };
}
