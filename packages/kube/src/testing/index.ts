// Test helpers of @nnunet-operator/kube, for this package's tests and the services' tests.
export * from "./fake-port.js";
export { FakeClock, settle } from "./fake-clock.js";
