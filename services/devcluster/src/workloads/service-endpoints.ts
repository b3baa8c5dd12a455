import type { KubeObject } from "../api/resources.js";
import type { Store } from "../api/store.js";
import { SERVICE_NAME_LABEL } from "./endpointslice-controller.js";

// Where a Service's traffic goes: a ready endpoint from its EndpointSlices, with the
// target port of the Service port asked for. The API server's webhook calls, the service
// proxy and the pods' DNS all resolve through here.

export interface Dial {
  address: string;
  port: number;
}

interface SlicePort {
  name?: string;
  port?: number | null;
}
interface SliceEndpoint {
  addresses: string[];
  conditions?: { ready?: boolean };
}

export function readyEndpoints(store: Store, namespace: string, service: string, portName: string): Dial[] {
  const out: Dial[] = [];
  for (const e of store.scan("endpointslices.discovery.k8s.io", namespace)) {
    if (e.object.metadata.labels?.[SERVICE_NAME_LABEL] !== service) continue;
    const port = ((e.object["ports"] as SlicePort[] | undefined) ?? []).find((p) => (p.name ?? "") === portName)?.port;
    if (typeof port !== "number") continue;
    for (const ep of (e.object["endpoints"] as SliceEndpoint[] | undefined) ?? [])
      if (ep.conditions?.ready !== false) for (const a of ep.addresses) out.push({ address: a, port });
  }
  return out;
}

/** The Service port numbered `port` (or its only port). */
export function servicePort(svc: KubeObject, port: number | undefined): { name?: string; port: number } | undefined {
  const ports = (svc["spec"] as { ports?: { name?: string; port: number }[] } | undefined)?.ports ?? [];
  return port === undefined ? ports[0] : ports.find((p) => p.port === port);
}

/** A ready endpoint of namespace/name:port, or the error kube-apiserver reports. */
export function resolveServiceEndpoint(
  store: Store,
  ref: { namespace: string; name: string; port?: number },
  pick: (n: number) => number = (n) => Math.floor(Math.random() * n),
): Dial | { error: string } {
  const svc = store.get("services", ref.namespace, ref.name);
  if (!svc) return { error: `failed to call webhook: service "${ref.name}" not found` };
  const sp = servicePort(svc, ref.port ?? 443);
  if (!sp)
    return { error: `failed to call webhook: service "${ref.namespace}/${ref.name}" has no port ${ref.port ?? 443}` };
  const eps = readyEndpoints(store, ref.namespace, ref.name, sp.name ?? "");
  if (eps.length === 0) return { error: `failed to call webhook: no endpoints available for service "${ref.name}"` };
  return eps[pick(eps.length)]!;
}
