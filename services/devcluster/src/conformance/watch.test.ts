import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, makeInformer, Watch, type KubeConfig, type V1ConfigMap, type V1Pod } from "@kubernetes/client-node";
import type { DevCluster } from "../server.js";
import { eventually, withDevCluster } from "../test-support.js";
import { assertNoUnexpectedFailures } from "../sim/controller-failures.js";

// Watches and informers through client-node: informer callbacks, resuming a watch from a
// resourceVersion, 410 Expired for a resourceVersion older than the kept history and the
// informer's relist, bookmarks, timeoutSeconds and selector transitions.

interface Seen {
  type: string;
  name: string;
  rv: string;
  code?: number;
}

function collect(kc: KubeConfig, path: string, query: Record<string, string | number | boolean>) {
  const events: Seen[] = [];
  let ended = false;
  const started = new Watch(kc).watch(
    path,
    query,
    (type, obj: { metadata?: { name?: string; resourceVersion?: string }; code?: number }) => {
      events.push({
        type,
        name: obj.metadata?.name ?? "",
        rv: obj.metadata?.resourceVersion ?? "",
        ...(obj.code ? { code: obj.code } : {}),
      });
    },
    () => {
      ended = true;
    },
  );
  return { events, ended: () => ended, stop: async () => (await started).abort() };
}

