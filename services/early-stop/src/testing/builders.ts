import {
  API_VERSION,
  encodeLoss,
  type EpochMetrics,
  foldJobName,
  KIND,
  LABEL_FOLD,
  LABEL_ROLE,
  LABEL_RUN,
} from "@nnunet-operator/api";
import type { KubeObject } from "@nnunet-operator/kube";
import type { EpochPoint } from "../convergence/history.js";

// Builders for the controller's tests: TrainingRun and Job objects as the API server holds
// them, and epoch messages from curve points.

export interface RunInput {
  name?: string;
  namespace?: string;
  uid?: string;
  folds?: Array<number | "all">;
  maxEpochs?: number;
  earlyStop?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export function makeRun(input: RunInput = {}): KubeObject {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name: input.name ?? "liver", namespace: input.namespace ?? "team-a", uid: input.uid ?? "uid-liver" },
    spec: {
      dataset: "Dataset003_Liver",
      configuration: "3d_fullres",
      folds: input.folds ?? [0, 1],
      storage: { claimName: "nnunet-data" },
      schedule: { maxEpochs: input.maxEpochs ?? 1000, earlyStop: input.earlyStop ?? {} },
    },
    ...(input.status !== undefined && { status: input.status }),
  };
}

/** The fold's training Job as the operator creates it: owned by the run, labelled, running. */
export function makeTrainingJob(
  run: KubeObject,
  fold: string,
  extra: { annotations?: Record<string, string>; conditions?: unknown[] } = {},
): KubeObject {
  const name = run.metadata.name ?? "";
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: foldJobName(name, fold),
      namespace: run.metadata.namespace ?? "",
      labels: { [LABEL_RUN]: name, [LABEL_FOLD]: fold, [LABEL_ROLE]: "train" },
      annotations: { "nnunet-operator.io/attempt": "0", ...extra.annotations },
      ownerReferences: [{ apiVersion: API_VERSION, kind: KIND, name, uid: run.metadata.uid ?? "", controller: true }],
    },
    spec: {
      suspend: false,
      backoffLimit: 0,
      template: {
        metadata: { labels: { [LABEL_RUN]: name, [LABEL_FOLD]: fold } },
        spec: { restartPolicy: "Never", containers: [{ name: "nnunet", image: "nnunet-operator/nnunet:test" }] },
      },
    },
    status: { active: 1, ...(extra.conditions !== undefined && { conditions: extra.conditions }) },
  };
}

export interface EpochAddress {
  namespace?: string;
  run?: string;
  runUid?: string;
  fold?: string;
  attempt?: number;
}

/** A wire-form EpochMetrics (losses encoded) for one curve point, observed at `observedAtMs`. */
export function epochMessage(p: EpochPoint, observedAtMs: number, address: EpochAddress = {}): EpochMetrics {
  const message = {
    schemaVersion: 1,
    namespace: address.namespace ?? "team-a",
    run: address.run ?? "liver",
    runUid: address.runUid ?? "uid-liver",
    fold: address.fold ?? "0",
    attempt: address.attempt ?? 0,
    epoch: p.epoch,
    ...(p.trainLoss !== undefined && { trainLoss: encodeLoss(p.trainLoss) }),
    ...(p.valLoss !== undefined && { valLoss: encodeLoss(p.valLoss) }),
    pseudoDice: p.pseudoDiceMean !== undefined ? [p.pseudoDiceMean] : [],
    ...(p.pseudoDiceMean !== undefined && { pseudoDiceMean: p.pseudoDiceMean }),
    ...(p.emaPseudoDice !== undefined && { emaPseudoDice: p.emaPseudoDice }),
    ...(p.epochTimeSeconds !== undefined && { epochTimeSeconds: p.epochTimeSeconds }),
    ...(p.learningRate !== undefined && { learningRate: p.learningRate }),
    observedAt: new Date(observedAtMs).toISOString(),
  };
  // Wire form: a loss may be the string "NaN"; the bus encoder and decoder accept it.
  return message as unknown as EpochMetrics;
}

/** A flat curve: EMA rises for `rise` epochs, then stays put; 100 s epochs. */
export function flatCurve(epochs: number, rise = 20): EpochPoint[] {
  return Array.from({ length: epochs }, (_, e) => {
    const ema = 0.5 + (0.3 * Math.min(e, rise)) / rise;
    return {
      epoch: e,
      trainLoss: -0.5,
      valLoss: -0.4,
      pseudoDiceMean: ema,
      emaPseudoDice: ema,
      epochTimeSeconds: 100,
      learningRate: 0.01,
    };
  });
}
