// Shared setup of the operator integration tests: a devcluster in RBAC mode with the CRD
// and the operator's RBAC exactly as the chart renders it, a real nats-server, operators
// running with the chart's ServiceAccount token, and a few in-process stand-ins for what
// devcluster part 2 will add (Job controller, scheduler, kubelet): they write pod and Job
// status through the cluster's registry, the way those controllers would.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { Registry } from "prom-client";
import { parse as parseYaml, stringify } from "yaml";
import { connectBus, ensureEpochStream } from "@nnunet-operator/bus";
import { startNatsServer, type NatsServerHandle } from "@nnunet-operator/bus/testing";
import {
  assertNoUnexpectedFailures,
  bindPod,
  type DevCluster,
  type DevClusterOptions,
  type KubeObject,
  startDevCluster,
} from "@nnunet-operator/devcluster";
import { ClientPort, type RequestInfo } from "@nnunet-operator/kube";
import { Operator, parseOperatorConfig, type OperatorConfigInput } from "@nnunet-operator/operator/runtime";
import { makeCalibrationResult } from "@nnunet-operator/operator/testing";
import { chartRbac, operatorConfig } from "../../scripts/demo/stack.js";
import { NAMESPACE, parseManifests, repoRoot, runOk, templateArgs } from "../chart/render.js";

export const CRD = join(repoRoot, "crds/trainingruns.nnunet-operator.io.yaml");
export const OPERATOR_SA = "nnunet-operator";
export const RUN_NS = "team-a";
const RBAC_KINDS = new Set(["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]);

/** One service's RBAC objects from `helm template` of the chart (with `set` values): what it runs with in production. */
export function renderedRbac(component: "operator" | "early-stop", set: Record<string, string> = {}): KubeObject[] {
  return parseManifests(runOk("helm", templateArgs({ set }))).filter(
    (o) => RBAC_KINDS.has(o.kind) && o.metadata.labels?.["app.kubernetes.io/component"] === component,
  ) as unknown as KubeObject[];
}

/** A kubeconfig for the devcluster that authenticates with a bearer token. */
export function tokenKubeConfig(dc: DevCluster, user: string, token: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "dc", server: dc.url, caData: Buffer.from(dc.caPem ?? "").toString("base64") }],
    users: [{ name: user, token }],
    contexts: [{ name: user, cluster: "dc", user }],
    currentContext: user,
  });
  return kc;
}

/** A kubeconfig for the devcluster as one of the chart's ServiceAccounts (its token, its RBAC). */
export const serviceAccountKubeConfig = (dc: DevCluster, serviceAccount: string, namespace = NAMESPACE) =>
  tokenKubeConfig(dc, serviceAccount, dc.serviceAccountToken(namespace, serviceAccount));

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value (not undefined/false) or the time is up. */
export async function eventually<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await sleep(50);
  }
}

export interface RunningOperator {
  operator: Operator;
  identity: string;
  requests: RequestInfo[];
  stop(): Promise<void>;
}

export interface Env {
  dc: DevCluster;
  nats: NatsServerHandle;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  startOperator(options?: {
    config?: OperatorConfigInput;
    identity?: string;
    token?: string;
  }): Promise<RunningOperator>;
  stop(): Promise<void>;
}

