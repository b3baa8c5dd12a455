import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type V1CustomResourceDefinition,
} from "@kubernetes/client-node";
import type { DevCluster } from "../server.js";
import { eventually, kubeConfigFor, statusOf } from "../test-support.js";
import { startDevCluster } from "../server.js";
import { assertNoUnexpectedFailures } from "../sim/controller-failures.js";

// CRD lifecycle through client-node: a cluster-scoped CRD with two served versions appears
// in discovery, objects written through one version read through the other, non-structural
// schemas and uncompilable CEL rules are refused, and deleting the CRD deletes its objects
// and its endpoints. Also generateName, dry run and deletecollection. (client-node names
// schema keywords after its model: `_default`, `x_kubernetes_validations`.)

const widgets = (
  schema: object = {
    type: "object",
    properties: { spec: { type: "object", properties: { size: { type: "integer", _default: 1 } } } },
  },
): V1CustomResourceDefinition => ({
  metadata: { name: "widgets.example.com" },
  spec: {
    group: "example.com",
    scope: "Cluster",
    names: { plural: "widgets", singular: "widget", kind: "Widget", shortNames: ["wd"] },
    versions: [
      { name: "v1", served: true, storage: true, schema: { openAPIV3Schema: schema } },
      { name: "v1beta1", served: true, storage: false, schema: { openAPIV3Schema: schema } },
    ],
  },
});

describe("CRD lifecycle", () => {
  let dc: DevCluster;
  let ext: ApiextensionsV1Api;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  before(async () => {
    dc = await startDevCluster();
    const kc = kubeConfigFor(dc);
    ext = kc.makeApiClient(ApiextensionsV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    core = kc.makeApiClient(CoreV1Api);
  });
  after(async () => {
    await dc.stop();
    assertNoUnexpectedFailures(dc);
  });

  it("refuses a CRD whose schema is not structural, naming the field", async () => {
    const err = await ext
      .createCustomResourceDefinition({
        body: widgets({ type: "object", properties: { spec: { properties: { size: { type: "integer" } } } } }),
      })
      .catch((e: unknown) => e);
    const s = statusOf(err);
    assert.equal(s.code, 422);
    // As kube-apiserver words it (test/fixtures/upstream/structural-schemas.json has more).
    assert.ok(
      s.details?.causes?.some(
        (c) =>
          c.field === "spec.versions[0].schema.openAPIV3Schema.properties[spec].type" &&
          c.message === "Required value: must not be empty for specified object fields",
      ),
      JSON.stringify(s.details),
    );
  });

  it("refuses a CRD with a CEL rule that does not compile", async () => {
    const err = await ext
      .createCustomResourceDefinition({
        body: widgets({ type: "object", x_kubernetes_validations: [{ rule: "self.spec.size >" }] }),
      })
      .catch((e: unknown) => e);
    assert.equal(statusOf(err).code, 422);
  });

  it("serves a cluster-scoped CRD in two versions, sharing storage, with defaults", async () => {
    const created = await ext.createCustomResourceDefinition({ body: widgets() });
    assert.ok(created.status?.conditions?.some((c) => c.type === "Established" && c.status === "True"));
    const group = dc.cluster.catalog
      .all()
      .filter((d) => d.group === "example.com")
      .map((d) => `${d.version}/${d.resource}/${d.namespaced}`)
      .sort();
    assert.deepEqual(group, ["v1/widgets/false", "v1beta1/widgets/false"]);
    const w = (await custom.createClusterCustomObject({
      group: "example.com",
      version: "v1beta1",
      plural: "widgets",
      body: { apiVersion: "example.com/v1beta1", kind: "Widget", metadata: { name: "w1" }, spec: {} },
    })) as { apiVersion: string; spec: { size: number }; metadata: { namespace?: string } };
    assert.equal(w.apiVersion, "example.com/v1beta1");
    assert.equal(w.spec.size, 1);
    assert.equal(w.metadata.namespace, undefined);
    const asV1 = (await custom.getClusterCustomObject({
      group: "example.com",
      version: "v1",
      plural: "widgets",
      name: "w1",
    })) as { apiVersion: string };
    assert.equal(asV1.apiVersion, "example.com/v1");
  });

  it("deletes a CRD's objects with it and stops serving them", async () => {
    await ext.deleteCustomResourceDefinition({ name: "widgets.example.com" });
    await eventually(
      async () =>
        ext.readCustomResourceDefinition({ name: "widgets.example.com" }).then(
          () => false,
          () => true,
        ),
      "the CRD to go",
    );
    const err = await custom
      .getClusterCustomObject({ group: "example.com", version: "v1", plural: "widgets", name: "w1" })
      .catch((e: unknown) => e);
    assert.equal(statusOf(err).code, 404);
    assert.equal(dc.cluster.store.count("widgets.example.com"), 0);
  });

  it("generates a name from generateName", async () => {
    const cm = await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { generateName: "gen-" } },
    });
    assert.match(cm.metadata?.name ?? "", /^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  });

  it("validates but does not store under dryRun=All", async () => {
    const rv = dc.cluster.store.currentRV();
    const cm = await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "dry" } },
      dryRun: "All",
    });
    assert.equal(cm.metadata?.name, "dry");
    assert.equal(dc.cluster.store.currentRV(), rv);
    const err = await core.readNamespacedConfigMap({ name: "dry", namespace: "default" }).catch((e: unknown) => e);
    assert.equal(statusOf(err).code, 404);
  });

  it("deletes a collection by label selector", async () => {
    for (const [name, team] of [
      ["dc-a", "x"],
      ["dc-b", "x"],
      ["dc-c", "y"],
    ] as const)
      await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name, labels: { team } } } });
    await core.deleteCollectionNamespacedConfigMap({ namespace: "default", labelSelector: "team=x" });
    const left = await core.listNamespacedConfigMap({ namespace: "default", labelSelector: "team" });
    assert.deepEqual(
      left.items.map((c) => c.metadata?.name),
      ["dc-c"],
    );
  });
});
