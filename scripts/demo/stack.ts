import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parse as parseYaml, parseAllDocuments, stringify } from "yaml";
import { startNatsServer, type NatsServerHandle } from "@nnunet-operator/bus/testing";
import { buildKubeconfig, type DevCluster, type KubeObject, selfSignedCertificate, startDevCluster } from "@nnunet-operator/devcluster";
import { freePort, type Service, spawnService, waitHttpOk } from "./processes.js";
import { startPrometheus } from "./prometheus.js";

// The whole system on one machine, as the chart deploys it: the devcluster (simulated
// L40S nodes, scheduler, Job controller, process kubelet) in RBAC mode with the chart's
// ServiceAccounts and roles (deploy/manifests, rendered from the chart), a real nats-server
// with JetStream, the operator and the early-stop controller as their own processes with
// the chart's environment and their ServiceAccount's token. The reporter runs as the
// sidecar of each training pod, through the kubelet's image map. Shared by `npm run demo`
// and test/e2e.

export const repoRoot = resolve(import.meta.dirname, "../..");
export const SYSTEM_NS = "nnunet-system";
const RBAC_KINDS = new Set(["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]);

export interface StackOptions {
  /** Node spec for the devcluster (default: four L40S nodes of 4 GPUs and one CPU node). */
  nodes?: string;
  /** Recorded training seconds the simulated nnU-Net replays per wall-clock second. */
  timeScale?: number;
  operatorReplicas?: number;
  /** Also run Prometheus scraping the operator and the early-stop controller. */
  prometheus?: boolean;
  /** Claims seeded with the demo's preprocessed datasets, in the namespace of the samples. */
  claims?: { namespace: string; name: string }[];
  /** Where logs, kubeconfigs and the simulated volumes go (default: a new temporary folder). */
  workDir?: string;
  logLevel?: string;
  /** Keep the simulated volumes (the claim's plans, logs, checkpoints) after stop; default false. */
  keepData?: boolean;
}

export interface Stack {
  dc: DevCluster;
  nats: NatsServerHandle;
  workDir: string;
  dataRoot: string;
  /** The admin kubeconfig (for kubectl and the live view). */
  kubeconfigPath: string;
  services: Service[];
  operatorMetrics: string[];
  earlyStopMetrics: string;
  prometheusUrl: string | undefined;
  /** Stops everything this stack started, the training pods' processes included. */
  stop(): Promise<void>;
}

/** The chart's RBAC objects and namespace, as deploy/manifests renders them. */
export function chartRbac(): KubeObject[] {
  const dir = join(repoRoot, "deploy/manifests");
  return readdirSync(dir)
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), "utf8")).map((d) => d.toJS() as KubeObject))
    .filter((o) => o && RBAC_KINDS.has(o.kind ?? ""));
}

/** The operator's config.yaml from the chart, pointed at this machine's NATS and the simulated backend. */
export function operatorConfig(natsUrl: string): string {
  const cm = parseYaml(readFileSync(join(repoRoot, "deploy/manifests/configmap-nnunet-operator-config.yaml"), "utf8")) as { data: Record<string, string> };
  const config = parseYaml(cm.data["config.yaml"] ?? "") as Record<string, any>;
  config["nats"] = { ...config["nats"], url: natsUrl };
  config["calibration"] = { ...config["calibration"], backend: "simulated" };
  // Restarts in seconds rather than minutes: the simulated epochs are seconds long.
  config["restartBackoff"] = { initialSeconds: 1, maxSeconds: 10 };
  return stringify(config);
}

