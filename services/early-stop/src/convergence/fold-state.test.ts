import { test } from "node:test";
import assert from "node:assert/strict";
import type { EpochMetrics } from "@nnunet-operator/api";
import { FoldState } from "./fold-state.js";
import type { EpochPoint } from "./history.js";
import { configOf, emaOf, noise } from "./testing.js";

// The per-fold state: ordering and attempts, and rebuilding by replay.

const cfg = configOf({ policy: "Patience", patience: 20, minEpochs: 10 }, 200);
const pt = (epoch: number, ema = 0.5 + epoch * 0.001): EpochPoint => ({
  epoch,
  emaPseudoDice: ema,
  pseudoDiceMean: ema,
});

test("epochs in order are accepted; a repeated epoch is a duplicate, an older one out of order", () => {
  const s = new FoldState(cfg);
  assert.deepEqual(s.ingest(pt(0), 0), { accepted: true });
  assert.deepEqual(s.ingest(pt(1), 0), { accepted: true });
  assert.deepEqual(s.ingest(pt(1), 0), { accepted: false, reason: "Duplicate" });
  assert.deepEqual(s.ingest(pt(0), 0), { accepted: false, reason: "OutOfOrder" });
  assert.equal(s.history.length, 2);
});

test("a resumed attempt re-running epochs replaces the history from its first epoch", () => {
  const s = new FoldState(cfg);
  for (let e = 0; e < 60; e++) s.ingest(pt(e), 0);
  assert.deepEqual(s.ingest(pt(50, 0.9), 1), { accepted: true });
  assert.equal(s.history.length, 51);
  assert.equal(s.history.last?.emaPseudoDice, 0.9);
  assert.deepEqual(s.ingest(pt(51), 0), { accepted: false, reason: "StaleAttempt" });
});

test("a skipped epoch (lost to a garbled log line) is accepted", () => {
  const s = new FoldState(cfg);
  s.ingest(pt(0), 0);
  assert.deepEqual(s.ingest(pt(2), 0), { accepted: true });
});

test("the first decision sticks; later epochs are still accepted but do not decide again", () => {
  const s = new FoldState(cfg);
  let decided = 0;
  for (let e = 0; e < 100; e++) {
    const o = s.ingest(pt(e, e < 20 ? 0.5 + e * 0.01 : 0.69), 0);
    if (o.accepted && o.decision !== undefined) decided += 1;
  }
  assert.equal(decided, 1);
  assert.equal(s.decision?.epoch, 39);
  assert.equal(s.history.length, 100);
});

test("replaying the same stream (duplicates and a resume included) rebuilds the same state and decision", () => {
  const z = noise(7);
  const means = Array.from({ length: 150 }, (_, e) => 0.8 * (1 - Math.exp(-e / 15)) + 0.01 * z(e));
  const emas = emaOf(means);
  const stream: (EpochPoint & { attempt: number })[] = [];
  for (let e = 0; e < 80; e++) stream.push({ ...pt(e, emas[e]), attempt: 0 });
  stream.push({ ...pt(79, emas[79]), attempt: 0 }); // redelivered
  for (let e = 50; e < 150; e++) stream.push({ ...pt(e, emas[e]), attempt: 1 }); // resumed from checkpoint 50
  const live = new FoldState(cfg);
  for (const m of stream) live.ingest(m, m.attempt);
  const replayed = FoldState.replay(cfg, stream);
  assert.ok(live.decision !== undefined);
  assert.deepEqual(replayed.decision, live.decision);
  assert.deepEqual(replayed.history.points, live.history.points);
});

test("EpochMetrics messages are ingested with their attempt and observation time", () => {
  const s = new FoldState(cfg);
  const m: EpochMetrics = {
    schemaVersion: 1,
    namespace: "ns",
    run: "r",
    runUid: "uid",
    fold: "0",
    attempt: 2,
    epoch: 0,
    pseudoDice: [0.5],
    pseudoDiceMean: 0.5,
    emaPseudoDice: 0.5,
    trainLoss: Number.NaN,
    observedAt: "2026-01-01T00:00:00Z",
  };
  const o = s.ingestMetrics(m);
  assert.equal(s.attempt, 2);
  assert.equal(s.history.last?.observedAtMs, Date.parse("2026-01-01T00:00:00Z"));
  assert.ok(o.accepted && o.decision?.policy === "Divergence");
});
