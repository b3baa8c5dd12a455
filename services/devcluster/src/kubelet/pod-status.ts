// Container and pod status as the kubelet reports it, built from the runner's view of each
// container (pure). Phase: Pending until the main containers have started, Running, then
// Succeeded when every main container exited 0, else Failed (sidecars never decide it).

export type ContainerState =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | {
      terminated: {
        exitCode: number;
        reason: string;
        message?: string;
        startedAt?: string;
        finishedAt: string;
        signal?: number;
      };
    };

export type ContainerRole = "init" | "sidecar" | "main";

export interface ContainerView {
  name: string;
  image: string;
  role: ContainerRole;
  state: ContainerState;
  lastState: ContainerState | undefined;
  restartCount: number;
  pid: number | undefined;
  /** From the container's probes while it runs; absent means ready and started once running. */
  probes?: { ready: boolean; started: boolean } | undefined;
}

export interface PodView {
  containers: ContainerView[];
  volumesReady: boolean;
  /** Every regular init container succeeded and every sidecar started. */
  initialized: boolean;
  finished: boolean;
  startTime: string;
  /** The pod's own loopback address (cluster-network.ts); 127.0.0.1 when not given. */
  podIp?: string;
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastProbeTime?: null;
  lastTransitionTime?: string;
}

const running = (c: ContainerView) => "running" in c.state;
const ready = (c: ContainerView) => running(c) && (c.probes?.ready ?? true);
const exitCode = (c: ContainerView) => ("terminated" in c.state ? c.state.terminated.exitCode : undefined);

export function podPhase(view: PodView): string {
  const mains = view.containers.filter((c) => c.role === "main");
  if (view.finished) {
    const failedInit = view.containers.some((c) => c.role === "init" && (exitCode(c) ?? 0) !== 0);
    return !failedInit && mains.length > 0 && mains.every((c) => exitCode(c) === 0) ? "Succeeded" : "Failed";
  }
  return mains.some((c) => running(c) || "terminated" in c.state) ? "Running" : "Pending";
}

function containerStatus(c: ContainerView) {
  return {
    name: c.name,
    image: c.image,
    imageID: `devcluster://${c.image}`,
    ...(c.pid !== undefined ? { containerID: `devcluster://${c.pid}` } : {}),
    ready: ready(c),
    started: running(c) && (c.probes?.started ?? true),
    restartCount: c.restartCount,
    state: c.state,
    lastState: c.lastState ?? {},
  };
}

export function buildPodStatus(view: PodView, previous: Condition[], now: string): Record<string, unknown> {
  const phase = podPhase(view);
  const mains = view.containers.filter((c) => c.role === "main");
  const sidecars = view.containers.filter((c) => c.role === "sidecar");
  const podReady =
    !view.finished && view.initialized && mains.length > 0 && mains.every(ready) && sidecars.every(ready);
  const notReady = mains.filter((c) => !ready(c)).map((c) => c.name);
  const why = view.finished
    ? { reason: "PodCompleted" }
    : podReady
      ? {}
      : { reason: "ContainersNotReady", message: `containers with unready status: [${notReady.join(" ")}]` };
  const mine: Condition[] = [
    { type: "PodReadyToStartContainers", status: view.volumesReady && !view.finished ? "True" : "False" },
    {
      type: "Initialized",
      status: view.initialized || view.finished ? "True" : "False",
      ...(view.initialized || view.finished
        ? {}
        : {
            reason: "ContainersNotInitialized",
            message: `containers with incomplete status: [${view.containers
              .filter((c) => c.role === "init" && exitCode(c) !== 0)
              .map((c) => c.name)
              .join(" ")}]`,
          }),
    },
    { type: "Ready", status: podReady ? "True" : "False", ...why },
    { type: "ContainersReady", status: podReady ? "True" : "False", ...why },
  ];
  const conditions: Condition[] = previous.filter((c) => !mine.some((m) => m.type === c.type));
  for (const m of mine) {
    const old = previous.find((c) => c.type === m.type);
    conditions.push({
      ...m,
      lastProbeTime: null,
      lastTransitionTime: old && old.status === m.status ? (old.lastTransitionTime ?? now) : now,
    });
  }
  return {
    phase,
    conditions,
    hostIP: "127.0.0.1",
    hostIPs: [{ ip: "127.0.0.1" }],
    podIP: view.podIp ?? "127.0.0.1",
    podIPs: [{ ip: view.podIp ?? "127.0.0.1" }],
    startTime: view.startTime,
    initContainerStatuses: view.containers.filter((c) => c.role !== "main").map(containerStatus),
    containerStatuses: mains.map(containerStatus),
  };
}
