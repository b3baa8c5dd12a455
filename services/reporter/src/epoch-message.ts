import { EpochMetrics, encodeLoss, MESSAGE_SCHEMA_VERSION, type EpochMetricsInput } from "@nnunet-operator/api";
import type { ParsedEpoch } from "./parse/nnunet-log.js";

// Turns a parsed epoch into the JSON-ready EpochMetrics payload the reporter publishes:
// identity added, non-finite losses encoded as strings (JSON has no NaN), validated by the
// API schema before it leaves the pod.

export interface ReporterIdentity {
  readonly namespace: string;
  readonly run: string;
  readonly runUid: string;
  readonly fold: string;
  readonly attempt: number;
}

export class EpochMessageError extends Error {
  override readonly name = "EpochMessageError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export function buildEpochMessage(epoch: ParsedEpoch, id: ReporterIdentity, observedAt: Date): EpochMetricsInput {
  const { trainLoss, valLoss, pseudoDice, ...rest } = epoch;
  const message: EpochMetricsInput = {
    schemaVersion: MESSAGE_SCHEMA_VERSION,
    ...id,
    ...rest,
    // A class without foreground in prediction and reference has a NaN pseudo Dice, which
    // the schema (and JSON) cannot carry; the mean and EMA already leave it out (nanmean),
    // so the per-class list, which no policy reads, is dropped rather than the epoch.
    pseudoDice: pseudoDice.every(Number.isFinite) ? pseudoDice : [],
    ...(trainLoss !== undefined && { trainLoss: encodeLoss(trainLoss) }),
    ...(valLoss !== undefined && { valLoss: encodeLoss(valLoss) }),
    observedAt: observedAt.toISOString(),
  };
  const check = EpochMetrics.safeParse(message);
  if (!check.success)
    throw new EpochMessageError(`epoch ${epoch.epoch} does not form a valid EpochMetrics message`, {
      cause: check.error,
    });
  return message;
}
