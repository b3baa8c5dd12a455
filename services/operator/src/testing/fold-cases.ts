import { strict as assert } from "node:assert";
import type { FoldStatus } from "@nnunet-operator/api";
import type { FoldDecision, FoldInput } from "../trainingrun/decide/folds.js";

// The table row of the fold decision tests (decide/folds.test.ts, decide/stall.test.ts) and
// its check: what the decision's status must say, and the actions, wants and requeue.

export interface FoldCase {
  name: string;
  input: Partial<FoldInput>;
  phase: FoldStatus["phase"];
  reason?: string;
  attempt?: number;
  batch?: number;
  actions?: string[];
  wants?: "train" | "validate";
  requeue?: number;
  message?: RegExp;
}

/** A fold's previous status: Training attempt 0 unless overridden. */
export const previousFold = (s: Partial<FoldStatus>): FoldStatus => ({
  fold: "0",
  phase: "Training",
  attempt: 0,
  ...s,
});

export function assertFoldDecision(d: FoldDecision, c: FoldCase): void {
  assert.equal(d.status.phase, c.phase, `phase (${d.status.reason}: ${d.status.message})`);
  if (c.reason) assert.equal(d.status.reason, c.reason);
  if (c.attempt !== undefined) assert.equal(d.status.attempt, c.attempt, "attempt");
  if (c.batch !== undefined) assert.equal(d.status.batchSize, c.batch, "batch size");
  if (c.actions)
    assert.deepEqual(
      d.actions.map((a) => a.type),
      c.actions,
    );
  assert.equal(d.wants, c.wants, "wants");
  assert.equal(d.requeueAfterSeconds, c.requeue, "requeue");
  if (c.message) assert.match(d.status.message ?? "", c.message);
}
