// Test helpers of @nnunet-operator/early-stop: builders and an in-memory epoch source.
export * from "./builders.js";
export * from "./memory-source.js";
export * from "./fake-api-server.js";
