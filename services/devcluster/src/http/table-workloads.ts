import type { KubeObject } from "../api/resources.js";

// `kubectl get` columns of the workload and networking kinds (deployments, replicasets,
// statefulsets, services, endpointslices, poddisruptionbudgets, networkpolicies).

type Obj = Record<string, unknown>;
type Col = { name: string; type: string; format: string; description: string; priority: number };
type Printer = {
  columns: Col[];
  cells: (o: KubeObject, now: number, age: (o: KubeObject, now: number) => string) => unknown[];
};
const col = (name: string, type = "string", priority = 0): Col => ({
  name,
  type,
  format: name === "Name" ? "name" : "",
  description: "",
  priority,
});
const NAME = col("Name");
const AGE = col("Age");
const st = (o: KubeObject) => (o["status"] ?? {}) as Obj;
const sp = (o: KubeObject) => (o["spec"] ?? {}) as Obj;
const n = (v: unknown) => (typeof v === "number" ? v : 0);
const intOrString = (v: unknown) => (v === undefined ? "N/A" : String(v));

export const WORKLOAD_PRINTERS: Record<string, Printer> = {
  deployments: {
    columns: [NAME, col("Ready"), col("Up-to-date", "integer"), col("Available", "integer"), AGE],
    cells: (o, now, age) => [
      o.metadata.name,
      `${n(st(o)["readyReplicas"])}/${n(sp(o)["replicas"])}`,
      n(st(o)["updatedReplicas"]),
      n(st(o)["availableReplicas"]),
      age(o, now),
    ],
  },
  replicasets: {
    columns: [NAME, col("Desired", "integer"), col("Current", "integer"), col("Ready", "integer"), AGE],
    cells: (o, now, age) => [
      o.metadata.name,
      n(sp(o)["replicas"]),
      n(st(o)["replicas"]),
      n(st(o)["readyReplicas"]),
      age(o, now),
    ],
  },
  statefulsets: {
    columns: [NAME, col("Ready"), AGE],
    cells: (o, now, age) => [o.metadata.name, `${n(st(o)["readyReplicas"])}/${n(sp(o)["replicas"])}`, age(o, now)],
  },
  services: {
    columns: [NAME, col("Type"), col("Cluster-IP"), col("External-IP"), col("Port(s)"), AGE],
    cells: (o, now, age) => {
      const ports = ((sp(o)["ports"] as { port: number; protocol?: string }[] | undefined) ?? [])
        .map((p) => `${p.port}/${p.protocol ?? "TCP"}`)
        .join(",");
      return [
        o.metadata.name,
        sp(o)["type"] ?? "ClusterIP",
        sp(o)["clusterIP"] ?? "<none>",
        "<none>",
        ports || "<none>",
        age(o, now),
      ];
    },
  },
  endpointslices: {
    columns: [NAME, col("AddressType"), col("Ports"), col("Endpoints"), AGE],
    cells: (o, now, age) => {
      const ports = ((o["ports"] as { port?: number | null }[] | undefined) ?? [])
        .map((p) => String(p.port ?? "<unset>"))
        .join(",");
      const eps = ((o["endpoints"] as { addresses?: string[] }[] | undefined) ?? []).flatMap((e) => e.addresses ?? []);
      return [
        o.metadata.name,
        o["addressType"] ?? "",
        ports || "<unset>",
        eps.length ? eps.slice(0, 3).join(",") + (eps.length > 3 ? ` + ${eps.length - 3} more...` : "") : "<unset>",
        age(o, now),
      ];
    },
  },
  poddisruptionbudgets: {
    columns: [NAME, col("Min Available"), col("Max Unavailable"), col("Allowed Disruptions", "integer"), AGE],
    cells: (o, now, age) => [
      o.metadata.name,
      intOrString(sp(o)["minAvailable"]),
      intOrString(sp(o)["maxUnavailable"]),
      n(st(o)["disruptionsAllowed"]),
      age(o, now),
    ],
  },
  networkpolicies: {
    columns: [NAME, col("Pod-Selector"), AGE],
    cells: (o, now, age) => {
      const labels = (sp(o)["podSelector"] as { matchLabels?: Record<string, string> } | undefined)?.matchLabels ?? {};
      return [
        o.metadata.name,
        Object.entries(labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(",") || "<none>",
        age(o, now),
      ];
    },
  },
};