export async function startEnv(): Promise<Env> {
  const dc = await startDevCluster({ rbac: true, manifests: [CRD] });
  const c = dc.cluster;
  for (const name of [NAMESPACE, RUN_NS]) await c.create({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
  for (const o of renderedRbac("operator")) await c.create(o);
  const nats = await startNatsServer();
  const nc = await connectBus({ servers: nats.url, name: "operator-test" });
  const jsm = await jetstreamManager(nc);
  await ensureEpochStream(jsm, { maxAgeMs: 3_600_000, maxBytes: 64 * 1024 * 1024, duplicateWindowMs: 60_000 });
  const js = jetstream(nc);
  const running: RunningOperator[] = [];

  async function startOperator(
    o: { config?: OperatorConfigInput; identity?: string; token?: string } = {},
  ): Promise<RunningOperator> {
    const kc = tokenKubeConfig(dc, "operator", o.token ?? dc.serviceAccountToken(NAMESPACE, OPERATOR_SA));
    const requests: RequestInfo[] = [];
    const port = new ClientPort(kc, { onRequest: (r) => requests.push(r) });
    const config = parseOperatorConfig(
      JSON.stringify({
        namespace: NAMESPACE,
        nats: { url: nats.url },
        restartBackoff: { initialSeconds: 0, maxSeconds: 0 },
        ...o.config,
      }),
    );
    const identity = o.identity ?? `operator-${randomBytes(3).toString("hex")}`;
    const operator = new Operator({
      port,
      config,
      logger: pino({ level: process.env.OPERATOR_TEST_LOG ?? "silent" }).child({ identity }),
      registry: new Registry(),
      identity,
      leaderElection: { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 300 },
      statusMinIntervalSeconds: 1,
      waitingResyncSeconds: 5,
      bus: { nc, js },
    });
    const controller = new AbortController();
    const done = operator.run(controller.signal);
    const handle: RunningOperator = {
      operator,
      identity,
      requests,
      stop: async () => {
        controller.abort();
        await done;
        running.splice(running.indexOf(handle), 1);
      },
    };
    running.push(handle);
    return handle;
  }

  return {
    dc,
    nats,
    nc,
    js,
    jsm,
    startOperator,
    stop: async () => {
      for (const r of [...running]) await r.stop();
      await nc.drain();
      await nats.stop();
      await dc.stop();
      assertNoUnexpectedFailures(dc);
    },
  };
}

// ---- every controller real: the devcluster's kubelet runs the pods as processes ----

/**
 * A rising learning curve in the format of test/fixtures/nnunet-logs/curves (EMA pseudo
 * Dice, PolyLR, fixed epoch time), for the simulated nnU-Net to replay.
 */
export function writeRisingCurve(path: string, epochs: number, epochSeconds: number): void {
  const rows = ["epoch,train_loss,val_loss,pseudo_dice_mean,pseudo_dice_per_class,ema_pseudo_dice,epoch_time_s,lr"];
  let ema = 0;
  for (let e = 0; e < epochs; e++) {
    const dice = Math.round((0.9 - 0.5 * Math.exp(-e / 15)) * 1e4) / 1e4;
    ema = e === 0 ? dice : 0.9 * ema + 0.1 * dice;
    const lr = Math.round(0.01 * (1 - e / epochs) ** 0.9 * 1e5) / 1e5;
    rows.push(
      `${e},${(-0.2 - e / 100).toFixed(4)},${(-0.1 - e / 120).toFixed(4)},${dice},${dice};${dice},${ema.toFixed(6)},${epochSeconds},${lr}`,
    );
  }
  writeFileSync(path, `${rows.join("\n")}\n`);
}

/**
 * The devcluster in RBAC mode with the chart's ServiceAccounts and roles, one simulated
 * L40S node (64 CPUs, 512Gi, 4 GPUs) whose kubelet runs pods as processes, the simulated
 * nnU-Net replaying a rising curve for Dataset003_Liver at time scale 1, and each of
 * `namespaces` with its `nnunet-data` claim (seeded with the demo datasets).
 */
export async function startProcessCluster(o: {
  work: string;
  namespaces: string[];
  curve: { epochs: number; epochSeconds: number };
  containerEnv: Record<string, string>;
  imageMap?: DevClusterOptions["imageMap"];
}): Promise<DevCluster> {
  const curve = join(o.work, "curve.csv");
  writeRisingCurve(curve, o.curve.epochs, o.curve.epochSeconds);
  writeFileSync(join(o.work, "curves.json"), JSON.stringify({ Dataset003_Liver: curve }));
  const dc = await startDevCluster({
    rbac: true,
    manifests: [CRD],
    nodes: "1xL40S:4",
    nodeShape: { cpu: "64", memory: "512Gi" },
    dataRoot: join(o.work, "data"),
    timeScale: 1,
    curveMap: join(o.work, "curves.json"),
    ...(o.imageMap && { imageMap: o.imageMap }),
    containerEnv: o.containerEnv,
    seedClaims: o.namespaces.map((namespace) => ({ namespace, name: "nnunet-data", create: false })),
  });
  for (const obj of chartRbac()) {
    if (obj.kind === "Namespace" && dc.cluster.store.get("namespaces", undefined, obj.metadata.name ?? "")) continue;
    await dc.cluster.create(obj);
  }
  for (const name of o.namespaces) {
    await dc.cluster.create({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
    await addClaim(dc, "nnunet-data", name);
  }
  return dc;
}

/**
 * The operator composed as in production (main.ts) with the chart's configuration, edited
 * by `configure`, and the chart's ServiceAccount token; stopped by the returned function.
 */
export async function startChartOperator(
  dc: DevCluster,
  natsUrl: string,
  o: { configure?: (raw: Record<string, unknown>) => void; waitingResyncSeconds: number },
): Promise<{ nc: NatsConnection; stop(): Promise<void> }> {
  const nc = await connectBus({ servers: natsUrl, name: "operator" });
  const raw = parseYaml(operatorConfig(natsUrl)) as Record<string, unknown>;
  o.configure?.(raw);
  const identity = "operator-0";
  const operator = new Operator({
    port: new ClientPort(serviceAccountKubeConfig(dc, OPERATOR_SA)),
    config: parseOperatorConfig(stringify(raw)),
    logger: pino({ level: process.env.OPERATOR_TEST_LOG ?? "silent" }).child({ identity }),
    registry: new Registry(),
    identity,
    leaderElection: { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300 },
    statusMinIntervalSeconds: 1,
    waitingResyncSeconds: o.waitingResyncSeconds,
    bus: { nc, js: jetstream(nc) },
  });
  const abort = new AbortController();
  const done = operator.run(abort.signal);
  return {
    nc,
    stop: async () => {
      abort.abort();
      await done;
      await nc.drain();
    },
  };
}

// ---- the cluster's other controllers, played by the test ----

const def = (dc: DevCluster, apiVersion: string, kind: string) => dc.cluster.resourceFor(apiVersion, kind);
const now = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");

export async function addNode(
  dc: DevCluster,
  name: string,
  opts: { gpus?: number; product?: string } = {},
): Promise<void> {
  await dc.cluster.create({
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      labels: { "nvidia.com/gpu.product": opts.product ?? "NVIDIA-L40S", "kubernetes.io/hostname": name },
    },
    spec: { taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }] },
    status: {
      allocatable: { "nvidia.com/gpu": String(opts.gpus ?? 4), cpu: "64", memory: "512Gi" },
      capacity: { "nvidia.com/gpu": String(opts.gpus ?? 4), cpu: "64", memory: "512Gi" },
      conditions: [
        {
          type: "Ready",
          status: "True",
          lastHeartbeatTime: now(),
          lastTransitionTime: now(),
          reason: "KubeletReady",
          message: "kubelet is posting ready status",
        },
      ],
    },
  });
}

export async function addClaim(dc: DevCluster, name = "nnunet-data", namespace = RUN_NS): Promise<void> {
  await dc.cluster.create({
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name, namespace },
    spec: { accessModes: ["ReadWriteMany"], resources: { requests: { storage: "100Gi" } } },
    status: { phase: "Bound" },
  });
}

