// Admission through the real reconciler: capacity counted from the world (GPUs held by
// other workloads included), per-fold admission, queue order by priority then age, queue
// quotas from the configuration, products no node offers, spec.suspend; and the validating
// webhook served by the operator's fastify server, registered with a url clientConfig.
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import { Registry } from "prom-client";
import { assertNoUnexpectedFailures, startDevCluster } from "@nnunet-operator/devcluster";
import { buildServer } from "@nnunet-operator/operator/runtime";
import {
  addClaim,
  addNode,
  createRun,
  CRD,
  type Env,
  eventually,
  finishPod,
  getJob,
  getRun,
  jobNames,
  makeRunObject,
  RUN_NS,
  sleep,
  startEnv,
  startPod,
} from "./operator-harness.js";

const H100 = "NVIDIA-H100-80GB-HBM3";
let env: Env;
before(async () => {
  env = await startEnv();
  await addNode(env.dc, "l40s-a");
  await addNode(env.dc, "h100-a", { product: H100 });
  await addClaim(env.dc);
  // Another team's pod holds 2 of l40s-a's 4 GPUs.
  await env.dc.cluster.create({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "someone-else", namespace: "default" },
    spec: {
      nodeName: "l40s-a",
      containers: [{ name: "x", image: "x", resources: { limits: { "nvidia.com/gpu": "2" } } }],
    },
    status: { phase: "Running" },
  });
  await env.startOperator({
    config: {
      queues: [{ name: "default" }, { name: "small", gpuQuota: 2 }],
      gpu: { acceptedProducts: ["NVIDIA-L40S", H100, "NVIDIA-A100-SXM4-80GB"] },
    },
  });
});
after(async () => env?.stop());

const noValidation = { validation: { enabled: false } };
const queue = (run: string) => getRun(env.dc, run).status?.queue;

describe("admission", () => {
  it("admits per fold onto the GPUs other workloads leave free, and the rest waits with NoGpuCapacity and a position", async () => {
    await createRun(env.dc, "first", { folds: [0, 1, 2], ...noValidation });
    const q = await eventually(
      () => queue("first")?.reason === "NoGpuCapacity" && queue("first"),
      "first to wait for capacity",
    );
    await eventually(() => jobNames(env.dc).length === 2, "two Jobs");
    await sleep(300);
    assert.deepEqual(jobNames(env.dc), ["first-fold-0", "first-fold-1"]);
    assert.equal(q.position, 1);
    // The first pass says "1 of 3 piece(s) of work wait: ..."; once two Jobs exist, only the third is asked for.
    assert.match(q.message, /all matching GPUs are in use: 0 of 4 free/);
  });

  it("gives freed GPUs to the higher priority run first, then by age", async () => {
    await createRun(env.dc, "low", { folds: [0], ...noValidation });
    await sleep(1100); // creation timestamps have one-second resolution
    await createRun(env.dc, "high", { folds: [0], priority: 5, ...noValidation });
    await eventually(
      () => queue("high")?.position !== undefined && queue("low")?.position !== undefined,
      "both to queue",
    );
    const pod = await startPod(env.dc, "first-fold-0", "l40s-a");
    await finishPod(env.dc, "first-fold-0", pod, { exitCode: 0 });
    await eventually(() => getJob(env.dc, "high-fold-0"), "high's Job");
    await sleep(500);
    assert.equal(getJob(env.dc, "low-fold-0"), undefined);
    assert.equal(getJob(env.dc, "first-fold-2"), undefined);
    await eventually(
      () => queue("first")?.position === 1 && queue("low")?.position === 2,
      "first (older) ahead of low",
    );
  });

  it("holds a queue to its GPU quota from the configuration", async () => {
    await createRun(env.dc, "quota", { folds: [0, 1, 2], queue: "small", gpu: { products: [H100] }, ...noValidation });
    const q = await eventually(
      () => queue("quota")?.reason === "QuotaExceeded" && queue("quota"),
      "quota to wait on the quota",
    );
    assert.match(q.message, /queue small uses 2 of its 2 GPU quota/);
    await eventually(() => jobNames(env.dc).filter((n) => n?.startsWith("quota-")).length === 2, "two Jobs");
    await sleep(300);
    assert.deepEqual(
      jobNames(env.dc).filter((n) => n?.startsWith("quota-")),
      ["quota-fold-0", "quota-fold-1"],
    );
  });

  it("makes a run for a product no node offers wait with NoMatchingNodes naming the fix", async () => {
    await createRun(env.dc, "a100", { folds: [0], gpu: { products: ["NVIDIA-A100-SXM4-80GB"] } });
    const q = await eventually(() => queue("a100")?.reason === "NoMatchingNodes" && queue("a100"), "NoMatchingNodes");
    assert.match(
      q.message,
      /no node has nvidia.com\/gpu.product in \[NVIDIA-A100-SXM4-80GB\] \(nodes offer .*NVIDIA-L40S.*\)/,
    );
    assert.notEqual(getRun(env.dc, "a100").status.phase, "Failed");
  });

  it("holds a suspended run", async () => {
    await createRun(env.dc, "held", { folds: [0], suspend: true, gpu: { products: [H100] } });
    await eventually(() => getRun(env.dc, "held").status?.phase === "Suspended", "phase Suspended");
    assert.equal(getJob(env.dc, "held-fold-0"), undefined);
  });
});