describe("watch and informers through client-node", () => {
  let dc: DevCluster;
  let kc: KubeConfig;
  let core: CoreV1Api;
  before(async () => {
    const started = await withDevCluster({ historySize: 20, bookmarkIntervalMs: 100 });
    dc = started.dc;
    kc = started.kc;
    core = kc.makeApiClient(CoreV1Api);
  });
  after(async () => {
    await dc.stop();
    assertNoUnexpectedFailures(dc);
  });

  it("feeds an informer's add, update and delete callbacks", async () => {
    const informer = makeInformer<V1Pod>(kc, "/api/v1/namespaces/default/pods", () =>
      core.listNamespacedPod({ namespace: "default" }),
    );
    const log: string[] = [];
    informer.on("add", (p) => log.push(`add ${p.metadata?.name}`));
    informer.on("update", (p) => log.push(`update ${p.metadata?.name} ${p.metadata?.labels?.["v"]}`));
    informer.on("delete", (p) => log.push(`delete ${p.metadata?.name}`));
    await informer.start();
    await core.createNamespacedPod({
      namespace: "default",
      body: { metadata: { name: "inf" }, spec: { containers: [{ name: "c", image: "busybox" }] } },
    });
    await core.patchNamespacedPod({
      name: "inf",
      namespace: "default",
      body: [{ op: "add", path: "/metadata/labels", value: { v: "2" } }],
    });
    await core.deleteNamespacedPod({ name: "inf", namespace: "default" });
    await eventually(() => log.length >= 3, "three informer callbacks");
    await informer.stop();
    assert.deepEqual(log, ["add inf", "update inf 2", "delete inf"]);
    assert.equal(informer.list().length, 0);
  });

  it("resumes a watch from a resourceVersion with exactly the events after it", async () => {
    const first = await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "resume-1" } },
    });
    await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "resume-2" } } });
    await core.deleteNamespacedConfigMap({ name: "resume-1", namespace: "default" });
    const w = collect(kc, "/api/v1/namespaces/default/configmaps", {
      resourceVersion: first.metadata!.resourceVersion!,
    });
    await eventually(() => w.events.length >= 2, "replayed events");
    await w.stop();
    assert.deepEqual(
      w.events.map((e) => `${e.type} ${e.name}`),
      ["ADDED resume-2", "DELETED resume-1"],
    );
  });

  it("sends an ERROR event with 410 Expired for a resourceVersion older than the history", async () => {
    const old = await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "old" } } });
    for (let i = 0; i < 25; i++)
      await core.replaceNamespacedConfigMap({
        name: "old",
        namespace: "default",
        body: { metadata: { name: "old" }, data: { i: String(i) } },
      });
    const w = collect(kc, "/api/v1/namespaces/default/configmaps", { resourceVersion: old.metadata!.resourceVersion! });
    await eventually(() => w.ended(), "the server to close the expired watch");
    assert.equal(w.events.length, 1);
    assert.equal(w.events[0]?.type, "ERROR");
    assert.equal(w.events[0]?.code, 410);
  });

  it("lets an informer that resumes too late relist and catch up", async () => {
    const informer = makeInformer<V1ConfigMap>(
      kc,
      "/api/v1/namespaces/default/configmaps",
      () => core.listNamespacedConfigMap({ namespace: "default", labelSelector: "relist" }),
      "relist",
    );
    await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "before", labels: { relist: "y" } } },
    });
    await informer.start();
    await eventually(() => informer.list().length === 1, "the first list");
    await informer.stop();
    await core.deleteNamespacedConfigMap({ name: "before", namespace: "default" });
    await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "after", labels: { relist: "y" } } },
    });
    for (let i = 0; i < 25; i++)
      await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: `churn-${i}` } } });
    const errors: unknown[] = [];
    informer.on("error", (e) => errors.push(e));
    await informer.start();
    await eventually(
      () =>
        informer
          .list()
          .map((c) => c.metadata?.name)
          .join() === "after",
      "the relisted cache",
    );
    await informer.stop();
    // Stopping an informer aborts its request, which client-node reports as an error.
    assert.deepEqual(
      errors.filter((e) => (e as Error).name !== "AbortError"),
      [],
    );
  });

  it("sends bookmarks to watchers that allow them", async () => {
    const w = collect(kc, "/api/v1/namespaces/default/secrets", {
      allowWatchBookmarks: true,
      resourceVersion: String(dc.cluster.store.currentRV()),
    });
    await eventually(() => w.events.some((e) => e.type === "BOOKMARK"), "a bookmark");
    await w.stop();
    const bookmark = w.events.find((e) => e.type === "BOOKMARK")!;
    assert.ok(Number(bookmark.rv) >= 1);
  });

  it("ends a watch after timeoutSeconds", async () => {
    const startedAt = Date.now();
    const w = collect(kc, "/api/v1/namespaces/default/secrets", { timeoutSeconds: 1 });
    await eventually(() => w.ended(), "the watch to time out", 3000);
    assert.ok(Date.now() - startedAt >= 900);
  });

  it("turns an object that leaves the selector into DELETED and one that enters into ADDED", async () => {
    const w = collect(kc, "/api/v1/namespaces/default/configmaps", {
      labelSelector: "team=a",
      resourceVersion: String(dc.cluster.store.currentRV()),
    });
    await new Promise((r) => setTimeout(r, 50));
    await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "mover", labels: { team: "b" } } },
    });
    await core.patchNamespacedConfigMap({
      name: "mover",
      namespace: "default",
      body: [{ op: "replace", path: "/metadata/labels/team", value: "a" }],
    });
    await core.patchNamespacedConfigMap({
      name: "mover",
      namespace: "default",
      body: [{ op: "add", path: "/data", value: { k: "v" } }],
    });
    await core.patchNamespacedConfigMap({
      name: "mover",
      namespace: "default",
      body: [{ op: "replace", path: "/metadata/labels/team", value: "c" }],
    });
    await eventually(() => w.events.length >= 3, "three events");
    await w.stop();
    assert.deepEqual(
      w.events.map((e) => e.type),
      ["ADDED", "MODIFIED", "DELETED"],
    );
  });

  it("starts a watch without resourceVersion with the current state as ADDED events", async () => {
    const w = collect(kc, "/api/v1/namespaces", {});
    await eventually(() => w.events.length >= 4, "the namespaces");
    await w.stop();
    assert.deepEqual(w.events.map((e) => e.name).sort(), ["default", "kube-node-lease", "kube-public", "kube-system"]);
  });
});
