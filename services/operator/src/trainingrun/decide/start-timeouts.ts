import type { IPod } from "kubernetes-models/v1/Pod";
import { ConditionReason } from "@nnunet-operator/api";
import type { IContainerStatus } from "kubernetes-models/v1/ContainerStatus";
import type { StartTimeouts } from "../../config.js";
import { REPORTER_CONTAINER } from "../manifests/common.js";
import type { Failure } from "./failures.js";
import { isImagePullError } from "./objects.js";

// A pod the operator built that does not get going: the scheduler cannot place it, a
// container's image cannot be pulled, or a container cannot be created from its
// configuration. Such a pod ends by itself never (the scheduler and the kubelet retry for
// ever), so it would hold its GPUs, and admission would keep counting them, for ever (issue
// 17). Past its limit (the operator's startTimeouts) the pod's attempt fails, with the cause
// and the limit in the message, and the caller deletes its Job.
//
// The clocks, from the pod's status alone (level-triggered: no memory between passes):
// unschedulable since the PodScheduled=False condition's lastTransitionTime (kept while the
// status stays False, as the scheduler does), else the pod's creation; image pulls and
// container configuration since the pod started on its node (status.startTime): an image
// that cannot be pulled or a container that cannot be created blocks the containers after
// it, so nothing else ran meanwhile but the init containers before it.
//
// What is retried: an image that does not exist, or that the node may not pull, fails for
// good (Terminal); a registry that is down, slow or rate-limiting, a pod nobody can place
// and a configuration error (a Secret key that may appear, an image user that may change)
// are retried as another attempt. A kubelet message without the cause ("Back-off pulling
// image" alone, older kubelets) is retried: a verdict for good needs the evidence.

export type PodRole = "training" | "calibration" | "validation";

/** Fold reasons of attempts that failed to start: reasons of Failure, fold status and conditions. */
export const START_TIMEOUT_REASONS = [
  ConditionReason.UnschedulableTimeout,
  ConditionReason.ImagePullTimeout,
  ConditionReason.ContainerConfigTimeout,
  ConditionReason.FirstEpochTimeout,
] as const;

export function isStartTimeout(reason: string | undefined): boolean {
  return (START_TIMEOUT_REASONS as readonly string[]).includes(reason ?? "");
}

/** Pull failures no retry can fix: the image or tag does not exist, or the node may not pull it. */
const PERMANENT_PULL =
  /not found|manifest unknown|name unknown|repository does not exist|pull access denied|unauthorized|authentication required|insufficient_scope|forbidden|\b40[13]\b|invalid reference format/i;

export function isPermanentPullFailure(reason: string, message: string | undefined): boolean {
  if (reason === "InvalidImageName" || reason === "ErrImageNeverPull") return true;
  return PERMANENT_PULL.test(message ?? "");
}

export type StartVerdict =
  /** Nothing keeps the pod from starting; `requeueAfterSeconds` when the trainer's first-epoch clock runs. */
  | { readonly kind: "none"; readonly requeueAfterSeconds?: number }
  /** Stuck, within its limit: the status says why, and the reconcile comes back at the limit. */
  | {
      readonly kind: "waiting";
      readonly reason: string;
      readonly message: string;
      readonly requeueAfterSeconds?: number;
    }
  | { readonly kind: "timedOut"; readonly failure: Failure };

export interface StartInput {
  readonly pod: IPod;
  readonly role: PodRole;
  /** The container that does the pod's work (nnunet, calibrate): its start ends the pod's starting. */
  readonly main: string;
  readonly timeouts: StartTimeouts;
  readonly now: Date;
  /** Training only: whether the attempt has logged an epoch (then the trainer started, whatever the pod says). */
  readonly hasEpoch?: boolean;
  /** Training only, for the first-epoch message. */
  readonly attempt?: number;
}

interface Stuck {
  readonly reason: "Unschedulable" | "ImagePullFailed" | "ContainerConfigError";
  readonly timeout: (typeof START_TIMEOUT_REASONS)[number];
  readonly key: keyof StartTimeouts;
  readonly since: string | undefined;
  /** While within the limit. */
  readonly waiting: string;
  /** Past the limit, after "<reason>: ". */
  readonly failed: (limit: number) => string;
  readonly permanent: boolean;
}

const ms = (iso: string | Date | undefined): number | undefined => {
  if (iso === undefined) return undefined;
  const t = new Date(iso).getTime();
  return Number.isFinite(t) ? t : undefined;
};

function startedAt(pod: IPod): string | undefined {
  const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "True");
  const t = pod.status?.startTime ?? scheduled?.lastTransitionTime ?? pod.metadata?.creationTimestamp;
  return t === undefined ? undefined : String(t);
}

