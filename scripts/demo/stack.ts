import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import {
  assertNoUnexpectedFailures,
  type DevCluster,
  type KubeObject,
  startDevCluster,
} from "@nnunet-operator/devcluster";
import type { Service } from "./processes.js";
import { startPrometheus } from "./prometheus.js";

// The whole system on one machine, installed the way users install it: the devcluster
// (simulated L40S nodes, scheduler, Job controller, process kubelet) in RBAC mode, then
// `helm install` of charts/nnunet-operator with the devcluster's values file beside this
// script. The kubelet runs the chart's own workloads: the NATS StatefulSet (Debian's
// nats-server with the chart's configuration), the operator and early-stop Deployments
// (their mains, with in-cluster configuration from their ServiceAccount token), and the
// training pods with their reporter sidecars. Nothing of ours is started by hand. Shared by
// `npm run demo`, test/e2e and `npm run bench:install`.

export const repoRoot = resolve(import.meta.dirname, "../..");
export const SYSTEM_NS = "nnunet-system";
export const RELEASE = "nnunet-operator";
export const CHART = join(repoRoot, "charts/nnunet-operator");
export const DEVCLUSTER_VALUES = join(repoRoot, "scripts/demo/values-devcluster.yaml");
const run = promisify(execFile);

export interface StackOptions {
  /** Node spec for the devcluster (default: four L40S nodes of 4 GPUs and one CPU node). */
  nodes?: string;
  /** Recorded training seconds the simulated nnU-Net replays per wall-clock second. */
  timeScale?: number;
  operatorReplicas?: number;
  /** Also run Prometheus scraping the operator and the early-stop pods. */
  prometheus?: boolean;
  /** Claims seeded with the demo's preprocessed datasets, in the namespace of the samples. */
  claims?: { namespace: string; name: string }[];
  /** Where the kubeconfig and the simulated volumes go (default: a new temporary folder). */
  workDir?: string;
  logLevel?: string;
  /** Keep the simulated volumes (the claim's plans, logs, checkpoints) after stop; default false. */
  keepData?: boolean;
  /** Extra `helm install` arguments (`--set key=value`). */
  helmArgs?: string[];
}

export interface Stack {
  dc: DevCluster;
  workDir: string;
  dataRoot: string;
  /** The admin kubeconfig (for kubectl, helm and the live view). */
  kubeconfigPath: string;
  /** Seconds `helm install --wait` took (every pod Ready). */
  installSeconds: number;
  operatorMetrics: string[];
  earlyStopMetrics: string[];
  prometheusUrl: string | undefined;
  /** helm with this cluster's kubeconfig; rejects with helm's stderr. */
  helm(args: string[], timeoutMs?: number): Promise<string>;
  /** kubectl with this cluster's kubeconfig. */
  kubectl(args: string[], timeoutMs?: number): Promise<string>;
  /** Running pods of a chart component (operator, early-stop, nats). */
  pods(component: string): KubeObject[];
  /** Pod phases, restarts and the last log lines of the chart's pods, for failure messages. */
  diagnostics(): string;
  /** Stops everything this stack started, the pods' processes included; rejects with UnexpectedControllerFailuresError when a devcluster controller failed unexpectedly. */
  stop(): Promise<void>;
}

export function toolPath(name: string): string {
  const local = join(repoRoot, ".tools/bin", name);
  return existsSync(local) ? local : name;
}

const COMPONENT_LABEL = "app.kubernetes.io/component";

