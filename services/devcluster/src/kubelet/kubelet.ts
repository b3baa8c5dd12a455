import { existsSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { KubeObject } from "../api/resources.js";
import type { StoreEvent } from "../api/store.js";
import type { Cluster } from "../cluster.js";
import { isNodeReady } from "../nodes/node-control.js";
import { LABEL_GPU_MEMORY, LABEL_GPU_PRODUCT } from "../nodes/node-spec.js";
import { createRecorder, type Recorder } from "../sim/recorder.js";
import { ignoreExpected, KeyQueue } from "../sim/key-queue.js";
import type { ImageMap } from "./image-map.js";
import type { LogSource } from "./logs.js";
import type { Lookups } from "./paths.js";
import { PodRunner } from "./pod-runner.js";
import { ClusterNetwork, PodIps } from "./cluster-network.js";
import { apiServerEnv, writeServiceAccountFiles, wantsToken, type ApiServer } from "./pod-identity.js";
import { podDir, type MountEntry } from "./paths.js";
import { buildPodStatus } from "./pod-status.js";

// The kubelet of every simulated node at once: runs bound pods as local processes
// (PodRunner), reports their status, finishes graceful deletion (podTermination
// "external": the pod is removed with grace 0 once its processes are gone), and plays
// the node lifecycle controller: when a node stops being Ready its processes die and its
// unfinished pods are marked Failed with a DisruptionTarget condition.

export const REPO_ROOT = fileURLToPath(new URL("../../../../", import.meta.url)).replace(/\/$/, "");
const SIM_BIN = `${REPO_ROOT}/services/devcluster/sim-bin`;
const POD_SHIM = fileURLToPath(new URL("./pod-shim.ts", import.meta.url));

export interface KubeletOptions {
  dataRoot: string;
  imageMap: ImageMap;
  /** The bundled simulated nnU-Net (sim/fake-nnunet/bundle.ts). */
  fakeNnunet: string;
  /** Extra environment for every container (the simulators' knobs: time scale, curves). */
  env?: Record<string, string>;
  /** Remove a pod's folder (logs, emptyDirs) once the pod is gone; default true. */
  cleanup?: boolean;
}

type Conditions = { type: string; status: string; lastTransitionTime?: string }[];
const podKey = (o: KubeObject) => `${o.metadata.namespace}/${o.metadata.name}`;
const phaseOf = (o: KubeObject) => (o["status"] as { phase?: string } | undefined)?.phase;
const terminal = (o: KubeObject) => phaseOf(o) === "Succeeded" || phaseOf(o) === "Failed";

export class Kubelet {
  private readonly runners = new Map<string, { uid: string; node: string; runner: PodRunner }>();
  private readonly queue: KeyQueue;
  private readonly statusQueue: KeyQueue;
  private readonly recorder: Recorder;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly lookups: Lookups;
  private readonly ips = new PodIps();
  readonly network: ClusterNetwork;
  private api: ApiServer | undefined;

  constructor(
    private readonly cluster: Cluster,
    private readonly options: KubeletOptions,
  ) {
    this.recorder = createRecorder(cluster, "kubelet");
    const reporter = cluster.controllerFailures;
    this.queue = new KeyQueue((key) => this.reconcile(key), { name: "kubelet", reporter });
    this.statusQueue = new KeyQueue((key) => this.writeStatus(key), { name: "kubelet-status", reporter });
    const get = (storage: string) => (ns: string, name: string) => cluster.store.get(storage, ns, name);
    this.lookups = { configMap: get("configmaps"), secret: get("secrets"), claim: get("persistentvolumeclaims") };
    this.network = new ClusterNetwork(cluster, options.dataRoot);
  }

  /** The API server pods reach (KUBERNETES_SERVICE_HOST/PORT, ca.crt); set once it listens. */
  setApiServer(api: ApiServer): void {
    this.api = api;
  }

  start(): () => void {
    const s = this.cluster.store;
    for (const e of s.scan("pods")) this.queue.add(`${e.namespace}/${e.name}`);
    this.unsubscribe.push(
      s.watch("pods", { group: "", resource: "pods" }, undefined, (e: StoreEvent) => this.queue.add(podKey(e.object))),
    );
    this.unsubscribe.push(this.network.start());
    for (const [storage, kind] of [
      ["configmaps", "configMap"],
      ["secrets", "secret"],
    ] as const) {
      this.unsubscribe.push(
        s.watch(storage, { group: "", resource: storage }, undefined, (e: StoreEvent) => {
          for (const { runner } of this.runners.values())
            if (runner.usesVolumeSource(kind, e.object.metadata.namespace!, e.object.metadata.name!))
              runner.refreshVolumes();
        }),
      );
    }
    this.unsubscribe.push(
      s.watch("nodes", { group: "", resource: "nodes" }, undefined, (e: StoreEvent) => {
        if (e.type !== "DELETED" && isNodeReady(e.object)) return;
        for (const p of s.scan("pods"))
          if ((p.object["spec"] as { nodeName?: string }).nodeName === e.object.metadata.name)
            this.queue.add(`${p.namespace}/${p.name}`);
      }),
    );
    return () => this.stop();
  }

  stop(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    this.queue.stop();
    this.statusQueue.stop();
    for (const { runner } of this.runners.values()) runner.kill();
    this.runners.clear();
  }

  idle(): Promise<void> {
    return this.queue.idle().then(() => this.statusQueue.idle());
  }

  /** For pods/log. */
  logSource(): LogSource {
    return {
      containers: (ns, name) => this.runners.get(`${ns}/${name}`)?.runner.containerNames(),
      log: (ns, name, container, previous) => {
        const r = this.runners.get(`${ns}/${name}`)?.runner;
        const slot = r?.slot(container);
        if (!r || !slot) return undefined;
        const restart = previous ? slot.restartCount - 1 : slot.restartCount;
        const path = r.logPath(container, restart);
        if (restart < 0 || !existsSync(path)) return undefined;
        return { path, running: () => !previous && "running" in slot.state };
      },
    };
  }

  private async reconcile(key: string): Promise<void> {
    const [ns, name] = key.split("/") as [string, string];
    const c = this.cluster;
    const pod = c.store.get("pods", ns, name);
    const held = this.runners.get(key);
    if (held && (!pod || pod.metadata.uid !== held.uid)) {
      held.runner.kill();
      this.runners.delete(key);
      this.ips.release(held.uid);
      if (this.options.cleanup ?? true)
        rmSync(`${this.options.dataRoot}/pods/${held.uid}`, { recursive: true, force: true });
    }
    if (!pod) return;
    const nodeName = (pod["spec"] as { nodeName?: string }).nodeName;
    if (!nodeName) return;
    const node = c.store.get("nodes", undefined, nodeName);
    if (!node) return;
    const current = this.runners.get(key);
    if (!isNodeReady(node)) {
      current?.runner.kill();
      if (!terminal(pod)) await this.markLost(pod);
      return;
    }
    if (pod.metadata.deletionTimestamp) {
      if (current) current.runner.terminate(pod.metadata.deletionGracePeriodSeconds ?? 30);
      else await this.finishDeletion(pod);
      return;
    }
    if (current || terminal(pod)) return;
    const podIp = this.ips.take(pod.metadata.uid!);
    const extraMounts: MountEntry[] = [];
    const saName = (pod["spec"] as { serviceAccountName?: string }).serviceAccountName ?? "default";
    if (wantsToken(pod, c.store.get("serviceaccounts", ns, saName))) {
      extraMounts.push(
        writeServiceAccountFiles(
          podDir(this.options.dataRoot, pod.metadata.uid!),
          ns,
          c.serviceAccountToken(ns, saName),
          this.api,
        ),
      );
    }
    const runner = new PodRunner(pod, {
      podIp,
      extraMounts,
      allocatable: (node["status"] as { allocatable?: Record<string, string> } | undefined)?.allocatable ?? {},
      dataRoot: this.options.dataRoot,
      imageMap: this.options.imageMap,
      placeholders: {
        repo: REPO_ROOT,
        node: process.execPath,
        tsx: fileURLToPath(import.meta.resolve("tsx")),
        fakeNnunet: this.options.fakeNnunet,
        podShim: POD_SHIM,
        podIp,
      },
      lookups: this.lookups,
      baseEnv: {
        ...this.baseEnv(pod, node),
        ...apiServerEnv(this.api),
        DEVCLUSTER_POD_IP: podIp,
        DEVCLUSTER_DATA_ROOT: this.options.dataRoot,
        DEVCLUSTER_DNS_FILE: this.network.dnsFile,
        DEVCLUSTER_POD_NAMESPACE: ns,
      },
      recorder: createRecorder(c, "kubelet", nodeName),
      now: () => c.timestamp(),
      changed: () => this.statusQueue.add(key),
    });
    this.runners.set(key, { uid: pod.metadata.uid!, node: nodeName, runner });
    void runner.done.then(
      () => this.statusQueue.add(key),
      (error: unknown) =>
        this.recorder.event(
          pod,
          "Warning",
          "Failed",
          `kubelet: ${error instanceof Error ? error.message : String(error)}`,
        ),
    );
  }

  private baseEnv(pod: KubeObject, node: KubeObject): Record<string, string> {
    const labels = node.metadata.labels ?? {};
    const gpus = Number(labels["nvidia.com/gpu.count"] ?? 0);
    return {
      PATH: `${SIM_BIN}:${process.env["PATH"] ?? "/usr/bin:/bin"}`,
      HOME: `${this.options.dataRoot}/pods/${pod.metadata.uid}/root`,
      HOSTNAME: pod.metadata.name!,
      LANG: "C.UTF-8",
      // Container images run in UTC (the reporter reads nnU-Net's log timestamps as UTC).
      TZ: "UTC",
      DEVCLUSTER_REPO: REPO_ROOT,
      DEVCLUSTER_NODE: process.execPath,
      DEVCLUSTER_TSX: fileURLToPath(import.meta.resolve("tsx")),
      DEVCLUSTER_FAKE_NNUNET: this.options.fakeNnunet,
      ...(labels[LABEL_GPU_PRODUCT]
        ? {
            NVIDIA_GPU_PRODUCT: labels[LABEL_GPU_PRODUCT],
            NVIDIA_GPU_MEMORY_MIB: labels[LABEL_GPU_MEMORY] ?? "",
            NVIDIA_VISIBLE_DEVICES: Array.from({ length: gpus }, (_, i) => String(i)).join(","),
          }
        : {}),
      ...this.options.env,
    };
  }

  private async writeStatus(key: string): Promise<void> {
    const held = this.runners.get(key);
    if (!held) return;
    const [ns, name] = key.split("/") as [string, string];
    const pod = this.cluster.store.get("pods", ns, name);
    if (!pod || pod.metadata.uid !== held.uid) return;
    const node = this.cluster.store.get("nodes", undefined, held.node);
    if (!node || !isNodeReady(node) || terminal(pod)) return;
    const previous = ((pod["status"] as { conditions?: Conditions } | undefined)?.conditions ?? []) as Conditions;
    const status = buildPodStatus(held.runner.view, previous, this.cluster.timestamp());
    await this.cluster.registry.patch(
      this.cluster.resource("", "v1", "pods"),
      ns,
      name,
      "merge",
      { status },
      { fieldManager: "kubelet" },
      "status",
    );
    if (held.runner.view.finished) {
      const after = this.cluster.store.get("pods", ns, name);
      if (after?.metadata.deletionTimestamp) await this.finishDeletion(after);
    }
  }

  private async finishDeletion(pod: KubeObject): Promise<void> {
    await this.cluster.deleter
      .delete(this.cluster.resource("", "v1", "pods"), pod.metadata.namespace, pod.metadata.name!, {
        gracePeriodSeconds: 0,
        preconditions: { uid: pod.metadata.uid! },
      })
      .catch(ignoreExpected);
  }

  /** Node lost: what the node lifecycle controller and pod GC do to its pods. */
  private async markLost(pod: KubeObject): Promise<void> {
    const now = this.cluster.timestamp();
    const st = (pod["status"] ?? {}) as {
      conditions?: Conditions;
      containerStatuses?: { name: string; state?: Record<string, unknown> }[];
      initContainerStatuses?: { name: string; state?: Record<string, unknown> }[];
    };
    const gone = (list: { name: string; state?: Record<string, unknown> }[] | undefined) =>
      list?.map((c) =>
        c.state && "terminated" in c.state
          ? c
          : {
              ...c,
              ready: false,
              started: false,
              state: {
                terminated: {
                  exitCode: 137,
                  reason: "ContainerStatusUnknown",
                  message: "The container could not be located when the pod was terminated",
                  finishedAt: now,
                },
              },
            },
      );
    const conditions = [
      ...(st.conditions ?? []).filter((c) => c.type !== "DisruptionTarget" && c.type !== "Ready"),
      {
        type: "DisruptionTarget",
        status: "True",
        reason: "DeletionByTaintManager",
        message: "Taint manager: deleting due to NoExecute taint",
        lastTransitionTime: now,
      },
      { type: "Ready", status: "False", reason: "NodeLost", lastTransitionTime: now },
    ];
    const status = {
      phase: "Failed",
      reason: "NodeLost",
      message: `Node ${(pod["spec"] as { nodeName?: string }).nodeName} which was running pod ${pod.metadata.name} is unresponsive`,
      conditions,
      ...(st.containerStatuses ? { containerStatuses: gone(st.containerStatuses) } : {}),
      ...(st.initContainerStatuses ? { initContainerStatuses: gone(st.initContainerStatuses) } : {}),
    };
    await this.cluster.registry.patch(
      this.cluster.resource("", "v1", "pods"),
      pod.metadata.namespace,
      pod.metadata.name!,
      "merge",
      { status },
      { fieldManager: "node-controller" },
      "status",
    );
    this.recorder.event(pod, "Warning", "NodeNotReady", `Node is not ready`);
  }
}
