// The operator's adapters (reconciler, informers, server), for main.ts, the integration
// tests and the benchmark. The pure core is the package's main export (index.ts).
export * from "./index.js";
export * from "./controller.js";
export * from "./metrics.js";
export * from "./server.js";
export * from "./trainingrun/act.js";
export * from "./trainingrun/progress-feed.js";
export * from "./trainingrun/reconciler.js";
export * from "./trainingrun/scheduler.js";
export * from "./trainingrun/world.js";
