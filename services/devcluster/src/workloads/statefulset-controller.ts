import type { KubeObject } from "../api/resources.js";
import type { Cluster } from "../cluster.js";
import { ignoreExpected } from "../sim/key-queue.js";
import {
  canonical,
  controllerUid,
  isActive,
  isAvailable,
  isReady,
  isTerminal,
  ownerRef,
  templateHash,
} from "./common.js";
import { splitKey, WorkloadController } from "./controller-base.js";

// The apps/v1 StatefulSet controller, in process: pods `<sts>-<ordinal>` with stable names,
// hostname and subdomain (the governing Service), a PersistentVolumeClaim
// `<template>-<sts>-<ordinal>` per volumeClaimTemplate made before the pod and kept after it
// (retention policy Retain); OrderedReady creates ordinal i only when 0..i-1 are Running
// and Ready and removes the highest first, one at a time; Parallel does all at once. A
// template change rolls the pods from the highest ordinal down (RollingUpdate, partition),
// one at a time once the rest are Ready; OnDelete waits for someone to delete them.

const REVISION_LABEL = "controller-revision-hash";
type Obj = Record<string, unknown>;

interface StsSpec {
  replicas?: number;
  serviceName?: string;
  podManagementPolicy?: string;
  minReadySeconds?: number;
  updateStrategy?: { type?: string; rollingUpdate?: { partition?: number } };
  template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: Obj };
  volumeClaimTemplates?: {
    metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
    spec?: Obj;
  }[];
  selector?: { matchLabels?: Record<string, string> };
}

export const ordinalOf = (sts: string, pod: string): number => {
  const m = new RegExp(`^${sts.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}-(\\d+)$`).exec(pod);
  return m ? Number(m[1]) : -1;
};

export function podForOrdinal(sts: KubeObject, ordinal: number, revision: string): KubeObject {
  const spec = sts["spec"] as StsSpec;
  const name = `${sts.metadata.name}-${ordinal}`;
  const podSpec = structuredClone(spec.template?.spec ?? {}) as Obj & { volumes?: { name: string }[] };
  const claims = (spec.volumeClaimTemplates ?? []).map((t) => t.metadata?.name ?? "");
  podSpec.volumes = [
    ...(podSpec.volumes ?? []).filter((v) => !claims.includes(v.name)),
    ...claims.map((c) => ({ name: c, persistentVolumeClaim: { claimName: `${c}-${name}` } })),
  ];
  podSpec["hostname"] = name;
  if (spec.serviceName) podSpec["subdomain"] = spec.serviceName;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: sts.metadata.namespace!,
      labels: {
        ...spec.template?.metadata?.labels,
        [REVISION_LABEL]: revision,
        "statefulset.kubernetes.io/pod-name": name,
        "apps.kubernetes.io/pod-index": String(ordinal),
      },
      ...(spec.template?.metadata?.annotations ? { annotations: { ...spec.template.metadata.annotations } } : {}),
      ownerReferences: [ownerRef(sts)],
    },
    spec: podSpec,
  };
}

export class StatefulSetController extends WorkloadController {
  constructor(cluster: Cluster) {
    super(cluster, "statefulset-controller", { storage: "statefulsets.apps", group: "apps", resource: "statefulsets" });
  }

  protected override secondary() {
    return [{ storage: "pods", group: "", resource: "pods", keys: WorkloadController.ownerKey("StatefulSet") }];
  }

