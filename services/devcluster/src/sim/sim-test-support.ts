import type { KubeObject } from "../api/resources.js";
import type { Cluster } from "../cluster.js";

// Builders and readers for the simulation tests.

type Obj = Record<string, unknown>;

export const BUSYBOX = "busybox:1.36";
export const TOLERATE_GPU = [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }];

export function makePod(name: string, spec: Obj, meta: Obj = {}): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "default", ...meta },
    spec: { restartPolicy: "Never", ...spec },
  };
}

export function makeJob(name: string, podSpec: Obj, jobSpec: Obj = {}): KubeObject {
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name, namespace: "default" },
    spec: { backoffLimit: 0, ...jobSpec, template: { spec: { restartPolicy: "Never", ...podSpec } } },
  };
}

export const sh = (name: string, script: string, extra: Obj = {}): Obj => ({
  name,
  image: BUSYBOX,
  command: ["sh", "-c", script],
  ...extra,
});

export const pod = (c: Cluster, name: string, ns = "default") => c.store.get("pods", ns, name);
export const job = (c: Cluster, name: string, ns = "default") => c.store.get("jobs.batch", ns, name);
export const statusOf = (o: KubeObject | undefined) =>
  (o?.["status"] ?? {}) as Obj & {
    phase?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
export const condition = (o: KubeObject | undefined, type: string) =>
  statusOf(o).conditions?.find((c) => c.type === type);
export const podsOf = (c: Cluster, jobName: string) =>
  [...c.store.scan("pods", "default")].map((e) => e.object).filter((p) => p.metadata.labels?.["job-name"] === jobName);
export const events = (c: Cluster, name?: string) =>
  [...c.store.scan("events", "default")]
    .map((e) => e.object as KubeObject & { reason: string; message: string; involvedObject: { name: string } })
    .filter((e) => name === undefined || e.involvedObject.name === name);

export function containerState(o: KubeObject | undefined, name: string): Obj | undefined {
  const st = statusOf(o) as {
    containerStatuses?: { name: string; state: Obj }[];
    initContainerStatuses?: { name: string; state: Obj }[];
  };
  return [...(st.containerStatuses ?? []), ...(st.initContainerStatuses ?? [])].find((c) => c.name === name)?.state;
}

export async function waitFor<T>(what: string, get: () => T | undefined | false, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
