import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { IPod } from "kubernetes-models/v1/Pod";
import { findCondition, type TrainingRunStatus } from "@nnunet-operator/api";
import { parseOperatorConfig } from "../../config.js";
import { FakeClock, makeJob, makeNode, makePod, makeRun } from "../../testing/builders.js";
import { Sim } from "../../testing/sim.js";
import { FOREIGN_JOB_RECHECK_SECONDS, foreignJobMessage, runControlledJobs, splitChildren } from "./ownership.js";

// The ControllerRef rule of the operator: a run's children are the Jobs it controls (by uid)
// and the pods those Jobs control; a Job that only carries the run's label or a child's name
// is foreign. Foreign Jobs are never read or deleted, and the work that needs their name
// waits with a condition naming the Job and the fix, until the Job is gone.

const config = parseOperatorConfig("");
const RUN = { name: "liver", uid: "uid-liver" };
const EARLIER = { name: "liver", uid: "uid-liver-before" };
const nodes = () => [makeNode("a").build(), makeNode("b").build()];
const cond = (s: TrainingRunStatus | undefined, type: string) => findCondition(s?.conditions, type);
const names = (objects: readonly (IJob | IPod)[]) => objects.map((o) => o.metadata?.name);

describe("splitChildren", () => {
  const own = makeJob("liver-fold-0").of("liver", "train", "0").uid("j0").ownedBy(RUN).build();
  const cases: Array<{
    name: string;
    runUid?: string;
    jobs: IJob[];
    pods: IPod[];
    want: { jobs: string[]; pods: string[]; foreign: string[] };
  }> = [
    {
      name: "a Job the run controls and the pod that Job controls are the run's",
      jobs: [own],
      pods: [makePod("liver-fold-0-x").of("liver", "train", "0").ownedBy({ name: "liver-fold-0", uid: "j0" }).build()],
      want: { jobs: ["liver-fold-0"], pods: ["liver-fold-0-x"], foreign: [] },
    },
    {
      name: "a Job made by hand with the run's label is foreign, and its pod is nobody's child",
      jobs: [makeJob("liver-fold-0").of("liver", "train", "0").uid("squat").build()],
      pods: [
        makePod("liver-fold-0-y").of("liver", "train", "0").ownedBy({ name: "liver-fold-0", uid: "squat" }).build(),
      ],
      want: { jobs: [], pods: [], foreign: ["liver-fold-0"] },
    },
    {
      name: "a Job of an earlier run of the same name, on its way out, is foreign",
      jobs: [makeJob("liver-fold-0").of("liver", "train", "0").uid("old").ownedBy(EARLIER).deleting().build()],
      pods: [],
      want: { jobs: [], pods: [], foreign: ["liver-fold-0"] },
    },
    {
      name: "a Job the run owns but does not control is foreign",
      jobs: [makeJob("liver-fold-0").of("liver", "train", "0").ownedBy(RUN, false).build()],
      pods: [],
      want: { jobs: [], pods: [], foreign: ["liver-fold-0"] },
    },
    {
      name: "a Job controlled by another kind of owner is foreign",
      jobs: [
        makeJob("liver-fold-0").of("liver", "train", "0").ownedBy({ kind: "CronJob", name: "x", uid: "c1" }).build(),
      ],
      pods: [],
      want: { jobs: [], pods: [], foreign: ["liver-fold-0"] },
    },
    {
      name: "a pod with the run's labels that no Job of the run controls is left out",
      jobs: [own],
      pods: [
        makePod("bare").of("liver", "train", "0").build(),
        makePod("by-run").of("liver", "train", "0").ownedBy({ kind: "TrainingRun", name: "liver", uid: "j0" }).build(),
      ],
      want: { jobs: ["liver-fold-0"], pods: [], foreign: [] },
    },
    {
      name: "a run without a uid controls nothing",
      runUid: "",
      jobs: [own],
      pods: [],
      want: { jobs: [], pods: [], foreign: ["liver-fold-0"] },
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const got = splitChildren(c.runUid ?? RUN.uid, c.jobs, c.pods);
      assert.deepEqual({ jobs: names(got.jobs), pods: names(got.pods), foreign: names(got.foreignJobs) }, c.want);
    });
});

