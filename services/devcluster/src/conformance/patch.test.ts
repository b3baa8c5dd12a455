import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import {
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubernetesObject,
  type V1Pod,
} from "@kubernetes/client-node";
import type { DevCluster } from "../server.js";
import { statusOf, withDevCluster } from "../test-support.js";
import { assertNoUnexpectedFailures } from "../sim/controller-failures.js";

// Every patch type through client-node: JSON patch, merge patch, strategic merge patch
// (containers and conditions merged by key, $patch: delete; the pure merge rules for
// volumes, env and the other lists are in api/patch.test.ts) and server-side apply
// (field managers, conflicts, force, managedFields, removal of fields a manager stops
// applying).

const as = (type: string) => setHeaderOptions("Content-Type", type);
const TR = { group: "nnunet-operator.io", version: "v1alpha1", plural: "trainingruns", namespace: "default" };

describe("patches through client-node", () => {
  let dc: DevCluster;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let generic: KubernetesObjectApi;
  before(async () => {
    const started = await withDevCluster();
    generic = KubernetesObjectApi.makeApiClient(started.kc);
    dc = started.dc;
    core = started.kc.makeApiClient(CoreV1Api);
    custom = started.kc.makeApiClient(CustomObjectsApi);
    const body: V1Pod = {
      metadata: { name: "p", labels: { a: "1" } },
      spec: {
        containers: [
          {
            name: "main",
            image: "nnunet:1",
            env: [
              { name: "A", value: "1" },
              { name: "B", value: "2" },
            ],
            volumeMounts: [{ name: "data", mountPath: "/data" }],
          },
          { name: "reporter", image: "reporter:1" },
        ],
        volumes: [
          { name: "data", emptyDir: {} },
          { name: "shm", emptyDir: { medium: "Memory" } },
        ],
      },
    };
    await core.createNamespacedPod({ namespace: "default", body });
  });
  after(async () => {
    await dc.stop();
    assertNoUnexpectedFailures(dc);
  });

  it("applies a JSON patch, and refuses one whose test fails with 422", async () => {
    const out = await core.patchNamespacedPod(
      {
        name: "p",
        namespace: "default",
        body: [
          { op: "add", path: "/metadata/labels/b", value: "2" },
          { op: "remove", path: "/metadata/labels/a" },
        ],
      },
      as(PatchStrategy.JsonPatch),
    );
    assert.deepEqual(out.metadata?.labels, { b: "2" });
    const err = await core
      .patchNamespacedPod(
        { name: "p", namespace: "default", body: [{ op: "test", path: "/metadata/labels/b", value: "3" }] },
        as(PatchStrategy.JsonPatch),
      )
      .catch((e: unknown) => e);
    assert.equal(statusOf(err).code, 422);
  });

  it("applies a merge patch: null removes a key, lists are replaced", async () => {
    const out = await core.patchNamespacedPod(
      { name: "p", namespace: "default", body: { metadata: { labels: { b: null, c: "3" }, annotations: { x: "y" } } } },
      as(PatchStrategy.MergePatch),
    );
    assert.deepEqual(out.metadata?.labels, { c: "3" });
    assert.deepEqual(out.metadata?.annotations, { x: "y" });
  });

  it("merges containers by name in a strategic merge patch (an image change, which pods allow)", async () => {
    const out = await core.patchNamespacedPod(
      { name: "p", namespace: "default", body: { spec: { containers: [{ name: "main", image: "nnunet:2" }] } } },
      as(PatchStrategy.StrategicMergePatch),
    );
    const main = out.spec?.containers.find((c) => c.name === "main");
    assert.equal(out.spec?.containers.length, 2, "reporter kept");
    assert.equal(main?.image, "nnunet:2");
    assert.deepEqual(
      main?.env?.map((e) => `${e.name}=${e.value}`),
      ["A=1", "B=2"],
      "env kept",
    );
    assert.equal(main?.volumeMounts?.[0]?.mountPath, "/data", "volumeMounts kept");
    assert.deepEqual(
      out.spec?.volumes?.map((v) => v.name),
      ["data", "shm"],
    );
  });

  it("refuses other pod spec changes with 422 Forbidden, as the real server does", async () => {
    const err = await core
      .patchNamespacedPod(
        { name: "p", namespace: "default", body: { spec: { volumes: [{ name: "extra", emptyDir: {} }] } } },
        as(PatchStrategy.StrategicMergePatch),
      )
      .catch((e: unknown) => e);
    const s = statusOf(err);
    assert.equal(s.code, 422);
    assert.equal(s.details?.causes?.[0]?.field, "spec");
    assert.match(s.message, /^Pod "p" is invalid: spec: Forbidden: pod updates may not change fields other than/);
  });

  it("merges status conditions by type and deletes one with $patch: delete", async () => {
    const conditions = [
      { type: "Ready", status: "False" },
      { type: "PodScheduled", status: "True" },
    ];
    await core.patchNamespacedPodStatus(
      { name: "p", namespace: "default", body: { status: { conditions } } },
      as(PatchStrategy.StrategicMergePatch),
    );
    const merged = await core.patchNamespacedPodStatus(
      { name: "p", namespace: "default", body: { status: { conditions: [{ type: "Ready", status: "True" }] } } },
      as(PatchStrategy.StrategicMergePatch),
    );
    assert.deepEqual(
      merged.status?.conditions?.map((c) => `${c.type}=${c.status}`),
      ["Ready=True", "PodScheduled=True"],
    );
    const out = await core.patchNamespacedPodStatus(
      { name: "p", namespace: "default", body: { status: { conditions: [{ type: "Ready", $patch: "delete" }] } } },
      as(PatchStrategy.StrategicMergePatch),
    );
    assert.deepEqual(
      out.status?.conditions?.map((c) => c.type),
      ["PodScheduled"],
    );
  });

  it("refuses a strategic merge patch on a custom resource with 415", async () => {
    await custom.createNamespacedCustomObject({
      ...TR,
      body: {
        apiVersion: "nnunet-operator.io/v1alpha1",
        kind: "TrainingRun",
        metadata: { name: "smp" },
        spec: { dataset: "Dataset004_Hippocampus", configuration: "3d_fullres", storage: { claimName: "d" } },
      },
    });
    const err = await custom
      .patchNamespacedCustomObject(
        { ...TR, name: "smp", body: { spec: { suspend: true } } },
        as(PatchStrategy.StrategicMergePatch),
      )
      .catch((e: unknown) => e);
    assert.equal(statusOf(err).code, 415);
  });

  it("creates with server-side apply, records the manager, and conflicts with another manager", async () => {
    const applied = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "ssa", labels: { owner: "a" } },
      data: { shared: "1", onlyA: "x" },
    };
    const created = await core.patchNamespacedConfigMap(
      { name: "ssa", namespace: "default", body: applied, fieldManager: "manager-a" },
      as(PatchStrategy.ServerSideApply),
    );
    assert.equal(created.metadata?.managedFields?.[0]?.manager, "manager-a");
    assert.equal(created.metadata?.managedFields?.[0]?.operation, "Apply");
    const other = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "ssa" }, data: { shared: "2" } };
    const err = await core
      .patchNamespacedConfigMap(
        { name: "ssa", namespace: "default", body: other, fieldManager: "manager-b" },
        as(PatchStrategy.ServerSideApply),
      )
      .catch((e: unknown) => e);
    const s = statusOf(err);
    assert.equal(s.code, 409);
    assert.equal(s.reason, "Conflict");
    assert.equal(s.message, 'Apply failed with 1 conflict: conflict with "manager-a": .data.shared');
    assert.deepEqual(s.details?.causes, [
      { reason: "FieldManagerConflict", message: 'conflict with "manager-a"', field: ".data.shared" },
    ]);
  });

  it("shares a field when the value agrees, and takes it over with force", async () => {
    const same = await core.patchNamespacedConfigMap(
      {
        name: "ssa",
        namespace: "default",
        body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "ssa" }, data: { shared: "1" } },
        fieldManager: "manager-c",
      },
      as(PatchStrategy.ServerSideApply),
    );
    assert.deepEqual(same.metadata?.managedFields?.map((m) => m.manager).sort(), ["manager-a", "manager-c"]);
    const forced = await core.patchNamespacedConfigMap(
      {
        name: "ssa",
        namespace: "default",
        body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "ssa" }, data: { shared: "2" } },
        fieldManager: "manager-b",
        force: true,
      },
      as(PatchStrategy.ServerSideApply),
    );
    assert.equal(forced.data?.["shared"], "2");
    const a = forced.metadata?.managedFields?.find((m) => m.manager === "manager-a");
    assert.deepEqual(Object.keys((a!.fieldsV1 as { "f:data": object })["f:data"]), ["f:onlyA"]);
  });

  it("removes a field its only manager stops applying", async () => {
    const out = await core.patchNamespacedConfigMap(
      {
        name: "ssa",
        namespace: "default",
        body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "ssa", labels: { owner: "a" } }, data: {} },
        fieldManager: "manager-a",
      },
      as(PatchStrategy.ServerSideApply),
    );
    assert.equal(out.data?.["onlyA"], undefined);
    assert.equal(out.data?.["shared"], "2");
  });

  it("lets an Update take a field from an applier without conflict, then conflicts the applier", async () => {
    await core.patchNamespacedConfigMap(
      { name: "ssa", namespace: "default", body: { data: { onlyA: "edited" } }, fieldManager: "editor" },
      as(PatchStrategy.MergePatch),
    );
    const err = await core
      .patchNamespacedConfigMap(
        {
          name: "ssa",
          namespace: "default",
          body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "ssa" }, data: { onlyA: "mine" } },
          fieldManager: "manager-a",
        },
        as(PatchStrategy.ServerSideApply),
      )
      .catch((e: unknown) => e);
    assert.match(statusOf(err).message, /conflict with "editor"/);
  });

  it("merges list-map items by key under server-side apply, keeping other managers' items", async () => {
    const trA = {
      apiVersion: "nnunet-operator.io/v1alpha1",
      kind: "TrainingRun",
      metadata: { name: "ssa-tr" },
      spec: {
        dataset: "Dataset004_Hippocampus",
        configuration: "3d_fullres",
        storage: { claimName: "d" },
        folds: [0, 1],
      },
    };
    await custom.patchNamespacedCustomObject(
      { ...TR, name: "ssa-tr", body: trA, fieldManager: "a" },
      as(PatchStrategy.ServerSideApply),
    );
    const err = await custom
      .patchNamespacedCustomObject(
        { ...TR, name: "ssa-tr", body: { ...trA, spec: { ...trA.spec, configuration: "2d" } }, fieldManager: "b" },
        as(PatchStrategy.ServerSideApply),
      )
      .catch((e: unknown) => e);
    assert.equal(statusOf(err).code, 409);
    const status = (await custom.patchNamespacedCustomObjectStatus(
      {
        ...TR,
        name: "ssa-tr",
        body: {
          apiVersion: "nnunet-operator.io/v1alpha1",
          kind: "TrainingRun",
          metadata: { name: "ssa-tr" },
          status: { phase: "Training" },
        },
        fieldManager: "operator",
      },
      as(PatchStrategy.ServerSideApply),
    )) as { status: { phase: string }; metadata: { managedFields: { manager: string; subresource?: string }[] } };
    assert.equal(status.status.phase, "Training");
    assert.ok(status.metadata.managedFields.some((m) => m.manager === "operator" && m.subresource === "status"));
  });

  it("serves client-node's generic KubernetesObjectApi, which resolves resources through discovery", async () => {
    const spec = {
      apiVersion: "nnunet-operator.io/v1alpha1",
      kind: "TrainingRun",
      metadata: { name: "generic", namespace: "default" },
      spec: { dataset: "Dataset004_Hippocampus", configuration: "3d_fullres", storage: { claimName: "d" } },
    } as KubernetesObject;
    const applied = await generic.patch(spec, undefined, undefined, "operator", true, PatchStrategy.ServerSideApply);
    assert.equal(applied.metadata?.name, "generic");
    const read = await generic.read({
      apiVersion: "nnunet-operator.io/v1alpha1",
      kind: "TrainingRun",
      metadata: { name: "generic", namespace: "default" },
    });
    assert.equal(read.metadata?.uid, applied.metadata?.uid);
    await generic.delete(read);
    const err = await generic
      .read({
        apiVersion: "nnunet-operator.io/v1alpha1",
        kind: "TrainingRun",
        metadata: { name: "generic", namespace: "default" },
      })
      .catch((e: unknown) => e);
    assert.equal(statusOf(err).code, 404);
  });

  it("requires a fieldManager for apply", async () => {
    const err = await core
      .patchNamespacedConfigMap(
        { name: "ssa", namespace: "default", body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "ssa" } } },
        as(PatchStrategy.ServerSideApply),
      )
      .catch((e: unknown) => e);
    assert.equal(statusOf(err).code, 400);
  });
});
