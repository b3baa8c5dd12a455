import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ANNOTATION_STOP_DECISION, type StopDecision } from "@nnunet-operator/api";
import { EventRecorder, KubeApiError, type KubeObject, Resources } from "@nnunet-operator/kube";
import { FakeKubePort, settle } from "@nnunet-operator/kube/testing";
import { decideJob, Terminator, TerminateError } from "./terminator.js";
import { makeRun, makeTrainingJob } from "./testing/index.js";

// The Job side of a stop decision: which Jobs are patched, what the
// patch holds, and how conflicts, missing Jobs and API failures come out.

const decision: StopDecision = {
  schemaVersion: 1,
  epoch: 312,
  policy: "Forecast",
  reason: "Converged: predicted gain 0.0004 < 0.002",
  bestEpoch: 300,
  bestEma: 0.9123,
  decidedAt: "2026-01-01T00:00:00.000Z",
};
const run = { ...makeRun(), metadata: { ...makeRun().metadata, uid: "uid-liver" } };
const target = { namespace: "team-a", run: "liver", runUid: "uid-liver", fold: "0" };

/** The fold's Job, changed by `change`: what someone without the operator's hand could create. */
function handMade(change: (job: KubeObject) => KubeObject): KubeObject {
  return change(makeTrainingJob(run, "0"));
}

describe("decideJob: only the fold's training Job controlled by the TrainingRun in the message", () => {
  const cases: Array<{ name: string; job: KubeObject; want: ReturnType<typeof decideJob> }> = [
    { name: "a running Job of the run is patched", job: makeTrainingJob(run, "0"), want: "patch" },
    {
      name: "a Job that carries a decision already is left alone",
      job: makeTrainingJob(run, "0", { annotations: { [ANNOTATION_STOP_DECISION]: JSON.stringify(decision) } }),
      want: "already-decided",
    },
    {
      name: "a Job whose decision is malformed gets a valid one (packages/api: a malformed decision is no decision)",
      job: makeTrainingJob(run, "0", { annotations: { [ANNOTATION_STOP_DECISION]: "{}" } }),
      want: "patch",
    },
    {
      name: "a complete Job has nothing left to stop",
      job: makeTrainingJob(run, "0", { conditions: [{ type: "Complete", status: "True" }] }),
      want: "job-finished",
    },
    {
      name: "a failed Job has nothing left to stop",
      job: makeTrainingJob(run, "0", { conditions: [{ type: "Failed", status: "True" }] }),
      want: "job-finished",
    },
    {
      name: "a Job whose Complete condition is False is still patched",
      job: makeTrainingJob(run, "0", { conditions: [{ type: "Complete", status: "False" }] }),
      want: "patch",
    },
    {
      name: "a Job owned by another incarnation of the run is not ours",
      job: makeTrainingJob({ ...run, metadata: { ...run.metadata, uid: "uid-old" } }, "0"),
      want: "job-foreign",
    },
    {
      name: "a Job named like the fold's but created by hand (no owner) is never touched",
      job: handMade((j) => ({ ...j, metadata: { ...j.metadata, ownerReferences: [] } })),
      want: "job-foreign",
    },
    {
      name: "a Job that names the run as owner but not as controller is not ours",
      job: handMade((j) => ({
        ...j,
        metadata: {
          ...j.metadata,
          ownerReferences: (j.metadata.ownerReferences ?? []).map((o) => ({ ...o, controller: false })),
        },
      })),
      want: "job-foreign",
    },
    {
      name: "a Job controlled by something else of the same uid and name is not ours",
      job: handMade((j) => ({
        ...j,
        metadata: {
          ...j.metadata,
          ownerReferences: (j.metadata.ownerReferences ?? []).map((o) => ({
            ...o,
            kind: "CronJob",
            apiVersion: "batch/v1",
          })),
        },
      })),
      want: "job-foreign",
    },
    {
      name: "a Job of the run whose labels name another fold is not this fold's",
      job: handMade((j) => ({
        ...j,
        metadata: { ...j.metadata, labels: { ...j.metadata.labels, "nnunet-operator.io/fold": "1" } },
      })),
      want: "job-foreign",
    },
    {
      name: "a Job of the run without the train role (a validation Job) is not a fold's training Job",
      job: handMade((j) => ({
        ...j,
        metadata: { ...j.metadata, labels: { ...j.metadata.labels, "nnunet-operator.io/role": "validate" } },
      })),
      want: "job-foreign",
    },
  ];
  for (const c of cases) it(c.name, () => assert.equal(decideJob(c.job, target), c.want));
});

describe("Terminator", () => {
  async function setup(job?: KubeObject) {
    const port = new FakeKubePort();
    if (job) await port.create(Resources.jobs, job);
    const events = new EventRecorder({ port, reporter: { controller: "c", instance: "i" } });
    return { port, terminator: new Terminator({ port, events }) };
  }

  it("patches once and records an event on the TrainingRun; a second call finds the decision and writes nothing", async () => {
    const { port, terminator } = await setup(makeTrainingJob(run, "0"));
    assert.equal(await terminator.terminate(target, decision), "patched");
    assert.equal(await terminator.terminate(target, { ...decision, epoch: 400 }), "already-decided");
    await settle();
    const writes = port.writes();
    assert.deepEqual(
      writes.map((w) => `${w.verb} ${w.resource}`),
      ["create jobs.batch", "patch jobs.batch", "create events.events.k8s.io"],
    );
    const job = await port.get<KubeObject & { spec: { suspend: boolean } }>(Resources.jobs, {
      namespace: "team-a",
      name: "liver-fold-0",
    });
    assert.equal(JSON.parse(job.metadata.annotations?.[ANNOTATION_STOP_DECISION] ?? "").epoch, 312);
    assert.equal(job.spec.suspend, true);
    const event = writes[2]?.body as {
      regarding: { kind: string; name: string; uid: string };
      reason: string;
      note: string;
    };
    assert.deepEqual(
      [event.regarding.kind, event.regarding.name, event.regarding.uid, event.reason],
      ["TrainingRun", "liver", "uid-liver", "FoldStopped"],
    );
    assert.match(event.note, /fold 0 stopped at epoch 312 by Forecast/);
  });

  it("reads again after a conflict and patches the fresh Job", async () => {
    const { port, terminator } = await setup(makeTrainingJob(run, "0"));
    port.failNext("patch", new KubeApiError("conflict", { code: 409, reason: "Conflict", retryable: true }));
    assert.equal(await terminator.terminate(target, decision), "patched");
    assert.equal(port.requests.filter((r) => r.verb === "get").length, 2);
  });

  it("answers job-missing for a Job that does not exist or vanishes before the patch", async () => {
    const { terminator } = await setup();
    assert.equal(await terminator.terminate(target, decision), "job-missing");
    const second = await setup(makeTrainingJob(run, "0"));
    second.port.failNext("patch", new KubeApiError("gone", { code: 404, reason: "NotFound", retryable: false }));
    assert.equal(await second.terminator.terminate(target, decision), "job-missing");
  });

  it("throws a TerminateError that keeps the API's retryability", async () => {
    for (const [code, reason, retryable] of [
      [503, "ServiceUnavailable", true],
      [403, "Forbidden", false],
    ] as const) {
      const { port, terminator } = await setup(makeTrainingJob(run, "0"));
      port.failNext("patch", new KubeApiError(reason, { code, reason, retryable }));
      await assert.rejects(
        terminator.terminate(target, decision),
        (err: unknown) =>
          err instanceof TerminateError && err.retryable === retryable && err.cause instanceof KubeApiError,
      );
    }
  });
});
