import { EarlyStopSpec } from "@nnunet-operator/api";

// What a fold's policies are configured with: the run's spec.schedule.earlyStop (defaults
// applied by the API schema) and the fold's planned number of epochs.

export interface PolicyConfig {
  readonly earlyStop: EarlyStopSpec;
  /** Planned epochs of the fold (the schedule's maxEpochs after batch-size scaling). */
  readonly maxEpochs: number;
}

/** Builds a config from a (possibly partial) earlyStop spec; the API schema fills the defaults. */
export function makePolicyConfig(earlyStop: unknown, maxEpochs: number): PolicyConfig {
  return { earlyStop: EarlyStopSpec.parse(earlyStop ?? {}), maxEpochs };
}
