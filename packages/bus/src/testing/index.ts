// Test helpers of @nnunet-operator/bus: a real nats-server for integration tests.
export * from "./nats-server.js";
export * from "./auth.js";
