import { GROUP } from "./v1alpha1/group.js";
import { StopDecision } from "./messages.js";

// The contract on a fold's training Job `<run>-fold-<f>`, read and written by the operator,
// the early-stop controller and the CLI through this module only, so that the three agree
// on what a value means, and on what a malformed one means:
//
// - nnunet-operator.io/attempt: the attempt (0 for the first pod), written by the operator.
//   A missing or malformed value reads as attempt 0. The operator then replaces such a Job
//   once its status names a later attempt, so a mangled annotation costs a restart, never
//   a fold; nobody else acts on the attempt.
// - nnunet-operator.io/stop-decision: a StopDecision (JSON), written together with
//   spec.suspend: true in one merge patch (an Audit decision without the suspend: the fold
//   trains on). A malformed value is no decision: nobody acts on
//   it (the operator keeps the fold training and says in status that it ignores it), and
//   any writer (early-stop, `kubectl nnunet stop`) may replace it with a valid decision.
//   A valid decision is never overwritten.
// - "finished": the Job controller's terminal conditions, Complete or Failed (or
//   SuccessCriteriaMet / FailureTarget, which Kubernetes 1.31+ sets first while the pods
//   terminate). Never status.succeeded: it counts pods, not the Job's outcome.

export const ANNOTATION_STOP_DECISION = `${GROUP}/stop-decision`;
export const ANNOTATION_ATTEMPT = `${GROUP}/attempt`;

/** The part of a Job (or any object) this module reads. */
export interface FoldJobLike {
  readonly metadata?:
    | {
        readonly annotations?: Readonly<Record<string, string>> | undefined;
        readonly resourceVersion?: string | undefined;
      }
    | undefined;
  readonly status?:
    | { readonly conditions?: ReadonlyArray<{ readonly type?: string; readonly status?: string }> | undefined }
    | undefined;
}

/** An annotation as read: absent, a value, or malformed with what is wrong in words. */
export type AnnotationRead<T> =
  | { readonly state: "absent" }
  | { readonly state: "valid"; readonly value: T }
  | { readonly state: "malformed"; readonly error: string };

const ABSENT = { state: "absent" } as const;
const ATTEMPT = /^(0|[1-9]\d{0,8})$/;

export function readAttempt(job: FoldJobLike | undefined): AnnotationRead<number> {
  const text = job?.metadata?.annotations?.[ANNOTATION_ATTEMPT];
  if (text === undefined) return ABSENT;
  if (!ATTEMPT.test(text))
    return { state: "malformed", error: `unreadable attempt ${JSON.stringify(text.slice(0, 40))}: not a whole number` };
  return { state: "valid", value: Number(text) };
}

/** The attempt a Job stands for: its annotation, or 0 when it is missing or malformed. */
export function jobAttempt(job: FoldJobLike | undefined): number {
  const read = readAttempt(job);
  return read.state === "valid" ? read.value : 0;
}

/** The annotation the operator puts on an attempt's Job. */
export function attemptAnnotation(attempt: number): Record<string, string> {
  if (!Number.isInteger(attempt) || attempt < 0)
    throw new RangeError(`attempt must be a whole number >= 0, got ${attempt}`);
  return { [ANNOTATION_ATTEMPT]: String(attempt) };
}

export function readStopDecision(job: FoldJobLike | undefined): AnnotationRead<StopDecision> {
  const text = job?.metadata?.annotations?.[ANNOTATION_STOP_DECISION];
  if (text === undefined) return ABSENT;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { state: "malformed", error: "unreadable stop decision: not JSON" };
  }
  const parsed = StopDecision.safeParse(json);
  if (parsed.success) return { state: "valid", value: parsed.data };
  const issue = parsed.error.issues[0];
  return {
    state: "malformed",
    error: `unreadable stop decision: ${issue?.path.join(".") || "(root)"}: ${issue?.message}`,
  };
}

/** The valid stop decision on a Job, if any: what every part acts on. */
export function stopDecisionOf(job: FoldJobLike | undefined): StopDecision | undefined {
  const read = readStopDecision(job);
  return read.state === "valid" ? read.value : undefined;
}

/**
 * The one merge patch that records `decision` and suspends the Job (not in Audit mode: the
 * fold trains on, the decision is only recorded), guarded by the resourceVersion it was
 * decided on so that it never overwrites another writer's decision.
 */
export function stopDecisionPatch(
  decision: StopDecision,
  resourceVersion: string | undefined,
): Record<string, unknown> {
  const checked = StopDecision.parse(decision);
  return {
    metadata: {
      ...(resourceVersion !== undefined && { resourceVersion }),
      annotations: { [ANNOTATION_STOP_DECISION]: JSON.stringify(checked) },
    },
    ...(checked.mode !== "Audit" && { spec: { suspend: true } }),
  };
}

function condition(job: FoldJobLike, types: readonly string[]): boolean {
  return (job.status?.conditions ?? []).some(
    (c) => c.status === "True" && c.type !== undefined && types.includes(c.type),
  );
}

export function isJobComplete(job: FoldJobLike): boolean {
  return condition(job, ["Complete", "SuccessCriteriaMet"]);
}

export function isJobFailed(job: FoldJobLike): boolean {
  return condition(job, ["Failed", "FailureTarget"]);
}

/** The Job is over: it will run no pod again, so there is nothing left to stop. */
export function isJobFinished(job: FoldJobLike): boolean {
  return isJobComplete(job) || isJobFailed(job);
}

/** Whether a stop decision may be written on the Job now, and if not, why. */
export type StopWrite =
  | { readonly write: true; readonly replaces?: string }
  | { readonly write: false; readonly why: "decided"; readonly decision: StopDecision }
  | { readonly write: false; readonly why: "finished" };

export function decideStopWrite(job: FoldJobLike): StopWrite {
  const read = readStopDecision(job);
  if (read.state === "valid") return { write: false, why: "decided", decision: read.value };
  if (isJobFinished(job)) return { write: false, why: "finished" };
  return read.state === "malformed" ? { write: true, replaces: read.error } : { write: true };
}