export async function startStack(o: StackOptions = {}): Promise<Stack> {
  const workDir = o.workDir ?? mkdtempSync(join(tmpdir(), "nnunet-demo-"));
  // Processes beside the cluster (Prometheus) log here; the pods' logs are in the data root (kubectl logs).
  mkdirSync(join(workDir, "logs"), { recursive: true });
  const dataRoot = join(workDir, "data");
  let dc: DevCluster | undefined;
  let prometheus: Service | undefined;

  const teardown = async (): Promise<void> => {
    await prometheus?.stop();
    // The kubelet kills every pod's processes; the API server goes with them.
    await dc?.stop();
    if (!o.keepData) rmSync(dataRoot, { recursive: true, force: true });
  };
  // A controller of the devcluster that failed in the background (not a conflict) is a
  // bug in the devcluster or a departure from Kubernetes: the caller hears of it.
  const stop = async (): Promise<void> => {
    await teardown();
    if (dc) assertNoUnexpectedFailures(dc);
  };

  try {
    dc = await startDevCluster({
      rbac: true,
      kubeconfigPath: join(workDir, "kubeconfig"),
      nodes: o.nodes ?? "4xL40S:4,1xcpu",
      // A 4 x L40S server has about this much CPU and memory; the sample folds ask for 16 CPUs each.
      nodeShape: { cpu: "64", memory: "512Gi" },
      dataRoot,
      ...(o.timeScale !== undefined && { timeScale: o.timeScale }),
      seedClaims: (o.claims ?? [{ namespace: "default", name: "nnunet-data" }]).map((c) => ({
        namespace: c.namespace,
        name: c.name,
      })),
    });
    const cluster = dc;
    const env = {
      ...process.env,
      KUBECONFIG: cluster.kubeconfigPath,
      HELM_CACHE_HOME: join(workDir, "helm/cache"),
      HELM_CONFIG_HOME: join(workDir, "helm/config"),
      HELM_DATA_HOME: join(workDir, "helm/data"),
    };
    const tool =
      (name: string) =>
      async (args: string[], timeoutMs = 300_000): Promise<string> => {
        try {
          return (await run(toolPath(name), args, { env, timeout: timeoutMs, maxBuffer: 16 << 20 })).stdout;
        } catch (error) {
          const e = error as { stderr?: string; stdout?: string; message: string };
          throw new Error(`${name} ${args.join(" ")} failed: ${(e.stderr || e.stdout || e.message).trim()}`, {
            cause: error,
          });
        }
      };
    const helm = tool("helm");
    const kubectl = tool("kubectl");
    const pods = (component: string): KubeObject[] =>
      [...cluster.cluster.store.scan("pods", SYSTEM_NS)]
        .map((e) => e.object)
        .filter((p) => p.metadata.labels?.[COMPONENT_LABEL] === component && !p.metadata.deletionTimestamp);
    const diagnostics = (): string =>
      [...cluster.cluster.store.scan("pods", SYSTEM_NS)]
        .map((e) => {
          const st = (e.object["status"] ?? {}) as {
            phase?: string;
            containerStatuses?: { name: string; restartCount: number; ready: boolean }[];
          };
          const uid = e.object.metadata.uid!;
          const logs = (st.containerStatuses ?? []).map((c) => {
            const file = join(dataRoot, "pods", uid, "logs", c.name, `${c.restartCount}.log`);
            const tail = existsSync(file) ? readFileSync(file, "utf8").split("\n").slice(-8).join("\n") : "";
            return `  ${c.name} ready=${c.ready} restarts=${c.restartCount}\n${tail}`;
          });
          return `--- ${e.name} ${st.phase ?? ""}\n${logs.join("\n")}`;
        })
        .join("\n");

    const replicas = o.operatorReplicas ?? 2;
    const started = Date.now();
    const levels = o.logLevel
      ? ["--set", `operator.logLevel=${o.logLevel}`, "--set", `earlyStop.logLevel=${o.logLevel}`]
      : [];
    await helm(
      [
        "install",
        RELEASE,
        CHART,
        "--namespace",
        SYSTEM_NS,
        "--create-namespace",
        "--values",
        DEVCLUSTER_VALUES,
        "--set",
        `operator.replicas=${replicas}`,
        ...levels,
        ...(o.helmArgs ?? []),
        "--wait",
        "--timeout",
        "240s",
      ],
      300_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${diagnostics()}`, { cause: error });
    });
    const installSeconds = (Date.now() - started) / 1000;
    const metricsOf = (component: string) =>
      pods(component).map((p) => `${(p["status"] as { podIP: string }).podIP}:8080`);
    const operatorMetrics = metricsOf("operator");
    const earlyStopMetrics = metricsOf("early-stop");

    let prometheusUrl: string | undefined;
    if (o.prometheus) {
      // Prometheus runs beside the cluster, as a scraper outside it would, and reaches the pods on their IPs.
      const p = await startPrometheus({
        workDir,
        targets: { "nnunet-operator": operatorMetrics, "nnunet-operator-early-stop": earlyStopMetrics },
      });
      prometheus = p.service;
      prometheusUrl = p.url;
    }
    return {
      dc,
      workDir,
      dataRoot,
      kubeconfigPath: dc.kubeconfigPath,
      installSeconds,
      operatorMetrics,
      earlyStopMetrics,
      prometheusUrl,
      helm,
      kubectl,
      pods,
      diagnostics,
      stop,
    };
  } catch (err) {
    await teardown();
    // Controller failures may be why the start failed: both reach the caller.
    try {
      if (dc) assertNoUnexpectedFailures(dc);
    } catch (failures) {
      throw new AggregateError([err, failures], "the stack failed to start");
    }
    throw err;
  }
}

/** Removes a work folder the stack made (kubeconfig, helm's folders and simulated volumes). */
export function removeWorkDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export { chartRbac, operatorConfig } from "./chart-objects.js";
