import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import { ANNOTATION_STOP_DECISION, LABEL_FOLD, LABEL_ROLE, LABEL_RUN, StopDecision, type TrainingRun } from "@nnunet-operator/api";
import { runCli, watchRuns } from "@nnunet-operator/cli";
import { type DevCluster, startDevCluster } from "@nnunet-operator/devcluster";
import { ClientPort, type KubeObject, Resources } from "@nnunet-operator/kube";
import { parse, stringify } from "yaml";
import { convergedFold, makeRun, queuedRun, succeededRun, trainingRun } from "@nnunet-operator/cli/testing";

// kubectl-nnunet against a real devcluster: in process through runCli, and as the real
// plugin, `kubectl nnunet ...` with the bin directory on PATH. The runs' statuses are
// written through the status subresource as the operator would; Jobs and pods are created
// by hand (the devcluster has no Job controller or kubelet here), and pods/log is served
// by a test handler.

const root = resolve(import.meta.dirname, "../..");
const binDir = join(root, "node_modules/.bin");
const kubectlDir = join(root, ".tools/bin");

let dc: DevCluster;
let port: ClientPort;
const logs = new Map<string, string[]>();

interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

function sink(): { write(text: string): boolean; text: () => string } {
  let text = "";
  return { write: (t: string) => ((text += t), true), text: () => text };
}

async function cli(args: string[], env: Record<string, string> = {}, signal = new AbortController().signal): Promise<Captured> {
  const stdout = sink();
  const stderr = sink();
  const code = await runCli(args, { env: { KUBECONFIG: dc.kubeconfigPath, ...env }, stdout, stderr, signal });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

function plugin(args: string[], options: { onStdout?: (text: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<Captured> {
  const child = spawn("kubectl", ["nnunet", ...args], {
    cwd: tmpdir(),
    env: { ...process.env, KUBECONFIG: dc.kubeconfigPath, PATH: [kubectlDir, binDir, process.env.PATH].join(delimiter) },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
    options.onStdout?.(stdout, child);
  });
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((done) => child.on("close", (code) => done({ code: code ?? -1, stdout, stderr })));
}

function job(run: string, fold: string): KubeObject {
  const labels = { [LABEL_RUN]: run, [LABEL_FOLD]: fold, [LABEL_ROLE]: "train" };
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: `${run}-fold-${fold}`, namespace: "default", labels },
    spec: { template: { metadata: { labels }, spec: { restartPolicy: "Never", containers: [{ name: "nnunet", image: "nnunet" }] } } },
  };
}

function pod(name: string, run: string, fold: string, role = "train"): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "default", labels: { [LABEL_RUN]: run, [LABEL_FOLD]: fold, [LABEL_ROLE]: role } },
    spec: { containers: [{ name: "nnunet", image: "nnunet" }, { name: "reporter", image: "reporter" }] },
  };
}

async function createRun(run: TrainingRun): Promise<void> {
  const { status, metadata, ...object } = run;
  const key = { namespace: metadata.namespace as string, name: metadata.name as string };
  await port.create(Resources.trainingRuns, { ...object, metadata: key });
  if (status) await port.patchStatus(Resources.trainingRuns, key, { status }, { type: "merge" });
}

before(async () => {
  dc = await startDevCluster({ manifests: [join(root, "crds/trainingruns.nnunet-operator.io.yaml")] });
  const kc = new KubeConfig();
  kc.loadFromFile(dc.kubeconfigPath);
  port = new ClientPort(kc, { fieldManager: "test" });
  await port.create(Resources.namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name: "team-b" } });
  await createRun(trainingRun());
  await createRun(queuedRun("liver-low"));
  const done = succeededRun();
  await createRun({ ...done, metadata: { ...done.metadata, namespace: "team-b", name: "other" } });
  await port.create(Resources.jobs, job("totalseg-ct", "0"));
  await port.create(Resources.jobs, job("totalseg-ct", "1"));
  await port.create(Resources.pods, pod("totalseg-ct-calibrate-x1", "totalseg-ct", "0", "calibrate"));
  await port.create(Resources.pods, pod("totalseg-ct-fold-0-a1b2c", "totalseg-ct", "0"));
  logs.set("default/totalseg-ct-fold-0-a1b2c/nnunet", ["Epoch 119", "Yayy! New best EMA pseudo Dice: 0.815", "Epoch 120"]);
  logs.set("default/totalseg-ct-fold-0-a1b2c/reporter", ['{"msg":"published","epoch":120}']);
  dc.addSubresource("pods/log", async ({ res, namespace, name, query }) => {
    const lines = logs.get(`${namespace}/${name}/${query.get("container")}`);
    if (!lines) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", code: 404, reason: "NotFound", message: `pods "${name}" not found` }));
      return;
    }
    res.writeHead(200, { "content-type": "text/plain" });
    // A followed log arrives line by line, as from a running container.
    for (const line of lines) {
      res.write(`${line}\n`);
      if (query.get("follow") === "true") await new Promise((r) => setTimeout(r, 20));
    }
    res.end();
  });
});

