import { StopDecision, type EarlyStopPolicy, type StopPolicy } from "@nnunet-operator/api";
import type { Check } from "./check.js";
import type { PolicyConfig } from "./config.js";
import { checkDivergence } from "./divergence.js";
import { checkForecast } from "./forecast.js";
import type { FoldHistory } from "./history.js";
import { checkPatience } from "./patience.js";
import { checkPlateau } from "./plateau.js";

// The decision chain, run after every accepted epoch: divergence first (always on, at any
// epoch), then nothing while early stopping is disabled or before minEpochs, then the run's
// policy. Returns the decision to stop, or undefined to keep training.

export const POLICIES: Readonly<Record<EarlyStopPolicy, (h: FoldHistory, cfg: PolicyConfig) => Check>> = {
  Forecast: checkForecast,
  Patience: checkPatience,
  Plateau: checkPlateau,
};

export interface Decision {
  readonly epoch: number;
  readonly policy: StopPolicy;
  /** PascalCase reason (Diverged, Converged, NoImprovement, Plateaued), for metrics and events. */
  readonly reason: string;
  readonly message: string;
  readonly bestEpoch?: number;
  readonly bestEma?: number;
}

export function decideStop(h: FoldHistory, cfg: PolicyConfig): Decision | undefined {
  const last = h.last;
  if (last === undefined) return undefined;
  const divergence = checkDivergence(h);
  if (divergence.matched) return decision(h, "Divergence", divergence);
  const { enabled, minEpochs, policy } = cfg.earlyStop;
  if (!enabled || last.epoch + 1 < minEpochs) return undefined;
  const check = POLICIES[policy](h, cfg);
  return check.matched ? decision(h, policy, check) : undefined;
}

function decision(h: FoldHistory, policy: StopPolicy, check: Check): Decision {
  const best = h.best();
  return {
    epoch: h.last?.epoch ?? 0,
    policy,
    reason: check.reason,
    message: check.message,
    ...(best !== undefined && { bestEpoch: best.epoch, bestEma: best.ema }),
  };
}

/** The annotation payload (StopDecision schema) for a decision taken at `now`. */
export function toStopDecision(d: Decision, now: Date): StopDecision {
  return StopDecision.parse({
    epoch: d.epoch,
    policy: d.policy,
    reason: `${d.reason}: ${d.message}`.slice(0, 1024),
    ...(d.bestEpoch !== undefined && { bestEpoch: d.bestEpoch }),
    ...(d.bestEma !== undefined && { bestEma: d.bestEma }),
    decidedAt: now.toISOString(),
  });
}
