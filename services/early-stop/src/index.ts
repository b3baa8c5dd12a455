// Public surface of @nnunet-operator/early-stop: the pure convergence policies, the evaluator core and the controller parts (main.ts composes them).
export * from "./convergence/index.js";
export * from "./evaluate/replay.js";
export * from "./evaluate/oracle.js";
export * from "./evaluate/curves.js";
export * from "./evaluate/report.js";
export * from "./config.js";
export * from "./consumer.js";
export * from "./controller.js";
export * from "./ingest.js";
export * from "./metrics.js";
export * from "./runs.js";
export * from "./server.js";
export * from "./terminator.js";
export * from "./evidence.js";
export * from "./app.js";
