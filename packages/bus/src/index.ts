// Public surface of @nnunet-operator/bus.
export * from "./result.js";
export * from "./subjects.js";
export * from "./messages.js";
export * from "./nats.js";
export * from "./auth.js";
