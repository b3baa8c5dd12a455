import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { kubectlBin, repo, startClientHarness, type ClientHarness } from "./support/clients.js";

// kubectl commands our other tests never run, each a departure from kube-apiserver found
// by trying them (issue 16); every case names the behaviour a real cluster shows.

describe("kubectl commands our other tests do not use", () => {
  let h: ClientHarness;
  before(async () => {
    h = await startClientHarness({ rbac: true });
  });
  after(() => h.stop());
  const ok = async (...args: string[]) => {
    const r = await h.kubectl(...args);
    assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const json = async (...args: string[]) => JSON.parse(await ok(...args, "-o", "json")) as Record<string, any>;

  describe("protobuf bodies of kubectl's typed clients", () => {
    it("creates a Job with `kubectl create job` (batch/v1 protobuf)", async () => {
      assert.match(
        await ok("create", "job", "pb-job", "--image=busybox:1.36", "--", "sleep", "1"),
        /job.batch\/pb-job created/,
      );
      const job = await json("get", "job", "pb-job");
      assert.deepEqual(job["spec"].template.spec.containers[0].command, ["sleep", "1"]);
    });
    it("creates a PriorityClass with `kubectl create priorityclass` (int32 value, preemption policy)", async () => {
      await ok(
        "create",
        "priorityclass",
        "pb-high",
        "--value=1000",
        "--description=training",
        "--preemption-policy=Never",
      );
      const pc = await json("get", "priorityclass", "pb-high");
      assert.deepEqual([pc["value"], pc["description"], pc["preemptionPolicy"]], [1000, "training", "Never"]);
    });
    it("creates a Secret whose values are bytes (base64 in JSON)", async () => {
      await ok("create", "secret", "generic", "pb-secret", "--from-literal=token=s3cr3t");
      assert.equal(
        Buffer.from((await json("get", "secret", "pb-secret"))["data"].token, "base64").toString(),
        "s3cr3t",
      );
    });
  });

  describe("dryRun=All on every PATCH type returns the patched object and stores nothing", () => {
    const manifest = (mode: string) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dry\ndata:\n  mode: ${mode}\n`;
    before(async () => {
      writeFileSync(join(h.home, "dry.yaml"), manifest("slow"));
      await ok("apply", "-f", join(h.home, "dry.yaml"));
      writeFileSync(join(h.home, "dry.yaml"), manifest("fast"));
    });
    const stored = async () => (await json("get", "configmap", "dry"))["data"].mode as string;
    const cases: { name: string; args: string[] }[] = [
      {
        name: "kubectl apply --dry-run=server (strategic merge patch)",
        args: ["apply", "--dry-run=server", "-f", "DRY"],
      },
      {
        name: "kubectl apply --server-side --dry-run=server (apply patch)",
        args: ["apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", "DRY"],
      },
      {
        name: "kubectl patch --type=merge --dry-run=server",
        args: ["patch", "configmap", "dry", "--type=merge", "-p", '{"data":{"mode":"fast"}}', "--dry-run=server"],
      },
      {
        name: "kubectl patch --type=json --dry-run=server",
        args: [
          "patch",
          "configmap",
          "dry",
          "--type=json",
          "-p",
          '[{"op":"replace","path":"/data/mode","value":"fast"}]',
          "--dry-run=server",
        ],
      },
      {
        name: "kubectl patch --type=strategic --dry-run=server",
        args: ["patch", "configmap", "dry", "--type=strategic", "-p", '{"data":{"mode":"fast"}}', "--dry-run=server"],
      },
    ];
    for (const c of cases) {
      it(`shows the new value for ${c.name}`, async () => {
        const out = JSON.parse(
          await ok(...c.args.map((a) => (a === "DRY" ? join(h.home, "dry.yaml") : a)), "-o", "json"),
        ) as { data: { mode: string } };
        assert.equal(out.data.mode, "fast");
        assert.equal(await stored(), "slow");
      });
    }
    it("makes `kubectl diff` print the change and exit 1", async () => {
      const r = await h.kubectl("diff", "-f", join(h.home, "dry.yaml"));
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stdout, /-\s+mode: slow\n\+\s+mode: fast/);
    });
  });

  describe("finalizer names", () => {
    const crd = join(repo, "crds/trainingruns.nnunet-operator.io.yaml");
    it("updates an existing CRD (its own customresourcecleanup finalizer passes): label and re-apply", async () => {
      await ok("apply", "-f", crd);
      assert.match(await ok("label", "crd", "trainingruns.nnunet-operator.io", "x=y"), /labeled/);
      assert.match(await ok("apply", "-f", crd), /(unchanged|configured)/);
      assert.deepEqual((await json("get", "crd", "trainingruns.nnunet-operator.io"))["metadata"].finalizers, [
        "customresourcecleanup.apiextensions.k8s.io",
      ]);
    });
    it("accepts a name without a path on a custom resource, with kube-apiserver's warning", async () => {
      const sample = await ok(
        "create",
        "--dry-run=client",
        "-o",
        "json",
        "-f",
        join(repo, "deploy/samples/trainingrun.yaml"),
      );
      const tr = JSON.parse(sample) as { metadata: Record<string, unknown> };
      tr.metadata["finalizers"] = ["example.com-cleanup"];
      writeFileSync(join(h.home, "tr.json"), JSON.stringify(tr));
      const r = await h.kubectl("create", "-f", join(h.home, "tr.json"));
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stderr,
        /Warning: metadata.finalizers: "example.com-cleanup": prefer a domain-qualified finalizer name including a path \(\/\)/,
      );
    });
    it("refuses the same name on a built-in kind with the real message", async () => {
      writeFileSync(
        join(h.home, "cm.json"),
        JSON.stringify({
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "fin", finalizers: ["example.com-cleanup"] },
        }),
      );
      const r = await h.kubectl("create", "-f", join(h.home, "cm.json"));
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /metadata.finalizers\[0\]: Invalid value: "example.com-cleanup": name is neither a standard finalizer name nor is it fully qualified/,
      );
    });
  });

  describe("preconditions and limits", () => {
    it("refuses a replace that carries another object's uid with 409 (UID precondition)", async () => {
      await ok("create", "configmap", "uid-check", "--from-literal=a=b");
      const cm = await json("get", "configmap", "uid-check");
      cm["metadata"].uid = "00000000-0000-4000-8000-000000000001";
      writeFileSync(join(h.home, "uid.json"), JSON.stringify(cm));
      const r = await h.kubectl("replace", "-f", join(h.home, "uid.json"));
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /Error from server \(Conflict\).*Operation cannot be fulfilled on configmaps "uid-check": StorageError: invalid object, Code: 4, Key: \/registry\/configmaps\/default\/uid-check, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: 00000000-0000-4000-8000-000000000001, UID in object meta: /,
      );
    });
    it("refuses a ConfigMap whose data is over 1 MiB with 422", async () => {
      writeFileSync(join(h.home, "big.bin"), "x".repeat(1_200_000));
      const r = await h.kubectl("create", "configmap", "big", `--from-file=${join(h.home, "big.bin")}`);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /ConfigMap "big" is invalid: \[\]: Too long: may not be more than 1048576 bytes/);
    });
    it("refuses a 1.6 MB custom object as etcd does (request is too large)", async () => {
      writeFileSync(
        join(h.home, "blob-crd.yaml"),
        `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: blobs.example.com}
spec:
  group: example.com
  names: {plural: blobs, singular: blob, kind: Blob}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`,
      );
      await ok("apply", "-f", join(h.home, "blob-crd.yaml"));
      await ok("wait", "--for=condition=Established", "crd/blobs.example.com");
      writeFileSync(
        join(h.home, "blob.json"),
        JSON.stringify({
          apiVersion: "example.com/v1",
          kind: "Blob",
          metadata: { name: "huge" },
          data: "x".repeat(1_600_000),
        }),
      );
      const r = await h.kubectl("create", "-f", join(h.home, "blob.json"));
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Error from server: error when creating ".*blob.json": etcdserver: request is too large/);
    });
    it("refuses a body with a duplicate field under fieldValidation=Strict, and warns under Warn", async () => {
      const body = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"},"data":{"k":"1","k":"2"}}';
      writeFileSync(join(h.home, "dup.json"), body);
      const strict = await h.kubectl(
        "create",
        "--raw",
        "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
        "-f",
        join(h.home, "dup.json"),
      );
      assert.equal(strict.code, 1);
      assert.match(
        strict.stderr,
        /ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: duplicate field "data.k"/,
      );
      const warn = await h.kubectl(
        "create",
        "--raw",
        "/api/v1/namespaces/default/configmaps?fieldValidation=Warn",
        "-f",
        join(h.home, "dup.json"),
      );
      assert.equal(warn.code, 0, warn.stderr);
      assert.match(warn.stderr, /Warning: duplicate field "data.k"/);
      assert.equal((await json("get", "configmap", "dup"))["data"].k, "2");
    });
  });

  describe("reviews and tokens", () => {
    it("answers `kubectl auth whoami` (SelfSubjectReview)", async () => {
      assert.match(
        await ok("auth", "whoami"),
        /Username\s+system:admin\nGroups\s+\[system:masters system:authenticated\]/,
      );
    });
    it("lists the rules of a service account with `kubectl auth can-i --list` (SelfSubjectRulesReview)", async () => {
      await ok("create", "serviceaccount", "lister");
      await ok("create", "role", "cm-reader", "--verb=get,list", "--resource=configmaps");
      await ok("create", "rolebinding", "lister-reads", "--role=cm-reader", "--serviceaccount=default:lister");
      const out = await ok("auth", "can-i", "--list", "--as=system:serviceaccount:default:lister", "-n", "default");
      assert.match(out, /configmaps\s+\[\]\s+\[\]\s+\[get list\]/);
      assert.match(out, /selfsubjectrulesreviews.authorization.k8s.io\s+\[\]\s+\[\]\s+\[create\]/);
    });
    it("issues a token with `kubectl create token` that authenticates as the service account", async () => {
      const token = (await ok("create", "token", "lister", "--duration=20m")).trim();
      assert.equal(token.split(".").length, 3, "a JWT-shaped token");
      const claims = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as {
        sub: string;
        exp: number;
        iat: number;
      };
      assert.deepEqual([claims.sub, claims.exp - claims.iat], ["system:serviceaccount:default:lister", 1200]);
      const r = await h.run(kubectlBin, ["auth", "whoami", `--token=${token}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Username\s+system:serviceaccount:default:lister/);
      const short = await h.kubectl("create", "token", "lister", "--duration=5m");
      assert.match(short.stderr, /may not specify a duration less than 10 minutes/);
    });
  });

  describe("CEL rule messages", () => {
    it("shows the CRD's message verbatim, with the value's type, when a rule fails", async () => {
      await ok("apply", "-f", join(repo, "crds/trainingruns.nnunet-operator.io.yaml"));
      await ok("wait", "--for=condition=Established", "crd/trainingruns.nnunet-operator.io");
      const sample = JSON.parse(
        await ok("create", "--dry-run=client", "-o", "json", "-f", join(repo, "deploy/samples/trainingrun.yaml")),
      ) as { metadata: { name: string }; spec: { dataset: string } };
      sample.metadata.name = "cel-check";
      writeFileSync(join(h.home, "cel.json"), JSON.stringify(sample));
      await ok("create", "-f", join(h.home, "cel.json"));
      const r = await h.kubectl(
        "patch",
        "tr",
        "cel-check",
        "--type=merge",
        "-p",
        JSON.stringify({ spec: { dataset: `${sample.spec.dataset}X` } }),
      );
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /spec.dataset: Invalid value: "string": spec.dataset is immutable after creation; create a new TrainingRun for another dataset/,
      );
    });
  });

  describe("OpenAPI documents from the upstream definitions", () => {
    const cases: { name: string; args: string[]; want: RegExp }[] = [
      {
        name: "kubectl explain pods.spec.containers (OpenAPI v3)",
        args: ["explain", "pods.spec.containers.resources"],
        want: /FIELD: resources <ResourceRequirements>[\s\S]*limits\s+<map\[string\]string>/,
      },
      {
        name: "kubectl explain jobs.spec (OpenAPI v3)",
        args: ["explain", "jobs.spec.backoffLimit"],
        want: /GROUP:\s+batch[\s\S]*Specifies the number of retries before marking this job failed/,
      },
      {
        name: "kubectl explain with the OpenAPI v2 protobuf document",
        args: ["explain", "--output=plaintext-openapiv2", "jobs.spec.template.spec.containers.env"],
        want: /name\t<string> -required-/,
      },
    ];
    for (const c of cases) it(`answers ${c.name}`, async () => assert.match(await ok(...c.args), c.want));
  });

  describe("unknown fields on built-in kinds", () => {
    const job = {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "typo" },
      spec: {
        backoffLimitt: 1,
        template: {
          spec: { restartPolicy: "Never", containers: [{ name: "c", image: "busybox", imagePullPolicyy: "Never" }] },
        },
      },
    };
    before(() => writeFileSync(join(h.home, "typo.json"), JSON.stringify(job)));
    it("refuses them under kubectl's default --validate=strict with the strict decoding error", async () => {
      const r = await h.kubectl("create", "-f", join(h.home, "typo.json"));
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /Job in version "v1" cannot be handled as a Job: strict decoding error: unknown field "spec.backoffLimitt", unknown field "spec.template.spec.containers\[0\].imagePullPolicyy"/,
      );
    });
    it("warns about them under --validate=warn and stores the object without them", async () => {
      const r = await h.kubectl("create", "--validate=warn", "-f", join(h.home, "typo.json"));
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /Warning: unknown field "spec.backoffLimitt"/);
      const stored = await json("get", "job", "typo");
      assert.equal(stored["spec"].backoffLimitt, undefined);
      assert.equal(stored["spec"].template.spec.containers[0].imagePullPolicyy, undefined);
    });
  });
});
