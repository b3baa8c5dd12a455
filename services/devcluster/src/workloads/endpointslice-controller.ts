import type { KubeObject } from "../api/resources.js";
import { fromLabelSelectorObject, matchesLabels } from "../api/selectors.js";
import type { Cluster } from "../cluster.js";
import { canonical, isReady, isTerminal, ownerRef, templateHash } from "./common.js";
import { splitKey, WorkloadController } from "./controller-base.js";

// The discovery.k8s.io/v1 EndpointSlice controller, in process: one slice per Service with
// a selector, `<service>-<hash>`, labelled kubernetes.io/service-name, listing the pods the
// selector matches that have an IP, with the conditions kube-proxy and the API server's
// webhook dialler read: ready (Ready and not terminating; every pod when
// publishNotReadyAddresses), serving, terminating. Named targetPorts are resolved against
// the pods' container ports.

export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
type Obj = Record<string, unknown>;
interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
}
interface ContainerPort {
  name?: string;
  containerPort: number;
}

export function buildEndpointSlice(svc: KubeObject, pods: readonly KubeObject[]): KubeObject {
  const spec = (svc["spec"] ?? {}) as {
    selector?: Record<string, string>;
    ports?: ServicePort[];
    publishNotReadyAddresses?: boolean;
  };
  const selector = fromLabelSelectorObject({ matchLabels: spec.selector ?? {} });
  const members = pods.filter(
    (p) =>
      matchesLabels(selector, p.metadata.labels) &&
      !isTerminal(p) &&
      (p["status"] as { podIP?: string } | undefined)?.podIP,
  );
  const containerPorts = (p: KubeObject): ContainerPort[] =>
    (((p["spec"] as Obj)["containers"] as { ports?: ContainerPort[] }[] | undefined) ?? []).flatMap(
      (c) => c.ports ?? [],
    );
  const ports = (spec.ports ?? []).map((sp) => {
    let port = typeof sp.targetPort === "number" ? sp.targetPort : sp.targetPort === undefined ? sp.port : undefined;
    if (port === undefined)
      for (const p of members) port ??= containerPorts(p).find((cp) => cp.name === sp.targetPort)?.containerPort;
    return { name: sp.name ?? "", port: port ?? null, protocol: sp.protocol ?? "TCP" };
  });
  const endpoints = members
    .map((p) => {
      const podSpec = p["spec"] as { hostname?: string; subdomain?: string; nodeName?: string };
      const terminating = Boolean(p.metadata.deletionTimestamp);
      return {
        addresses: [(p["status"] as { podIP: string }).podIP],
        conditions: {
          ready: spec.publishNotReadyAddresses ? true : isReady(p) && !terminating,
          serving: isReady(p),
          terminating,
        },
        ...(podSpec.hostname && podSpec.subdomain === svc.metadata.name ? { hostname: podSpec.hostname } : {}),
        ...(podSpec.nodeName ? { nodeName: podSpec.nodeName } : {}),
        targetRef: { kind: "Pod", namespace: p.metadata.namespace, name: p.metadata.name, uid: p.metadata.uid },
      };
    })
    .sort((a, b) => a.targetRef.name!.localeCompare(b.targetRef.name!));
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `${svc.metadata.name}-${templateHash(svc.metadata.uid).slice(0, 5)}`,
      namespace: svc.metadata.namespace!,
      labels: {
        ...svc.metadata.labels,
        [SERVICE_NAME_LABEL]: svc.metadata.name!,
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
      },
      ownerReferences: [ownerRef(svc)],
    },
    addressType: "IPv4",
    endpoints,
    ports,
  };
}

export class EndpointSliceController extends WorkloadController {
  constructor(cluster: Cluster) {
    super(cluster, "endpointslice-controller", { storage: "services", group: "", resource: "services" });
  }

  protected override secondary() {
    // Any pod change may move it in or out of a Service: look at its namespace's Services.
    return [
      {
        storage: "pods",
        group: "",
        resource: "pods",
        keys: (p: KubeObject) =>
          [...this.cluster.store.scan("services", p.metadata.namespace)].map((e) => `${e.namespace}/${e.name}`),
      },
    ];
  }

  protected async reconcile(key: string): Promise<void> {
    const [ns, name] = splitKey(key);
    const c = this.cluster;
    const svc = c.store.get("services", ns, name);
    if (!svc || svc.metadata.deletionTimestamp || !(svc["spec"] as { selector?: unknown }).selector) return;
    const def = c.resource("discovery.k8s.io", "v1", "endpointslices");
    const want = buildEndpointSlice(
      svc,
      [...c.store.scan("pods", ns)].map((e) => e.object),
    );
    const have = c.store.get(def.storage, ns, want.metadata.name!);
    const opts = { fieldManager: "endpointslice-controller" };
    if (!have) await c.registry.create(def, ns, want, opts);
    else if (
      canonical([have["endpoints"], have["ports"], have.metadata.labels]) !==
      canonical([want["endpoints"], want["ports"], want.metadata.labels])
    ) {
      await c.registry.update(
        def,
        ns,
        want.metadata.name!,
        { ...want, metadata: { ...have.metadata, labels: want.metadata.labels } },
        opts,
      );
    }
  }
}