describe("runControlledJobs: the Jobs admission counts as GPUs promised to runs", () => {
  const cases: Array<[string, IJob, boolean]> = [
    [
      "a Job a run controls and labels as its own",
      makeJob("liver-fold-0").of("liver", "train", "0").ownedBy(RUN).build(),
      true,
    ],
    [
      "a Job of an earlier run of the same name: its pods may still run",
      makeJob("liver-fold-0").of("liver", "train", "0").ownedBy(EARLIER).build(),
      true,
    ],
    ["a Job labelled for a run by hand", makeJob("liver-fold-0").of("liver", "train", "0").build(), false],
    [
      "a run's Job labelled for another run",
      makeJob("liver-fold-0").of("kidney", "train", "0").ownedBy(RUN).build(),
      false,
    ],
    [
      "a Job another kind of owner controls",
      makeJob("liver-fold-0").of("liver", "train", "0").ownedBy({ kind: "CronJob", name: "liver", uid: "c" }).build(),
      false,
    ],
  ];
  for (const [name, job, counted] of cases)
    it(name, () => assert.deepEqual(names(runControlledJobs([job])), counted ? ["liver-fold-0"] : []));
});

describe("foreignJobMessage names the Job, whose it is and the fix", () => {
  const run = makeRun().build();
  const cases: Array<[string, IJob, RegExp]> = [
    [
      "a Job made by hand",
      makeJob("liver-fold-0").build(),
      /^Job team-a\/liver-fold-0 exists and is not controlled by TrainingRun liver \(uid uid-liver\); delete it or rename the run$/,
    ],
    [
      "a Job another controller controls",
      makeJob("liver-fold-0").ownedBy({ kind: "CronJob", name: "nightly", uid: "c1" }).build(),
      /^Job team-a\/liver-fold-0 is controlled by CronJob nightly \(uid c1\) and is not controlled by TrainingRun liver \(uid uid-liver\); delete it or rename the run$/,
    ],
    [
      "a Job of an earlier run of the same name",
      makeJob("liver-fold-0").ownedBy(EARLIER).build(),
      /belongs to an earlier TrainingRun liver \(uid uid-liver-before\), not to this one \(uid uid-liver\); waiting for the garbage collector to delete it, or delete it$/,
    ],
    [
      "a Job of an earlier run that is being deleted",
      makeJob("liver-fold-0").ownedBy(EARLIER).deleting().build(),
      /earlier TrainingRun liver .* and is being deleted; waiting for it to go$/,
    ],
    [
      "a Job the run controls that lost the run label",
      makeJob("liver-fold-0").ownedBy(RUN).build(),
      /is controlled by TrainingRun liver but lacks the label nnunet-operator.io\/run=liver .*; delete it$/,
    ],
  ];
  for (const [name, job, want] of cases) it(name, () => assert.match(foreignJobMessage(run, job), want));
});