function statuses(pod: IPod): IContainerStatus[] {
  return [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
}

function imageOf(pod: IPod, name: string, status: IContainerStatus): string {
  const spec = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((c) => c.name === name);
  return spec?.image ?? status.image;
}

/** What keeps the pod from starting, if anything: no node, then the first container that is stuck. */
function findStuck(pod: IPod, role: PodRole): Stuck | undefined {
  const what = `the ${role} pod ${pod.metadata?.name ?? ""}`.trimEnd();
  const unschedulable = pod.spec?.nodeName
    ? undefined
    : pod.status?.conditions?.find(
        (c) => c.type === "PodScheduled" && c.status === "False" && c.reason === "Unschedulable",
      );
  if (unschedulable) {
    const said = unschedulable.message ?? "no node fits";
    return {
      reason: "Unschedulable",
      timeout: "UnschedulableTimeout",
      key: "unschedulableSeconds",
      since: String(unschedulable.lastTransitionTime ?? pod.metadata?.creationTimestamp ?? "") || undefined,
      waiting: `${what} cannot be scheduled: ${said}`,
      failed: (limit) => `${what} could not be scheduled for ${limit} s${limitKey("unschedulableSeconds")}: ${said}`,
      permanent: false,
    };
  }
  for (const s of statuses(pod)) {
    const w = s.state?.waiting;
    if (!w?.reason) continue;
    const said = w.message ? `${w.reason}: ${w.message}` : w.reason;
    if (isImagePullError(w.reason)) {
      const image = imageOf(pod, s.name, s);
      const permanent = isPermanentPullFailure(w.reason, w.message);
      const fix =
        s.name === REPORTER_CONTAINER
          ? "fix the operator's images.reporter"
          : "fix spec.image or the operator's images.training, or add an image pull secret";
      return {
        reason: "ImagePullFailed",
        timeout: "ImagePullTimeout",
        key: "imagePullSeconds",
        since: startedAt(pod),
        waiting: `image ${image} cannot be pulled (${said}); ${fix}`,
        failed: (limit) =>
          `image "${image}" could not be pulled for ${limit} s${limitKey("imagePullSeconds")}: ${said}${
            permanent ? `; the image does not exist or may not be pulled: ${fix}` : ""
          }`,
        permanent,
      };
    }
    if (w.reason === "CreateContainerConfigError") {
      return {
        reason: "ContainerConfigError",
        timeout: "ContainerConfigTimeout",
        key: "containerConfigSeconds",
        since: startedAt(pod),
        waiting: `container ${s.name} of ${what} cannot be created (${said})`,
        failed: (limit) =>
          `container ${s.name} of ${what} could not be created for ${limit} s${limitKey("containerConfigSeconds")}: ${said}`,
        permanent: false,
      };
    }
  }
  return undefined;
}

const limitKey = (key: keyof StartTimeouts) => ` (operator startTimeouts.${key})`;

function remaining(sinceMs: number, limitSeconds: number, now: Date): number {
  return (sinceMs + limitSeconds * 1000 - now.getTime()) / 1000;
}

/** Whether a container has started (is running or has run). */
function containerStarted(pod: IPod, name: string): boolean {
  const s = statuses(pod).find((c) => c.name === name);
  return (
    s?.state?.running !== undefined || s?.state?.terminated !== undefined || s?.lastState?.terminated !== undefined
  );
}

/** Why the main container has not started, in the kubelet's words, for the first-epoch message. */
function notStartedBecause(pod: IPod, main: string): string {
  const s = statuses(pod).find((c) => c.name === main);
  const w = s?.state?.waiting;
  if (w?.reason) return `${main} is waiting: ${w.reason}${w.message ? ` (${w.message})` : ""}`;
  return `${main} has not started (pod ${pod.status?.phase ?? "Pending"})`;
}

/** The start of an active pod the operator built, judged against the operator's startTimeouts. */
export function decideStart(input: StartInput): StartVerdict {
  const { pod, timeouts, now } = input;
  const stuck = findStuck(pod, input.role);
  if (stuck) {
    const limit = timeouts[stuck.key];
    const since = ms(stuck.since);
    if (limit === 0 || since === undefined) return { kind: "waiting", reason: stuck.reason, message: stuck.waiting };
    const left = remaining(since, limit, now);
    if (left > 0)
      return {
        kind: "waiting",
        reason: stuck.reason,
        message: `${stuck.waiting}; the attempt fails after ${limit} s${limitKey(stuck.key)}`,
        requeueAfterSeconds: Math.max(1, Math.ceil(left)),
      };
    return {
      kind: "timedOut",
      failure: {
        kind: stuck.permanent ? "Terminal" : "Retryable",
        reason: stuck.timeout,
        message: `${stuck.timeout}: ${stuck.failed(limit)}`,
        at: now,
        // The limit was the wait, and the pod holds its GPUs meanwhile: no backoff on top.
        waitedOut: true,
      },
    };
  }
  // A trainer that never started (a volume that cannot be mounted, an init container that
  // hangs) logs no epoch and its reporter may send no heartbeat: the pod's status is the
  // evidence, so no heartbeat is needed to call it, unlike a trainer that runs (stall.ts).
  const limit = timeouts.firstEpochSeconds;
  if (input.role !== "training" || limit === 0 || input.hasEpoch || containerStarted(pod, input.main))
    return { kind: "none" };
  const since = ms(startedAt(pod));
  if (since === undefined) return { kind: "none" };
  const left = remaining(since, limit, now);
  if (left > 0) return { kind: "none", requeueAfterSeconds: Math.max(1, Math.ceil(left)) };
  return {
    kind: "timedOut",
    failure: {
      kind: "Retryable",
      reason: "FirstEpochTimeout",
      message: `FirstEpochTimeout: no first epoch for ${limit} s since attempt ${input.attempt ?? 0} started${limitKey("firstEpochSeconds")}: the trainer never started, ${notStartedBecause(pod, input.main)}`,
      at: now,
      waitedOut: true,
    },
  };
}
