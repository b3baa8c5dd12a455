// Public surface of @nnunet-operator/devcluster.
export { startDevCluster, loadManifests, type DevCluster, type DevClusterOptions } from "./server.js";
export { Cluster, serviceAccountUser, userFromName, DEFAULT_NAMESPACES, type ClusterOptions } from "./cluster.js";
export { buildKubeconfig } from "./kubeconfig.js";
export { selfSignedCertificate, type SelfSigned } from "./tls.js";
export { ApiError, type Status } from "./api/errors.js";
export type { KubeObject, ObjectMeta, OwnerReference, ResourceDef } from "./api/resources.js";
export type { StoreEvent, EventType } from "./api/store.js";
export type { UserInfo, WriteOptions, PatchType } from "./api/registry.js";
export type { DeleteOptions, DeleteResult, PropagationPolicy } from "./api/deletion.js";
export type { SubresourceHandler, SubresourceContext } from "./http/api-handler.js";
export { bindPod } from "./api/binding.js";
export {
  assertNoUnexpectedFailures,
  UnexpectedControllerFailuresError,
  type ControllerFailure,
  type ControllerFailureCount,
} from "./sim/controller-failures.js";
// Part 2: simulated nodes, scheduler, Job controller, process kubelet, simulated nnU-Net.
export {
  startSimulation,
  DEFAULT_IMAGE_MAP,
  DEMO_PREPROCESSED,
  type Simulation,
  type SimulationOptions,
  type SeedClaim,
} from "./sim/simulation.js";
export {
  parseNodeSpec,
  buildNodes,
  NodeSpecError,
  GPU_PRODUCTS,
  gpuProduct,
  type NodeGroup,
  type NodeShape,
} from "./nodes/node-spec.js";
export { applyNodeAction, decideNodeAction, isNodeReady, NODE_ACTIONS, type NodeAction } from "./nodes/node-control.js";
export { runNodeCommand } from "./nodes/node-cli.js";
export { Scheduler } from "./scheduler/scheduler.js";
export { decidePlacement } from "./scheduler/predicates.js";
export { JobController } from "./jobs/job-controller.js";
export { decideJob } from "./jobs/job-decide.js";
export { Kubelet } from "./kubelet/kubelet.js";
export { loadImageMap, resolveCommand, ImageMap, type ImageEntry } from "./kubelet/image-map.js";
