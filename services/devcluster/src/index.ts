// Public surface of @nnunet-operator/devcluster.
export { startDevCluster, loadManifests, type DevCluster, type DevClusterOptions } from "./server.js";
export { Cluster, serviceAccountUser, userFromName, DEFAULT_NAMESPACES, type ClusterOptions } from "./cluster.js";
export { buildKubeconfig } from "./kubeconfig.js";
export { ApiError, type Status } from "./api/errors.js";
export type { KubeObject, ObjectMeta, OwnerReference, ResourceDef } from "./api/resources.js";
export type { StoreEvent, EventType } from "./api/store.js";
export type { UserInfo, WriteOptions, PatchType } from "./api/registry.js";
export type { DeleteOptions, DeleteResult, PropagationPolicy } from "./api/deletion.js";
export type { SubresourceHandler, SubresourceContext } from "./http/api-handler.js";
export { bindPod } from "./api/binding.js";
