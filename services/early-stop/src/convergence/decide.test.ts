import { test } from "node:test";
import assert from "node:assert/strict";
import { StopDecision } from "@nnunet-operator/api";
import { decideStop, toStopDecision } from "./decide.js";
import { configOf, historyOf } from "./testing.js";

// The decision chain: divergence always first, then enabled and minEpochs, then the policy.

const flat = (n: number) => Array.from({ length: n }, (_, i) => (i < 5 ? 0.5 + i * 0.05 : 0.7));

const cases = [
  {
    name: "a NaN train loss stops at once, before minEpochs, as Divergence with reason Diverged",
    history: historyOf(flat(4), (e) => (e === 3 ? { trainLoss: Number.NaN } : {})),
    spec: { policy: "Patience", minEpochs: 50 },
    expect: { policy: "Divergence", reason: "Diverged", epoch: 3 },
  },
  {
    name: "an infinite validation loss stops even when early stopping is disabled",
    history: historyOf(flat(10), (e) => (e === 9 ? { valLoss: Number.POSITIVE_INFINITY } : {})),
    spec: { enabled: false },
    expect: { policy: "Divergence", reason: "Diverged", epoch: 9 },
  },
  {
    name: "a disabled early stop never stops a converged fold",
    history: historyOf(flat(200)),
    spec: { enabled: false, policy: "Patience", patience: 10 },
    expect: undefined,
  },
  {
    name: "nothing is decided before minEpochs epochs have finished",
    history: historyOf(flat(49)),
    spec: { policy: "Patience", patience: 10, minEpochs: 50 },
    expect: undefined,
  },
  {
    name: "the configured policy decides from minEpochs on",
    history: historyOf(flat(50)),
    spec: { policy: "Patience", patience: 10, minEpochs: 50 },
    expect: { policy: "Patience", reason: "NoImprovement", epoch: 49 },
  },
  {
    name: "Plateau is chosen by the spec's policy field",
    history: historyOf(flat(60)),
    spec: { policy: "Plateau", minEpochs: 50 },
    expect: { policy: "Plateau", reason: "Plateaued", epoch: 59 },
  },
];

for (const c of cases) {
  test(c.name, () => {
    const d = decideStop(c.history, configOf(c.spec));
    if (c.expect === undefined) return assert.equal(d, undefined);
    assert.ok(d !== undefined);
    assert.deepEqual({ policy: d.policy, reason: d.reason, epoch: d.epoch }, c.expect);
  });
}

test("a decision names the best epoch and EMA, and becomes a valid StopDecision annotation", () => {
  const d = decideStop(historyOf(flat(60)), configOf({ policy: "Patience", patience: 10 }));
  assert.ok(d !== undefined);
  assert.equal(d.bestEpoch, 4);
  assert.equal(d.bestEma, 0.7);
  const annotation = toStopDecision(d, new Date("2026-01-01T00:00:00Z"));
  assert.equal(StopDecision.safeParse(annotation).success, true);
  assert.match(annotation.reason, /^NoImprovement: /);
  assert.equal(annotation.decidedAt, "2026-01-01T00:00:00.000Z");
});
