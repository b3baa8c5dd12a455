// Public surface of @nnunet-operator/reporter: the log parser, the tail, the message builder,
// and the sidecar's parts (publisher, file gate, reporter loops, configuration, the audit's checkpoint keeper). The sidecar
// itself starts from src/main.ts, which is not exported.
export * from "./parse/nnunet-log.js";
export * from "./tail.js";
export * from "./epoch-message.js";
export * from "./publish.js";
export * from "./file-gate.js";
export * from "./folder-wakeup.js";
export * from "./reporter.js";
export * from "./config.js";
export * from "./metrics.js";
export * from "./nats-bus.js";
export * from "./keep-checkpoint.js";