export function makeRunObject(name: string, spec: Record<string, unknown> = {}, namespace = RUN_NS): KubeObject {
  return {
    apiVersion: "nnunet-operator.io/v1alpha1",
    kind: "TrainingRun",
    metadata: { name, namespace },
    spec: {
      dataset: "Dataset003_Liver",
      configuration: "3d_fullres",
      storage: { claimName: "nnunet-data" },
      batchSize: { mode: "Fixed", value: 4 },
      ...spec,
    },
  };
}

export async function createRun(dc: DevCluster, name: string, spec: Record<string, unknown> = {}): Promise<KubeObject> {
  return dc.cluster.create(makeRunObject(name, spec));
}

export function getRun(dc: DevCluster, name: string, namespace = RUN_NS): KubeObject & { status?: any } {
  return dc.cluster.registry.get(
    def(dc, "nnunet-operator.io/v1alpha1", "TrainingRun"),
    namespace,
    name,
  ) as KubeObject & { status?: any };
}

export function getJob(
  dc: DevCluster,
  name: string,
  namespace = RUN_NS,
): (KubeObject & { spec?: any; status?: any }) | undefined {
  try {
    return dc.cluster.registry.get(def(dc, "batch/v1", "Job"), namespace, name) as KubeObject & { spec?: any };
  } catch {
    return undefined;
  }
}

export function listObjects(
  dc: DevCluster,
  apiVersion: string,
  kind: string,
  namespace = RUN_NS,
): (KubeObject & { spec?: any; status?: any })[] {
  const d = def(dc, apiVersion, kind);
  return [...dc.cluster.store.scan(d.storage, namespace)].map((e) => e.object) as never;
}

export const jobNames = (dc: DevCluster, namespace = RUN_NS) =>
  listObjects(dc, "batch/v1", "Job", namespace)
    .map((j) => j.metadata.name ?? "")
    .sort();

