import { strict as assert } from "node:assert";
import { afterEach, beforeEach, describe, it } from "node:test";
import { ApiError, notFound } from "../api/errors.js";
import type { KubeObject } from "../api/resources.js";
import { Cluster } from "../cluster.js";
import { Scheduler } from "../scheduler/scheduler.js";
import { assertNoUnexpectedFailures } from "../sim/controller-failures.js";
import { createRecorder } from "../sim/recorder.js";
import { makePod, waitFor } from "../sim/sim-test-support.js";

// The control-plane loops that are not workload controllers (garbage collector, namespace
// lifecycle, CRD cleanup, scheduler, event recorder) report what breaks to the cluster's
// failure log: each case makes one of their writes fail as the API would refuse it (an
// internal error, a webhook's denial, an invalid object) and finds it there under the
// loop's name, and makes another fail as part of a controller's life (the object deleted
// meanwhile) and finds no unexpected failure.

const internalError = (what: string) => new ApiError(500, "InternalError", `Internal error occurred: ${what}`);

const configMap = (name: string, namespace = "default", meta: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace, ...meta },
});

const unexpected = (c: Cluster) => c.controllerFailures.list().filter((f) => !f.expected);
const log = (c: Cluster) => ({
  controllerFailures: () => c.controllerFailures.list(),
  controllerFailureCounts: () => c.controllerFailures.counts(),
});

/** Makes `target[method]` run `fake` first; `fake` returns true to fall through to the original. */
function intercept<T extends object, K extends keyof T>(
  target: T,
  method: K,
  fake: (...args: never[]) => Promise<unknown> | true,
): () => void {
  const original = target[method] as (...args: unknown[]) => unknown;
  (target as Record<K, unknown>)[method] = (...args: unknown[]) => {
    const r = (fake as (...a: unknown[]) => Promise<unknown> | true)(...args);
    return r === true ? original.apply(target, args) : r;
  };
  return () => {
    (target as Record<K, unknown>)[method] = original;
  };
}

