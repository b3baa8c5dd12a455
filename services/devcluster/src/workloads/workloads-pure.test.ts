import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { KubeObject } from "../api/resources.js";
import { buildDnsTable } from "../kubelet/cluster-network.js";
import { resourceFieldValue } from "../kubelet/resource-field.js";
import { computeBudget } from "./disruption.js";
import { buildEndpointSlice } from "./endpointslice-controller.js";

// The pure parts of the workload controllers and the pod network, table-driven.

const pod = (
  name: string,
  o: {
    ip?: string;
    ready?: boolean;
    deleting?: boolean;
    phase?: string;
    labels?: Record<string, string>;
    hostname?: string;
    subdomain?: string;
    owner?: string;
  } = {},
): KubeObject => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name,
    namespace: "ns",
    uid: `uid-${name}`,
    labels: o.labels ?? { app: "a" },
    ...(o.deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}),
    ...(o.owner
      ? { ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: o.owner, uid: "rs", controller: true }] }
      : {}),
  },
  spec: {
    containers: [{ name: "c", image: "i", ports: [{ name: "http", containerPort: 8080 }] }],
    ...(o.hostname ? { hostname: o.hostname, subdomain: o.subdomain } : {}),
  },
  status: {
    phase: o.phase ?? "Running",
    ...(o.ip ? { podIP: o.ip } : {}),
    conditions: [{ type: "Ready", status: o.ready === false ? "False" : "True" }],
  },
});
const svc = (spec: Record<string, unknown>): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "s", namespace: "ns", uid: "svc-uid" },
  spec: { selector: { app: "a" }, ports: [{ name: "web", port: 80, targetPort: "http" }], ...spec },
});

describe("buildEndpointSlice", () => {
  const cases: {
    name: string;
    spec?: Record<string, unknown>;
    pods: KubeObject[];
    want: [string, boolean, boolean][];
  }[] = [
    {
      name: "lists ready pods with an IP as ready, and leaves out pods without an IP and finished pods",
      pods: [pod("a", { ip: "127.1.0.1" }), pod("b"), pod("c", { ip: "127.1.0.3", phase: "Succeeded" })],
      want: [["a", true, false]],
    },
    {
      name: "a pod that is not Ready is listed but not ready",
      pods: [pod("a", { ip: "127.1.0.1", ready: false })],
      want: [["a", false, false]],
    },
    {
      name: "a terminating pod is terminating and not ready",
      pods: [pod("a", { ip: "127.1.0.1", deleting: true })],
      want: [["a", false, true]],
    },
    {
      name: "publishNotReadyAddresses makes every pod ready",
      spec: { publishNotReadyAddresses: true },
      pods: [pod("a", { ip: "127.1.0.1", ready: false })],
      want: [["a", true, false]],
    },
    {
      name: "pods the selector does not match are left out",
      pods: [pod("a", { ip: "127.1.0.1", labels: { app: "b" } })],
      want: [],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const slice = buildEndpointSlice(svc(c.spec ?? {}), c.pods);
      const eps = slice["endpoints"] as {
        targetRef: { name: string };
        conditions: { ready: boolean; terminating: boolean };
      }[];
      assert.deepEqual(
        eps.map((e) => [e.targetRef.name, e.conditions.ready, e.conditions.terminating]),
        c.want,
      );
    });
  }
  it("resolves a named targetPort against the pods' container ports", () => {
    assert.deepEqual(buildEndpointSlice(svc({}), [pod("a", { ip: "127.1.0.1" })])["ports"], [
      { name: "web", port: 8080, protocol: "TCP" },
    ]);
  });
});

describe("computeBudget", () => {
  const pdb = (spec: Record<string, unknown>): KubeObject => ({
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: { name: "p", namespace: "ns" },
    spec: { selector: { matchLabels: { app: "a" } }, ...spec },
  });
  const three = [pod("a", { owner: "rs" }), pod("b", { owner: "rs" }), pod("c", { owner: "rs", ready: false })];
  const cases: { name: string; spec: Record<string, unknown>; want: [number, number, number, number] }[] = [
    {
      name: "maxUnavailable 1 of a ReplicaSet of 3 with one pod not ready allows nothing",
      spec: { maxUnavailable: 1 },
      want: [3, 2, 2, 0],
    },
    { name: "minAvailable 1 allows one disruption of two healthy pods", spec: { minAvailable: 1 }, want: [3, 1, 2, 1] },
    { name: "minAvailable 50% rounds up", spec: { minAvailable: "50%" }, want: [3, 2, 2, 0] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const b = computeBudget(pdb(c.spec), three, () => 3);
      assert.deepEqual([b.expectedPods, b.desiredHealthy, b.currentHealthy, b.disruptionsAllowed], c.want);
    });
  }
});

describe("resourceFieldValue", () => {
  const cases: { name: string; resource: string; divisor?: string; want: string }[] = [
    { name: "limits.cpu 250m with the default divisor rounds up to 1", resource: "limits.cpu", want: "1" },
    { name: "limits.cpu in millicores", resource: "limits.cpu", divisor: "1m", want: "250" },
    { name: "requests.memory in Mi", resource: "requests.memory", divisor: "1Mi", want: "128" },
    { name: "a limit not set is the node's allocatable", resource: "limits.memory", divisor: "1Gi", want: "256" },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(
        resourceFieldValue(
          { limits: { cpu: "250m" }, requests: { memory: "128Mi" } },
          { resource: c.resource, ...(c.divisor ? { divisor: c.divisor } : {}) },
          { memory: "256Gi", cpu: "32" },
        ),
        c.want,
      );
    });
  }
});

describe("buildDnsTable", () => {
  it("names a ClusterIP Service by its ClusterIP, a headless one by its pods, and StatefulSet pods by hostname.subdomain", () => {
    const table = buildDnsTable(
      [svc({ clusterIP: "127.96.0.7" }), { ...svc({ clusterIP: "None" }), metadata: { name: "h", namespace: "ns" } }],
      [pod("h-0", { ip: "127.1.0.9", hostname: "h-0", subdomain: "h" })],
    );
    assert.deepEqual(table, {
      "s.ns.svc.cluster.local": ["127.96.0.7"],
      "h.ns.svc.cluster.local": ["127.1.0.9"],
      "h-0.h.ns.svc.cluster.local": ["127.1.0.9"],
    });
  });
});
