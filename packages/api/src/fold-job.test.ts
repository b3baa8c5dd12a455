import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import {
  ANNOTATION_ATTEMPT,
  ANNOTATION_STOP_DECISION,
  attemptAnnotation,
  decideStopWrite,
  type FoldJobLike,
  isJobComplete,
  isJobFailed,
  isJobFinished,
  jobAttempt,
  readAttempt,
  readStopDecision,
  stopDecisionOf,
  stopDecisionPatch,
} from "./fold-job.js";
import type { StopDecision } from "./messages.js";

// The fold Job contract every part reads through: what a valid, a missing and a malformed
// annotation mean, decided once here, and when a Job counts as finished.

const decision: StopDecision = {
  schemaVersion: 1,
  epoch: 312,
  policy: "Patience",
  reason: "no improvement for 50 epochs",
  bestEpoch: 262,
  bestEma: 0.8123,
  decidedAt: "2026-01-01T01:00:00.000Z",
};
const annotated = (
  annotations: Record<string, string>,
  conditions: Array<{ type: string; status: string }> = [],
): FoldJobLike => ({ metadata: { annotations, resourceVersion: "7" }, status: { conditions } });

describe("the attempt annotation", () => {
  const cases: Array<{
    name: string;
    value: string | undefined;
    read: ReturnType<typeof readAttempt>["state"];
    attempt: number;
  }> = [
    { name: "a whole number is the attempt", value: "3", read: "valid", attempt: 3 },
    { name: "zero is the first attempt", value: "0", read: "valid", attempt: 0 },
    { name: "a missing annotation reads as the first attempt", value: undefined, read: "absent", attempt: 0 },
    {
      name: "a decimal is malformed (no part once accepted 1.0 and another refused it)",
      value: "1.0",
      read: "malformed",
      attempt: 0,
    },
    { name: "a negative number is malformed", value: "-1", read: "malformed", attempt: 0 },
    { name: "a leading zero is malformed", value: "01", read: "malformed", attempt: 0 },
    { name: "words are malformed", value: "two", read: "malformed", attempt: 0 },
    { name: "an empty value is malformed", value: "", read: "malformed", attempt: 0 },
    {
      name: "a number past any restart limit is malformed rather than a float",
      value: "99999999999999999999",
      read: "malformed",
      attempt: 0,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const job = annotated(c.value === undefined ? {} : { [ANNOTATION_ATTEMPT]: c.value });
      assert.equal(readAttempt(job).state, c.read);
      assert.equal(jobAttempt(job), c.attempt);
    });
  }

  it("is written as the decimal string the reader reads back, and only for whole numbers >= 0", () => {
    assert.deepEqual(attemptAnnotation(2), { [ANNOTATION_ATTEMPT]: "2" });
    assert.equal(jobAttempt(annotated(attemptAnnotation(17))), 17);
    assert.throws(() => attemptAnnotation(-1), /attempt must be a whole number >= 0, got -1/);
    assert.throws(() => attemptAnnotation(1.5), /got 1.5/);
  });
});

describe("the stop-decision annotation", () => {
  const cases: Array<{
    name: string;
    value: string | undefined;
    state: "absent" | "valid" | "malformed";
    error?: RegExp;
  }> = [
    { name: "a StopDecision is read as one", value: JSON.stringify(decision), state: "valid" },
    {
      name: "a decision without schemaVersion gets the current one",
      value: JSON.stringify({ ...decision, schemaVersion: undefined }),
      state: "valid",
    },
    { name: "no annotation is no decision", value: undefined, state: "absent" },
    {
      name: "text that is not JSON is malformed",
      value: "{oops",
      state: "malformed",
      error: /^unreadable stop decision: not JSON$/,
    },
    {
      name: "JSON of another shape is malformed, naming the field",
      value: JSON.stringify({ ...decision, epoch: -1 }),
      state: "malformed",
      error: /^unreadable stop decision: epoch: /,
    },
    {
      name: "an unknown policy is malformed",
      value: JSON.stringify({ ...decision, policy: "Vibes" }),
      state: "malformed",
      error: /policy/,
    },
    {
      name: "an extra field is malformed (the format is strict)",
      value: JSON.stringify({ ...decision, extra: 1 }),
      state: "malformed",
      error: /unreadable stop decision/,
    },
    { name: "an empty object is malformed", value: "{}", state: "malformed", error: /unreadable stop decision/ },
    { name: "JSON null is malformed", value: "null", state: "malformed", error: /\(root\)/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const job = annotated(c.value === undefined ? {} : { [ANNOTATION_STOP_DECISION]: c.value });
      const read = readStopDecision(job);
      assert.equal(read.state, c.state);
      if (read.state === "malformed") assert.match(read.error, c.error ?? /./);
      assert.equal(stopDecisionOf(job) !== undefined, c.state === "valid", "only a valid decision is acted on");
    });
  }

  it("is written in one patch with the suspend and the resourceVersion it was decided on, and reads back equal", () => {
    const patch = stopDecisionPatch(decision, "42") as {
      metadata: { resourceVersion: string; annotations: Record<string, string> };
      spec: { suspend: boolean };
    };
    assert.equal(patch.metadata.resourceVersion, "42");
    assert.equal(patch.spec.suspend, true);
    assert.deepEqual(stopDecisionOf(annotated(patch.metadata.annotations)), decision);
    assert.throws(() => stopDecisionPatch({ ...decision, reason: "" }, "1"), /reason/);
  });

  it("records an audited decision without the suspend, so that the fold trains on", () => {
    const audited = { ...decision, mode: "Audit" as const };
    const patch = stopDecisionPatch(audited, "7") as {
      metadata: { annotations: Record<string, string> };
      spec?: unknown;
    };
    assert.equal(patch.spec, undefined);
    assert.deepEqual(stopDecisionOf(annotated(patch.metadata.annotations)), audited);
  });
});

