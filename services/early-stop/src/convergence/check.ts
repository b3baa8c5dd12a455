import type { Monitor } from "@nnunet-operator/api";
import type { EpochPoint } from "./history.js";

// One named check of the decision chain, in cert-manager's style: whether it matched, a
// PascalCase reason and a message in words.

export interface Check {
  readonly matched: boolean;
  readonly reason: string;
  readonly message: string;
}

export const noMatch = (reason: string, message: string): Check => ({ matched: false, reason, message });

/** The monitored value of an epoch, oriented so that higher is better (a loss is negated). */
export function monitorLevel(p: EpochPoint, monitor: Monitor): number | undefined {
  switch (monitor) {
    case "EmaPseudoDice":
      return finite(p.emaPseudoDice);
    case "PseudoDice":
      return finite(p.pseudoDiceMean);
    case "ValLoss": {
      const v = finite(p.valLoss);
      return v === undefined ? undefined : -v;
    }
  }
}

/**
 * The raw, unsmoothed signal behind the monitor, for fitting: the per-epoch mean pseudo Dice
 * for both Dice monitors (the EMA's autocorrelation would make a fit look surer than it is).
 */
export function monitorSignal(p: EpochPoint, monitor: Monitor): number | undefined {
  return monitor === "ValLoss" ? monitorLevel(p, monitor) : finite(p.pseudoDiceMean);
}

/** A level back in the monitor's own units, for messages. */
export function displayLevel(level: number, monitor: Monitor): string {
  return (monitor === "ValLoss" ? -level : level).toFixed(4);
}

function finite(v: number | undefined): number | undefined {
  return v !== undefined && Number.isFinite(v) ? v : undefined;
}
