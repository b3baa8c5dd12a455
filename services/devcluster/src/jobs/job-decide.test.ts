import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { KubeObject } from "../api/resources.js";
import { decideJob, TRACKING_FINALIZER, type JobSpec, type JobStatus } from "./job-decide.js";

// The Job controller's semantics, decided on a fake clock.

const NOW = new Date("2026-01-01T00:10:00Z");
let n = 0;
const makeJob = (spec: JobSpec = {}, status: JobStatus = {}): KubeObject => ({
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { name: "j", namespace: "ns", uid: "job-uid" },
  spec: { parallelism: 1, completions: 1, backoffLimit: 6, ...spec },
  status,
});
const makePod = (
  o: {
    phase?: string;
    exit?: [string, number];
    conditions?: string[];
    counted?: boolean;
    deleting?: boolean;
    ready?: boolean;
  } = {},
): KubeObject => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: `j-${++n}`,
    namespace: "ns",
    uid: `pod-${n}`,
    ...(o.counted ? {} : { finalizers: [TRACKING_FINALIZER] }),
    ...(o.deleting ? { deletionTimestamp: "2026-01-01T00:09:00Z" } : {}),
  },
  status: {
    phase: o.phase ?? "Running",
    conditions: [
      ...(o.conditions ?? []).map((type) => ({ type, status: "True" })),
      ...(o.ready ? [{ type: "Ready", status: "True" }] : []),
    ],
    ...(o.exit ? { containerStatuses: [{ name: o.exit[0], state: { terminated: { exitCode: o.exit[1] } } }] } : {}),
  },
});
const types = (s: JobStatus) =>
  (s.conditions ?? []).filter((c) => c.status === "True").map((c) => `${c.type}/${c.reason}`);

