import { test } from "node:test";
import assert from "node:assert/strict";
import { EpochMetrics } from "@nnunet-operator/api";
import { buildEpochMessage, EpochMessageError } from "./epoch-message.js";
import type { ParsedEpoch } from "./parse/nnunet-log.js";

const id = { namespace: "ns", run: "liver", runUid: "0b9c", fold: "2", attempt: 1 };
const at = new Date("2026-01-01T12:00:00Z");
const base: ParsedEpoch = {
  epoch: 7,
  trainLoss: -0.5,
  valLoss: -0.4,
  pseudoDice: [0.8, 0.6],
  pseudoDiceMean: 0.7,
  emaPseudoDice: 0.65,
  newBest: true,
  loggedAt: "2026-01-01T11:59:59.5Z",
};

const cases: { name: string; epoch: ParsedEpoch; expect: (m: ReturnType<typeof buildEpochMessage>) => void }[] = [
  {
    name: "a clean epoch gets the reporter's identity and observation time",
    epoch: base,
    expect: (m) => {
      assert.equal(m.run, "liver");
      assert.equal(m.attempt, 1);
      assert.equal(m.observedAt, "2026-01-01T12:00:00.000Z");
      assert.deepEqual(EpochMetrics.parse(JSON.parse(JSON.stringify(m))).pseudoDice, [0.8, 0.6]);
    },
  },
  {
    name: "NaN and infinite losses travel as strings and come back as numbers",
    epoch: { ...base, trainLoss: Number.NaN, valLoss: Number.NEGATIVE_INFINITY },
    expect: (m) => {
      assert.equal(m.trainLoss, "NaN");
      const back = EpochMetrics.parse(JSON.parse(JSON.stringify(m)));
      assert.ok(Number.isNaN(back.trainLoss));
      assert.equal(back.valLoss, Number.NEGATIVE_INFINITY);
    },
  },
  {
    name: "a NaN class Dice drops the per-class list but keeps the epoch and its mean",
    epoch: { ...base, pseudoDice: [0.8, Number.NaN], pseudoDiceMean: 0.8 },
    expect: (m) => {
      assert.deepEqual(m.pseudoDice, []);
      assert.equal(m.pseudoDiceMean, 0.8);
    },
  },
];

for (const c of cases) test(c.name, () => c.expect(buildEpochMessage(c.epoch, id, at)));

test("an identity the schema refuses raises a typed error with the zod issues as cause", () => {
  assert.throws(
    () => buildEpochMessage(base, { ...id, fold: "7" }, at),
    (err: unknown) => err instanceof EpochMessageError && err.name === "EpochMessageError" && err.cause !== undefined,
  );
});
