import { strict as assert } from "node:assert";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { TrainingRun } from "@nnunet-operator/api";
import { formatRunList } from "@nnunet-operator/cli";
import { assertNoUnexpectedFailures, startDevCluster, type DevCluster } from "@nnunet-operator/devcluster";

// The real kubectl (v1.32, .tools/bin/kubectl from scripts/setup.sh) against the
// devcluster, with default flags: client-side apply (last-applied annotation, three-way
// strategic merge patch for built-ins, merge patch for custom resources, server-side
// field validation found through OpenAPI v3), server-side apply, printer columns, watch,
// describe, patch, delete, wait and auth can-i.

const repo = resolve(import.meta.dirname, "../..");
const kubectlBin = join(repo, ".tools/bin/kubectl");
const crd = join(repo, "crds/trainingruns.nnunet-operator.io.yaml");
const sample = join(repo, "deploy/samples/trainingrun.yaml");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe("kubectl against the devcluster", () => {
  let dc: DevCluster;
  let home: string;
  const kubectl = (args: string[], extraEnv: Record<string, string> = {}): Promise<Result> =>
    new Promise((done) => {
      execFile(
        kubectlBin,
        args,
        {
          env: { PATH: process.env["PATH"] ?? "", HOME: home, KUBECONFIG: dc.kubeconfigPath, ...extraEnv },
          timeout: 30_000,
        },
        (error, stdout, stderr) => {
          done({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
        },
      );
    });
  const ok = async (args: string[]) => {
    const r = await kubectl(args);
    assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    assert.ok(
      existsSync(kubectlBin),
      `${kubectlBin} is missing: run scripts/setup.sh (npm test does) to install kubectl`,
    );
    home = mkdtempSync(join(tmpdir(), "devcluster-kubectl-"));
    dc = await startDevCluster({ kubeconfigPath: join(home, "kubeconfig"), rbac: true, bookmarkIntervalMs: 1000 });
  });
  after(async () => {
    await dc.stop();
    assertNoUnexpectedFailures(dc);
  });

  it("applies the real CRD and the sample with default flags, then reports unchanged", async () => {
    assert.match(
      await ok(["apply", "-f", crd]),
      /customresourcedefinition.apiextensions.k8s.io\/trainingruns.nnunet-operator.io created/,
    );
    assert.match(await ok(["apply", "-f", sample]), /trainingrun.nnunet-operator.io\/topcow-ctamra created/);
    assert.match(await ok(["apply", "-f", sample]), /trainingrun.nnunet-operator.io\/topcow-ctamra unchanged/);
    const annotations = JSON.parse(
      await ok(["get", "tr", "topcow-ctamra", "-o", "jsonpath={.metadata.annotations}"]),
    ) as Record<string, string>;
    assert.ok(
      annotations["kubectl.kubernetes.io/last-applied-configuration"],
      "client-side apply records last-applied",
    );
  });

  it("lets client-side apply change and remove fields with a three-way merge, and refuses immutable changes", async () => {
    const file = join(home, "job.yaml");
    // A suspended Job that never started may change its scheduling directives only.
    const job = (selector: string, env: string) => `apiVersion: batch/v1
kind: Job
metadata: {name: apply-job}
spec:
  suspend: true
  template:
    spec:
      restartPolicy: Never
      nodeSelector: {${selector}}
      containers:
      - name: main
        image: busybox:1.36
        env: [{name: MODE, value: "${env}"}]
`;
    writeFileSync(file, job("gpu: l40s, zone: a", "a"));
    assert.match(await ok(["apply", "-f", file]), /job.batch\/apply-job created/);
    writeFileSync(file, job("gpu: l40s", "a"));
    assert.match(await ok(["apply", "-f", file]), /job.batch\/apply-job configured/);
    const selector = JSON.parse(
      await ok(["get", "job", "apply-job", "-o", "jsonpath={.spec.template.spec.nodeSelector}"]),
    ) as Record<string, string>;
    assert.deepEqual(selector, { gpu: "l40s" });
    writeFileSync(file, job("gpu: l40s", "b"));
    const immutable = await kubectl(["apply", "-f", file]);
    assert.notEqual(immutable.code, 0);
    assert.match(
      immutable.stderr,
      /The Job "apply-job" is invalid: spec.template: Invalid value: .*: field is immutable/,
    );
  });

  it("rejects an invalid TrainingRun with the field in the message, and an unknown field through strict validation", async () => {
    const bad = await kubectl(["apply", "-f", join(repo, "test/fixtures/trainingruns/invalid/bad-dataset-name.yaml")]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /is invalid: spec.dataset: Invalid value: "Task004_Hippocampus"/);
    const unknown = await kubectl(["apply", "-f", join(repo, "test/fixtures/trainingruns/invalid/unknown-field.yaml")]);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /strict decoding error: unknown field "spec.batchsize"/);
  });

  it("prints the CRD's printer columns", async () => {
    const out = await ok(["get", "trainingruns"]);
    assert.match(out.split("\n")[0] ?? "", /^NAME\s+PHASE\s+FOLDS\s+EPOCH\s+GPU-H\s+SAVED\s+FINISH\s+AGE$/);
    assert.match(out, /^topcow-ctamra\s+\S+/m);
    const pods = await kubectl(["get", "pods", "-A"]);
    assert.match(pods.stdout + pods.stderr, /No resources found|^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE/m);
  });

  it("patches with merge and JSON patches, and the status subresource", async () => {
    assert.match(
      await ok(["patch", "tr", "topcow-ctamra", "--type=merge", "-p", '{"spec":{"suspend":true}}']),
      /patched/,
    );
    assert.match(
      await ok([
        "patch",
        "tr",
        "topcow-ctamra",
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/suspend","value":false}]',
      ]),
      /patched/,
    );
    await ok([
      "patch",
      "tr",
      "topcow-ctamra",
      "--subresource=status",
      "--type=merge",
      "-p",
      '{"status":{"phase":"Training"}}',
    ]);
    assert.match(await ok(["get", "tr", "topcow-ctamra", "--no-headers"]), /^topcow-ctamra\s+Training/);
  });

  it("shows a fixture status in the printer columns (-o wide adds batch and best EMA), with the values the plugin's run list prints", async () => {
    const fixture = JSON.parse(
      readFileSync(join(repo, "test/fixtures/trainingruns/status/training-five-folds.json"), "utf8"),
    ) as { status: unknown };
    await ok([
      "patch",
      "tr",
      "topcow-ctamra",
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: fixture.status }),
    ]);
    // kubectl pads columns with three spaces or more; values hold at most single spaces.
    // Cut the row at the header's column starts: an empty cell (a column whose path is unset) stays empty.
    const row = (out: string): Record<string, string> => {
      const [head = "", line = ""] = out.split("\n");
      const starts = [...head.matchAll(/\S+(?: \S+)*/g)].map((m) => ({ name: m[0], at: m.index }));
      return Object.fromEntries(
        starts.map(({ name, at }, i) => [name, line.slice(at, starts[i + 1]?.at ?? line.length).trim()]),
      );
    };
    const { AGE: age, ...columns } = row(await ok(["get", "tr", "topcow-ctamra"]));
    assert.deepEqual(columns, {
      NAME: "topcow-ctamra",
      PHASE: "Training",
      FOLDS: "2/5",
      EPOCH: "163-211/250",
      "GPU-H": "19.5",
      SAVED: "125.3 (92.7%)",
      FINISH: "",
    });
    assert.match(age ?? "", /^\d+s$/);
    const wide = row(await ok(["get", "tr", "topcow-ctamra", "-o", "wide"]));
    assert.deepEqual([wide["BATCH"], wide["BEST EMA DICE"], wide["SAVED"]], ["8", "0.8475", "125.3 (92.7%)"]);

    const run = TrainingRun.parse(JSON.parse(await ok(["get", "tr", "topcow-ctamra", "-o", "json"])));
    const plugin = row(formatRunList([run], new Date(), false));
    assert.deepEqual(
      [plugin["FOLDS"], plugin["EPOCHS"], plugin["GPU-H"], plugin["SAVED"], plugin["BATCH"], plugin["BEST-EMA"]],
      [columns["FOLDS"], columns["EPOCH"], columns["GPU-H"], columns["SAVED"], wide["BATCH"], wide["BEST EMA DICE"]],
      "kubectl nnunet status shows what kubectl get shows",
    );
  });

  it("server-side applies, conflicts with another manager, and forces", async () => {
    const file = join(home, "ssa.yaml");
    writeFileSync(
      file,
      // suspend is one of the fields a user may change after creation (the claim, dataset and folds are immutable).
      `${readFileSync(join(repo, "test/fixtures/trainingruns/valid/minimal.yaml"), "utf8").replace(/^\s*namespace:.*$/m, "")}  suspend: false\n`,
    );
    assert.match(await ok(["apply", "--server-side", "-f", file]), /serverside-applied/);
    await ok(["apply", "--server-side", "--field-manager=other", "-f", file]);
    writeFileSync(file, readFileSync(file, "utf8").replace("suspend: false", "suspend: true"));
    const conflict = await kubectl(["apply", "--server-side", "--field-manager=other", "-f", file]);
    assert.notEqual(conflict.code, 0);
    assert.match(conflict.stderr, /conflict with "kubectl"/);
    assert.match(
      await ok(["apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", file]),
      /serverside-applied/,
    );
  });

  it("describes a TrainingRun", async () => {
    const out = await ok(["describe", "tr", "topcow-ctamra"]);
    assert.match(out, /^Name:\s+topcow-ctamra$/m);
    assert.match(out, /^Kind:\s+TrainingRun$/m);
    assert.match(out, /Dataset:\s+Dataset705_TopCoWDetCTAextendedMaskCTAMRA/);
  });

  it("watches with get -w and sees a change", async () => {
    const child = spawn(kubectlBin, ["get", "tr", "topcow-ctamra", "-w", "--no-headers"], {
      env: { PATH: process.env["PATH"] ?? "", HOME: home, KUBECONFIG: dc.kubeconfigPath },
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    const until = async (re: RegExp) => {
      const deadline = Date.now() + 10_000;
      while (!re.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    };
    await until(/topcow-ctamra/);
    await ok([
      "patch",
      "tr",
      "topcow-ctamra",
      "--subresource=status",
      "--type=merge",
      "-p",
      '{"status":{"phase":"Validating"}}',
    ]);
    await until(/Validating/);
    child.kill();
    assert.match(out, /topcow-ctamra\s+Validating/);
  });

  it("waits for a condition", async () => {
    // kubectl wait ignores conditions whose observedGeneration is behind metadata.generation.
    const generation = Number(await ok(["get", "tr", "topcow-ctamra", "-o", "jsonpath={.metadata.generation}"]));
    const waiting = kubectl(["wait", "--for=condition=Ready", "tr/topcow-ctamra", "--timeout=20s"]);
    await new Promise((r) => setTimeout(r, 300));
    await ok([
      "patch",
      "tr",
      "topcow-ctamra",
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({
        status: {
          conditions: [
            {
              type: "Ready",
              status: "True",
              reason: "Trained",
              message: "done",
              lastTransitionTime: "2026-01-01T00:00:00Z",
              observedGeneration: generation,
            },
          ],
        },
      }),
    ]);
    const r = await waiting;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /condition met/);
  });

  it("answers auth can-i for the admin and, through impersonation, for a service account", async () => {
    assert.equal((await kubectl(["auth", "can-i", "create", "trainingruns"])).stdout.trim(), "yes");
    const sa = ["--as=system:serviceaccount:default:operator"];
    const before = await kubectl(["auth", "can-i", "list", "pods", ...sa]);
    assert.equal(before.stdout.trim(), "no");
    assert.equal(before.code, 1);
    await ok(["create", "role", "pod-reader", "--verb=list", "--resource=pods"]);
    await ok(["create", "rolebinding", "operator-pods", "--role=pod-reader", "--serviceaccount=default:operator"]);
    assert.equal((await kubectl(["auth", "can-i", "list", "pods", ...sa])).stdout.trim(), "yes");
    assert.equal((await kubectl(["auth", "can-i", "delete", "pods", ...sa])).stdout.trim(), "no");
  });

  it("explains the CRD's fields from OpenAPI v3", async () => {
    const out = await ok(["explain", "trainingrun.spec.dataset"]);
    assert.match(out, /nnU-Net dataset name/);
  });

  it("creates namespaces and configmaps with kubectl create", async () => {
    await ok(["create", "namespace", "team-a"]);
    await ok(["-n", "team-a", "create", "configmap", "settings", "--from-literal=k=v"]);
    assert.match(await ok(["-n", "team-a", "get", "configmap", "settings", "-o", "jsonpath={.data.k}"]), /^v$/);
  });

  it("deletes, then reports NotFound like a real server", async () => {
    assert.match(await ok(["delete", "tr", "topcow-ctamra"]), /trainingrun.nnunet-operator.io "topcow-ctamra" deleted/);
    const r = await kubectl(["get", "tr", "topcow-ctamra"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Error from server \(NotFound\): trainingruns.nnunet-operator.io "topcow-ctamra" not found/);
  });
});
