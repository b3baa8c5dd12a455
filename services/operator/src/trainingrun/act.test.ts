import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import { LABEL_RUN } from "@nnunet-operator/api";
import { KubeApiError, type KubeObject, Resources } from "@nnunet-operator/kube";
import { FakeKubePort } from "@nnunet-operator/kube/testing";
import { mergePatchBetween, performActions } from "./act.js";
import type { KubeAction } from "./decide/run.js";
import { podGpuRequest } from "./decide/objects.js";
import { slimJob, slimPod, slimPodSpec } from "./slim.js";

const RUN_REF = { apiVersion: "nnunet-operator.io/v1alpha1", kind: "TrainingRun", name: "run", uid: "run-uid" };
/** A Job as the operator builds it: the run's label, and the run as its controller. */
const jobObject = (
  name: string,
  owner: Record<string, unknown> | null = { ...RUN_REF, controller: true },
  labels: Record<string, string> = { [LABEL_RUN]: "run" },
): IJob & KubeObject => ({
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { name, namespace: "ns", labels, ...(owner ? { ownerReferences: [owner as never] } : {}) },
  spec: { template: { spec: { containers: [] } } },
});
const job = (name: string): KubeAction => ({ verb: "create", object: jobObject(name), why: "test" });
const deleteAction = (name: string, uid: string | undefined): KubeAction => ({
  verb: "delete",
  kind: "Job",
  namespace: "ns",
  name,
  uid,
  propagationPolicy: "Foreground",
  why: "test",
});
const cache: KubeAction = {
  verb: "upsertConfigMapData",
  namespace: "ns",
  name: "cache",
  patch: { data: { k2: "v2" } },
  ifMissing: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cache", namespace: "ns" }, data: { k2: "v2" } },
  why: "test",
};

describe("mergePatchBetween", () => {
  const cases: Array<[string, unknown, unknown, unknown]> = [
    ["sets what changed and nulls what went away", { a: 1, b: 2 }, { a: 1, c: 3 }, { b: null, c: 3 }],
    ["recurses into objects", { q: { position: 3, reason: "X" } }, { q: { reason: "X" } }, { q: { position: null } }],
    ["replaces arrays whole (conditions, folds)", { c: [1, 2] }, { c: [2] }, { c: [2] }],
    ["is empty when nothing changed", { a: { b: [1] } }, { a: { b: [1] } }, {}],
  ];
  for (const [name, from, to, patch] of cases) it(name, () => assert.deepEqual(mergePatchBetween(from, to), patch));
});

describe("performActions", () => {
  it("creates the Jobs of one admission at once, and takes AlreadyExists of the run's own Job as success", async () => {
    const port = new FakeKubePort();
    await port.create(Resources.jobs, jobObject("b"));
    const written: string[] = [];
    const result = await performActions(port, [job("a"), job("b"), job("c")], (_k, o) =>
      written.push(o.metadata.name!),
    );
    assert.deepEqual(result.created, ["a", "c"]);
    assert.deepEqual(written, ["a", "c", "b"], "the run's own b goes into the cache as it is");
    assert.deepEqual(result.foreign, []);
  });

  describe("reports a Job the create met that the run does not control as foreign, and never caches it", () => {
    const cases: Array<[string, KubeObject]> = [
      ["made by hand, without an owner", jobObject("a", null)],
      ["controlled by an earlier run of the same name", jobObject("a", { ...RUN_REF, uid: "old", controller: true })],
      ["owned by the run but not as its controller", jobObject("a", { ...RUN_REF, controller: false })],
      ["controlled by the run but without the run label", jobObject("a", { ...RUN_REF, controller: true }, {})],
    ];
    for (const [name, there] of cases)
      it(name, async () => {
        const port = new FakeKubePort();
        await port.create(Resources.jobs, there);
        const written: string[] = [];
        const result = await performActions(port, [job("a")], (_k, o) => written.push(o.metadata.name!));
        assert.deepEqual(result.created, []);
        assert.deepEqual(written, []);
        assert.deepEqual(
          result.foreign.map((j) => j.metadata.name),
          ["a"],
        );
      });
  });

  it("reports the Jobs it wrote before a create failed, then fails", async () => {
    const port = new FakeKubePort();
    port.failNext("create", new KubeApiError("forbidden", { code: 403, reason: "Forbidden", retryable: false }));
    const written: string[] = [];
    await assert.rejects(
      performActions(port, [job("a"), job("b")], (_k, o) => written.push(o.metadata.name!)),
      /forbidden/,
    );
    assert.deepEqual(written, ["b"]);
  });

  it("deletes with foreground propagation by uid and takes NotFound as success", async () => {
    const port = new FakeKubePort();
    await performActions(port, [deleteAction("gone", "uid-1")]);
    assert.deepEqual(
      port.writes().map((w) => [w.verb, w.options]),
      [["delete", { propagationPolicy: "Foreground", preconditions: { uid: "uid-1" } }]],
    );
  });

  it("leaves a Job that took the name since the decision (another uid) alone, and takes that as success", async () => {
    const port = new FakeKubePort();
    const squatter = await port.create(Resources.jobs, jobObject("a", null));
    await performActions(port, [deleteAction("a", "the-run's-old-job")]);
    const still = await port.get(Resources.jobs, { namespace: "ns", name: "a" });
    assert.equal(still.metadata.uid, squatter.metadata.uid);
  });

  it("creates the cache ConfigMap when missing, else merge-patches one key", async () => {
    const port = new FakeKubePort();
    await performActions(port, [cache]);
    assert.deepEqual((await port.get(Resources.configMaps, { namespace: "ns", name: "cache" })).data, { k2: "v2" });
    await performActions(port, [{ ...cache, patch: { data: { k3: "v3" } } } as KubeAction]);
    assert.deepEqual((await port.get(Resources.configMaps, { namespace: "ns", name: "cache" })).data, {
      k2: "v2",
      k3: "v3",
    });
  });
});