  protected async reconcile(key: string): Promise<void> {
    const [ns, name] = splitKey(key);
    const c = this.cluster;
    const sts = c.store.get("statefulsets.apps", ns, name);
    if (!sts || sts.metadata.deletionTimestamp) return;
    const spec = sts["spec"] as StsSpec;
    const podDef = c.resource("", "v1", "pods");
    const opts = { fieldManager: "statefulset-controller" };
    const revision = `${name}-${templateHash(spec.template)}`;
    const want = spec.replicas ?? 1;
    const ordered = (spec.podManagementPolicy ?? "OrderedReady") === "OrderedReady";
    const pods = new Map<number, KubeObject>();
    for (const e of c.store.scan("pods", ns))
      if (controllerUid(e.object, "StatefulSet") === sts.metadata.uid) pods.set(ordinalOf(name, e.name), e.object);
    const revisionOf = (p: KubeObject) => p.metadata.labels?.[REVISION_LABEL];
    const healthy = (p: KubeObject | undefined) => p !== undefined && isActive(p) && isReady(p);

    // A failed pod is deleted and made again under the same name.
    for (const [, p] of pods)
      if (isTerminal(p) && !p.metadata.deletionTimestamp)
        await c.delete(podDef, ns, p.metadata.name!, { preconditions: { uid: p.metadata.uid! } }).catch(ignoreExpected);

    for (let i = 0; i < want; i++) {
      const p = pods.get(i);
      if (!p) {
        await this.ensureClaims(sts, i);
        const pod = await c.registry.create(podDef, ns, podForOrdinal(sts, i, revision), opts).catch(ignoreExpected);
        if (pod)
          this.recorder.event(
            sts,
            "Normal",
            "SuccessfulCreate",
            `create Pod ${pod.metadata.name} in StatefulSet ${name} successful`,
          );
        if (ordered) break;
        continue;
      }
      if (ordered && !healthy(p)) break;
    }
    // Scale down: the highest ordinals beyond replicas; one at a time when ordered.
    const surplus = [...pods.entries()].filter(([i]) => i >= want || i < 0).sort((a, b) => b[0] - a[0]);
    const terminating = [...pods.values()].some((p) => p.metadata.deletionTimestamp);
    for (const [, p] of surplus) {
      if (
        ordered &&
        (terminating || ![...pods.entries()].filter(([i]) => i < want && i >= 0).every(([, q]) => healthy(q)))
      )
        break;
      if (p.metadata.deletionTimestamp) continue;
      await c.delete(podDef, ns, p.metadata.name!, { preconditions: { uid: p.metadata.uid! } }).catch(ignoreExpected);
      this.recorder.event(
        sts,
        "Normal",
        "SuccessfulDelete",
        `delete Pod ${p.metadata.name} in StatefulSet ${name} successful`,
      );
      if (ordered) break;
    }
    // Rolling update from the highest ordinal down to the partition, once every other pod is Ready.
    const inRange = [...pods.entries()].filter(([i]) => i >= 0 && i < want);
    if (
      (spec.updateStrategy?.type ?? "RollingUpdate") === "RollingUpdate" &&
      inRange.length === want &&
      !terminating &&
      inRange.every(([, p]) => healthy(p))
    ) {
      const partition = spec.updateStrategy?.rollingUpdate?.partition ?? 0;
      const stale = inRange
        .filter(([i, p]) => i >= partition && revisionOf(p) !== revision)
        .sort((a, b) => b[0] - a[0])[0];
      if (stale)
        await c
          .delete(podDef, ns, stale[1].metadata.name!, { preconditions: { uid: stale[1].metadata.uid! } })
          .catch(ignoreExpected);
    }

    const active = [...pods.values()].filter(isActive);
    const now = c.now();
    const prev = (sts["status"] ?? {}) as { currentRevision?: string };
    const updated = active.filter((p) => revisionOf(p) === revision).length;
    const currentRevision = updated === want && active.length === want ? revision : (prev.currentRevision ?? revision);
    const status = {
      observedGeneration: sts.metadata.generation ?? 1,
      replicas: active.length,
      readyReplicas: active.filter(isReady).length,
      availableReplicas: active.filter((p) => isAvailable(p, spec.minReadySeconds ?? 0, now)).length,
      currentReplicas: active.filter((p) => revisionOf(p) === currentRevision).length,
      updatedReplicas: updated,
      currentRevision,
      updateRevision: revision,
      collisionCount: 0,
    };
    if (canonical(status) !== canonical(sts["status"] ?? {}))
      await c.registry.patch(c.resource("apps", "v1", "statefulsets"), ns, name, "merge", { status }, opts, "status");
  }

  private async ensureClaims(sts: KubeObject, ordinal: number): Promise<void> {
    const spec = sts["spec"] as StsSpec;
    const ns = sts.metadata.namespace!;
    for (const t of spec.volumeClaimTemplates ?? []) {
      const claim = `${t.metadata?.name}-${sts.metadata.name}-${ordinal}`;
      if (this.cluster.store.get("persistentvolumeclaims", ns, claim)) continue;
      await this.cluster.create(
        {
          apiVersion: "v1",
          kind: "PersistentVolumeClaim",
          metadata: {
            name: claim,
            namespace: ns,
            labels: { ...spec.selector?.matchLabels, ...t.metadata?.labels },
            ...(t.metadata?.annotations ? { annotations: t.metadata.annotations } : {}),
          },
          spec: structuredClone(t.spec ?? {}),
        },
        { fieldManager: "statefulset-controller" },
      );
      this.recorder.event(
        sts,
        "Normal",
        "SuccessfulCreate",
        `create Claim ${claim} Pod ${sts.metadata.name}-${ordinal} in StatefulSet ${sts.metadata.name} success`,
      );
    }
  }
}
