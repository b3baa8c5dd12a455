import { strict as assert } from "node:assert";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { request as httpsRequest } from "node:https";
import { after, before, describe, it } from "node:test";
import { parse } from "yaml";
import {
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
} from "@kubernetes/client-node";
import type { DevCluster } from "../server.js";
import { fixtures, statusOf, withDevCluster } from "../test-support.js";
import { assertNoUnexpectedFailures } from "../sim/controller-failures.js";

// CRUD through @kubernetes/client-node: metav1.Status bodies as the real server sends
// them, resourceVersion and generation semantics, the TrainingRun CRD's validation and
// defaults, the status subresource, selectors and pagination.

const TR = { group: "nnunet-operator.io", version: "v1alpha1", plural: "trainingruns" };
const pod = (name: string, labels: Record<string, string> = {}, extra: Partial<V1Pod> = {}): V1Pod => ({
  metadata: { name, labels },
  spec: { containers: [{ name: "main", image: "busybox:1.36" }] },
  ...extra,
});

describe("CRUD through client-node", () => {
  let dc: DevCluster;
  let core: CoreV1Api;
  let batch: BatchV1Api;
  let custom: CustomObjectsApi;
  before(async () => {
    const started = await withDevCluster();
    dc = started.dc;
    core = started.kc.makeApiClient(CoreV1Api);
    batch = started.kc.makeApiClient(BatchV1Api);
    custom = started.kc.makeApiClient(CustomObjectsApi);
  });
  after(async () => {
    await dc.stop();
    assertNoUnexpectedFailures(dc);
  });

  it("works from the kubeconfig file it writes (HTTPS, self-signed CA, bearer token)", async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(dc.kubeconfigPath);
    assert.match(kc.getCurrentCluster()?.server ?? "", /^https:\/\/127\.0\.0\.1:\d+$/);
    const names = (await kc.makeApiClient(CoreV1Api).listNamespace()).items.map((n) => n.metadata?.name);
    assert.deepEqual(names, ["default", "kube-node-lease", "kube-public", "kube-system"]);
  });

  it("creates a pod with uid, creationTimestamp, resourceVersion and the defaults a real server sets", async () => {
    const created = await core.createNamespacedPod({ namespace: "default", body: pod("web") });
    assert.match(created.metadata?.uid ?? "", /^[0-9a-f-]{36}$/);
    assert.match(created.metadata?.creationTimestamp?.toISOString() ?? "", /^\d{4}-/);
    assert.ok(Number(created.metadata?.resourceVersion) > 0);
    assert.equal(created.status?.phase, "Pending");
    assert.equal(created.spec?.restartPolicy, "Always");
    assert.equal(created.spec?.containers[0]?.terminationMessagePath, "/dev/termination-log");
    const read = await core.readNamespacedPod({ name: "web", namespace: "default" });
    assert.equal(read.metadata?.uid, created.metadata?.uid);
  });

  it("answers a missing object with 404 NotFound naming the resource", async () => {
    const err = await core.readNamespacedPod({ name: "nope", namespace: "default" }).catch((e: unknown) => e);
    assert.deepEqual(statusOf(err), {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'pods "nope" not found',
      reason: "NotFound",
      details: { name: "nope", kind: "pods" },
      code: 404,
    });
    const jobErr = await batch.readNamespacedJob({ name: "nope", namespace: "default" }).catch((e: unknown) => e);
    assert.equal(statusOf(jobErr).message, 'jobs.batch "nope" not found');
    assert.deepEqual(statusOf(jobErr).details, { name: "nope", group: "batch", kind: "jobs" });
  });

  it("refuses a duplicate with 409 AlreadyExists", async () => {
    await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "dup" } } });
    const err = await core
      .createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "dup" } } })
      .catch((e: unknown) => e);
    const s = statusOf(err);
    assert.equal(s.code, 409);
    assert.equal(s.reason, "AlreadyExists");
    assert.equal(s.message, 'configmaps "dup" already exists');
  });

  it("refuses an update carrying a stale resourceVersion with 409 Conflict", async () => {
    const cm = await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "cas" }, data: { a: "1" } },
    });
    await core.replaceNamespacedConfigMap({ name: "cas", namespace: "default", body: { ...cm, data: { a: "2" } } });
    const err = await core
      .replaceNamespacedConfigMap({ name: "cas", namespace: "default", body: { ...cm, data: { a: "3" } } })
      .catch((e: unknown) => e);
    const s = statusOf(err);
    assert.equal(s.code, 409);
    assert.equal(s.reason, "Conflict");
    assert.equal(
      s.message,
      'Operation cannot be fulfilled on configmaps "cas": the object has been modified; please apply your changes to the latest version and try again',
    );
  });

  it("rejects an invalid name with 422 Invalid and a cause naming metadata.name", async () => {
    const err = await core
      .createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "Bad_Name" } } })
      .catch((e: unknown) => e);
    const s = statusOf(err);
    assert.equal(s.code, 422);
    assert.equal(s.reason, "Invalid");
    assert.match(
      s.message,
      /^ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/,
    );
    assert.equal(s.details?.causes?.[0]?.field, "metadata.name");
    assert.equal(s.details?.causes?.[0]?.reason, "FieldValueInvalid");
  });

  it("refuses to create in a namespace that does not exist", async () => {
    const err = await core
      .createNamespacedConfigMap({ namespace: "ghost", body: { metadata: { name: "x" } } })
      .catch((e: unknown) => e);
    assert.equal(statusOf(err).message, 'namespaces "ghost" not found');
  });

  it("bumps generation on spec changes only, never on metadata or status", async () => {
    const job = await batch.createNamespacedJob({
      namespace: "default",
      body: {
        metadata: { name: "gen" },
        spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "c", image: "busybox" }] } } },
      },
    });
    assert.equal(job.metadata?.generation, 1);
    const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
    const labelled = await batch.patchNamespacedJob(
      { name: "gen", namespace: "default", body: { metadata: { labels: { a: "b" } } } },
      merge,
    );
    assert.equal(labelled.metadata?.generation, 1);
    const status = await batch.patchNamespacedJobStatus(
      { name: "gen", namespace: "default", body: { status: { active: 1 } } },
      merge,
    );
    assert.equal(status.metadata?.generation, 1);
    assert.equal(status.status?.active, 1);
    const suspended = await batch.patchNamespacedJob(
      { name: "gen", namespace: "default", body: { spec: { suspend: true } } },
      merge,
    );
    assert.equal(suspended.metadata?.generation, 2);
    assert.ok(Number(suspended.metadata?.resourceVersion) > Number(status.metadata?.resourceVersion));
  });

  it("leaves resourceVersion alone on a no-op update", async () => {
    const cm = await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "noop" }, data: { a: "1" } },
    });
    const again = await core.replaceNamespacedConfigMap({ name: "noop", namespace: "default", body: cm });
    assert.equal(again.metadata?.resourceVersion, cm.metadata?.resourceVersion);
  });

  for (const file of readdirSync(join(fixtures, "valid"))) {
    it(`accepts the valid TrainingRun ${file} and applies the schema defaults`, async () => {
      const body = parse(readFileSync(join(fixtures, "valid", file), "utf8")) as {
        metadata: { name: string; namespace?: string };
      };
      delete body.metadata.namespace;
      const created = (await custom.createNamespacedCustomObject({ ...TR, namespace: "default", body })) as {
        spec: { folds?: unknown[]; batchSize?: { mode?: string } };
        metadata: { generation: number };
      };
      assert.ok(Array.isArray(created.spec.folds), "folds defaulted");
      assert.ok(created.spec.batchSize?.mode, "batchSize.mode defaulted");
      assert.equal(created.metadata.generation, 1);
    });
  }

  for (const file of readdirSync(join(fixtures, "invalid"))) {
    it(`rejects the invalid TrainingRun ${file}, naming the field it breaks`, async () => {
      const text = readFileSync(join(fixtures, "invalid", file), "utf8");
      const expect = /^# expect: (\S+)/m.exec(text)?.[1] ?? "";
      const body = parse(text) as { metadata?: { namespace?: string } };
      delete body.metadata?.namespace;
      const err = await custom
        .createNamespacedCustomObject({ ...TR, namespace: "default", body, fieldValidation: "Strict" })
        .catch((e: unknown) => e);
      const s = statusOf(err);
      assert.ok(s.code === 422 || s.code === 400, `code ${s.code}`);
      const fields = (s.details?.causes ?? []).map((c) => c.field ?? "");
      assert.ok(
        s.message.includes(expect.replace(/\[\d+\]$/, "")) || fields.some((f) => f.startsWith(expect)),
        `${s.message} does not name ${expect}`,
      );
    });
  }

  it("ignores status on the main resource and everything but status on /status", async () => {
    const body = {
      apiVersion: "nnunet-operator.io/v1alpha1",
      kind: "TrainingRun",
      metadata: { name: "st" },
      spec: { dataset: "Dataset004_Hippocampus", configuration: "3d_fullres", storage: { claimName: "data" } },
      status: { phase: "Succeeded" },
    };
    const created = (await custom.createNamespacedCustomObject({ ...TR, namespace: "default", body })) as {
      status?: unknown;
    };
    assert.equal(created.status, undefined, "status dropped on create");
    const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
    const viaStatus = (await custom.patchNamespacedCustomObjectStatus(
      { ...TR, namespace: "default", name: "st", body: { spec: { suspend: true }, status: { phase: "Training" } } },
      merge,
    )) as { spec: { suspend?: boolean }; status: { phase: string }; metadata: { generation: number } };
    assert.equal(viaStatus.spec.suspend ?? false, false);
    assert.equal(viaStatus.status.phase, "Training");
    assert.equal(viaStatus.metadata.generation, 1);
    const viaMain = (await custom.patchNamespacedCustomObject(
      { ...TR, namespace: "default", name: "st", body: { spec: { suspend: true }, status: { phase: "Failed" } } },
      merge,
    )) as typeof viaStatus;
    assert.equal(viaMain.spec.suspend, true);
    assert.equal(viaMain.status.phase, "Training");
    assert.equal(viaMain.metadata.generation, 2);
  });

  it("prunes unknown fields of a custom resource with a Warning header when field validation is Warn", async () => {
    const body = JSON.stringify({
      apiVersion: "nnunet-operator.io/v1alpha1",
      kind: "TrainingRun",
      metadata: { name: "warned" },
      spec: {
        dataset: "Dataset004_Hippocampus",
        configuration: "3d_fullres",
        storage: { claimName: "d" },
        colour: "blue",
      },
    });
    const { headers, text } = await new Promise<{ headers: Record<string, unknown>; text: string }>(
      (resolve, reject) => {
        const req = httpsRequest(
          `${dc.url}/apis/nnunet-operator.io/v1alpha1/namespaces/default/trainingruns`,
          {
            method: "POST",
            ca: dc.caPem,
            headers: { authorization: `Bearer ${dc.adminToken}`, "content-type": "application/json" },
          },
          (res) => {
            let t = "";
            res.on("data", (c: Buffer) => (t += c.toString()));
            res.on("end", () => resolve({ headers: res.headers, text: t }));
          },
        );
        req.on("error", reject);
        req.end(body);
      },
    );
    assert.equal(headers["warning"], '299 - "unknown field \\"spec.colour\\""');
    assert.equal((JSON.parse(text) as { spec: Record<string, unknown> }).spec["colour"], undefined);
  });

  it("bumps generation on status changes of a custom resource without a status subresource", async () => {
    const crd = dc.cluster.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions");
    await dc.cluster.registry.create(crd, undefined, {
      metadata: { name: "notes.example.com" },
      spec: {
        group: "example.com",
        scope: "Namespaced",
        names: { plural: "notes", kind: "Note" },
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
    const notes = { group: "example.com", version: "v1", plural: "notes", namespace: "default" };
    await custom.createNamespacedCustomObject({
      ...notes,
      body: { apiVersion: "example.com/v1", kind: "Note", metadata: { name: "n" }, status: { seen: 1 } },
    });
    const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
    const out = (await custom.patchNamespacedCustomObject(
      { ...notes, name: "n", body: { status: { seen: 2 } } },
      merge,
    )) as { status: { seen: number }; metadata: { generation: number } };
    assert.equal(out.status.seen, 2);
    assert.equal(out.metadata.generation, 2);
  });

  it("evaluates transition rules with oldSelf: the dataset is immutable", async () => {
    const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
    const err = await custom
      .patchNamespacedCustomObject(
        { ...TR, namespace: "default", name: "st", body: { spec: { dataset: "Dataset005_Prostate" } } },
        merge,
      )
      .catch((e: unknown) => e);
    const s = statusOf(err);
    assert.equal(s.code, 422);
    assert.equal(s.details?.causes?.[0]?.field, "spec.dataset");
    assert.match(s.message, /immutable/);
  });

  it("lists with label selectors of every operator", async () => {
    await core.createNamespacedPod({ namespace: "default", body: pod("sel-a", { tier: "web", env: "prod" }) });
    await core.createNamespacedPod({ namespace: "default", body: pod("sel-b", { tier: "db", env: "prod" }) });
    await core.createNamespacedPod({ namespace: "default", body: pod("sel-c", { tier: "web" }) });
    const names = async (labelSelector: string) =>
      (await core.listNamespacedPod({ namespace: "default", labelSelector })).items
        .map((p) => p.metadata?.name)
        .filter((n) => n?.startsWith("sel-"))
        .sort();
    const cases: [string, string[]][] = [
      ["tier=web", ["sel-a", "sel-c"]],
      ["tier==web", ["sel-a", "sel-c"]],
      ["tier!=web", ["sel-b"]],
      ["tier in (db, web),env", ["sel-a", "sel-b"]],
      ["tier notin (web)", ["sel-b"]],
      ["!env", ["sel-c"]],
      ["env,tier=web", ["sel-a"]],
    ];
    for (const [selector, want] of cases) assert.deepEqual(await names(selector), want, selector);
    const err = await core
      .listNamespacedPod({ namespace: "default", labelSelector: "tier in (web" })
      .catch((e: unknown) => e);
    assert.equal(statusOf(err).code, 400);
  });

  it("lists with field selectors on name, namespace, nodeName and phase", async () => {
    await core.createNamespacedPod({
      namespace: "default",
      body: pod("bound", {}, { spec: { nodeName: "node-1", containers: [{ name: "c", image: "busybox" }] } }),
    });
    const byNode = await core.listPodForAllNamespaces({ fieldSelector: "spec.nodeName=node-1" });
    assert.deepEqual(
      byNode.items.map((p) => p.metadata?.name),
      ["bound"],
    );
    const byName = await core.listNamespacedPod({
      namespace: "default",
      fieldSelector: "metadata.name=bound,metadata.namespace=default",
    });
    assert.equal(byName.items.length, 1);
    const pending = await core.listNamespacedPod({ namespace: "default", fieldSelector: "status.phase!=Pending" });
    assert.equal(pending.items.length, 0);
    const err = await core
      .listNamespacedPod({ namespace: "default", fieldSelector: "spec.image=x" })
      .catch((e: unknown) => e);
    assert.equal(statusOf(err).message, "field label not supported: spec.image");
  });

  it("stores events.k8s.io Events and core Events as one collection in two shapes", async () => {
    const ev = dc.cluster.resource("events.k8s.io", "v1", "events");
    await dc.cluster.registry.create(ev, "default", {
      metadata: { name: "e1" },
      eventTime: "2026-01-01T00:00:00.000000Z",
      reportingController: "nnunet-operator",
      reportingInstance: "op-1",
      action: "Admit",
      reason: "Admitted",
      note: "admitted",
      type: "Normal",
      regarding: { kind: "TrainingRun", name: "st", namespace: "default" },
    });
    const asCore = await core.listNamespacedEvent({
      namespace: "default",
      fieldSelector: "involvedObject.name=st,involvedObject.kind=TrainingRun",
    });
    assert.equal(asCore.items.length, 1);
    assert.equal(asCore.items[0]?.message, "admitted");
    assert.equal(asCore.items[0]?.reportingComponent, "nnunet-operator");
    const back = dc.cluster.registry.get(ev, "default", "e1") as { note?: string; regarding?: { name?: string } };
    assert.equal(back.note, "admitted");
    assert.equal(back.regarding?.name, "st");
  });

  it("pages a list with limit and continue, keeping the first page's resourceVersion", async () => {
    for (let i = 0; i < 7; i++)
      await core.createNamespacedSecret({ namespace: "default", body: { metadata: { name: `page-${i}` } } });
    const seen: string[] = [];
    let token: string | undefined;
    let rv: string | undefined;
    do {
      const page = await core.listNamespacedSecret({
        namespace: "default",
        limit: 3,
        ...(token ? { _continue: token } : {}),
      });
      seen.push(...page.items.map((s) => s.metadata!.name!));
      rv ??= page.metadata?.resourceVersion;
      assert.equal(page.metadata?.resourceVersion, rv);
      token = page.metadata?._continue;
      if (token) assert.ok((page.metadata?.remainingItemCount ?? 0) > 0);
    } while (token);
    assert.deepEqual(
      seen.filter((n) => n.startsWith("page-")),
      ["page-0", "page-1", "page-2", "page-3", "page-4", "page-5", "page-6"],
    );
  });
});
