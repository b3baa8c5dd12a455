import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { fieldSet, fromFieldsV1, recordUpdate, serverSideApply, toFieldsV1 } from "./managed-fields.js";
import { mergeSchemaForKind } from "./patch-schema.js";
import type { KubeObject } from "./resources.js";

const schema = mergeSchemaForKind("Pod");
const now = "2026-01-01T00:00:00Z";
const pod = (containers: object[], labels: Record<string, string> = {}): KubeObject => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "p", labels },
  spec: { containers },
});

describe("field sets", () => {
  it("keys list-map items by their merge key and round-trips through FieldsV1", () => {
    const set = fieldSet(pod([{ name: "main", image: "i" }], { app: "x" }), schema);
    const v1 = toFieldsV1(set);
    assert.deepEqual(v1, {
      "f:metadata": { "f:labels": { "f:app": {} } },
      "f:spec": { "f:containers": { 'k:{"name":"main"}': { ".": {}, "f:name": {}, "f:image": {} } } },
    });
    assert.deepEqual(fromFieldsV1(v1), set);
  });
});

describe("server-side apply", () => {
  const apply = (live: KubeObject | undefined, applied: KubeObject, manager: string, force = false) =>
    serverSideApply({ live, applied, manager, force, schema, subresource: undefined, now });

  it("merges containers by name across managers", () => {
    const a = apply(undefined, pod([{ name: "main", image: "i:1" }]), "a");
    const b = apply(a, pod([{ name: "side", image: "s:1" }]), "b");
    assert.deepEqual(
      (b["spec"] as { containers: { name: string }[] }).containers.map((c) => c.name),
      ["main", "side"],
    );
  });

  it("conflicts on a field another manager owns with another value, naming manager and field", () => {
    const a = apply(undefined, pod([{ name: "main", image: "i:1" }]), "a");
    assert.throws(
      () => apply(a, pod([{ name: "main", image: "i:2" }]), "b"),
      (e: unknown) => {
        const err = e as { code: number; message: string };
        return (
          err.code === 409 &&
          err.message === 'Apply failed with 1 conflict: conflict with "a": .spec.containers[name="main"].image'
        );
      },
    );
  });

  it("takes a field over with force and leaves the loser without it", () => {
    const a = apply(undefined, pod([{ name: "main", image: "i:1" }]), "a");
    const b = apply(a, pod([{ name: "main", image: "i:2" }]), "b", true);
    const entryA = b.metadata.managedFields!.find((m) => m.manager === "a")!;
    assert.equal(
      fromFieldsV1(entryA.fieldsV1).has('f:spec\u0001f:containers\u0001k:{"name":"main"}\u0001f:image'),
      false,
    );
  });

  it("removes what a manager no longer applies unless someone else owns it", () => {
    const a = apply(undefined, pod([{ name: "main", image: "i" }], { x: "1", y: "2" }), "a");
    const shared = apply(a, { apiVersion: "v1", kind: "Pod", metadata: { name: "p", labels: { y: "2" } } }, "b");
    const dropped = apply(shared, pod([{ name: "main", image: "i" }], {}), "a");
    assert.deepEqual(dropped.metadata.labels, { y: "2" });
  });
});

describe("server-side apply as kube-apiserver answers clients", () => {
  const apply = (live: KubeObject | undefined, applied: KubeObject, manager: string, force = false) =>
    serverSideApply({ live, applied, manager, force, schema, subresource: undefined, now });
  const withPorts = (ports: object[]) => pod([{ name: "main", image: "i", ports }]);
  const portsOf = (o: KubeObject) => (o["spec"] as { containers: { ports: unknown[] }[] }).containers[0]!.ports;

  it("keys a port without protocol as TCP, so a second apply (after defaulting) does not add it again", () => {
    const first = apply(undefined, withPorts([{ containerPort: 80 }]), "kubectl");
    portsOf(first).splice(0, 1, { containerPort: 80, protocol: "TCP" }); // what defaulting stores
    const second = apply(first, withPorts([{ containerPort: 80 }]), "kubectl");
    assert.deepEqual(portsOf(second), [{ containerPort: 80, protocol: "TCP" }]);
    const owned = fromFieldsV1(second.metadata.managedFields![0]!.fieldsV1);
    assert.ok(
      owned.has(
        'f:spec\u0001f:containers\u0001k:{"name":"main"}\u0001f:ports\u0001k:{"containerPort":80,"protocol":"TCP"}\u0001.',
      ),
    );
  });

  it("names an updater in a conflict with the version it wrote, as kubectl shows it", () => {
    const created = pod([{ name: "main", image: "i:1" }]);
    recordUpdate(undefined, created, "kubectl-client-side-apply", schema, undefined, now);
    assert.throws(
      () => apply(created, pod([{ name: "main", image: "i:2" }]), "kubectl"),
      (e: unknown) =>
        (e as Error).message ===
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using v1: .spec.containers[name="main"].image',
    );
  });

  it("refuses a configuration with two containers of one name as the API server does (500, typed patch object)", () => {
    const twice = {
      ...pod([
        { name: "main", image: "a" },
        { name: "main", image: "b" },
      ]),
    };
    twice.metadata.namespace = "default";
    assert.throws(
      () => apply(undefined, twice, "kubectl"),
      (e: unknown) =>
        (e as { code: number }).code === 500 &&
        (e as Error).message ===
          'failed to create typed patch object (default/p; /v1, Kind=Pod): .spec.containers: duplicate entries for key [name="main"]',
    );
  });
});

describe("updates", () => {
  it("give the updater the fields it changed and take them from others", () => {
    const before = pod([{ name: "main", image: "i:1" }]);
    recordUpdate(undefined, before, "creator", schema, undefined, now);
    const after = structuredClone(before);
    (after["spec"] as { containers: { image: string }[] }).containers[0]!.image = "i:2";
    recordUpdate(before, after, "editor", schema, undefined, now);
    const editor = after.metadata.managedFields!.find((m) => m.manager === "editor")!;
    assert.deepEqual(editor.fieldsV1, { "f:spec": { "f:containers": { 'k:{"name":"main"}': { "f:image": {} } } } });
    const creator = after.metadata.managedFields!.find((m) => m.manager === "creator")!;
    assert.equal(
      fromFieldsV1(creator.fieldsV1).has('f:spec\u0001f:containers\u0001k:{"name":"main"}\u0001f:image'),
      false,
    );
  });
});
