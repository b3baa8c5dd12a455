import type { Cluster } from "../cluster.js";
import { DeploymentController } from "./deployment-controller.js";
import { DisruptionController } from "./disruption.js";
import { EndpointSliceController } from "./endpointslice-controller.js";
import { ReplicaSetController } from "./replicaset-controller.js";
import { StatefulSetController } from "./statefulset-controller.js";

// The workload controllers kube-controller-manager runs for the kinds the chart installs.
// They run with or without simulated nodes (without nodes their pods stay Pending).

export interface WorkloadControllers {
  idle(): Promise<void>;
  stop(): void;
}

export function startWorkloadControllers(cluster: Cluster): WorkloadControllers {
  const controllers = [
    new DeploymentController(cluster),
    new ReplicaSetController(cluster),
    new StatefulSetController(cluster),
    new EndpointSliceController(cluster),
    new DisruptionController(cluster),
  ];
  const stops = controllers.map((c) => c.start());
  return {
    idle: async () => {
      for (const c of controllers) await c.idle();
    },
    stop: () => stops.forEach((s) => s()),
  };
}
