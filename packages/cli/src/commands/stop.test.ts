import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ANNOTATION_STOP_DECISION, StopDecision, type TrainingRun } from "@nnunet-operator/api";
import { NOW, convergedFold, makeRun, trainingFold } from "../testing/runs.js";
import { decideManualStop } from "./stop.js";

const run = (phase: string, extra = {}): TrainingRun =>
  makeRun(
    "liver",
    {
      phase: "Training",
      folds: [
        phase === "Training"
          ? trainingFold("0", 120)
          : phase === "Converged"
            ? convergedFold("0", 187)
            : { fold: "0", phase: phase as "Queued", attempt: 0 },
      ],
      ...extra,
    },
    { folds: [0, 1] },
  );

const job = (
  annotations: Record<string, string> = {},
  spec: Record<string, unknown> = {},
  status: Record<string, unknown> = {},
) => ({
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { name: "liver-fold-0", namespace: "default", resourceVersion: "42", annotations },
  spec,
  status,
});

const manual = JSON.stringify({
  schemaVersion: 1,
  epoch: 100,
  policy: "Manual",
  reason: "x",
  decidedAt: "2026-01-01T11:00:00.000Z",
});

describe("decideManualStop", () => {
  it("stops a training fold with one merge patch: the Manual decision from the run's status and suspend", () => {
    const plan = decideManualStop({ run: run("Training"), fold: "0", job: job(), reason: "looks converged", now: NOW });
    assert.equal(plan.kind, "patch");
    if (plan.kind !== "patch") return;
    const patch = plan.patch as {
      metadata: { annotations: Record<string, string>; resourceVersion: string };
      spec: { suspend: boolean };
    };
    assert.deepEqual(patch.spec, { suspend: true });
    assert.equal(patch.metadata.resourceVersion, "42");
    const decision = StopDecision.parse(JSON.parse(patch.metadata.annotations[ANNOTATION_STOP_DECISION] as string));
    assert.deepEqual(decision, {
      schemaVersion: 1,
      epoch: 120,
      policy: "Manual",
      reason: "looks converged",
      bestEpoch: 118,
      bestEma: 0.815,
      decidedAt: NOW.toISOString(),
    });
    assert.match(
      plan.message,
      /fold 0 of TrainingRun default\/liver: stop requested at epoch 120 \(best EMA 0\.8150 at epoch 118\)/,
    );
  });

  const refusals: Array<{
    name: string;
    phase: string;
    job: ReturnType<typeof job> | undefined;
    fold?: string;
    message: RegExp;
    code: string;
  }> = [
    {
      name: "a fold the run does not train",
      phase: "Training",
      job: job(),
      fold: "4",
      message: /fold 4 is not a fold of TrainingRun default\/liver \(its folds: 0, 1\)/,
      code: "NotFoundError",
    },
    {
      name: "a queued fold, with how to hold the run instead",
      phase: "Queued",
      job: undefined,
      message:
        /fold 0 of TrainingRun default\/liver is Queued, not Training: it has not started; to hold the whole run: kubectl patch trainingrun liver/,
      code: "RefusedError",
    },
    {
      name: "a converged fold stopped by its policy",
      phase: "Converged",
      job: job(),
      message: /is Converged, not Training: its training is already over/,
      code: "RefusedError",
    },
    {
      name: "a fold between attempts",
      phase: "Restarting",
      job: undefined,
      message: /is Restarting, not Training: it is between attempts/,
      code: "RefusedError",
    },
    {
      name: "a training fold whose Job is missing",
      phase: "Training",
      job: undefined,
      message: /training Job liver-fold-0 of fold 0 of TrainingRun default\/liver not found/,
      code: "NotFoundError",
    },
    {
      name: "a Job that has already completed",
      phase: "Training",
      job: job({}, {}, { conditions: [{ type: "Complete", status: "True" }] }),
      message: /has already ended \(Complete\)/,
      code: "RefusedError",
    },
  ];
  for (const c of refusals) {
    it(`refuses ${c.name}`, () => {
      const plan = decideManualStop({ run: run(c.phase), fold: c.fold ?? "0", job: c.job, now: NOW });
      assert.equal(plan.kind, "refused");
      if (plan.kind !== "refused") return;
      assert.equal(plan.error.name, c.code);
      assert.equal(plan.error.exitCode, 1);
      assert.match(plan.error.message, c.message);
    });
  }

  it("does nothing when the Job already carries a decision and is suspended (a second stop)", () => {
    const plan = decideManualStop({
      run: run("Converged"),
      fold: "0",
      job: job({ [ANNOTATION_STOP_DECISION]: manual }, { suspend: true }),
      now: NOW,
    });
    assert.equal(plan.kind, "noop");
    assert.match(
      plan.kind === "noop" ? plan.message : "",
      /already has a stop decision \(Manual at epoch 100, 2026-01-01T11:00:00.000Z\): nothing to do/,
    );
  });

  it("suspends again, keeping the decision, a Job someone resumed", () => {
    const plan = decideManualStop({
      run: run("Training"),
      fold: "0",
      job: job({ [ANNOTATION_STOP_DECISION]: manual }, { suspend: false }),
      now: NOW,
    });
    assert.equal(plan.kind, "patch");
    assert.deepEqual(plan.kind === "patch" ? plan.patch : undefined, {
      spec: { suspend: true },
      metadata: { resourceVersion: "42" },
    });
  });

  it("replaces a malformed decision with its own, as every writer does (packages/api fold-job.ts), and says so", () => {
    const plan = decideManualStop({
      run: run("Training"),
      fold: "0",
      job: job({ [ANNOTATION_STOP_DECISION]: "{oops" }),
      now: NOW,
    });
    assert.equal(plan.kind, "patch");
    if (plan.kind !== "patch") return;
    const patch = plan.patch as { metadata: { annotations: Record<string, string> } };
    assert.equal(
      StopDecision.parse(JSON.parse(patch.metadata.annotations[ANNOTATION_STOP_DECISION] as string)).policy,
      "Manual",
    );
    assert.match(plan.message, /suspended \(replacing the Job's unreadable stop decision: not JSON\)/);
  });
});
