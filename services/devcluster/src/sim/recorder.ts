import { randomBytes } from "node:crypto";
import type { Cluster } from "../cluster.js";
import type { KubeObject } from "../api/resources.js";
import { reportUnexpected } from "./key-queue.js";

// core/v1 Events for the simulated controllers (scheduler, kubelet, Job controller), named
// `<object>.<hex>` like client-go's recorder. A failed event write is never fatal (events
// are best effort on a real cluster too) and never retried, but one that is not expected
// (a namespace being deleted or gone) is reported to the cluster's failure log as
// `<component>-events`, keyed by the object and reason: a refused event is a bug of ours.

export type EventType = "Normal" | "Warning";

export interface Recorder {
  event(obj: KubeObject, type: EventType, reason: string, message: string): void;
}

export function createRecorder(cluster: Cluster, component: string, host?: string): Recorder {
  return {
    event(obj, type, reason, message) {
      const time = cluster.timestamp();
      const ev: KubeObject = {
        apiVersion: "v1",
        kind: "Event",
        metadata: {
          name: `${obj.metadata.name}.${randomBytes(8).toString("hex")}`,
          namespace: obj.metadata.namespace ?? "default",
        },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          namespace: obj.metadata.namespace,
          name: obj.metadata.name,
          uid: obj.metadata.uid,
          resourceVersion: obj.metadata.resourceVersion,
        },
        reason,
        message,
        type,
        source: { component, ...(host ? { host } : {}) },
        firstTimestamp: time,
        lastTimestamp: time,
        count: 1,
        reportingComponent: component,
        reportingInstance: host ?? component,
      };
      const key = `${obj.metadata.namespace ?? "default"}/${obj.metadata.name} ${reason}`;
      cluster
        .create(ev, { fieldManager: component })
        .catch((error) => reportUnexpected(cluster.controllerFailures, `${component}-events`, key, error));
    },
  };
}
