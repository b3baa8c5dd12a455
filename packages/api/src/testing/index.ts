// Test and emulator helpers of @nnunet-operator/api, behind its `/testing` entry so that no
// production image bundles them: the CRD validator (ajv and cel-js) that the devcluster's API
// server and the CRD tests apply the way kube-apiserver does.
export * from "./crd-validator.js";