describe("work that needs a name a foreign Job holds, pass by pass", () => {
  it("a fold waits without creating its Job or wanting a GPU, never reads the foreign Job, and trains once it is gone", () => {
    const clock = new FakeClock();
    const sim = new Sim(makeRun().folds(0, 1).batch({ mode: "Fixed", value: 4 }).build(), config, nodes());
    // Finished, with a stop decision: none of it may become fold 0's.
    sim.foreignJobs = [makeJob("liver-fold-0").of("liver", "train", "0").stopDecision({ epoch: 3 }).complete().build()];

    let plan = sim.pass(clock.now());
    assert.deepEqual(
      plan.actions.map((a) => a.verb === "create" && a.object.metadata?.name),
      ["liver-fold-1"],
      "fold 1 is not held up",
    );
    assert.deepEqual(
      plan.wants.map((w) => `${w.kind}/${w.fold}`),
      [],
    );
    const f0 = plan.status.folds?.find((f) => f.fold === "0");
    assert.equal(f0?.phase, "Queued");
    assert.equal(f0?.reason, "JobNameTaken");
    assert.equal(f0?.stopDecision, undefined);
    assert.match(f0?.message ?? "", /Job team-a\/liver-fold-0 exists and is not controlled by TrainingRun liver/);
    assert.deepEqual(
      { ...cond(plan.status, "JobConflict"), lastTransitionTime: undefined, observedGeneration: undefined },
      {
        type: "JobConflict",
        status: "True",
        reason: "JobNameTaken",
        message:
          "Job team-a/liver-fold-0 exists and is not controlled by TrainingRun liver (uid uid-liver); delete it or rename the run",
        lastTransitionTime: undefined,
        observedGeneration: undefined,
      },
    );
    assert.deepEqual(
      plan.events.filter((e) => e.reason === "JobNameTaken").map((e) => e.type),
      ["Warning"],
    );
    assert.ok(
      (plan.requeueAfterSeconds ?? Infinity) <= FOREIGN_JOB_RECHECK_SECONDS,
      "looked at again without a watch event",
    );

    clock.advance(30);
    plan = sim.pass(clock.now());
    assert.equal(plan.status.folds?.find((f) => f.fold === "0")?.reason, "JobNameTaken", "still waiting");
    assert.deepEqual(
      plan.events.filter((e) => e.reason === "JobNameTaken"),
      [],
      "said once",
    );

    // Deleted by its author: fold 0 is admitted and its own Job created.
    sim.foreignJobs = [];
    clock.advance(5);
    plan = sim.pass(clock.now());
    assert.deepEqual(
      plan.actions.map((a) => a.verb === "create" && a.object.metadata?.name),
      ["liver-fold-0"],
    );
    assert.equal(cond(plan.status, "JobConflict")?.status, "False");
    assert.equal(cond(plan.status, "JobConflict")?.reason, "NoConflict");
    assert.notEqual(plan.status.phase, "Failed");
  });

  it("a fold whose own Job was replaced by a foreign one counts the lost attempt, keeps its reason and waits", () => {
    const clock = new FakeClock();
    const sim = new Sim(makeRun().folds(0).batch({ mode: "Fixed", value: 4 }).build(), config, nodes());
    sim.pass(clock.now());
    sim.addPod(makePod("liver-fold-0-x").of("liver", "train", "0").gpus(1).on("a").running(10).build());
    clock.advance(60);
    assert.equal(sim.pass(clock.now()).status.folds?.[0]?.phase, "Training");

    // Deleted and made again by hand under the same name: not the fold's Job.
    sim.jobs = [];
    sim.pods = [];
    sim.foreignJobs = [makeJob("liver-fold-0").of("liver", "train", "0").active().build()];
    clock.advance(5);
    let plan = sim.pass(clock.now());
    let fold = plan.status.folds?.[0];
    assert.equal(fold?.phase, "Restarting");
    assert.equal(fold?.attempt, 1);
    const restartReason = fold?.reason;
    assert.notEqual(restartReason, "JobNameTaken");
    assert.deepEqual(plan.actions, []);
    assert.equal(cond(plan.status, "JobConflict")?.status, "True");

    clock.advance(5);
    plan = sim.pass(clock.now());
    fold = plan.status.folds?.[0];
    assert.equal(fold?.attempt, 1, "one lost attempt, however long the name stays taken");
    assert.equal(fold?.reason, restartReason, "the restart's own reason, read back by the next passes");
    assert.match(fold?.message ?? "", /exists and is not controlled by TrainingRun liver/);

    sim.foreignJobs = [];
    plan = sim.pass(clock.now());
    assert.deepEqual(
      plan.actions.map((a) => a.verb === "create" && a.object.metadata?.annotations?.["nnunet-operator.io/attempt"]),
      ["1"],
    );
  });

  it("the calibration waits for a foreign <run>-calibrate with the Calibrated condition saying why", () => {
    const clock = new FakeClock();
    const sim = new Sim(makeRun().folds(0).build(), config, nodes());
    sim.foreignJobs = [makeJob("liver-calibrate").ownedBy(EARLIER).deleting().build()];
    let plan = sim.pass(clock.now());
    assert.deepEqual(plan.actions, []);
    assert.deepEqual(plan.wants, []);
    assert.equal(cond(plan.status, "Calibrated")?.reason, "JobNameTaken");
    assert.match(cond(plan.status, "JobConflict")?.message ?? "", /earlier TrainingRun liver .* being deleted/);

    sim.foreignJobs = [];
    plan = sim.pass(clock.now());
    assert.deepEqual(
      plan.actions.map((a) => a.verb === "create" && a.object.metadata?.name),
      ["liver-calibrate"],
    );
  });

  it("a trained fold waits to validate while a foreign <run>-validate-<f> holds the name", () => {
    const clock = new FakeClock();
    const sim = new Sim(makeRun().folds(0).batch({ mode: "Fixed", value: 4 }).build(), config, nodes());
    sim.pass(clock.now());
    sim.setJob("liver-fold-0", (j) => ({
      ...j,
      status: {
        succeeded: 1,
        conditions: [{ type: "Complete", status: "True", lastTransitionTime: "2026-01-01T00:10:00Z" }],
      },
    }));
    sim.foreignJobs = [makeJob("liver-validate-0").of("liver", "validate", "0").complete().build()];
    clock.advance(600);
    let plan = sim.pass(clock.now());
    const fold = plan.status.folds?.[0];
    assert.equal(fold?.phase, "Completed");
    assert.equal(fold?.reason, "JobNameTaken");
    assert.equal(fold?.validation, undefined, "the foreign Job's result is not the fold's");
    assert.deepEqual(plan.actions, []);
    assert.deepEqual(plan.wants, []);

    sim.foreignJobs = [];
    plan = sim.pass(clock.now());
    assert.deepEqual(
      plan.actions.map((a) => a.verb === "create" && a.object.metadata?.name),
      ["liver-validate-0"],
    );
  });
});
