import type { Check } from "./check.js";
import type { FoldHistory } from "./history.js";

// Divergence: a NaN or infinite loss means the run has blown up (nnU-Net keeps training and
// logging nan). Stop at once, whatever the policy and however early.

export function checkDivergence(h: FoldHistory): Check {
  const p = h.last;
  if (p === undefined) return { matched: false, reason: "NoEpochs", message: "no epoch yet" };
  for (const [name, v] of [
    ["train loss", p.trainLoss],
    ["validation loss", p.valLoss],
  ] as const) {
    if (v !== undefined && !Number.isFinite(v)) {
      return { matched: true, reason: "Diverged", message: `${name} is ${v} at epoch ${p.epoch}` };
    }
  }
  return { matched: false, reason: "LossFinite", message: `losses are finite at epoch ${p.epoch}` };
}
