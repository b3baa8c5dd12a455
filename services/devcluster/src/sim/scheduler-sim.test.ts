import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import { startDevCluster, type DevCluster } from "../server.js";
import { assertNoUnexpectedFailures } from "./controller-failures.js";
import { condition, events, makePod, pod, TOLERATE_GPU, waitFor } from "./sim-test-support.js";

// The scheduler on a live cluster: priority order, GPUs never over-committed, unschedulable
// pods explained, priorityClassName resolved at admission. Pods use an image without a
// mapping so nothing runs (they wait in ImagePullBackOff once bound).

const gpuPod = (name: string, gpus: number, priorityClassName?: string) =>
  makePod(name, {
    tolerations: TOLERATE_GPU,
    ...(priorityClassName ? { priorityClassName } : {}),
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: "nvidia.com/gpu.product", operator: "In", values: ["NVIDIA-L40S"] }] },
          ],
        },
      },
    },
    containers: [{ name: "c", image: "example.com/idle", resources: { limits: { "nvidia.com/gpu": String(gpus) } } }],
  });

describe("scheduler on a simulated cluster", () => {
  let dc: DevCluster;
  before(async () => {
    dc = await startDevCluster({ nodes: "2xL40S:4,1xA100-80GB:8,1xcpu", tls: false });
  });
  after(async () => {
    await dc.stop();
    assertNoUnexpectedFailures(dc);
  });

  it("binds by priority, never over-commits GPUs, and explains what waits", async () => {
    const c = dc.cluster;
    await c.create({
      apiVersion: "scheduling.k8s.io/v1",
      kind: "PriorityClass",
      metadata: { name: "urgent" },
      value: 1000,
    });
    // Created in one turn: the scheduler sees all of them in its next pass and orders them.
    await Promise.all([gpuPod("low-a", 4), gpuPod("low-b", 4), gpuPod("high", 4, "urgent")].map((p) => c.create(p)));
    assert.equal((pod(c, "high")!["spec"] as { priority: number }).priority, 1000);
    await waitFor(
      "two pods bound",
      () =>
        [pod(c, "low-a"), pod(c, "low-b"), pod(c, "high")].filter((p) => (p!["spec"] as { nodeName?: string }).nodeName)
          .length === 2,
    );
    await dc.simulation!.scheduler.idle();
    assert.ok(
      (pod(c, "high")!["spec"] as { nodeName?: string }).nodeName?.startsWith("l40s-"),
      "the high-priority pod is placed first",
    );
    const waiting = ["low-a", "low-b"].find((n) => !(pod(c, n)!["spec"] as { nodeName?: string }).nodeName)!;
    const cond = await waitFor("PodScheduled=False", () => condition(pod(c, waiting), "PodScheduled"));
    assert.equal(cond.status, "False");
    assert.equal(cond.reason, "Unschedulable");
    assert.equal(
      cond.message,
      "0/4 nodes are available: 2 Insufficient nvidia.com/gpu, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.",
    );
    await waitFor("a FailedScheduling event", () => events(c, waiting).find((e) => e.reason === "FailedScheduling"));
    for (const n of dc.simulation!.scheduler.snapshot())
      for (const [r, v] of n.allocated) assert.ok(v <= (n.allocatable.get(r) ?? 0), `${n.name} over-committed on ${r}`);
    // Freeing GPUs lets the waiting pod in.
    await c.delete(c.resource("", "v1", "pods"), "default", "high", { gracePeriodSeconds: 0 });
    await waitFor("the waiting pod bound", () => (pod(c, waiting)!["spec"] as { nodeName?: string }).nodeName);
  });

  it("refuses a pod whose priority class does not exist, as the Priority admission plugin does", async () => {
    await assert.rejects(
      dc.cluster.create(gpuPod("nope", 1, "missing")),
      /pods "nope" is forbidden: no PriorityClass with name missing was found/,
    );
  });

  it("keeps pods off cordoned nodes and off nodes their selector does not match", async () => {
    const c = dc.cluster;
    const { applyNodeAction } = await import("../nodes/node-control.js");
    await applyNodeAction(c, "cordon", "cpu-0");
    await c.create(
      makePod("cpu-only", {
        nodeSelector: { "kubernetes.io/hostname": "cpu-0" },
        containers: [{ name: "c", image: "example.com/idle" }],
      }),
    );
    const cond = await waitFor("unschedulable", () => condition(pod(c, "cpu-only"), "PodScheduled"));
    assert.match(
      cond.message!,
      /1 node\(s\) were unschedulable, 3 node\(s\) didn't match Pod's node affinity\/selector/,
    );
    await applyNodeAction(c, "uncordon", "cpu-0");
    await waitFor(
      "bound after uncordon",
      () => (pod(c, "cpu-only")!["spec"] as { nodeName?: string }).nodeName === "cpu-0",
    );
  });
});
