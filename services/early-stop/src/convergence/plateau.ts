import { monitorLevel, type Check } from "./check.js";
import type { PolicyConfig } from "./config.js";
import type { FoldHistory } from "./history.js";

// Plateau, with the semantics of Ray Tune's TrialPlateauStopper: stop once the last `window`
// monitored values (num_results) have a population standard deviation (numpy's default)
// below `std`. Ray's grace_period is our minEpochs, applied by the chain.

export function checkPlateau(h: FoldHistory, cfg: PolicyConfig): Check {
  const { monitor, plateau } = cfg.earlyStop;
  const values: number[] = [];
  for (let i = h.points.length - 1; i >= 0 && values.length < plateau.window; i--) {
    const p = h.points[i];
    const v = p === undefined ? undefined : monitorLevel(p, monitor);
    if (v !== undefined) values.push(v);
  }
  if (values.length < plateau.window) {
    return { matched: false, reason: "WindowFilling", message: `${values.length} of ${plateau.window} values` };
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
  const matched = sd < plateau.std;
  const message = `standard deviation of the last ${plateau.window} ${monitor} values is ${sd.toPrecision(3)} (threshold ${plateau.std})`;
  return { matched, reason: matched ? "Plateaued" : "Varying", message };
}
