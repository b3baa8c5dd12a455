import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EpochMetrics } from "@nnunet-operator/api";
import { CURVE_CSV_HEADER, curveCsv, curveFileName } from "./csv.js";
import { foldCurves } from "./fold-curves.js";
import { parseSecretRef } from "../stream.js";

const epoch = (e: number, extra: Partial<EpochMetrics> = {}): EpochMetrics => ({
  schemaVersion: 1,
  namespace: "team-a",
  run: "liver",
  runUid: "u1",
  fold: "0",
  attempt: 0,
  epoch: e,
  pseudoDice: [0.5, 0.25],
  pseudoDiceMean: 0.375,
  emaPseudoDice: 0.3,
  epochTimeSeconds: 30.5,
  learningRate: 0.01,
  trainLoss: -0.5,
  valLoss: -0.4,
  observedAt: "2026-01-01T00:00:00.000Z",
  ...extra,
});
const epochsOf = (messages: EpochMetrics[]) =>
  foldCurves(messages).map((c) => `${c.fold}:${c.epochs.map((m) => `${m.epoch}/${m.attempt}`).join(",")}`);

describe("a fold's curve from the stored epochs", () => {
  const cases: Array<{ name: string; messages: EpochMetrics[]; want: string[] }> = [
    { name: "epochs in order make the curve", messages: [epoch(0), epoch(1), epoch(2)], want: ["0:0/0,1/0,2/0"] },
    {
      name: "a repeated epoch of the same attempt is dropped",
      messages: [epoch(0), epoch(1), epoch(1, { valLoss: 9 })],
      want: ["0:0/0,1/0"],
    },
    {
      name: "a resumed attempt replaces the curve from its first epoch on",
      messages: [epoch(0), epoch(1), epoch(2), epoch(3), epoch(2, { attempt: 1 }), epoch(3, { attempt: 1 })],
      want: ["0:0/0,1/0,2/1,3/1"],
    },
    {
      name: "a late epoch of an older attempt changes nothing",
      messages: [epoch(0), epoch(1, { attempt: 1 }), epoch(2)],
      want: ["0:0/0,1/1"],
    },
    {
      name: "a new incarnation of the run under the same name starts afresh",
      messages: [epoch(0), epoch(1), epoch(0, { runUid: "u2" })],
      want: ["0:0/0"],
    },
    {
      name: "folds are kept apart and sorted",
      messages: [epoch(0, { fold: "all" }), epoch(0, { fold: "1" }), epoch(1, { fold: "1" })],
      want: ["1:0/0,1/0", "all:0/0"],
    },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(epochsOf(c.messages), c.want));
});

describe("the evaluator's CSV format", () => {
  it("writes the header, per-class Dice joined by ';', shortest round-trip numbers, empty cells and non-finite losses", () => {
    const csv = curveCsv(
      foldCurves([
        epoch(0, {
          trainLoss: Number.NaN,
          valLoss: undefined,
          pseudoDice: [0.1 + 0.2, 0],
          pseudoDiceMean: 0.15000000000000002,
        }),
      ])[0]!,
    );
    assert.equal(csv, `${CURVE_CSV_HEADER}\n0,NaN,,0.15000000000000002,0.30000000000000004;0,0.3,30.5,0.01\n`);
  });
  it("names a file <namespace>__<run>__fold<f>.csv so that --by-source groups by namespace", () => {
    assert.equal(curveFileName({ namespace: "team-a", run: "liver", fold: "all" }), "team-a__liver__foldall.csv");
  });
});

describe("--creds-secret", () => {
  const cases: Array<[string, { namespace: string; name: string; key: string }]> = [
    ["nats-creds", { namespace: "team-a", name: "nats-creds", key: "nats.creds" }],
    ["nnunet-system/nats-creds", { namespace: "nnunet-system", name: "nats-creds", key: "nats.creds" }],
    ["nnunet-system/nats-creds:user.creds", { namespace: "nnunet-system", name: "nats-creds", key: "user.creds" }],
  ];
  for (const [ref, want] of cases) it(`reads ${ref}`, () => assert.deepEqual(parseSecretRef(ref, "team-a"), want));
  it("refuses a reference that is not one, naming the form", () =>
    assert.throws(() => parseSecretRef("a/b/c", "x"), /is not \[NAMESPACE\/\]NAME\[:KEY\]/));
});
