import type { FoldAudit, FoldStatus, StopDecision, TrainingRunStatus } from "@nnunet-operator/api";
import type { FoldProgress } from "./progress.js";

// An audited fold (DESIGN.md: in Audit mode the stop decision is recorded on the Job without
// the suspend) trains its full schedule; its status keeps the would-be decision and, once
// training has ended, what stopping there would have cost and saved, measured the way the
// early-stop evaluator measures a replayed curve (services/early-stop/src/evaluate/replay.ts):
// best EMA lost = the best EMA of the whole schedule minus the best up to the stop; GPU-seconds
// saved = the logged epoch times after the stop (times GPUs per fold). Pure.

export function isAudit(decision: StopDecision | undefined): decision is StopDecision & { mode: "Audit" } {
  return decision?.mode === "Audit";
}

export function computeFoldAudit(
  decision: StopDecision,
  progress: FoldProgress | undefined,
  gpusPerFold: number,
  trainingEnded: boolean,
): FoldAudit {
  const audit: FoldAudit = {
    stopEpoch: decision.epoch,
    policy: decision.policy,
    ...(decision.bestEma !== undefined && { bestEmaAtStop: decision.bestEma }),
  };
  if (!trainingEnded || progress === undefined) return audit;
  if (progress.bestEma !== undefined && decision.bestEma !== undefined)
    audit.bestEmaLost = round(Math.max(0, progress.bestEma - decision.bestEma), 6);
  audit.epochsSaved = Math.max(0, progress.epoch - decision.epoch);
  if (decision.trainedSeconds !== undefined && progress.meanEpochSeconds !== undefined) {
    const total = progress.meanEpochSeconds * progress.epochsTimed;
    audit.gpuSecondsSaved = round(Math.max(0, total - decision.trainedSeconds) * gpusPerFold, 3);
  }
  return audit;
}

/** The run's finished audits together, or undefined when it has none. */
export function computeRunAudit(folds: readonly FoldStatus[]): NonNullable<TrainingRunStatus["audit"]> | undefined {
  const done = folds.map((f) => f.audit).filter((a): a is FoldAudit => a?.epochsSaved !== undefined);
  if (done.length === 0) return undefined;
  const mean = (xs: number[]) => (xs.length > 0 ? round(xs.reduce((a, b) => a + b, 0) / xs.length, 6) : undefined);
  const lost = mean(done.map((a) => a.bestEmaLost).filter((x): x is number => x !== undefined));
  const dice = mean(done.map((a) => a.validation?.meanDiceLost).filter((x): x is number => x !== undefined));
  const saved = done.map((a) => a.gpuSecondsSaved).filter((x): x is number => x !== undefined);
  return {
    folds: done.length,
    ...(lost !== undefined && { meanBestEmaLost: lost }),
    ...(dice !== undefined && { meanDiceLost: dice }),
    ...(saved.length > 0 && {
      gpuSecondsSaved: round(
        saved.reduce((a, b) => a + b, 0),
        3,
      ),
    }),
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
