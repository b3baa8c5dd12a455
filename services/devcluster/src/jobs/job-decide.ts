import type { KubeObject } from "../api/resources.js";

// The batch/v1 Job controller's decisions, pure (NonIndexed jobs): which finished pods to
// count and how (podFailurePolicy: FailJob, Ignore, Count on exit codes and pod
// conditions), when the job fails (FailJob rule, backoffLimit, activeDeadlineSeconds) or
// succeeds, suspension, how many pods to create, which to delete, the status (counts and
// the 1.31+ condition sequence: FailureTarget/SuccessCriteriaMet first, Failed/Complete
// once no pod is left terminating) and when to look again.

export const TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking";

export interface JobCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastProbeTime?: string;
  lastTransitionTime?: string;
}

interface ExitCodesRule {
  containerName?: string;
  operator: "In" | "NotIn";
  values: number[];
}

interface PodFailurePolicyRule {
  action: "FailJob" | "Ignore" | "Count" | "FailIndex";
  onExitCodes?: ExitCodesRule;
  onPodConditions?: { type: string; status?: string }[];
}

export interface JobSpec {
  parallelism?: number;
  completions?: number;
  backoffLimit?: number;
  activeDeadlineSeconds?: number;
  suspend?: boolean;
  ttlSecondsAfterFinished?: number;
  podReplacementPolicy?: string;
  podFailurePolicy?: { rules?: PodFailurePolicyRule[] };
}

export interface JobStatus {
  startTime?: string;
  completionTime?: string;
  active?: number;
  succeeded?: number;
  failed?: number;
  ready?: number;
  terminating?: number;
  conditions?: JobCondition[];
}

export interface Verdict {
  outcome: "succeeded" | "failed" | "ignored";
  /** Set when a FailJob rule matched: the job fails with reason PodFailurePolicy. */
  failJob?: string;
}

interface ContainerStatus {
  name: string;
  state?: { terminated?: { exitCode: number } };
}