describe("whether a stop decision may be written", () => {
  const cases: Array<{
    name: string;
    job: FoldJobLike;
    want: ReturnType<typeof decideStopWrite> | { write: false; why: "decided" };
  }> = [
    { name: "a running Job without a decision takes one", job: annotated({}), want: { write: true } },
    {
      name: "a valid decision is never overwritten",
      job: annotated({ [ANNOTATION_STOP_DECISION]: JSON.stringify(decision) }),
      want: { write: false, why: "decided" },
    },
    {
      name: "a malformed decision is replaced, and the writer learns what it replaces",
      job: annotated({ [ANNOTATION_STOP_DECISION]: "{oops" }),
      want: { write: true, replaces: "unreadable stop decision: not JSON" },
    },
    {
      name: "a finished Job has nothing left to stop",
      job: annotated({}, [{ type: "Complete", status: "True" }]),
      want: { write: false, why: "finished" },
    },
    {
      name: "a decided and finished Job reports the decision",
      job: annotated({ [ANNOTATION_STOP_DECISION]: JSON.stringify(decision) }, [{ type: "Failed", status: "True" }]),
      want: { write: false, why: "decided" },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = decideStopWrite(c.job);
      const { decision: _d, ...rest } = got as { decision?: unknown };
      assert.deepEqual(rest, c.want);
    });
  }
});

describe("when a Job is finished", () => {
  const cases: Array<{
    name: string;
    conditions: Array<{ type: string; status: string }>;
    succeeded?: number;
    complete: boolean;
    failed: boolean;
  }> = [
    {
      name: "Complete=True is finished and complete",
      conditions: [{ type: "Complete", status: "True" }],
      complete: true,
      failed: false,
    },
    {
      name: "SuccessCriteriaMet=True (set before Complete since 1.31) is complete",
      conditions: [{ type: "SuccessCriteriaMet", status: "True" }],
      complete: true,
      failed: false,
    },
    {
      name: "Failed=True is finished and failed",
      conditions: [{ type: "Failed", status: "True" }],
      complete: false,
      failed: true,
    },
    {
      name: "FailureTarget=True (set before Failed since 1.31) is failed",
      conditions: [{ type: "FailureTarget", status: "True" }],
      complete: false,
      failed: true,
    },
    {
      name: "a condition with status False does not count",
      conditions: [{ type: "Complete", status: "False" }],
      complete: false,
      failed: false,
    },
    {
      name: "Suspended=True is not finished: a stopped fold's Job",
      conditions: [{ type: "Suspended", status: "True" }],
      complete: false,
      failed: false,
    },
    {
      name: "succeeded pods without a condition are not finished: the conditions decide",
      conditions: [],
      succeeded: 1,
      complete: false,
      failed: false,
    },
    { name: "no status is not finished", conditions: [], complete: false, failed: false },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const job = {
        status: { conditions: c.conditions, ...(c.succeeded !== undefined && { succeeded: c.succeeded }) },
      } as FoldJobLike;
      assert.equal(isJobComplete(job), c.complete);
      assert.equal(isJobFailed(job), c.failed);
      assert.equal(isJobFinished(job), c.complete || c.failed);
    });
  }
});
