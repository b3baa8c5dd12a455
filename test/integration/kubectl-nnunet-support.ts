import { spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { LABEL_FOLD, LABEL_ROLE, LABEL_RUN, type TrainingRun } from "@nnunet-operator/api";
import { runCli } from "@nnunet-operator/cli";
import { queuedRun, succeededRun, trainingRun } from "@nnunet-operator/cli/testing";
import { assertNoUnexpectedFailures, type DevCluster, startDevCluster } from "@nnunet-operator/devcluster";
import { ClientPort, type KubeObject, Resources } from "@nnunet-operator/kube";

// The world of the kubectl-nnunet integration tests: a devcluster with the real CRD, runs
// whose statuses are written through the status subresource as the operator would, Jobs
// and pods created by hand (no Job controller or kubelet here), and pods/log served by a
// test handler. The plugin runs in process (runCli) or as the real bin through kubectl.

export const root = resolve(import.meta.dirname, "../..");
export const binDir = join(root, "node_modules/.bin");
export const kubectlDir = join(root, ".tools/bin");

export interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

export function sink(): { write(text: string): boolean; text: () => string } {
  let text = "";
  return { write: (t: string) => ((text += t), true), text: () => text };
}

function job(run: string, fold: string): KubeObject {
  const labels = { [LABEL_RUN]: run, [LABEL_FOLD]: fold, [LABEL_ROLE]: "train" };
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: `${run}-fold-${fold}`, namespace: "default", labels },
    spec: {
      template: {
        metadata: { labels },
        spec: { restartPolicy: "Never", containers: [{ name: "nnunet", image: "nnunet" }] },
      },
    },
  };
}

function pod(name: string, run: string, fold: string, role = "train"): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "default", labels: { [LABEL_RUN]: run, [LABEL_FOLD]: fold, [LABEL_ROLE]: role } },
    spec: {
      containers: [
        { name: "nnunet", image: "nnunet" },
        { name: "reporter", image: "reporter" },
      ],
    },
  };
}

export class CliWorld {
  private constructor(
    readonly dc: DevCluster,
    readonly port: ClientPort,
  ) {}

  /** default: topcow-ctamra (fold 0 training, 1 converged, 2 queued) and liver-low (queued); team-b: other (succeeded). */
  static async start(): Promise<CliWorld> {
    const dc = await startDevCluster({ manifests: [join(root, "crds/trainingruns.nnunet-operator.io.yaml")] });
    const kc = new KubeConfig();
    kc.loadFromFile(dc.kubeconfigPath);
    const world = new CliWorld(dc, new ClientPort(kc, { fieldManager: "test" }));
    const { port } = world;
    await port.create(Resources.namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name: "team-b" } });
    await world.createRun(trainingRun());
    await world.createRun(queuedRun("liver-low"));
    const done = succeededRun();
    await world.createRun({ ...done, metadata: { ...done.metadata, namespace: "team-b", name: "other" } });
    await port.create(Resources.jobs, job("topcow-ctamra", "0"));
    await port.create(Resources.jobs, job("topcow-ctamra", "1"));
    await port.create(Resources.pods, pod("topcow-ctamra-calibrate-x1", "topcow-ctamra", "0", "calibrate"));
    await port.create(Resources.pods, pod("topcow-ctamra-fold-0-a1b2c", "topcow-ctamra", "0"));
    const logs = new Map<string, string[]>([
      [
        "default/topcow-ctamra-fold-0-a1b2c/nnunet",
        ["Epoch 119", "Yayy! New best EMA pseudo Dice: 0.815", "Epoch 120"],
      ],
      ["default/topcow-ctamra-fold-0-a1b2c/reporter", ['{"msg":"published","epoch":120}']],
      ["default/topcow-ctamra-calibrate-x1/nnunet", ["calibration log: not a training pod"]],
    ]);
    dc.addSubresource("pods/log", async ({ res, namespace, name, query }) => {
      const lines = logs.get(`${namespace}/${name}/${query.get("container")}`);
      if (!lines) {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            kind: "Status",
            apiVersion: "v1",
            status: "Failure",
            code: 404,
            reason: "NotFound",
            message: `pods "${name}" not found`,
          }),
        );
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
    return world;
  }

  async createRun(run: TrainingRun): Promise<void> {
    const { status, metadata, ...object } = run;
    const key = { namespace: metadata.namespace as string, name: metadata.name as string };
    await this.port.create(Resources.trainingRuns, { ...object, metadata: key });
    if (status) await this.port.patchStatus(Resources.trainingRuns, key, { status }, { type: "merge" });
  }

  /** The plugin in process, with KUBECONFIG pointing at the devcluster. */
  async cli(
    args: string[],
    env: Record<string, string> = {},
    signal: AbortSignal = new AbortController().signal,
  ): Promise<Captured> {
    const stdout = sink();
    const stderr = sink();
    const code = await runCli(args, { env: { KUBECONFIG: this.dc.kubeconfigPath, ...env }, stdout, stderr, signal });
    return { code, stdout: stdout.text(), stderr: stderr.text() };
  }

  /** `kubectl nnunet ARGS` with kubectl and the bin directory on PATH, from an unrelated directory. */
  plugin(
    args: string[],
    options: { onStdout?: (text: string, child: ReturnType<typeof spawn>) => void } = {},
  ): Promise<Captured> {
    const child = spawn("kubectl", ["nnunet", ...args], {
      cwd: tmpdir(),
      env: {
        ...process.env,
        KUBECONFIG: this.dc.kubeconfigPath,
        PATH: [kubectlDir, binDir, process.env.PATH].join(delimiter),
      },
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

  async stop(): Promise<void> {
    await this.dc.stop();
    assertNoUnexpectedFailures(this.dc);
  }
}