after(async () => {
  await dc?.stop();
});

describe("kubectl nnunet status", () => {
  it("lists the runs of the context's namespace, one line each", async () => {
    const r = await cli(["status"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.match(lines[0] as string, /^NAME +PHASE +FOLDS +EPOCHS +BEST-EMA +BATCH +GPU-H +SAVED +QUEUE +AGE$/);
    assert.match(r.stdout, /liver-low +Queued +0\/5 +- +- +- +- +- +#1 NoGpuCapacity/);
    assert.match(r.stdout, /totalseg-ct +Training +1\/3 +307\/750 +0\.8380 +12 +7\.7 +92\.3% +-/);
    assert.ok(!r.stdout.includes("other"), "runs of other namespaces stay out without -A");
  });

  it("with -A adds the namespace column and every namespace's runs", async () => {
    const r = await cli(["status", "-A"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^NAMESPACE +NAME/);
    assert.match(r.stdout, /team-b +other +Succeeded +2\/2/);
  });

  it("with RUN prints a table per fold: phase, attempt, epochs, EMA, batch, node, GPU-h, stop decision", async () => {
    const r = await cli(["status", "totalseg-ct"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^TrainingRun default\/totalseg-ct: Training \(Dataset501_TotalSegCT 3d_fullres/);
    assert.match(r.stdout, /Calibration: batch 12 \(Calibrated, plans 2\), 41\.3 samples\/s, NVIDIA-L40S, 250 epochs planned/);
    assert.match(r.stdout, /FOLD +PHASE +ATTEMPT +EPOCH +EMA +BEST-EMA +BATCH +NODE +GPU-H +STOP\/VALIDATION/);
    assert.match(r.stdout, /\n0 +Training +0 +120\/250 +0\.8123 +0\.8150 @118 +12 +l40s-1 +3\.0 +-/);
    assert.match(r.stdout, /\n1 +Converged +0 +187\/250 +0\.8601 +0\.8610 @184 +12 +l40s-1 +4\.7 +stopped @187 by Forecast: forecast gain/);
    assert.match(r.stdout, /\n2 +Queued +0 +-\/250/);
  });

  it("reads the namespace from --context and -n, like kubectl", async () => {
    const config = parse(readFileSync(dc.kubeconfigPath, "utf8"));
    config.contexts.push({ name: "team-b", context: { cluster: "devcluster", user: "admin", namespace: "team-b" } });
    const file = join(mkdtempSync(join(tmpdir(), "kc-")), "config");
    writeFileSync(file, stringify(config));
    const byContext = await cli(["status", "--kubeconfig", file, "--context", "team-b"], { KUBECONFIG: "" });
    assert.equal(byContext.code, 0, byContext.stderr);
    assert.match(byContext.stdout, /other +Succeeded/);
    const byFlag = await cli(["status", "-n", "team-b", "other"]);
    assert.match(byFlag.stdout, /TrainingRun team-b\/other: Succeeded/);
    const missing = await cli(["status", "--kubeconfig", file, "--context", "nope"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /context "nope" is not in .* \(contexts: devcluster, team-b\)/);
  });

  it("says which run is missing, where it looked and how to list runs; exit code 1", async () => {
    const r = await cli(["status", "nope"]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^error: TrainingRun "nope" not found in namespace "default": list runs with kubectl nnunet status -n default, or look in every namespace with -A\n$/);
  });
});

describe("kubectl nnunet stop", () => {
  it("patches the fold's Job once: the Manual decision annotation and suspend, as the early-stop controller does", async () => {
    const r = await cli(["stop", "totalseg-ct", "--fold", "0", "--reason", "good enough for the demo"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /fold 0 of TrainingRun default\/totalseg-ct: stop requested at epoch 120 \(best EMA 0\.8150 at epoch 118\); Job totalseg-ct-fold-0 suspended/);
    const job = await port.get<KubeObject & { spec: { suspend?: boolean } }>(Resources.jobs, { namespace: "default", name: "totalseg-ct-fold-0" });
    assert.equal(job.spec.suspend, true);
    const decision = StopDecision.parse(JSON.parse(job.metadata.annotations?.[ANNOTATION_STOP_DECISION] ?? "null"));
    assert.equal(decision.policy, "Manual");
    assert.equal(decision.epoch, 120);
    assert.equal(decision.bestEpoch, 118);
    assert.equal(decision.bestEma, 0.815);
    assert.equal(decision.reason, "good enough for the demo");
    const managers = (job.metadata as { managedFields?: Array<{ manager: string; operation: string }> }).managedFields ?? [];
    assert.deepEqual(managers.filter((m) => m.manager === "kubectl-nnunet").map((m) => m.operation), ["Update"], "one write by the plugin");
  });

  it("a second stop changes nothing, also through the real plugin", async () => {
    const before = await port.get(Resources.jobs, { namespace: "default", name: "totalseg-ct-fold-0" });
    const r = await plugin(["stop", "totalseg-ct", "--fold", "0"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /fold 0 of TrainingRun default\/totalseg-ct already has a stop decision \(Manual at epoch 120, .*\): nothing to do/);
    const afterStop = await port.get(Resources.jobs, { namespace: "default", name: "totalseg-ct-fold-0" });
    assert.equal(afterStop.metadata.resourceVersion, before.metadata.resourceVersion);
  });

  const refusals = [
    { name: "a fold that has converged", args: ["--fold", "1"], code: 1, message: /fold 1 of TrainingRun default\/totalseg-ct is Converged, not Training: its training is already over/ },
    { name: "a fold still queued", args: ["--fold", "2"], code: 1, message: /fold 2 of TrainingRun default\/totalseg-ct is Queued, not Training: it has not started/ },
    { name: "a fold the run does not have", args: ["--fold", "4"], code: 1, message: /fold 4 is not a fold of TrainingRun default\/totalseg-ct \(its folds: 0, 1, 2\)/ },
    { name: "a missing --fold", args: [], code: 2, message: /"stop" needs --fold N/ },
  ];
  for (const c of refusals) {
    it(`refuses ${c.name} with exit code ${c.code} and leaves the Job alone`, async () => {
      const r = await cli(["stop", "totalseg-ct", ...c.args]);
      assert.equal(r.code, c.code);
      assert.match(r.stderr, c.message);
      const job1 = await port.get<KubeObject & { spec: { suspend?: boolean } }>(Resources.jobs, { namespace: "default", name: "totalseg-ct-fold-1" });
      assert.notEqual(job1.spec.suspend, true);
    });
  }

  it("refuses a training fold whose Job is missing, naming the Job", async () => {
    const run = makeRun("no-job", { phase: "Training", folds: [convergedFold("1", 10), { fold: "0", phase: "Training", attempt: 0, epoch: 3 }] }, { folds: [0, 1] });
    await createRun(run);
    const r = await cli(["stop", "no-job", "--fold", "0"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /training Job no-job-fold-0 of fold 0 of TrainingRun default\/no-job not found/);
  });
});

describe("kubectl nnunet logs", () => {
  it("prints the nnU-Net container's log of the fold's training pod, found by its labels", async () => {
    const r = await cli(["logs", "totalseg-ct", "--fold", "0"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "Epoch 119\nYayy! New best EMA pseudo Dice: 0.815\nEpoch 120\n");
  });

  it("follows a container's log with -f -c until the pod's log ends, through the real plugin", async () => {
    const r = await plugin(["logs", "totalseg-ct", "--fold", "0", "-f", "-c", "reporter"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '{"msg":"published","epoch":120}\n');
  });

  it("says that a fold has no training pod yet; exit code 1", async () => {
    const r = await cli(["logs", "totalseg-ct", "--fold", "2"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no training pod of fold 2 of TrainingRun default\/totalseg-ct \(the fold is Queued\)/);
  });

  it("names the containers when -c names one the pod lacks", async () => {
    const r = await cli(["logs", "totalseg-ct", "--fold", "0", "-c", "trainer"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /container "trainer" is not in pod totalseg-ct-fold-0-a1b2c \(containers: nnunet, reporter\)/);
  });
});

describe("kubectl nnunet watch", () => {
  it("--once prints the view of the run and the queue without a TTY", async () => {
    const r = await cli(["watch", "totalseg-ct", "--once"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /totalseg-ct fold 0: Training, epoch 120\/250/);
    assert.match(r.stdout, /liver-low: queued #1 \(NoGpuCapacity/);
    assert.ok(!r.stdout.includes("\x1b"));
  });

  it("follows status changes and ends with the summary when the run succeeds", async () => {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 10_000);
    const watching = cli(["watch", "totalseg-ct"], {}, abort.signal);
    await new Promise((r) => setTimeout(r, 500));
    const done = succeededRun().status;
    await port.patchStatus(Resources.trainingRuns, { namespace: "default", name: "totalseg-ct" }, { status: { ...done, folds: [...(done?.folds ?? []), { fold: "2", phase: "Validated", attempt: 0, maxEpochs: 250, epoch: 249, validation: { checkpoint: "best", meanDice: 0.81 } }] } }, { type: "merge" });
    const r = await watching;
    clearTimeout(timer);
    assert.equal(abort.signal.aborted, false, "the watch ended by itself");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /totalseg-ct: Training\n/);
    assert.match(r.stdout, /totalseg-ct: Succeeded\n/);
    assert.match(r.stdout, /totalseg-ct summary: GPU-hours 9\.5 used of 50\.0 for the full schedule, saved 81\.0%/);
    assert.match(r.stdout, /totalseg-ct summary fold 2: best EMA - @ epoch -, validation Dice 0\.8100/);
  });

  it("on a TTY redraws the frame in place and shows the cursor again when it ends", async () => {
    const abort = new AbortController();
    const out = sink();
    let changed = false;
    const watching = watchRuns({
      port,
      namespace: "default",
      run: "liver-low",
      out,
      tty: true,
      width: () => 120,
      height: () => 40,
      now: () => new Date(),
      signal: abort.signal,
      coalesceMs: 10,
    });
    for (let i = 0; i < 200 && !out.text().includes("liver-low"); i++) await new Promise((r) => setTimeout(r, 10));
    const first = out.text();
    assert.ok(first.startsWith("\x1b[?25l\x1b[J"), JSON.stringify(first.slice(0, 20)));
    assert.match(first, /\x1b\[33mQueued\x1b\[0m/);
    await port.patchStatus(Resources.trainingRuns, { namespace: "default", name: "liver-low" }, { status: { phase: "Calibrating", queue: null } }, { type: "merge" });
    for (let i = 0; i < 200 && !changed; i++) {
      await new Promise((r) => setTimeout(r, 10));
      changed = out.text().includes("Calibrating");
    }
    abort.abort();
    assert.equal(await watching, "aborted");
    const redraw = out.text().slice(first.length);
    const lines = first.split("\n").length - 1;
    assert.ok(redraw.startsWith(`\x1b[${lines}F\x1b[J`), JSON.stringify(redraw.slice(0, 20)));
    assert.ok(redraw.endsWith("\x1b[?25h"));
  });

  it("a missing run fails at once with exit code 1", async () => {
    const r = await cli(["watch", "nope"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /TrainingRun "nope" not found in namespace "default"/);
  });

  it("Ctrl-C ends the real plugin's watch cleanly with exit code 0", async () => {
    let sent = false;
    const r = await plugin(["watch"], {
      onStdout: (text, child) => {
        if (!sent && text.includes("liver-low")) {
          sent = true;
          child.kill("SIGINT");
        }
      },
    });
    assert.ok(sent, r.stderr);
    assert.equal(r.code, 0, r.stderr);
  });
});

describe("kubectl finds the plugin", () => {
  it("kubectl plugin list shows kubectl-nnunet from the bin directory", async () => {
    const child = spawn("kubectl", ["plugin", "list"], { env: { ...process.env, PATH: [kubectlDir, binDir, "/usr/bin", "/bin"].join(delimiter) } });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    await new Promise((r) => child.on("close", r));
    assert.ok(out.includes(join(binDir, "kubectl-nnunet")), out);
  });
});
