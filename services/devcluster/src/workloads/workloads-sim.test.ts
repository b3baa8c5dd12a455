import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import type { KubeObject } from "../api/resources.js";
import { startDevCluster, type DevCluster } from "../server.js";
import { assertNoUnexpectedFailures } from "../sim/controller-failures.js";
import { BUSYBOX, statusOf, waitFor } from "../sim/sim-test-support.js";

// The workload kinds end to end on simulated nodes, driven by the real kubectl: a
// Deployment rolls under maxSurge/maxUnavailable, `kubectl rollout status|restart|undo`,
// a StatefulSet's ordered pods and claims, a Service's EndpointSlice, a PodDisruptionBudget
// refusing an eviction, and NetworkPolicy validation.

const run = promisify(execFile);
type Obj = Record<string, unknown>;
const labels = { app: "web" };
const deployment = (image: string, extra: Obj = {}): KubeObject => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", namespace: "default" },
  spec: {
    replicas: 3,
    selector: { matchLabels: labels },
    strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
    template: {
      metadata: { labels },
      spec: {
        containers: [
          { name: "web", image, command: ["sleep", "3600"], ports: [{ name: "http", containerPort: 8080 }] },
        ],
        terminationGracePeriodSeconds: 1,
      },
    },
    ...extra,
  },
});

