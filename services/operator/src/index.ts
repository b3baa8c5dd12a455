// Public surface of @nnunet-operator/operator's pure core: configuration, decisions,
// manifest builders and the webhook. The reconciler adapter and main.ts build on these.
export * from "./config.js";
export * from "./trainingrun/decide/admission.js";
export * from "./trainingrun/decide/accounting.js";
export * from "./trainingrun/decide/calibration.js";
export * from "./trainingrun/decide/calibration-cache.js";
export * from "./trainingrun/decide/capacity.js";
export * from "./trainingrun/decide/failures.js";
export * from "./trainingrun/decide/finish.js";
export * from "./trainingrun/decide/folds.js";
export * from "./trainingrun/decide/objects.js";
export * from "./trainingrun/decide/parts.js";
export * from "./trainingrun/decide/progress.js";
export * from "./trainingrun/decide/run.js";
export * from "./trainingrun/decide/schedule.js";
export * from "./trainingrun/decide/status.js";
export * from "./trainingrun/decide/validation.js";
export * from "./trainingrun/manifests/calibrate-job.js";
export * from "./trainingrun/manifests/calibration-cache.js";
export * from "./trainingrun/manifests/common.js";
export * from "./trainingrun/manifests/scripts.js";
export * from "./trainingrun/manifests/training-job.js";
export * from "./trainingrun/manifests/validation-job.js";
export * from "./webhook/admission-review.js";
export * from "./webhook/validate-trainingrun.js";
export * from "./trainingrun/decide/status-write.js";
export * from "./trainingrun/decide/defaults.js";