describe("slim caches", () => {
  it("keeps of a pod what the decisions read, and drops managedFields and container details", () => {
    const pod = {
      metadata: {
        name: "p",
        namespace: "ns",
        resourceVersion: "3",
        managedFields: [{ manager: "x" }],
        labels: { a: "b" },
      },
      spec: {
        nodeName: "n1",
        containers: [
          {
            name: "nnunet",
            image: "img",
            args: ["long"],
            env: [{ name: "A", value: "1" }],
            resources: { requests: { cpu: "8", memory: "64Gi" }, limits: { "nvidia.com/gpu": "1", memory: "64Gi" } },
          },
        ],
        initContainers: [
          {
            name: "reporter",
            image: "r",
            restartPolicy: "Always",
            command: ["x"],
            resources: { requests: { cpu: "50m" } },
          },
        ],
        volumes: [{ name: "v" }],
      },
      status: { phase: "Running" },
    } as KubeObject;
    assert.deepEqual(slimPod(pod), {
      metadata: { name: "p", namespace: "ns", resourceVersion: "3", labels: { a: "b" } },
      spec: {
        nodeName: "n1",
        containers: [{ name: "nnunet", image: "img", resources: { limits: { "nvidia.com/gpu": "1" } } }],
        initContainers: [{ name: "reporter", image: "r", restartPolicy: "Always" }],
      },
      status: { phase: "Running" },
    });
  });

  it("keeps of a Job its suspension and placement; the template's labels repeat the Job's and go", () => {
    const j = {
      metadata: { name: "j", annotations: { x: "1" } },
      spec: {
        suspend: true,
        backoffLimit: 0,
        template: {
          metadata: { labels: { r: "1" } },
          spec: { affinity: { a: 1 }, containers: [{ name: "c", image: "i", command: ["python3"] }] },
        },
      },
      status: { active: 1 },
    } as KubeObject;
    assert.deepEqual(slimJob(j), {
      metadata: { name: "j", annotations: { x: "1" } },
      spec: {
        suspend: true,
        template: { spec: { affinity: { a: 1 }, containers: [{ name: "c", image: "i" }] } },
      },
      status: { active: 1 },
    });
  });

  const gpus = (n: number | string) => ({ "nvidia.com/gpu": String(n) });
  const specs: Array<[string, IPodSpec]> = [
    [
      "one trainer, GPUs as a limit",
      { containers: [{ name: "t", resources: { limits: gpus(1), requests: { cpu: "8" } } }] },
    ],
    [
      "two containers, requests and limits",
      {
        containers: [
          { name: "a", resources: { requests: gpus(2), limits: gpus(2) } },
          { name: "b", resources: { limits: gpus(1) } },
        ],
      },
    ],
    [
      "an init container needing more than the rest",
      {
        containers: [{ name: "t", resources: { limits: gpus(1) } }],
        initContainers: [{ name: "i", resources: { limits: gpus(4) } }],
      },
    ],
    [
      "a native sidecar with a GPU beside the trainer",
      {
        containers: [{ name: "t", resources: { limits: gpus(2) } }],
        initContainers: [
          { name: "s", restartPolicy: "Always", resources: { limits: gpus(1), requests: { memory: "1Gi" } } },
        ],
      },
    ],
    ["no resources at all", { containers: [{ name: "t", image: "x" }] }],
  ];
  for (const [name, spec] of specs)
    it(`counts the same GPUs for a slim pod spec as for the full one: ${name}`, () => {
      assert.equal(podGpuRequest(slimPodSpec(spec) as IPodSpec), podGpuRequest(spec));
    });
});