describe("the validating webhook at the API", () => {
  const hook = (url: string) => ({
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingWebhookConfiguration",
    metadata: { name: "nnunet-operator" },
    webhooks: [
      {
        name: "validate.trainingruns.nnunet-operator.io",
        admissionReviewVersions: ["v1"],
        sideEffects: "None",
        failurePolicy: "Fail",
        timeoutSeconds: 5,
        clientConfig: { url: `${url}/validate-trainingrun` },
        rules: [
          {
            apiGroups: ["nnunet-operator.io"],
            apiVersions: ["v1alpha1"],
            operations: ["CREATE", "UPDATE"],
            resources: ["trainingruns"],
            scope: "Namespaced",
          },
        ],
      },
    ],
  });

  async function withWebhook(
    crd: string | undefined,
    body: (create: (spec: Record<string, unknown>) => Promise<unknown>, calls: () => number) => Promise<void>,
  ) {
    const dc = await startDevCluster({ tls: false, ...(crd ? { manifests: [crd] } : {}) });
    const app = buildServer({
      registry: new Registry(),
      ready: () => true,
      queues: ["default"],
      serve: { metrics: false, webhook: true },
    });
    let calls = 0;
    app.addHook("onResponse", async () => void (calls += 1));
    try {
      const url = await app.listen({ host: "127.0.0.1", port: 0 });
      await dc.cluster.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: RUN_NS } });
      if (!crd) await dc.cluster.create(permissiveCrd());
      await dc.cluster.create(hook(url) as never);
      await body(
        (spec) => dc.cluster.create(makeRunObject("hooked", spec)),
        () => calls,
      );
    } finally {
      await app.close();
      await dc.stop();
    }
    assertNoUnexpectedFailures(dc);
  }

  it("lets a valid run through the operator's webhook", async () => {
    await withWebhook(CRD, async (create, calls) => {
      await create({ folds: [0, 1] });
      assert.equal(calls(), 1);
    });
  });

  it("rejects an invalid run at the API with the field named, so it never reaches the reconciler", async () => {
    // A CRD without a schema: the webhook is the only check (as on a cluster with an older CRD).
    await withWebhook(undefined, async (create, calls) => {
      await assert.rejects(create({ folds: [0, 7] }), (err: Error) => {
        assert.match(err.message, /admission webhook "validate.trainingruns.nnunet-operator.io" denied the request/);
        assert.match(err.message, /spec\.folds/);
        return true;
      });
      assert.equal(calls(), 1);
    });
  });
});

function permissiveCrd(): never {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: "trainingruns.nnunet-operator.io" },
    spec: {
      group: "nnunet-operator.io",
      scope: "Namespaced",
      names: {
        plural: "trainingruns",
        singular: "trainingrun",
        kind: "TrainingRun",
        listKind: "TrainingRunList",
        shortNames: ["tr"],
      },
      versions: [
        {
          name: "v1alpha1",
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
        },
      ],
    },
  } as never;
}
