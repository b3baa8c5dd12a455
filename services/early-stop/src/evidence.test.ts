import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { makePolicyConfig } from "./convergence/config.js";
import { FoldState } from "./convergence/fold-state.js";
import { parseCurveCsv } from "./evaluate/curves.js";
import { presetConfig, replayCurve } from "./evaluate/replay.js";
import { decisionEvidence, trainedSeconds } from "./evidence.js";

// The evidence a decision carries, on real curves: the forecast is the one that stopped the
// fold (its bound below maxGain, or the turn's below the best), and the training time up to
// the stop is the evaluator's GPU-seconds minus its saving for the same curve.

const CURVES = fileURLToPath(new URL("../../../test/fixtures/nnunet-logs/curves/", import.meta.url));
const curve = (name: string) => parseCurveCsv(name, readFileSync(`${CURVES}${name}`, "utf8"));

describe("the evidence on a stop decision", () => {
  const cases = [
    "liver-at__Dataset003_Liver__3d_fullres__fold0.csv",
    "icekang__Dataset306_Sohee_Ajay_Calcium_OCT__2d__fold0.csv",
    "tbone-exp01__Task101_TemporalBone__3d_fullres__fold0.csv",
  ];
  for (const name of cases) {
    it(`${name}: the forecast at the stop is below maxGain and the training time matches the evaluator`, () => {
      const c = curve(name);
      const cfg = makePolicyConfig({}, c.maxEpochs);
      const state = new FoldState(cfg);
      for (const p of c.points) if (state.ingest(p, 0).accepted && state.decision) break;
      const d = state.decision;
      assert.ok(d, "Forecast stops this curve");
      const evidence = decisionEvidence(state.history, cfg, d);
      const f = evidence.forecast;
      assert.ok(f, "a Forecast decision carries its forecast");
      assert.ok(f.gainUpper < f.maxGain, `bound ${f.gainUpper} not below maxGain ${f.maxGain}`);
      assert.ok(f.gain <= f.gainUpper + 1e-9, "the point estimate is under its bound");
      assert.equal(f.maxEpochs, c.maxEpochs);
      assert.equal(f.epochsLeft, c.maxEpochs - d.epoch - 1);
      const r = replayCurve(c, presetConfig("Forecast"));
      assert.equal(r.stopEpoch, d.epoch);
      assert.ok(Math.abs((evidence.trainedSeconds ?? -1) - (r.gpuSeconds - r.gpuSecondsSaved)) < 1e-3);
    });
  }

  it("a Patience decision carries no forecast, only the training time", () => {
    const c = curve("liver-at__Dataset003_Liver__3d_fullres__fold0.csv");
    const cfg = makePolicyConfig({ policy: "Patience", patience: 20 }, c.maxEpochs);
    const state = new FoldState(cfg);
    for (const p of c.points) if (state.ingest(p, 0).accepted && state.decision) break;
    const evidence = decisionEvidence(state.history, cfg, state.decision!);
    assert.equal(evidence.forecast, undefined);
    assert.ok((evidence.trainedSeconds ?? 0) > 0);
  });

  it("epochs without logged times give no training time rather than zero", () => {
    const state = new FoldState(makePolicyConfig({}, 100));
    state.ingest({ epoch: 0, pseudoDiceMean: 0.5, emaPseudoDice: 0.5 }, 0);
    assert.equal(trainedSeconds(state.history, 0), undefined);
  });
});