describe("workload controllers with kubectl", () => {
  let dc: DevCluster;
  const kubectl = (...args: string[]) =>
    run("kubectl", ["--kubeconfig", dc.kubeconfigPath, ...args], { timeout: 60_000 });
  const pods = (app: string) =>
    [...dc.cluster.store.scan("pods", "default")]
      .map((e) => e.object)
      .filter((p) => p.metadata.labels?.["app"] === app);
  before(async () => {
    dc = await startDevCluster({ nodes: "2xcpu" });
  });
  after(async () => {
    await dc.stop();
    assertNoUnexpectedFailures(dc);
  });

  it("rolls a Deployment one surge pod at a time, never below three ready, and rollout status/undo/restart work", async () => {
    await dc.cluster.create(deployment(BUSYBOX));
    await kubectl("rollout", "status", "deployment/web", "--timeout=30s");
    const first = pods("web");
    assert.equal(first.length, 3);
    let minReady = 3;
    let maxPods = 0;
    const stop = dc.cluster.watch(dc.cluster.resource("", "v1", "pods"), () => {
      const live = pods("web").filter((p) => !p.metadata.deletionTimestamp);
      maxPods = Math.max(maxPods, live.length);
      minReady = Math.min(
        minReady,
        live.filter((p) => statusOf(p).conditions?.some((c) => c.type === "Ready" && c.status === "True")).length,
      );
    });
    await kubectl("set", "image", "deployment/web", "web=busybox:1.37");
    const { stdout } = await kubectl("rollout", "status", "deployment/web", "--timeout=60s");
    stop();
    assert.match(stdout, /successfully rolled out/);
    assert.equal(minReady, 3, "maxUnavailable 0 keeps three ready pods");
    assert.equal(maxPods, 4, "maxSurge 1 allows one extra pod");
    const rs = [...dc.cluster.store.scan("replicasets.apps", "default")].map((e) => e.object);
    assert.equal(rs.length, 2);
    assert.deepEqual(rs.map((r) => (r["spec"] as { replicas: number }).replicas).sort(), [0, 3]);
    assert.ok(
      pods("web").every(
        (p) => (p["spec"] as { containers: { image: string }[] }).containers[0]!.image === "busybox:1.37",
      ),
    );

    await kubectl("rollout", "undo", "deployment/web");
    await kubectl("rollout", "status", "deployment/web", "--timeout=60s");
    assert.ok(
      pods("web")
        .filter((p) => !p.metadata.deletionTimestamp)
        .every((p) => (p["spec"] as { containers: { image: string }[] }).containers[0]!.image === BUSYBOX),
    );
    const history = (await kubectl("rollout", "history", "deployment/web")).stdout;
    assert.match(history, /^2 .*\n3 /m);

    const before = new Set(pods("web").map((p) => p.metadata.name));
    await kubectl("rollout", "restart", "deployment/web");
    await kubectl("rollout", "status", "deployment/web", "--timeout=60s");
    await waitFor("old pods gone", () => pods("web").every((p) => !before.has(p.metadata.name)), 20_000);
  });

  it("runs a StatefulSet in order with stable names and one claim per pod, and a Service lists its ready pods", async () => {
    await dc.cluster.create({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "db", namespace: "default" },
      spec: {
        clusterIP: "None",
        selector: { app: "db" },
        ports: [{ name: "client", port: 4222, targetPort: "client" }],
      },
    });
    await dc.cluster.create({
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: { name: "db", namespace: "default" },
      spec: {
        replicas: 2,
        serviceName: "db",
        selector: { matchLabels: { app: "db" } },
        template: {
          metadata: { labels: { app: "db" } },
          spec: {
            containers: [
              {
                name: "db",
                image: BUSYBOX,
                command: ["sleep", "3600"],
                ports: [{ name: "client", containerPort: 4222 }],
                volumeMounts: [{ name: "data", mountPath: "/data" }],
              },
            ],
            terminationGracePeriodSeconds: 1,
          },
        },
        volumeClaimTemplates: [
          {
            metadata: { name: "data" },
            spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
          },
        ],
      },
    });
    await kubectl("rollout", "status", "statefulset/db", "--timeout=30s");
    const created = pods("db").sort(
      (a, b) =>
        a.metadata.creationTimestamp!.localeCompare(b.metadata.creationTimestamp!) ||
        a.metadata.name!.localeCompare(b.metadata.name!),
    );
    assert.deepEqual(
      created.map((p) => p.metadata.name),
      ["db-0", "db-1"],
    );
    assert.ok(dc.cluster.store.get("persistentvolumeclaims", "default", "data-db-0"));
    assert.ok(dc.cluster.store.get("persistentvolumeclaims", "default", "data-db-1"));
    const slice = await waitFor("the EndpointSlice", () => {
      const s = [...dc.cluster.store.scan("endpointslices.discovery.k8s.io", "default")]
        .map((e) => e.object)
        .find((o) => o.metadata.labels?.["kubernetes.io/service-name"] === "db");
      return s && (s["endpoints"] as unknown[]).length === 2 ? s : undefined;
    });
    assert.deepEqual(slice["ports"], [{ name: "client", port: 4222, protocol: "TCP" }]);
    assert.deepEqual(
      (slice["endpoints"] as { hostname?: string }[]).map((e) => e.hostname),
      ["db-0", "db-1"],
    );
    const { stdout } = await kubectl("get", "svc", "db");
    assert.match(stdout, /db\s+ClusterIP\s+None/);
  });

  it("refuses an eviction that would break a PodDisruptionBudget with 429 and the budget's numbers", async () => {
    await dc.cluster.create({
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: { name: "web", namespace: "default" },
      spec: { minAvailable: 3, selector: { matchLabels: labels } },
    });
    await waitFor(
      "status",
      () =>
        (
          dc.cluster.store.get("poddisruptionbudgets.policy", "default", "web")?.["status"] as
            | { expectedPods?: number }
            | undefined
        )?.expectedPods === 3,
    );
    const { stderr } = await kubectl(
      "drain",
      "cpu-0",
      "--ignore-daemonsets",
      "--delete-emptydir-data",
      "--timeout=3s",
      "--pod-selector=app=web",
    ).catch((e: { stderr: string }) => e);
    assert.match(stderr, /Cannot evict pod as it would violate the pod's disruption budget/);
    assert.equal(pods("web").filter((p) => !p.metadata.deletionTimestamp).length, 3, "no pod was evicted");
  });

  it("validates a NetworkPolicy and stores it", async () => {
    const np = {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "np", namespace: "default" },
      spec: { podSelector: {}, policyTypes: ["Ingres"], ingress: [{ from: [{ ipBlock: { cidr: "10.0.0.0/33" } }] }] },
    };
    await assert.rejects(
      dc.cluster.create(np),
      /spec.policyTypes\[0\]: Unsupported value: "Ingres"[\s\S]*spec.ingress\[0\].from\[0\].ipBlock.cidr: Invalid value: "10.0.0.0\/33"/,
    );
    const ok = await dc.cluster.create({
      ...np,
      spec: {
        podSelector: { matchLabels: labels },
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ ipBlock: { cidr: "10.0.0.0/8" } }], ports: [{ port: 8080 }] }],
      },
    });
    assert.equal(ok.metadata.generation, 1);
  });
});
