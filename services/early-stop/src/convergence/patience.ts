import { monitorLevel, type Check } from "./check.js";
import type { PolicyConfig } from "./config.js";
import type { FoldHistory } from "./history.js";

// Patience, with the semantics of Keras' and Lightning's EarlyStopping: an epoch improves
// when its monitored value beats the best so far by more than minDelta; the count of epochs
// since the last improvement reaching `patience` stops the fold. Epochs without the monitored
// value neither improve nor count (Keras skips them too). minEpochs is applied by the chain.

export function checkPatience(h: FoldHistory, cfg: PolicyConfig): Check {
  const { monitor, minDelta, patience } = cfg.earlyStop;
  let best = Number.NEGATIVE_INFINITY;
  let wait = 0;
  for (const p of h.points) {
    const v = monitorLevel(p, monitor);
    if (v === undefined) continue;
    wait += 1;
    if (v - minDelta > best) {
      best = v;
      wait = 0;
    }
  }
  const message = `${monitor} has not improved by more than ${minDelta} for ${wait} epochs (patience ${patience})`;
  return { matched: wait >= patience, reason: wait >= patience ? "NoImprovement" : "Improving", message };
}
