import { type FoldStatus, TrainingRun, type TrainingRunStatus } from "@nnunet-operator/api";

// Made-up TrainingRuns for the renderer and command tests: one builder per lifecycle stage,
// each parsed with the API schema so a test can never show a status the operator cannot write.
// The GPU figures add up as the operator's accounting adds them (services/operator
// decide/accounting.ts): folds' used and planned, totals their sums, savings on finished folds.

export const NOW = new Date("2026-01-01T12:00:00Z");
export const minutesAgo = (m: number): string => new Date(NOW.getTime() - m * 60_000).toISOString();
export const minutesAhead = (m: number): string => minutesAgo(-m);

export function makeRun(
  name: string,
  status: TrainingRunStatus | undefined,
  spec: Record<string, unknown> = {},
  namespace = "default",
): TrainingRun {
  return TrainingRun.parse({
    apiVersion: "nnunet-operator.io/v1alpha1",
    kind: "TrainingRun",
    metadata: { name, namespace, uid: `uid-${name}`, creationTimestamp: minutesAgo(90), resourceVersion: "1" },
    spec: {
      dataset: "Dataset705_TopCoWDetCTAextendedMaskCTAMRA",
      configuration: "3d_fullres_spacing_ps",
      storage: { claimName: "nnunet-data" },
      ...spec,
    },
    ...(status && { status }),
  });
}

export const calibration = {
  batchSize: 12,
  plansBatchSize: 2,
  source: "Calibrated",
  gpuProduct: "NVIDIA-L40S",
  samplesPerSecond: 41.3,
  effectiveMaxEpochs: 250,
  epochScale: 4,
} as const;

export function trainingFold(fold: string, epoch: number, extra: Partial<FoldStatus> = {}): FoldStatus {
  return {
    fold,
    phase: "Training",
    attempt: 0,
    epoch,
    maxEpochs: 250,
    latestEma: 0.8123,
    bestEma: 0.815,
    bestEpoch: epoch - 2,
    batchSize: 12,
    node: "l40s-1",
    gpuSecondsUsed: (epoch + 1) * 90,
    gpuSecondsPlanned: 180000,
    ...extra,
  };
}

export function convergedFold(fold: string, epoch: number): FoldStatus {
  return {
    ...trainingFold(fold, epoch),
    latestEma: 0.8601,
    bestEma: 0.861,
    bestEpoch: epoch - 3,
    phase: "Converged",
    reason: "EarlyStopped",
    stopDecision: {
      schemaVersion: 1,
      epoch,
      policy: "Forecast",
      reason: "forecast gain 0.0011 < 0.012",
      bestEpoch: epoch - 3,
      bestEma: 0.861,
      decidedAt: minutesAgo(5),
    },
  };
}

export function validatedFold(fold: string, epoch: number, dice: number): FoldStatus {
  return { ...convergedFold(fold, epoch), phase: "Validated", validation: { checkpoint: "best", meanDice: dice } };
}

export const queuedRun = (name = "liver-low", position = 1) =>
  makeRun(
    name,
    {
      phase: "Queued",
      queue: {
        position,
        reason: "NoGpuCapacity",
        message: "needs 5 GPUs of NVIDIA-L40S, 0 free",
        queuedAt: minutesAgo(3),
        estimatedStartAt: minutesAhead(95),
      },
    },
    { priority: 10 },
  );

export const calibratingRun = () => makeRun("calib", { phase: "Calibrating", calibration: { attempts: 1 } });

export const trainingRun = () =>
  makeRun(
    "topcow-ctamra",
    {
      phase: "Training",
      calibration,
      folds: [
        trainingFold("0", 120, { epochSeconds: 90, predictedFinishAt: minutesAhead(195) }),
        convergedFold("1", 187),
        { fold: "2", phase: "Queued", attempt: 0, maxEpochs: 250 },
      ],
      totals: { gpuSecondsUsed: 27810, gpuSecondsPlanned: 360000, gpuSecondsSaved: 163080, savedPercent: 90.6 },
      summary: { folds: "1/3", epochs: "120/250", bestEma: 0.838, gpuHours: 7.7, saved: "45.3 (90.6%)" },
    },
    { folds: [0, 1, 2] },
  );

export const succeededRun = () =>
  makeRun(
    "done",
    {
      phase: "Succeeded",
      calibration,
      folds: [validatedFold("0", 180, 0.8231), validatedFold("1", 201, 0.8302)],
      totals: { gpuSecondsUsed: 34470, gpuSecondsPlanned: 360000, gpuSecondsSaved: 325530, savedPercent: 90.4 },
      summary: { folds: "2/2", epochs: "180-201/250", bestEma: 0.861, gpuHours: 9.6, saved: "90.4 (90.4%)" },
    },
    { folds: [0, 1] },
  );

export const failedRun = () =>
  makeRun(
    "broken",
    {
      phase: "Failed",
      conditions: [
        {
          type: "Failed",
          status: "True",
          reason: "TrainingFailed",
          message: "fold 0 failed 4 times",
          lastTransitionTime: minutesAgo(1),
        },
      ],
      folds: [
        {
          fold: "0",
          phase: "Failed",
          attempt: 3,
          epoch: 12,
          maxEpochs: 1000,
          reason: "OutOfMemory",
          message: "torch.OutOfMemoryError: CUDA out of memory\nTried to allocate 2.00 GiB",
        },
      ],
    },
    { folds: [0] },
  );

export const auditedRun = () =>
  makeRun(
    "audited",
    {
      phase: "Training",
      calibration,
      folds: [
        {
          ...trainingFold("0", 249),
          phase: "Completed",
          stopDecision: {
            schemaVersion: 1,
            epoch: 180,
            policy: "Forecast",
            mode: "Audit",
            reason: "r",
            bestEpoch: 172,
            bestEma: 0.91,
            decidedAt: minutesAgo(60),
          },
          audit: {
            stopEpoch: 180,
            policy: "Forecast",
            bestEmaAtStop: 0.91,
            bestEmaLost: 0.0035,
            epochsSaved: 69,
            gpuSecondsSaved: 6900,
            validation: { meanDiceLost: 0.0042 },
          },
        },
        {
          ...trainingFold("1", 170),
          stopDecision: {
            schemaVersion: 1,
            epoch: 150,
            policy: "Forecast",
            mode: "Audit",
            reason: "r",
            bestEpoch: 148,
            bestEma: 0.88,
            decidedAt: minutesAgo(10),
          },
          audit: { stopEpoch: 150, policy: "Forecast", bestEmaAtStop: 0.88 },
        },
      ],
      audit: { folds: 1, meanBestEmaLost: 0.0035, meanDiceLost: 0.0042, gpuSecondsSaved: 6900 },
    },
    { folds: [0, 1] },
  );
