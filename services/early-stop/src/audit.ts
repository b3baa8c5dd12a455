import type { EarlyStopMode, StopPolicy } from "@nnunet-operator/api";

// Which folds are audited: the run asks for it (spec.schedule.earlyStop.mode Audit), or the
// fold falls into the operator's deterministic sample of otherwise enforced folds
// (earlyStop.auditFraction of the chart). The sample is a hash of the run's uid and the
// fold, so every replica and every leadership term, and a replay of the stream, audit the
// same folds; a uid is random per run, so over many runs the share audited is the fraction.
// Divergence and manual stops are never audited: a NaN loss does not come back, and a person
// who stops a fold means it. Pure.

/** 32-bit FNV-1a of the text, as a fraction in [0, 1). */
export function sampleFraction(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h / 2 ** 32;
}

export function decideMode(
  specMode: EarlyStopMode,
  policy: StopPolicy,
  runUid: string,
  fold: string,
  auditFraction: number,
): EarlyStopMode {
  if (policy === "Divergence" || policy === "Manual") return "Enforce";
  if (specMode === "Audit") return "Audit";
  return sampleFraction(`${runUid}/${fold}`) < auditFraction ? "Audit" : "Enforce";
}