/** The Job controller's part: one pod from the Job's template, bound to `node` by the scheduler's binding. */
export async function startPod(dc: DevCluster, jobName: string, node: string, namespace = RUN_NS): Promise<string> {
  const job = getJob(dc, jobName, namespace);
  if (!job) throw new Error(`no Job ${jobName}`);
  const tpl = job.spec.template;
  const name = `${jobName}-${randomBytes(3).toString("hex").slice(0, 5)}`;
  await dc.cluster.create({
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace,
      labels: { ...tpl.metadata?.labels, "batch.kubernetes.io/job-name": jobName },
      ...(tpl.metadata?.annotations ? { annotations: tpl.metadata.annotations } : {}),
      ownerReferences: [
        {
          apiVersion: "batch/v1",
          kind: "Job",
          name: jobName,
          uid: job.metadata.uid!,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: tpl.spec,
  });
  await bindPod(dc.cluster.registry, namespace, name, node);
  await patchStatus(dc, "v1", "Pod", name, { phase: "Running", startTime: now() }, namespace);
  await patchStatus(dc, "batch/v1", "Job", jobName, { active: 1, startTime: now() }, namespace);
  return name;
}

export async function patchStatus(
  dc: DevCluster,
  apiVersion: string,
  kind: string,
  name: string,
  status: Record<string, unknown>,
  namespace: string | undefined = RUN_NS,
): Promise<void> {
  await dc.cluster.registry.patch(def(dc, apiVersion, kind), namespace, name, "merge", { status }, {}, "status");
}

export interface Exit {
  container?: string;
  exitCode: number;
  message?: string;
  reason?: string;
}

/** The kubelet's and the Job controller's part when a pod's main container ends. */
export async function finishPod(
  dc: DevCluster,
  jobName: string,
  podName: string,
  exit: Exit,
  namespace = RUN_NS,
): Promise<void> {
  const ok = exit.exitCode === 0;
  const terminated = {
    exitCode: exit.exitCode,
    reason: exit.reason ?? (ok ? "Completed" : "Error"),
    finishedAt: now(),
    startedAt: now(),
    ...(exit.message ? { message: exit.message } : {}),
  };
  await patchStatus(
    dc,
    "v1",
    "Pod",
    podName,
    {
      phase: ok ? "Succeeded" : "Failed",
      containerStatuses: [
        {
          name: exit.container ?? "nnunet",
          ready: false,
          restartCount: 0,
          image: "x",
          imageID: "",
          state: { terminated },
        },
      ],
    },
    namespace,
  );
  await patchStatus(dc, "batch/v1", "Job", jobName, jobEnd(ok), namespace);
}

function jobEnd(ok: boolean): Record<string, unknown> {
  const t = now();
  return ok
    ? {
        active: 0,
        succeeded: 1,
        completionTime: t,
        conditions: [
          { type: "SuccessCriteriaMet", status: "True", lastTransitionTime: t },
          { type: "Complete", status: "True", lastTransitionTime: t },
        ],
      }
    : {
        active: 0,
        failed: 1,
        conditions: [
          { type: "FailureTarget", status: "True", lastTransitionTime: t },
          {
            type: "Failed",
            status: "True",
            reason: "BackoffLimitExceeded",
            message: "Job has reached the specified backoff limit",
            lastTransitionTime: t,
          },
        ],
      };
}

/** The node controller's part: the node goes NotReady and its pods fail as disrupted. */
export async function loseNode(
  dc: DevCluster,
  node: string,
  jobsAndPods: Array<[string, string]>,
  namespace = RUN_NS,
): Promise<void> {
  await patchStatus(
    dc,
    "v1",
    "Node",
    node,
    {
      conditions: [
        {
          type: "Ready",
          status: "Unknown",
          reason: "NodeStatusUnknown",
          message: "Kubelet stopped posting node status.",
          lastHeartbeatTime: now(),
          lastTransitionTime: now(),
        },
      ],
    },
    undefined,
  );
  for (const [job, pod] of jobsAndPods) {
    await patchStatus(
      dc,
      "v1",
      "Pod",
      pod,
      {
        phase: "Failed",
        reason: "NodeLost",
        conditions: [
          {
            type: "DisruptionTarget",
            status: "True",
            reason: "DeletionByTaintManager",
            message: "Taint manager: deleting due to NoExecute taint",
            lastTransitionTime: now(),
          },
        ],
      },
      namespace,
    );
    await patchStatus(dc, "batch/v1", "Job", job, jobEnd(false), namespace);
  }
}

/** What the calibrator writes to its termination message: 2 in the plans, 8 chosen, 4 the step below it. */
export const CALIBRATION_RESULT = makeCalibrationResult({
  probes: [
    { batchSize: 2, fits: true, peakMemoryMiB: 11000, samplesPerSecond: 9.1, withinHeadroom: true },
    { batchSize: 4, fits: true, peakMemoryMiB: 20500, samplesPerSecond: 15.8, withinHeadroom: true },
    { batchSize: 8, fits: true, peakMemoryMiB: 39800, samplesPerSecond: 20.2, withinHeadroom: true },
    { batchSize: 12, fits: false },
  ],
});

export const argAfter = (args: string[], flag: string) => args[args.indexOf(flag) + 1];
export const nnunetArgs = (job: { spec?: any } | undefined): string[] =>
  job?.spec.template.spec.containers.find((c: { name: string }) => c.name === "nnunet").args ?? [];
