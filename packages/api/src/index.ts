// Public surface of @nnunet-operator/api.
export * from "./v1alpha1/group.js";
export * from "./v1alpha1/shared.js";
export * from "./v1alpha1/spec.js";
export * from "./v1alpha1/status.js";
export * from "./v1alpha1/conditions.js";
export * from "./v1alpha1/rules.js";
export * from "./v1alpha1/trainingrun.js";
export * from "./messages.js";
export * from "./fold-job.js";
export * from "./calibration.js";
export * from "./crd/openapi.js";
export * from "./crd/structural.js";
export * from "./crd/trainingrun-crd.js";
export * from "./generated-files.js";
export * from "./metrics.js";
export * from "./chart-values.js";
