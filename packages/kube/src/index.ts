// Public surface of @nnunet-operator/kube.
export * from "./clock.js";
export * from "./errors.js";
export * from "./port.js";
export * from "./client-port.js";
export * from "./workqueue.js";
export * from "./metrics.js";
export * from "./store.js";
export * from "./informer.js";
export * from "./leader.js";
export * from "./events.js";
