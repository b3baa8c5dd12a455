import type { KubeObject } from "../api/resources.js";
import type { Cluster } from "../cluster.js";
import { ignoreExpected } from "../sim/key-queue.js";
import {
  canonical,
  controllerUid,
  ownerRef,
  REVISION_ANNOTATION,
  TEMPLATE_HASH_LABEL,
  templateHash,
} from "./common.js";
import { splitKey, WorkloadController } from "./controller-base.js";
import { decideDeployment, rolloutComplete, rsView } from "./deployment-decide.js";

// The apps/v1 Deployment controller, in process: reads a Deployment and the ReplicaSets it
// controls, asks decideDeployment, and acts (create the new ReplicaSet `<name>-<hash>`,
// scale, re-revise, drop old ones, write status). The ReplicaSet controller makes the pods.

const RS = "replicasets.apps";
/** Annotations a ReplicaSet does not copy from its Deployment (deployment/util). */
const NOT_COPIED = new Set([
  "kubectl.kubernetes.io/last-applied-configuration",
  REVISION_ANNOTATION,
  "deployment.kubernetes.io/revision-history",
  "deployment.kubernetes.io/desired-replicas",
  "deployment.kubernetes.io/max-replicas",
]);

export class DeploymentController extends WorkloadController {
  constructor(cluster: Cluster) {
    super(cluster, "deployment-controller", { storage: "deployments.apps", group: "apps", resource: "deployments" });
  }

  protected override secondary() {
    return [{ storage: RS, group: "apps", resource: "replicasets", keys: WorkloadController.ownerKey("Deployment") }];
  }

  protected async reconcile(key: string): Promise<void> {
    const [ns, name] = splitKey(key);
    const c = this.cluster;
    const deploy = c.store.get("deployments.apps", ns, name);
    if (!deploy || deploy.metadata.deletionTimestamp) return;
    const rsDef = c.resource("apps", "v1", "replicasets");
    const owned = [...c.store.scan(RS, ns)]
      .map((e) => e.object)
      .filter((rs) => controllerUid(rs, "Deployment") === deploy.metadata.uid);
    const d = decideDeployment(deploy, owned.map(rsView), c.now());
    const opts = { fieldManager: "deployment-controller" };
    const spec = deploy["spec"] as {
      replicas?: number;
      template?: { metadata?: { labels?: Record<string, string> } };
      selector?: { matchLabels?: Record<string, string> };
      minReadySeconds?: number;
      progressDeadlineSeconds?: number;
      paused?: boolean;
    };
    if (d.create) {
      const hash = templateHash(spec.template);
      const template = structuredClone(spec.template ?? {}) as { metadata?: { labels?: Record<string, string> } };
      const labels = { ...template.metadata?.labels, [TEMPLATE_HASH_LABEL]: hash };
      template.metadata = { ...template.metadata, labels };
      const annotations: Record<string, string> = {};
      for (const [k, v] of Object.entries(deploy.metadata.annotations ?? {}))
        if (!NOT_COPIED.has(k)) annotations[k] = v;
      annotations[REVISION_ANNOTATION] = String(d.create.revision);
      annotations["deployment.kubernetes.io/desired-replicas"] = String(spec.replicas ?? 1);
      const rs: KubeObject = {
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        metadata: { name: `${name}-${hash}`, namespace: ns, labels, annotations, ownerReferences: [ownerRef(deploy)] },
        spec: {
          replicas: d.create.replicas,
          minReadySeconds: spec.minReadySeconds ?? 0,
          selector: { ...spec.selector, matchLabels: { ...spec.selector?.matchLabels, [TEMPLATE_HASH_LABEL]: hash } },
          template,
        },
      };
      const created = await c.registry.create(rsDef, ns, rs, opts);
      this.recorder.event(
        deploy,
        "Normal",
        "ScalingReplicaSet",
        `Scaled up replica set ${created.metadata.name} from 0 to ${d.create.replicas}`,
      );
    }
    for (const rs of owned) {
      const to = d.scale.get(rs.metadata.name!);
      const patch: Record<string, unknown> = {};
      if (to !== undefined) patch["spec"] = { replicas: to };
      const revise = d.reviseNew;
      if (revise && revise.name === rs.metadata.name)
        patch["metadata"] = { annotations: { [REVISION_ANNOTATION]: String(revise.revision) } };
      if (Object.keys(patch).length > 0) {
        await c.registry.patch(rsDef, ns, rs.metadata.name!, "merge", patch, opts);
        const from = (rs["spec"] as { replicas?: number }).replicas ?? 0;
        if (to !== undefined && to !== from)
          this.recorder.event(
            deploy,
            "Normal",
            "ScalingReplicaSet",
            `Scaled ${to! > from ? "up" : "down"} replica set ${rs.metadata.name} from ${from} to ${to}`,
          );
      }
    }
    for (const old of d.deleteOld)
      await c.delete(rsDef, ns, old, { propagationPolicy: "Background" }).catch(ignoreExpected);
    const deployDef = c.resource("apps", "v1", "deployments");
    if (deploy.metadata.annotations?.[REVISION_ANNOTATION] !== String(d.revision)) {
      await c.registry.patch(
        deployDef,
        ns,
        name,
        "merge",
        { metadata: { annotations: { [REVISION_ANNOTATION]: String(d.revision) } } },
        opts,
      );
    }
    if (canonical(d.status) !== canonical(deploy["status"] ?? {}))
      await c.registry.patch(deployDef, ns, name, "merge", { status: d.status }, opts, "status");
    if (!spec.paused && !rolloutComplete(d.status, spec.replicas ?? 1))
      this.queue.addAfter(key, ((spec.progressDeadlineSeconds ?? 600) + 1) * 1000);
  }
}
