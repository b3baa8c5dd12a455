import { strict as assert } from "node:assert";
import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { AuthorizationV1Api, CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import type { DevCluster } from "../server.js";
import { kubeConfigFor, statusOf, withDevCluster } from "../test-support.js";
import { selfSignedCertificate } from "../tls.js";
import { assertNoUnexpectedFailures } from "../sim/controller-failures.js";

// Validating admission webhooks (AdmissionReview v1 over HTTP, service references mapped
// to a local URL, failurePolicy) and RBAC mode (bearer tokens as service accounts, 403 with
// the real message, SelfSubjectAccessReview) through client-node.

const TR = { group: "nnunet-operator.io", version: "v1alpha1", plural: "trainingruns", namespace: "default" };
const run = (name: string, dataset = "Dataset004_Hippocampus") => ({
  apiVersion: "nnunet-operator.io/v1alpha1",
  kind: "TrainingRun",
  metadata: { name },
  spec: { dataset, configuration: "3d_fullres", storage: { claimName: "d" } },
});

interface Review {
  request: {
    uid: string;
    operation: string;
    name: string;
    namespace: string;
    object: { spec?: { dataset?: string } };
    userInfo: { username: string };
    resource: { resource: string };
  };
}

describe("validating admission webhooks", () => {
  let dc: DevCluster;
  let custom: CustomObjectsApi;
  let hook: Server;
  const reviews: Review[] = [];
  before(async () => {
    hook = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        const review = JSON.parse(body) as Review;
        reviews.push(review);
        const allowed = !review.request.object?.spec?.dataset?.includes("Forbidden");
        res.setHeader("content-type", "application/json");
        res.end(
          JSON.stringify({
            apiVersion: "admission.k8s.io/v1",
            kind: "AdmissionReview",
            response: {
              uid: review.request.uid,
              allowed,
              ...(allowed
                ? {}
                : { status: { code: 403, reason: "Forbidden", message: "dataset is on the deny list" } }),
            },
          }),
        );
      });
    });
    await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
    const port = (hook.address() as AddressInfo).port;
    const started = await withDevCluster({
      webhooks: { resolveService: (s) => (s.name === "operator-webhook" ? `http://127.0.0.1:${port}` : undefined) },
    });
    dc = started.dc;
    custom = started.kc.makeApiClient(CustomObjectsApi);
    await dc.cluster.create({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingWebhookConfiguration",
      metadata: { name: "nnunet" },
      webhooks: [
        {
          name: "vtrainingrun.nnunet-operator.io",
          clientConfig: { service: { namespace: "nnunet-system", name: "operator-webhook", path: "/validate" } },
          rules: [
            {
              operations: ["CREATE", "UPDATE"],
              apiGroups: ["nnunet-operator.io"],
              apiVersions: ["v1alpha1"],
              resources: ["trainingruns"],
            },
          ],
          failurePolicy: "Fail",
          sideEffects: "None",
          admissionReviewVersions: ["v1"],
        },
      ],
    });
  });
  after(async () => {
    await dc.stop();
    hook.close();
    assertNoUnexpectedFailures(dc);
  });

  it("sends an AdmissionReview and honours an allow", async () => {
    await custom.createNamespacedCustomObject({ ...TR, body: run("allowed") });
    const review = reviews.at(-1)!;
    assert.equal(review.request.operation, "CREATE");
    assert.equal(review.request.name, "allowed");
    assert.equal(review.request.namespace, "default");
    assert.equal(review.request.resource.resource, "trainingruns");
    assert.equal(review.request.userInfo.username, "system:admin");
  });

  it("honours a denial with the webhook's code and the real message", async () => {
    const err = await custom
      .createNamespacedCustomObject({ ...TR, body: run("denied", "Dataset001_Forbidden") })
      .catch((e: unknown) => e);
    const s = statusOf(err);
    assert.equal(s.code, 403);
    assert.equal(
      s.message,
      'admission webhook "vtrainingrun.nnunet-operator.io" denied the request: dataset is on the deny list',
    );
  });

  it("skips a webhook whose matchConditions do not hold", async () => {
    let calls = 0;
    const counting = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        calls++;
        const review = JSON.parse(body) as Review;
        res.setHeader("content-type", "application/json");
        res.end(
          JSON.stringify({
            apiVersion: "admission.k8s.io/v1",
            kind: "AdmissionReview",
            response: { uid: review.request.uid, allowed: true },
          }),
        );
      });
    });
    await new Promise<void>((r) => counting.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(counting.address() as AddressInfo).port}/`;
    await dc.cluster.create({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingWebhookConfiguration",
      metadata: { name: "conditional" },
      webhooks: [
        {
          name: "conditional.example.com",
          clientConfig: { url },
          matchConditions: [
            { name: "only-team-a", expression: "has(object.metadata.labels) && object.metadata.labels['team'] == 'a'" },
          ],
          rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["configmaps"] }],
          failurePolicy: "Fail",
          sideEffects: "None",
          admissionReviewVersions: ["v1"],
        },
      ],
    });
    const core = kubeConfigFor(dc).makeApiClient(CoreV1Api);
    await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "team-b", labels: { team: "b" } } },
    });
    await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "team-a", labels: { team: "a" } } },
    });
    counting.close();
    await dc.cluster.deleter.delete(
      dc.cluster.resource("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations"),
      undefined,
      "conditional",
    );
    assert.equal(calls, 1);
  });

  it("does not call the webhook for resources its rules do not match", async () => {
    const before = reviews.length;
    await kubeConfigFor(dc)
      .makeApiClient(CoreV1Api)
      .createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "unrelated" } } });
    assert.equal(reviews.length, before);
  });

  it("calls an https webhook, trusting the caBundle", async () => {
    const cert = selfSignedCertificate("webhook");
    let called = 0;
    const secure = createHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        called++;
        const review = JSON.parse(body) as Review;
        res.setHeader("content-type", "application/json");
        res.end(
          JSON.stringify({
            apiVersion: "admission.k8s.io/v1",
            kind: "AdmissionReview",
            response: { uid: review.request.uid, allowed: false, status: { message: "no leases today" } },
          }),
        );
      });
    });
    await new Promise<void>((r) => secure.listen(0, "127.0.0.1", r));
    const port = (secure.address() as AddressInfo).port;
    await dc.cluster.create({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingWebhookConfiguration",
      metadata: { name: "tls" },
      webhooks: [
        {
          name: "leases.example.com",
          clientConfig: {
            url: `https://127.0.0.1:${port}/validate`,
            caBundle: Buffer.from(cert.certPem).toString("base64"),
          },
          rules: [
            { operations: ["CREATE"], apiGroups: ["coordination.k8s.io"], apiVersions: ["v1"], resources: ["leases"] },
          ],
          failurePolicy: "Fail",
          sideEffects: "None",
          admissionReviewVersions: ["v1"],
        },
      ],
    });
    const lease = dc.cluster.resource("coordination.k8s.io", "v1", "leases");
    const err = await dc.cluster.registry
      .create(lease, "default", { metadata: { name: "l" } })
      .catch((e: unknown) => e);
    secure.close();
    assert.equal(called, 1);
    assert.equal((err as { code: number }).code, 400);
    assert.equal((err as Error).message, 'admission webhook "leases.example.com" denied the request: no leases today');
  });

  it("fails closed with 500 on a malformed AdmissionReview answer", async () => {
    const broken = createServer((_req, res) => res.end('{"response":{"allowed":"yes"}}'));
    await new Promise<void>((r) => broken.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(broken.address() as AddressInfo).port}/`;
    const vwc = dc.cluster.resource("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations");
    await dc.cluster.create({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingWebhookConfiguration",
      metadata: { name: "broken" },
      webhooks: [
        {
          name: "broken.example.com",
          clientConfig: { url },
          rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["serviceaccounts"] }],
          failurePolicy: "Fail",
          sideEffects: "None",
          admissionReviewVersions: ["v1"],
        },
      ],
    });
    const sa = dc.cluster.resource("", "v1", "serviceaccounts");
    const err = await dc.cluster.registry
      .create(sa, "default", { metadata: { name: "robot" } })
      .catch((e: unknown) => e);
    broken.close();
    await dc.cluster.deleter.delete(vwc, undefined, "broken");
    assert.equal((err as { code: number }).code, 500);
    assert.match(
      (err as Error).message,
      /failed calling webhook "broken.example.com": received invalid webhook response/,
    );
  });

  it("fails closed with 500 when an unreachable webhook has failurePolicy Fail, and opens with Ignore", async () => {
    const down = (policy: string) => ({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingWebhookConfiguration",
      metadata: { name: `down-${policy.toLowerCase()}` },
      webhooks: [
        {
          name: `down-${policy.toLowerCase()}.example.com`,
          clientConfig: { url: "http://127.0.0.1:1/validate" },
          rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["secrets"] }],
          failurePolicy: policy,
          sideEffects: "None",
          admissionReviewVersions: ["v1"],
        },
      ],
    });
    const core = kubeConfigFor(dc).makeApiClient(CoreV1Api);
    await dc.cluster.create(down("Ignore"));
    await core.createNamespacedSecret({ namespace: "default", body: { metadata: { name: "ignored" } } });
    await dc.cluster.create(down("Fail"));
    const err = await core
      .createNamespacedSecret({ namespace: "default", body: { metadata: { name: "failed" } } })
      .catch((e: unknown) => e);
    const s = statusOf(err);
    assert.equal(s.code, 500);
    assert.match(
      s.message,
      /^Internal error occurred: failed calling webhook "down-fail.example.com": failed to call webhook: Post "http:\/\/127.0.0.1:1\/validate\?timeout=10s"/,
    );
  });
});

describe("RBAC mode", () => {
  let dc: DevCluster;
  let token: string;
  before(async () => {
    ({ dc } = await withDevCluster({ rbac: true }));
    const rbac = kubeConfigFor(dc).makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: "default",
      body: {
        metadata: { name: "pod-reader" },
        rules: [
          { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
          { apiGroups: ["nnunet-operator.io"], resources: ["trainingruns/status"], verbs: ["patch"] },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: "default",
      body: {
        metadata: { name: "operator-reads" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "pod-reader" },
        subjects: [{ kind: "ServiceAccount", name: "operator", namespace: "default" }],
      },
    });
    token = dc.serviceAccountToken("default", "operator");
  });
  after(async () => {
    await dc.stop();
    assertNoUnexpectedFailures(dc);
  });

  it("allows what a binding grants", async () => {
    const core = kubeConfigFor(dc, token).makeApiClient(CoreV1Api);
    const pods = await core.listNamespacedPod({ namespace: "default" });
    assert.deepEqual(pods.items, []);
  });

  it("denies the rest with 403 and the real message", async () => {
    const core = kubeConfigFor(dc, token).makeApiClient(CoreV1Api);
    const cases: [Promise<unknown>, string][] = [
      [
        core.createNamespacedPod({
          namespace: "default",
          body: { metadata: { name: "x" }, spec: { containers: [{ name: "c", image: "i" }] } },
        }),
        'pods is forbidden: User "system:serviceaccount:default:operator" cannot create resource "pods" in API group "" in the namespace "default"',
      ],
      [
        core.listNamespacedPod({ namespace: "kube-system" }),
        'pods is forbidden: User "system:serviceaccount:default:operator" cannot list resource "pods" in API group "" in the namespace "kube-system"',
      ],
      [
        core.readNamespace({ name: "default" }),
        'namespaces "default" is forbidden: User "system:serviceaccount:default:operator" cannot get resource "namespaces" in API group "" in the namespace "default"',
      ],
      [
        core.listNode(),
        'nodes is forbidden: User "system:serviceaccount:default:operator" cannot list resource "nodes" in API group "" at the cluster scope',
      ],
    ];
    for (const [call, message] of cases) {
      const s = statusOf(await call.catch((e: unknown) => e));
      assert.equal(s.code, 403);
      assert.equal(s.reason, "Forbidden");
      assert.equal(s.message, message);
    }
  });

  it("rejects an unknown token with 401", async () => {
    const err = await kubeConfigFor(dc, "not-a-token")
      .makeApiClient(CoreV1Api)
      .listNamespacedPod({ namespace: "default" })
      .catch((e: unknown) => e);
    // client-node drops the body of a 401; the code is what it exposes.
    assert.equal((err as { code?: number }).code, 401);
  });

  it("answers SelfSubjectAccessReviews from the same rules, subresources included", async () => {
    const authz = kubeConfigFor(dc, token).makeApiClient(AuthorizationV1Api);
    const ask = async (verb: string, resource: string, subresource = "", group = "") =>
      (
        await authz.createSelfSubjectAccessReview({
          body: { spec: { resourceAttributes: { namespace: "default", verb, resource, subresource, group } } },
        })
      ).status?.allowed;
    assert.equal(await ask("list", "pods"), true);
    assert.equal(await ask("delete", "pods"), false);
    assert.equal(await ask("patch", "trainingruns", "status", "nnunet-operator.io"), true);
    assert.equal(await ask("patch", "trainingruns", "", "nnunet-operator.io"), false);
  });
});
