import { LABEL_FOLD, LABEL_ROLE, LABEL_RUN } from "@nnunet-operator/api";
import { type KubeObject, Resources } from "@nnunet-operator/kube";
import { type CommandContext, type Output, readRun } from "../context.js";
import { NotFoundError } from "../errors.js";

// `kubectl nnunet logs RUN --fold N [-f] [-c CONTAINER]`: the log of the fold's current
// training pod, found by its labels (run, fold, role train) rather than by name, because
// every attempt gets a new Job and pod.

/** The nnU-Net container of a training pod (operator manifests); the reporter is its sidecar. */
export const DEFAULT_CONTAINER = "nnunet";
const DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container";

export interface PodLike extends KubeObject {
  spec?: { containers?: Array<{ name: string }>; initContainers?: Array<{ name: string }> };
  status?: { phase?: string };
}

export interface LogStreamer {
  /** Copies the container's log to `out`; resolves when the server ends it or `signal` aborts. */
  stream(
    namespace: string,
    pod: string,
    container: string,
    options: { follow: boolean },
    out: Output,
    signal: AbortSignal,
  ): Promise<void>;
}

/** The current attempt's pod: the newest that is not being deleted, else the newest. Pure. */
export function pickTrainingPod<T extends PodLike>(pods: readonly T[]): T | undefined {
  const newestFirst = [...pods].sort(
    (a, b) =>
      (b.metadata.creationTimestamp ?? "").localeCompare(a.metadata.creationTimestamp ?? "") ||
      (b.metadata.name ?? "").localeCompare(a.metadata.name ?? ""),
  );
  return newestFirst.find((p) => !p.metadata.deletionTimestamp) ?? newestFirst[0];
}

/** -c, else the pod's default-container annotation, else nnunet, else the first container. Pure. */
export function pickContainer(pod: PodLike, requested: string | undefined): { container: string } | { error: string } {
  const names = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].map((c) => c.name);
  const podName = pod.metadata.name ?? "?";
  if (requested !== undefined) {
    return names.includes(requested)
      ? { container: requested }
      : {
          error: `container "${requested}" is not in pod ${podName} (containers: ${names.join(", ") || "none"}): pick one with -c`,
        };
  }
  const preferred = pod.metadata.annotations?.[DEFAULT_CONTAINER_ANNOTATION];
  if (preferred && names.includes(preferred)) return { container: preferred };
  if (names.includes(DEFAULT_CONTAINER)) return { container: DEFAULT_CONTAINER };
  const first = pod.spec?.containers?.[0]?.name;
  return first ? { container: first } : { error: `pod ${podName} has no containers` };
}

export async function logsCommand(
  ctx: CommandContext,
  streamer: LogStreamer,
  runName: string,
  fold: string,
  follow: boolean,
  container: string | undefined,
): Promise<number> {
  const run = await readRun(ctx, runName);
  const namespace = run.metadata.namespace as string;
  const where = `fold ${fold} of TrainingRun ${namespace}/${runName}`;
  const selector = `${LABEL_RUN}=${runName},${LABEL_FOLD}=${fold},${LABEL_ROLE}=train`;
  const pods = await ctx.port.list<PodLike>(Resources.pods, { namespace, labelSelector: selector });
  const pod = pickTrainingPod(pods.items);
  if (!pod) {
    const phase = run.status?.folds?.find((f) => f.fold === fold)?.phase ?? "Pending";
    throw new NotFoundError(
      `no training pod of ${where} (the fold is ${phase}): logs exist once it trains; see kubectl nnunet status ${runName} -n ${namespace}`,
    );
  }
  const picked = pickContainer(pod, container);
  if ("error" in picked) throw new NotFoundError(`${where}: ${picked.error}`);
  await streamer.stream(namespace, pod.metadata.name as string, picked.container, { follow }, ctx.stdout, ctx.signal);
  return 0;
}
