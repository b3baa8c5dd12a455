// Public surface of @nnunet-operator/early-stop: the pure convergence policies and the evaluator core.
export * from "./convergence/index.js";
export * from "./evaluate/replay.js";
export * from "./evaluate/oracle.js";
export * from "./evaluate/curves.js";
export * from "./evaluate/report.js";
