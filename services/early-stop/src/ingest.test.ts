import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EpochMetrics } from "@nnunet-operator/api";
import { EpochIngestor } from "./ingest.js";
import { readRun } from "./runs.js";
import { epochMessage, flatCurve, makeRun } from "./testing/index.js";

// The checks before an epoch reaches its fold, and the fold state's own rejections.

const curve = flatCurve(60);
const msg = (epoch: number, over: Parameters<typeof epochMessage>[2] = {}) =>
  EpochMetrics.parse(epochMessage(curve[epoch]!, 0, over));

function ingestorFor(...runs: ReturnType<typeof makeRun>[]) {
  const byKey = new Map(runs.map((r) => [`${r.metadata.namespace}/${r.metadata.name}`, r]));
  let current = byKey;
  const ingestor = new EpochIngestor({
    get: (ns, name) => {
      const o = current.get(`${ns}/${name}`);
      return o && readRun(o);
    },
  });
  return {
    ingestor,
    replace: (...next: ReturnType<typeof makeRun>[]) =>
      (current = new Map(next.map((r) => [`${r.metadata.namespace}/${r.metadata.name}`, r]))),
  };
}

describe("EpochIngestor", () => {
  const cases: Array<{ name: string; before?: number[]; message: EpochMetrics; want: string }> = [
    { name: "an epoch of a known run and planned fold is accepted", message: msg(0), want: "accepted" },
    {
      name: "an epoch of a run the cluster does not have is foreign",
      message: msg(0, { run: "ghost" }),
      want: "unknown-run",
    },
    {
      name: "an epoch of an earlier run with the same name is foreign",
      message: msg(0, { runUid: "uid-older" }),
      want: "run-uid-mismatch",
    },
    {
      name: "an epoch of a fold the run does not train is foreign",
      message: msg(0, { fold: "4" }),
      want: "unplanned-fold",
    },
    { name: "the same epoch again is a duplicate", before: [0, 1, 2], message: msg(2), want: "duplicate" },
    { name: "a redelivered older epoch is a duplicate too", before: [0, 1, 2], message: msg(1), want: "duplicate" },
    { name: "an older epoch never seen is out of order", before: [0, 2], message: msg(1), want: "out-of-order" },
    { name: "a skipped epoch (a garbled log line) is accepted", before: [0], message: msg(2), want: "accepted" },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { ingestor } = ingestorFor(makeRun({ earlyStop: { policy: "Patience", patience: 10, minEpochs: 5 } }));
      for (const e of c.before ?? []) assert.equal(ingestor.ingest(msg(e), 0).accepted, true);
      const r = ingestor.ingest(c.message, 0);
      assert.equal(r.accepted ? "accepted" : r.reason, c.want);
    });
  }

  it("rejects an epoch of an older attempt after a newer one as stale", () => {
    const { ingestor } = ingestorFor(makeRun());
    ingestor.ingest(msg(0, { attempt: 1 }), 0);
    const r = ingestor.ingest(msg(1, { attempt: 0 }), 0);
    assert.equal(r.accepted ? "accepted" : r.reason, "stale-attempt");
  });

  it("rebuilds a fold with the new config when the run's policy changes, deciding as a replay would", () => {
    const patience = (p: number) => makeRun({ earlyStop: { policy: "Patience", patience: p, minEpochs: 5 } });
    const { ingestor, replace } = ingestorFor(patience(1000));
    for (let e = 0; e < 40; e++)
      assert.equal(
        ingestor.ingest(msg(e), e).accepted && ingestor.folds.get("team-a/liver/0")?.state.decision,
        undefined,
      );
    replace(patience(10));
    const r = ingestor.ingest(msg(40), 40);
    assert.ok(r.accepted);
    // Flat from epoch 20: patience 10 decides at epoch 30, found by the rebuild.
    assert.equal(r.decision?.epoch, 30);
    assert.equal(ingestor.pending().length, 1);
  });

  it("forgets every fold of a deleted run", () => {
    const { ingestor } = ingestorFor(makeRun());
    ingestor.ingest(msg(0), 0);
    ingestor.ingest(msg(0, { fold: "1" }), 0);
    assert.deepEqual(
      ingestor
        .forgetRun("team-a", "liver")
        .map((e) => e.key)
        .sort(),
      ["team-a/liver/0", "team-a/liver/1"],
    );
    assert.equal(ingestor.folds.size, 0);
  });
});