const podStatus = (p: KubeObject) =>
  (p["status"] ?? {}) as {
    phase?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
const isFailedPod = (p: KubeObject) => podStatus(p).phase === "Failed";
export const isTerminal = (p: KubeObject) => podStatus(p).phase === "Succeeded" || podStatus(p).phase === "Failed";

/** How a finished pod counts: the first matching podFailurePolicy rule decides for a failed pod. */
export function judgePod(pod: KubeObject, rules: readonly PodFailurePolicyRule[]): Verdict {
  const st = podStatus(pod);
  if (st.phase === "Succeeded") return { outcome: "succeeded" };
  for (const [index, rule] of rules.entries()) {
    let matched: string | undefined;
    if (rule.onExitCodes) {
      const r = rule.onExitCodes;
      const containers = [...(st.containerStatuses ?? []), ...(st.initContainerStatuses ?? [])];
      for (const c of containers) {
        const code = c.state?.terminated?.exitCode;
        if (code === undefined || code === 0 || (r.containerName && r.containerName !== c.name)) continue;
        if (r.values.includes(code) === (r.operator === "In")) {
          matched = `Container ${c.name} for pod ${pod.metadata.namespace}/${pod.metadata.name} failed with exit code ${code} matching ${rule.action} rule at index ${index}`;
          break;
        }
      }
    } else if (rule.onPodConditions) {
      const hit = rule.onPodConditions.find((pc) =>
        st.conditions?.some((c) => c.type === pc.type && c.status === (pc.status ?? "True")),
      );
      if (hit)
        matched = `Pod ${pod.metadata.namespace}/${pod.metadata.name} has condition ${hit.type} matching ${rule.action} rule at index ${index}`;
    }
    if (matched === undefined) continue;
    if (rule.action === "Ignore") return { outcome: "ignored" };
    if (rule.action === "FailJob") return { outcome: "failed", failJob: matched };
    return { outcome: "failed" };
  }
  return { outcome: "failed" };
}

export interface JobDecision {
  /** Pods to count now (terminal pods still carrying the tracking finalizer); their finalizer is then removed. */
  count: { pod: KubeObject; verdict: Verdict }[];
  create: number;
  /** Active pods to delete gracefully, with the reason for the event. */
  delete: KubeObject[];
  status: JobStatus;
  /** Delete the job (ttlSecondsAfterFinished ran out). */
  deleteJob: boolean;
  /** Look again after this many milliseconds (deadline, ttl). */
  requeueAfterMs: number | undefined;
  events: { type: "Normal" | "Warning"; reason: string; message: string }[];
}

const conditionTrue = (s: JobStatus, type: string) =>
  s.conditions?.some((c) => c.type === type && c.status === "True") ?? false;

function setCondition(s: JobStatus, c: JobCondition, time: string): void {
  const list = s.conditions ?? [];
  const existing = list.find((x) => x.type === c.type);
  if (existing && existing.status === c.status && existing.reason === c.reason) return;
  s.conditions = [...list.filter((x) => x.type !== c.type), { ...c, lastProbeTime: time, lastTransitionTime: time }];
}

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

/**
 * `alreadyCounted` holds uids of pods counted in an earlier pass whose finalizer removal
 * has not shown up yet, so a pod is never counted twice.
 */
export function decideJob(
  job: KubeObject,
  pods: readonly KubeObject[],
  now: Date,
  alreadyCounted: ReadonlySet<string> = new Set(),
): JobDecision {
  const spec = (job["spec"] ?? {}) as JobSpec;
  const prev = (job["status"] ?? {}) as JobStatus;
  const status: JobStatus = structuredClone(prev);
  const time = iso(now);
  const out: JobDecision = {
    count: [],
    create: 0,
    delete: [],
    status,
    deleteJob: false,
    requeueAfterMs: undefined,
    events: [],
  };
  const rules = spec.podFailurePolicy?.rules ?? [];

  let failJob: string | undefined;
  for (const p of pods) {
    if (!isTerminal(p) || !p.metadata.finalizers?.includes(TRACKING_FINALIZER) || alreadyCounted.has(p.metadata.uid!))
      continue;
    // Pods stopped by a suspension are not failures of the job.
    const verdict: Verdict = spec.suspend && isFailedPod(p) ? { outcome: "ignored" } : judgePod(p, rules);
    out.count.push({ pod: p, verdict });
    if (verdict.outcome === "succeeded") status.succeeded = (status.succeeded ?? 0) + 1;
    if (verdict.outcome === "failed") status.failed = (status.failed ?? 0) + 1;
    failJob ??= verdict.failJob;
  }
  const live = pods.filter((p) => !isTerminal(p));
  const active = live.filter((p) => !p.metadata.deletionTimestamp);
  const terminating = live.length - active.length;
  const finished = conditionTrue(status, "Complete") || conditionTrue(status, "Failed");

  if (finished) {
    const ttl = spec.ttlSecondsAfterFinished;
    const doneAt = Date.parse(
      status.completionTime ??
        status.conditions?.find((c) => c.type === "Complete" || c.type === "Failed")?.lastTransitionTime ??
        time,
    );
    if (ttl !== undefined) {
      const left = doneAt + ttl * 1000 - now.getTime();
      if (left <= 0) out.deleteJob = true;
      else out.requeueAfterMs = left;
    }
    out.delete = active;
    Object.assign(status, { active: 0, ready: 0, terminating });
    return out;
  }

  const completions = spec.completions ?? 1;
  const parallelism = spec.parallelism ?? 1;
  const succeeded = status.succeeded ?? 0;
  const failed = status.failed ?? 0;

  // Why the job fails, if it does (kept once decided).
  let failure = status.conditions?.find((c) => c.type === "FailureTarget" && c.status === "True");
  if (!failure) {
    const started = status.startTime ? Date.parse(status.startTime) : undefined;
    const deadline =
      spec.activeDeadlineSeconds !== undefined && started !== undefined && !spec.suspend
        ? started + spec.activeDeadlineSeconds * 1000
        : undefined;
    if (failJob) failure = { type: "FailureTarget", status: "True", reason: "PodFailurePolicy", message: failJob };
    else if (failed > (spec.backoffLimit ?? 6))
      failure = {
        type: "FailureTarget",
        status: "True",
        reason: "BackoffLimitExceeded",
        message: "Job has reached the specified backoff limit",
      };
    else if (deadline !== undefined && now.getTime() >= deadline)
      failure = {
        type: "FailureTarget",
        status: "True",
        reason: "DeadlineExceeded",
        message: "Job was active longer than specified deadline",
      };
    else if (deadline !== undefined) out.requeueAfterMs = deadline - now.getTime();
    if (failure) {
      setCondition(status, failure, time);
      out.events.push({ type: "Warning", reason: failure.reason!, message: failure.message! });
    }
  }
  const success = !failure && succeeded >= completions;
  if (success)
    setCondition(
      status,
      {
        type: "SuccessCriteriaMet",
        status: "True",
        reason: "CompletionsReached",
        message: "Reached expected number of succeeded pods",
      },
      time,
    );

  if (failure || success) {
    out.delete = active;
    Object.assign(status, { active: 0, ready: 0, terminating: live.length });
    if (live.length === 0) {
      if (failure)
        setCondition(
          status,
          { type: "Failed", status: "True", reason: failure.reason!, message: failure.message! },
          time,
        );
      else {
        setCondition(
          status,
          {
            type: "Complete",
            status: "True",
            reason: "CompletionsReached",
            message: "Reached expected number of succeeded pods",
          },
          time,
        );
        status.completionTime = time;
        out.events.push({ type: "Normal", reason: "Completed", message: "Job completed" });
      }
      if (spec.ttlSecondsAfterFinished !== undefined) out.requeueAfterMs = spec.ttlSecondsAfterFinished * 1000;
    }
    return out;
  }

  if (spec.suspend) {
    out.delete = active;
    if (!conditionTrue(status, "Suspended")) {
      setCondition(
        status,
        { type: "Suspended", status: "True", reason: "JobSuspended", message: "Job suspended" },
        time,
      );
      out.events.push({ type: "Normal", reason: "Suspended", message: "Job suspended" });
    }
    delete status.startTime;
    out.requeueAfterMs = undefined;
    Object.assign(status, { active: 0, ready: 0, terminating: live.length });
    return out;
  }
  if (conditionTrue(status, "Suspended")) {
    setCondition(status, { type: "Suspended", status: "False", reason: "JobResumed", message: "Job resumed" }, time);
    out.events.push({ type: "Normal", reason: "Resumed", message: "Job resumed" });
  }
  status.startTime ??= time;
  if (spec.activeDeadlineSeconds !== undefined && out.requeueAfterMs === undefined)
    out.requeueAfterMs = spec.activeDeadlineSeconds * 1000;

  const wanted = Math.max(0, Math.min(parallelism, completions - succeeded));
  // podReplacementPolicy Failed: no replacement while an old pod is still terminating.
  const blocked = spec.podReplacementPolicy === "Failed" && terminating > 0;
  out.create = blocked ? 0 : Math.max(0, wanted - active.length);
  if (active.length > wanted) out.delete = active.slice(wanted);
  const ready = active.filter((p) =>
    podStatus(p).conditions?.some((c) => c.type === "Ready" && c.status === "True"),
  ).length;
  Object.assign(status, {
    active: active.length + out.create - out.delete.length,
    ready,
    terminating: terminating + out.delete.length,
  });
  return out;
}