const calibratePolicy: JobSpec["podFailurePolicy"] = {
  rules: [
    { action: "FailJob", onExitCodes: { containerName: "calibrate", operator: "In", values: [2, 3] } },
    { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
  ],
};

const cases: {
  name: string;
  job: KubeObject;
  pods: KubeObject[];
  want: {
    create?: number;
    delete?: number;
    conditions?: string[];
    counts?: Record<string, unknown>;
    deleteJob?: boolean;
    requeue?: number;
  };
}[] = [
  {
    name: "a new job creates its first pod and starts",
    job: makeJob(),
    pods: [],
    want: { create: 1, conditions: [], counts: { active: 1, startTime: "2026-01-01T00:10:00Z" } },
  },
  {
    name: "a running pod is left alone and counted active and ready",
    job: makeJob({}, { startTime: "2026-01-01T00:00:00Z" }),
    pods: [makePod({ ready: true })],
    want: { create: 0, counts: { active: 1, ready: 1 } },
  },
  {
    name: "a succeeded pod meets the success criteria and completes the job",
    job: makeJob({}, { startTime: "x" }),
    pods: [makePod({ phase: "Succeeded" })],
    want: {
      create: 0,
      conditions: ["SuccessCriteriaMet/CompletionsReached", "Complete/CompletionsReached"],
      counts: { succeeded: 1, active: 0 },
    },
  },
  {
    name: "a failed pod under the backoff limit is replaced",
    job: makeJob({ backoffLimit: 2 }, { startTime: "x" }),
    pods: [makePod({ phase: "Failed", exit: ["main", 1] })],
    want: { create: 1, counts: { failed: 1 } },
  },
  {
    name: "a failure past the backoff limit fails the job",
    job: makeJob({ backoffLimit: 0 }, { startTime: "x" }),
    pods: [makePod({ phase: "Failed", exit: ["main", 1] })],
    want: {
      create: 0,
      conditions: ["FailureTarget/BackoffLimitExceeded", "Failed/BackoffLimitExceeded"],
      counts: { failed: 1 },
    },
  },
  {
    name: "an exit code matching FailJob fails the job at once",
    job: makeJob({ backoffLimit: 5, podFailurePolicy: calibratePolicy }, { startTime: "x" }),
    pods: [makePod({ phase: "Failed", exit: ["calibrate", 3] })],
    want: { create: 0, conditions: ["FailureTarget/PodFailurePolicy", "Failed/PodFailurePolicy"] },
  },
  {
    name: "an exit code of another container does not match the rule",
    job: makeJob({ backoffLimit: 5, podFailurePolicy: calibratePolicy }, { startTime: "x" }),
    pods: [makePod({ phase: "Failed", exit: ["other", 3] })],
    want: { create: 1, counts: { failed: 1 } },
  },
  {
    name: "a disrupted pod is ignored: not counted, replaced",
    job: makeJob({ backoffLimit: 0, podFailurePolicy: calibratePolicy }, { startTime: "x" }),
    pods: [makePod({ phase: "Failed", exit: ["calibrate", 137], conditions: ["DisruptionTarget"] })],
    want: { create: 1, conditions: [], counts: { failed: undefined } },
  },
  {
    name: "a Count rule counts towards the limit",
    job: makeJob(
      {
        backoffLimit: 0,
        podFailurePolicy: { rules: [{ action: "Count", onExitCodes: { operator: "In", values: [42] } }] },
      },
      { startTime: "x" },
    ),
    pods: [makePod({ phase: "Failed", exit: ["main", 42] })],
    want: { conditions: ["FailureTarget/BackoffLimitExceeded", "Failed/BackoffLimitExceeded"] },
  },
  {
    name: "an already counted pod is not counted again",
    job: makeJob({ backoffLimit: 1 }, { startTime: "x", failed: 1 }),
    pods: [makePod({ phase: "Failed", counted: true })],
    want: { create: 1, counts: { failed: 1 } },
  },
  {
    name: "activeDeadlineSeconds fails the job and deletes its pods, Failed only once they are gone",
    job: makeJob({ activeDeadlineSeconds: 60 }, { startTime: "2026-01-01T00:00:00Z" }),
    pods: [makePod()],
    want: { delete: 1, conditions: ["FailureTarget/DeadlineExceeded"], counts: { terminating: 1 } },
  },
  {
    name: "before the deadline the job looks again when it runs out",
    job: makeJob({ activeDeadlineSeconds: 900 }, { startTime: "2026-01-01T00:00:00Z" }),
    pods: [makePod()],
    want: { delete: 0, requeue: 300_000 },
  },
  {
    name: "suspend deletes the active pods, creates none, and says JobSuspended",
    job: makeJob({ suspend: true }, { startTime: "x" }),
    pods: [makePod()],
    want: { create: 0, delete: 1, conditions: ["Suspended/JobSuspended"], counts: { active: 0, startTime: undefined } },
  },
  {
    name: "a pod stopped by the suspension is not a failure",
    job: makeJob({ suspend: true, backoffLimit: 0 }, { startTime: "x" }),
    pods: [makePod({ phase: "Failed", exit: ["main", 143] })],
    want: { create: 0, conditions: ["Suspended/JobSuspended"], counts: { failed: undefined } },
  },
  {
    name: "resuming starts over with a new start time",
    job: makeJob({ suspend: false }, { conditions: [{ type: "Suspended", status: "True", reason: "JobSuspended" }] }),
    pods: [],
    want: { create: 1, conditions: [], counts: { startTime: "2026-01-01T00:10:00Z" } },
  },
  {
    name: "podReplacementPolicy Failed waits for a terminating pod",
    job: makeJob({ podReplacementPolicy: "Failed" }, { startTime: "x" }),
    pods: [makePod({ deleting: true })],
    want: { create: 0, counts: { active: 0, terminating: 1 } },
  },
  {
    name: "a finished job past its TTL is deleted",
    job: makeJob(
      { ttlSecondsAfterFinished: 60 },
      { completionTime: "2026-01-01T00:00:00Z", conditions: [{ type: "Complete", status: "True" }] },
    ),
    pods: [],
    want: { deleteJob: true },
  },
  {
    name: "a finished job within its TTL waits for it",
    job: makeJob(
      { ttlSecondsAfterFinished: 3600 },
      { completionTime: "2026-01-01T00:00:00Z", conditions: [{ type: "Complete", status: "True" }] },
    ),
    pods: [],
    want: { deleteJob: false, requeue: 3_000_000 },
  },
  {
    name: "parallelism and completions: two at a time until three succeeded",
    job: makeJob({ parallelism: 2, completions: 3 }, { startTime: "x", succeeded: 2 }),
    pods: [],
    want: { create: 1 },
  },
];

describe("Job controller decisions", () => {
  for (const c of cases) {
    it(c.name, () => {
      const d = decideJob(c.job, c.pods, NOW);
      if (c.want.create !== undefined) assert.equal(d.create, c.want.create, "pods to create");
      if (c.want.delete !== undefined) assert.equal(d.delete.length, c.want.delete, "pods to delete");
      if (c.want.conditions) assert.deepEqual(types(d.status), c.want.conditions);
      for (const [k, v] of Object.entries(c.want.counts ?? {})) assert.deepEqual(d.status[k as keyof JobStatus], v, k);
      if (c.want.deleteJob !== undefined) assert.equal(d.deleteJob, c.want.deleteJob);
      if (c.want.requeue !== undefined) assert.equal(d.requeueAfterMs, c.want.requeue);
    });
  }

  it("names the container, exit code and rule in a FailJob message", () => {
    const d = decideJob(
      makeJob({ podFailurePolicy: calibratePolicy }, { startTime: "x" }),
      [makePod({ phase: "Failed", exit: ["calibrate", 2] })],
      NOW,
    );
    const failed = d.status.conditions!.find((c) => c.type === "Failed")!;
    assert.match(
      failed.message!,
      /^Container calibrate for pod ns\/j-\d+ failed with exit code 2 matching FailJob rule at index 0$/,
    );
  });
});