describe("control-plane loops report their failures", () => {
  let cluster: Cluster;
  const restores: (() => void)[] = [];
  beforeEach(async () => {
    cluster = new Cluster();
    await cluster.start();
  });
  afterEach(() => {
    for (const r of restores.splice(0)) r();
    cluster.stop();
  });

  it("garbage collector: a dependent it cannot delete is reported and retried until it goes", async () => {
    const owner = await cluster.create(configMap("owner"));
    const ownerRef = { apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.metadata.uid! };
    await cluster.create(configMap("dependent", "default", { ownerReferences: [ownerRef] }));
    let refusals = 2;
    const restore = intercept(cluster.deleter, "delete", (_def: unknown, _ns: unknown, name: string) =>
      name === "dependent" && refusals-- > 0 ? Promise.reject(internalError("etcdserver: request timed out")) : true,
    );
    restores.push(restore);
    await cluster.deleter.delete(cluster.resource("", "v1", "configmaps"), "default", "owner");
    await waitFor("the dependent collected", () => !cluster.store.get("configmaps", "default", "dependent"));
    const [seen, ...more] = unexpected(cluster);
    assert.deepEqual(
      [seen?.queue, seen?.key, seen?.expected],
      ["garbage-collector", "dep:configmaps|default|dependent", false],
    );
    assert.match(seen?.message ?? "", /^ApiError: Internal error occurred: etcdserver: request timed out/);
    assert.equal(more.length, 1, "the second refusal too, then the retry succeeded");
    assert.throws(
      () => assertNoUnexpectedFailures(log(cluster)),
      /garbage-collector dep:configmaps\|default\|dependent/,
    );
  });

  it("garbage collector: a dependent deleted meanwhile is no unexpected failure", async () => {
    const owner = await cluster.create(configMap("owner"));
    const ownerRef = { apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.metadata.uid! };
    await cluster.create(configMap("dependent", "default", { ownerReferences: [ownerRef] }));
    const def = cluster.resource("", "v1", "configmaps");
    // Someone else deletes it first: the collector's own delete answers 404.
    const restore = intercept(cluster.deleter, "delete", (_def: unknown, _ns: unknown, name: string) => {
      if (name !== "dependent") return true;
      restore();
      return cluster.deleter.delete(def, "default", "dependent").then(() => Promise.reject(notFound(def, name)));
    });
    restores.push(restore);
    await cluster.deleter.delete(def, "default", "owner");
    await waitFor("the dependent gone", () => !cluster.store.get("configmaps", "default", "dependent"));
    await cluster.gc.idle();
    assertNoUnexpectedFailures(log(cluster));
    const expected = cluster.controllerFailures.list().filter((f) => f.expected);
    assert.deepEqual(
      expected.map((f) => [f.queue, f.key]),
      [["garbage-collector", "dep:configmaps|default|dependent"]],
      "kept as expected, and the retry found nothing left to do",
    );
  });

  it("namespace controller: content it cannot delete is reported under namespace-controller, keyed by namespace", async () => {
    const nsDef = cluster.resource("", "v1", "namespaces");
    await cluster.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "doomed" } });
    await cluster.create(configMap("kept", "doomed"));
    await cluster.create(configMap("gone-meanwhile", "doomed"));
    const cmDef = cluster.resource("", "v1", "configmaps");
    let refusals = 1;
    restores.push(
      intercept(cluster.deleter, "delete", (def: { resource: string }, ns: unknown, name: string) => {
        if (def.resource !== "configmaps" || ns !== "doomed") return true;
        if (name === "gone-meanwhile") {
          // Deleted by someone else between the controller's scan and its delete.
          cluster.registry.store.remove("configmaps", "doomed", name);
          return Promise.reject(notFound(cmDef, name));
        }
        return refusals-- > 0 ? Promise.reject(new TypeError("cannot read properties of undefined")) : true;
      }),
    );
    await cluster.deleter.delete(nsDef, undefined, "doomed");
    await waitFor("the namespace gone", () => !cluster.store.get("namespaces", undefined, "doomed"));
    assert.deepEqual(
      unexpected(cluster).map((f) => [f.queue, f.key, f.message]),
      [["namespace-controller", "doomed", "TypeError: cannot read properties of undefined"]],
    );
    assert.equal(
      cluster.controllerFailures.list().filter((f) => f.expected).length,
      0,
      "the 404 of content deleted meanwhile is skipped, not retried",
    );
  });

  it("namespace controller: a default ServiceAccount the API refuses is reported; one that exists already is not", async () => {
    restores.push(
      intercept(cluster.registry, "create", (def: { resource: string }, ns: string) => {
        if (def.resource !== "serviceaccounts") return true;
        if (ns === "refused") return Promise.reject(new ApiError(422, "Invalid", "ServiceAccount is invalid"));
        if (ns === "raced")
          return Promise.reject(new ApiError(409, "AlreadyExists", 'serviceaccounts "default" already exists'));
        return true;
      }),
    );
    for (const name of ["refused", "raced", "fine"])
      await cluster.create({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
    await waitFor("the fine namespace's account", () => cluster.store.get("serviceaccounts", "fine", "default"));
    const seen = await waitFor("the refusal", () => unexpected(cluster)[0]);
    assert.deepEqual(
      [seen.queue, seen.key, seen.message],
      ["namespace-serviceaccounts", "refused", "ApiError: ServiceAccount is invalid"],
    );
    assert.ok(!cluster.controllerFailures.list().some((f) => f.key === "raced"));
  });

  it("CRD cleanup: a custom resource it cannot delete is reported under crd-cleanup, and the CRD goes once it can", async () => {
    await cluster.create({
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "widgets.example.com" },
      spec: {
        group: "example.com",
        scope: "Namespaced",
        names: { plural: "widgets", singular: "widget", kind: "Widget" },
        versions: [
          {
            name: "v1",
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
          },
        ],
      },
    });
    for (const name of ["stuck", "gone-meanwhile"])
      await cluster.create({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name, namespace: "default" } });
    let refusals = 1;
    restores.push(
      intercept(cluster.deleter, "delete", (def: { resource: string }, _ns: unknown, name: string) => {
        if (def.resource !== "widgets") return true;
        if (name === "gone-meanwhile") {
          cluster.registry.store.remove(cluster.resource("example.com", "v1", "widgets").storage, "default", name);
          return Promise.reject(notFound({ group: "example.com", resource: "widgets" }, name));
        }
        return refusals-- > 0 ? Promise.reject(internalError("webhook unreachable")) : true;
      }),
    );
    const crdDef = cluster.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions");
    await cluster.deleter.delete(crdDef, undefined, "widgets.example.com");
    await waitFor("the CRD gone", () => !cluster.store.get(crdDef.storage, undefined, "widgets.example.com"));
    assert.deepEqual(
      unexpected(cluster).map((f) => [f.queue, f.key, f.message]),
      [["crd-cleanup", "widgets.example.com", "ApiError: Internal error occurred: webhook unreachable"]],
    );
    assert.ok(!cluster.controllerFailures.list().some((f) => f.expected));
  });

  it("scheduler: a binding the API refuses is reported and tried again; a pod deleted meanwhile is not", async () => {
    await cluster.create({
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: "n1" },
      status: { allocatable: { cpu: "4", memory: "8Gi", pods: "10" } },
    });
    let refusals = 1;
    const podDef = cluster.resource("", "v1", "pods");
    restores.push(
      intercept(cluster.registry, "admit", (attrs: { subresource?: string; name: string }) => {
        if (attrs.subresource !== "binding") return true;
        if (attrs.name === "refused" && refusals-- > 0)
          return Promise.reject(
            new ApiError(403, "Forbidden", 'admission webhook "deny.example.com" denied the request'),
          );
        if (attrs.name === "gone") {
          cluster.registry.store.remove("pods", "default", "gone");
          return Promise.reject(notFound(podDef, "gone"));
        }
        return true;
      }),
    );
    const scheduler = new Scheduler(cluster);
    restores.push(scheduler.start());
    const c = { name: "c", image: "busybox:1.36" };
    for (const name of ["refused", "gone", "fine"]) await cluster.create(makePod(name, { containers: [c] }));
    const bound = (name: string) =>
      (cluster.store.get("pods", "default", name)?.["spec"] as { nodeName?: string } | undefined)?.nodeName;
    await waitFor("the refused pod bound on its second try", () => bound("refused"));
    assert.equal(bound("fine"), "n1");
    assert.deepEqual(
      unexpected(cluster).map((f) => [f.queue, f.key, f.attempt, f.message]),
      [
        [
          "default-scheduler",
          "default/refused",
          1,
          'ApiError: admission webhook "deny.example.com" denied the request',
        ],
      ],
    );
  });

  it("event recorder: an event the API refuses is reported as <component>-events; one in a namespace gone is not", async () => {
    const recorder = createRecorder(cluster, "test-controller");
    // An object whose name leaves no room for the event's `.<16 hex>` suffix (253 at most).
    const longName = "x".repeat(250);
    recorder.event(configMap(longName), "Normal", "Synced", "synced");
    recorder.event(configMap("orphan", "no-such-namespace"), "Normal", "Synced", "synced");
    recorder.event(configMap("fine"), "Normal", "Synced", "synced");
    const seen = await waitFor("the refusal", () => unexpected(cluster)[0]);
    assert.deepEqual([seen.queue, seen.key], ["test-controller-events", `default/${longName} Synced`]);
    assert.match(seen.message, /^ApiError: .*Invalid value/);
    await waitFor("the fine event", () => cluster.list(cluster.resource("", "v1", "events"), "default").length > 0);
    assert.equal(cluster.controllerFailures.list().length, 1);
  });
});