export async function startStack(o: StackOptions = {}): Promise<Stack> {
  const workDir = o.workDir ?? mkdtempSync(join(tmpdir(), "nnunet-demo-"));
  const logs = join(workDir, "logs");
  mkdirSync(logs, { recursive: true });
  const dataRoot = join(workDir, "data");
  const services: Service[] = [];
  let dc: DevCluster | undefined;
  let nats: NatsServerHandle | undefined;
  let prometheus: Service | undefined;

  const stop = async (): Promise<void> => {
    // Controllers first, so that nothing reacts to the cluster going away.
    await Promise.all([...services].reverse().map((s) => s.stop()));
    await prometheus?.stop();
    await dc?.stop();
    await nats?.stop();
    // The simulated volumes and pod folders go; the logs stay for a look afterwards.
    if (!o.keepData) rmSync(dataRoot, { recursive: true, force: true });
  };

  try {
    dc = await startDevCluster({
      rbac: true,
      kubeconfigPath: join(workDir, "kubeconfig"),
      manifests: [join(repoRoot, "crds/trainingruns.nnunet-operator.io.yaml")],
      nodes: o.nodes ?? "4xL40S:4,1xcpu",
      // A 4 x L40S server has about this much CPU and memory; the sample folds ask for 16 CPUs each.
      nodeShape: { cpu: "64", memory: "512Gi" },
      dataRoot,
      ...(o.timeScale !== undefined && { timeScale: o.timeScale }),
      seedClaims: (o.claims ?? [{ namespace: "default", name: "nnunet-data" }]).map((c) => ({ namespace: c.namespace, name: c.name })),
    });
    for (const obj of chartRbac()) {
      if (obj.kind === "Namespace" && dc.cluster.store.get("namespaces", undefined, obj.metadata.name ?? "")) continue;
      await dc.cluster.create(obj);
    }
    nats = await startNatsServer();

    const tsx = ["--import", "tsx"];
    const kubeconfigFor = (sa: string): string => {
      const path = join(workDir, `kubeconfig-${sa}`);
      writeFileSync(path, buildKubeconfig(dc!.url, dc!.serviceAccountToken(SYSTEM_NS, sa), {}, dc!.caPem), { mode: 0o600 });
      return path;
    };
    const baseEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: o.logLevel ?? "info", POD_NAMESPACE: SYSTEM_NS, NATS_URL: nats.url };

    // The operator: its config file, webhook serving certificate (the chart's cert-manager
    // Certificate), and the environment of the chart's Deployment.
    const configPath = join(workDir, "operator-config.yaml");
    writeFileSync(configPath, operatorConfig(nats.url));
    const certDir = join(workDir, "operator-tls");
    mkdirSync(certDir, { recursive: true });
    const cert = selfSignedCertificate("nnunet-operator-webhook");
    writeFileSync(join(certDir, "tls.crt"), cert.certPem);
    writeFileSync(join(certDir, "tls.key"), cert.keyPem, { mode: 0o600 });
    const operatorKubeconfig = kubeconfigFor("nnunet-operator");
    const operatorMetrics: string[] = [];
    for (let i = 0; i < (o.operatorReplicas ?? 1); i++) {
      const [httpPort, webhookPort] = [await freePort(), await freePort()];
      const name = `nnunet-operator-${i}`;
      const service = spawnService({
        name,
        command: process.execPath,
        args: [...tsx, join(repoRoot, "services/operator/src/main.ts")],
        cwd: repoRoot,
        logFile: join(logs, `${name}.log`),
        env: {
          ...baseEnv,
          KUBECONFIG: operatorKubeconfig,
          POD_NAME: name,
          NNUNET_OPERATOR_CONFIG: configPath,
          HTTP_PORT: String(httpPort),
          WEBHOOK_PORT: String(webhookPort),
          WEBHOOK_CERT_DIR: certDir,
          STATUS_MIN_INTERVAL_SECONDS: "2",
        },
      });
      services.push(service);
      operatorMetrics.push(`127.0.0.1:${httpPort}`);
    }

    const earlyStopPort = await freePort();
    const earlyStop = spawnService({
      name: "nnunet-operator-early-stop",
      command: process.execPath,
      args: [...tsx, join(repoRoot, "services/early-stop/src/main.ts")],
      cwd: repoRoot,
      logFile: join(logs, "early-stop.log"),
      env: { ...baseEnv, KUBECONFIG: kubeconfigFor("nnunet-operator-early-stop"), POD_NAME: "nnunet-operator-early-stop-0", HTTP_PORT: String(earlyStopPort), HTTP_HOST: "127.0.0.1", TICK_SECONDS: "5" },
    });
    services.push(earlyStop);
    await Promise.all([
      ...operatorMetrics.map((m, i) => waitHttpOk(`http://${m}/healthz`, services[i]!)),
      waitHttpOk(`http://127.0.0.1:${earlyStopPort}/healthz`, earlyStop),
    ]);

    let prometheusUrl: string | undefined;
    if (o.prometheus) {
      const p = await startPrometheus({ workDir, targets: { "nnunet-operator": operatorMetrics, "nnunet-operator-early-stop": [`127.0.0.1:${earlyStopPort}`] } });
      prometheus = p.service;
      prometheusUrl = p.url;
    }
    return { dc, nats, workDir, dataRoot, kubeconfigPath: dc.kubeconfigPath, services, operatorMetrics, earlyStopMetrics: `127.0.0.1:${earlyStopPort}`, prometheusUrl, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Removes a work folder the stack made (logs and simulated volumes). */
export function removeWorkDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
