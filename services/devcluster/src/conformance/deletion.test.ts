import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import {
  BatchV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1Job,
  type V1Pod,
} from "@kubernetes/client-node";
import type { DevCluster } from "../server.js";
import { eventually, statusOf, withDevCluster } from "../test-support.js";
import { assertNoUnexpectedFailures } from "../sim/controller-failures.js";

// Deletion through client-node: finalizers and deletionTimestamp, garbage collection of
// owned objects with background, foreground (blockOwnerDeletion) and orphan propagation,
// the Job default of orphaning, preconditions, and graceful pod deletion.

const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

describe("deletion and garbage collection through client-node", () => {
  let dc: DevCluster;
  let core: CoreV1Api;
  let batch: BatchV1Api;
  const exists = async (name: string) =>
    core.readNamespacedPod({ name, namespace: "default" }).then(
      () => true,
      () => false,
    );
  const jobExists = async (name: string) =>
    batch.readNamespacedJob({ name, namespace: "default" }).then(
      () => true,
      () => false,
    );
  const makeJob = (name: string): V1Job => ({
    metadata: { name },
    spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "c", image: "busybox" }] } } },
  });
  const ownedPod = (name: string, job: V1Job, block = false): V1Pod => ({
    metadata: {
      name,
      ownerReferences: [
        {
          apiVersion: "batch/v1",
          kind: "Job",
          name: job.metadata!.name!,
          uid: job.metadata!.uid!,
          controller: true,
          blockOwnerDeletion: block,
        },
      ],
    },
    spec: { containers: [{ name: "c", image: "busybox" }] },
  });

  before(async () => {
    const started = await withDevCluster();
    dc = started.dc;
    core = started.kc.makeApiClient(CoreV1Api);
    batch = started.kc.makeApiClient(BatchV1Api);
  });
  after(async () => {
    await dc.stop();
    assertNoUnexpectedFailures(dc);
  });

  it("keeps an object with finalizers, sets deletionTimestamp, and removes it with the last finalizer", async () => {
    await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "fin", finalizers: ["example.com/hold"] } },
    });
    await core.deleteNamespacedConfigMap({ name: "fin", namespace: "default" });
    const held = await core.readNamespacedConfigMap({ name: "fin", namespace: "default" });
    assert.ok(held.metadata?.deletionTimestamp, "deletionTimestamp set");
    const err = await core
      .patchNamespacedConfigMap(
        {
          name: "fin",
          namespace: "default",
          body: { metadata: { finalizers: ["example.com/hold", "example.com/new"] } },
        },
        merge,
      )
      .catch((e: unknown) => e);
    assert.equal(statusOf(err).code, 422, "no new finalizers while deleting");
    await core.patchNamespacedConfigMap(
      { name: "fin", namespace: "default", body: { metadata: { finalizers: null } } },
      merge,
    );
    const gone = await core.readNamespacedConfigMap({ name: "fin", namespace: "default" }).catch((e: unknown) => e);
    assert.equal(statusOf(gone).code, 404);
  });

  it("checks delete preconditions", async () => {
    await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "pre" } } });
    const err = await core
      .deleteNamespacedConfigMap({ name: "pre", namespace: "default", body: { preconditions: { uid: "not-the-uid" } } })
      .catch((e: unknown) => e);
    assert.equal(statusOf(err).code, 409);
    assert.match(statusOf(err).message, /Precondition failed: UID in precondition: not-the-uid/);
  });

  it("garbage-collects the pods of a job deleted in the background", async () => {
    const job = await batch.createNamespacedJob({ namespace: "default", body: makeJob("bg") });
    await core.createNamespacedPod({ namespace: "default", body: ownedPod("bg-pod", job) });
    await batch.deleteNamespacedJob({ name: "bg", namespace: "default", propagationPolicy: "Background" });
    assert.equal(await jobExists("bg"), false);
    await eventually(async () => !(await exists("bg-pod")), "the owned pod to be collected");
  });

  it("orphans a job's pods when no propagation policy is given, as batch/v1 does", async () => {
    const job = await batch.createNamespacedJob({ namespace: "default", body: makeJob("legacy") });
    await core.createNamespacedPod({ namespace: "default", body: ownedPod("legacy-pod", job) });
    await batch.deleteNamespacedJob({ name: "legacy", namespace: "default" });
    await eventually(async () => !(await jobExists("legacy")), "the job to go");
    const pod = await core.readNamespacedPod({ name: "legacy-pod", namespace: "default" });
    assert.equal(pod.metadata?.ownerReferences, undefined);
  });

  it("keeps a foreground-deleted owner until dependents that block owner deletion are gone", async () => {
    const job = await batch.createNamespacedJob({ namespace: "default", body: makeJob("fg") });
    await core.createNamespacedPod({
      namespace: "default",
      body: {
        ...ownedPod("fg-pod", job, true),
        metadata: { ...ownedPod("fg-pod", job, true).metadata, finalizers: ["example.com/slow"] },
      },
    });
    await batch.deleteNamespacedJob({ name: "fg", namespace: "default", propagationPolicy: "Foreground" });
    const owner = await batch.readNamespacedJob({ name: "fg", namespace: "default" });
    assert.ok(owner.metadata?.finalizers?.includes("foregroundDeletion"));
    await eventually(
      async () =>
        Boolean((await core.readNamespacedPod({ name: "fg-pod", namespace: "default" })).metadata?.deletionTimestamp),
      "the dependent to be deleting",
    );
    assert.equal(await jobExists("fg"), true, "owner waits for the blocking dependent");
    await core.patchNamespacedPod(
      { name: "fg-pod", namespace: "default", body: [{ op: "remove", path: "/metadata/finalizers" }] },
      setHeaderOptions("Content-Type", PatchStrategy.JsonPatch),
    );
    await eventually(async () => !(await jobExists("fg")), "the owner to be deleted after its dependent");
  });

  it("releases dependents of an owner deleted with orphan propagation", async () => {
    const job = await batch.createNamespacedJob({ namespace: "default", body: makeJob("orph") });
    await core.createNamespacedPod({ namespace: "default", body: ownedPod("orph-pod", job) });
    await batch.deleteNamespacedJob({ name: "orph", namespace: "default", propagationPolicy: "Orphan" });
    await eventually(async () => !(await jobExists("orph")), "the owner to go");
    assert.equal(await exists("orph-pod"), true);
  });

  it("collects an object whose owner never existed", async () => {
    await core.createNamespacedConfigMap({
      namespace: "default",
      body: {
        metadata: {
          name: "dangling",
          ownerReferences: [
            { apiVersion: "v1", kind: "ConfigMap", name: "ghost", uid: "00000000-0000-0000-0000-000000000000" },
          ],
        },
      },
    });
    await eventually(
      async () =>
        core.readNamespacedConfigMap({ name: "dangling", namespace: "default" }).then(
          () => false,
          () => true,
        ),
      "the dangling dependent to be collected",
    );
  });

  it("deletes a scheduled pod gracefully: deletionTimestamp first, gone after the grace period", async () => {
    await core.createNamespacedPod({
      namespace: "default",
      body: {
        metadata: { name: "graceful" },
        spec: { nodeName: "node-1", containers: [{ name: "c", image: "busybox" }] },
      },
    });
    const deleting = await core.deleteNamespacedPod({ name: "graceful", namespace: "default", gracePeriodSeconds: 1 });
    assert.equal(deleting.metadata?.deletionGracePeriodSeconds, 1);
    assert.equal(await exists("graceful"), true);
    await eventually(async () => !(await exists("graceful")), "the pod to go after its grace period", 4000);
  });

  it("binds a pod to a node once through pods/binding, with PodScheduled", async () => {
    await core.createNamespacedPod({
      namespace: "default",
      body: { metadata: { name: "to-bind" }, spec: { containers: [{ name: "c", image: "busybox" }] } },
    });
    await core.createNamespacedPodBinding({
      name: "to-bind",
      namespace: "default",
      body: { metadata: { name: "to-bind" }, target: { apiVersion: "v1", kind: "Node", name: "node-7" } },
    });
    const bound = await core.readNamespacedPod({ name: "to-bind", namespace: "default" });
    assert.equal(bound.spec?.nodeName, "node-7");
    assert.equal(bound.status?.conditions?.find((c) => c.type === "PodScheduled")?.status, "True");
    const again = await core
      .createNamespacedPodBinding({
        name: "to-bind",
        namespace: "default",
        body: { metadata: { name: "to-bind" }, target: { name: "node-8" } },
      })
      .catch((e: unknown) => e);
    assert.equal(
      statusOf(again).message,
      'Operation cannot be fulfilled on pods/binding "to-bind": pod to-bind is already assigned to node "node-7"',
    );
  });

  it("evicts a pod through pods/eviction", async () => {
    await core.createNamespacedPod({
      namespace: "default",
      body: { metadata: { name: "evictee" }, spec: { containers: [{ name: "c", image: "busybox" }] } },
    });
    await core.createNamespacedPodEviction({
      name: "evictee",
      namespace: "default",
      body: { metadata: { name: "evictee", namespace: "default" }, deleteOptions: { gracePeriodSeconds: 0 } },
    });
    assert.equal(await exists("evictee"), false);
  });

  it("deletes an unscheduled pod at once", async () => {
    await core.createNamespacedPod({
      namespace: "default",
      body: { metadata: { name: "unscheduled" }, spec: { containers: [{ name: "c", image: "busybox" }] } },
    });
    await core.deleteNamespacedPod({ name: "unscheduled", namespace: "default" });
    assert.equal(await exists("unscheduled"), false);
  });

  it("refuses to delete the default namespace", async () => {
    const err = await core.deleteNamespace({ name: "default" }).catch((e: unknown) => e);
    assert.equal(statusOf(err).code, 403);
    assert.equal(statusOf(err).message, 'namespaces "default" is forbidden: this namespace may not be deleted');
  });

  it("deletes a namespace with its content", async () => {
    await core.createNamespace({ body: { metadata: { name: "doomed" } } });
    await core.createNamespacedConfigMap({ namespace: "doomed", body: { metadata: { name: "inside" } } });
    await core.deleteNamespace({ name: "doomed" });
    await eventually(
      async () =>
        core.readNamespace({ name: "doomed" }).then(
          () => false,
          () => true,
        ),
      "the namespace to go",
    );
    const err = await core.readNamespacedConfigMap({ name: "inside", namespace: "doomed" }).catch((e: unknown) => e);
    assert.equal(statusOf(err).code, 404);
  });
});
