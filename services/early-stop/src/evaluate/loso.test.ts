import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { EarlyStopSpec } from "@nnunet-operator/api";
import { calibrate, tabulate } from "./calibrate.js";
import { readCurveDir } from "./curves.js";
import { FAMILIES, FORECAST_FAMILY, stopIndexOf } from "./families.js";
import { evaluateLoso } from "./loso.js";
import { presetConfig, replayCurve, LOSS_BUDGET, PRESETS } from "./replay.js";
import { sourcesFor } from "./sources.js";
import { makePolicyConfig } from "../convergence/config.js";

// The figure we quote, on the shared curves in test/fixtures: nested leave-one-source-out
// over every curve of at least 200 epochs, each repository's curves judged by settings
// calibrated on the other repositories only, every baseline calibrated the same way.
// Issue 13's target is mean best-EMA loss <= 0.002, no curve above 0.010, and at least 40%
// of the oracle's GPU-seconds on the same pooled set. The loss budget holds; the saving
// does not reach 40% (27.6% of the oracle): the honest figure is held here so that it cannot
// fall unseen, and services/early-stop/README.md explains the gap. The mean bound is the
// order-free one (calibrate.ts), so these figures do not depend on the curves' file names.

const CURVES = fileURLToPath(new URL("../../../../test/fixtures/nnunet-logs/curves/", import.meta.url));
const all = readCurveDir(CURVES).filter((c) => c.points.length >= 200);
const sourceOf = sourcesFor(CURVES);
const loso = evaluateLoso(all, sourceOf, FAMILIES);
const family = (name: string) => {
  const f = loso.families.find((x) => x.family === name);
  assert.ok(f !== undefined, name);
  return f;
};

test("the fixtures hold 79 curves of at least 200 epochs from 16 repositories", () => {
  assert.equal(all.length, 79);
  assert.equal(loso.sources.length, 16);
  // Two slugs of one repository are one source.
  assert.equal(
    sourceOf("tbone-exp01__Task101_TemporalBone__3d_fullres__fold0.csv"),
    sourceOf("tbone-exp02__Task101_TemporalBone__3d_fullres__fold0.csv"),
  );
});

test("leave-one-source-out: Forecast keeps the loss budget on the pooled held-out curves", () => {
  const s = family("Forecast").summary;
  assert.equal(s.curves, 79);
  assert.ok(s.meanBestEmaLoss <= LOSS_BUDGET.mean, `mean best-EMA loss ${s.meanBestEmaLoss}`);
  assert.ok(s.maxBestEmaLoss <= LOSS_BUDGET.max, `max best-EMA loss ${s.maxBestEmaLoss}`);
});

test("leave-one-source-out: Forecast saves 6.5% of the GPU-seconds, 27.6% of the oracle's on the same set (target 40%: not met)", () => {
  const s = family("Forecast").summary;
  assert.ok(
    Math.abs(loso.oracleGpuSecondsSavedFraction - 0.2355) < 0.001,
    `oracle ${loso.oracleGpuSecondsSavedFraction}`,
  );
  assert.ok(s.gpuSecondsSavedFraction >= 0.0645, `saved ${s.gpuSecondsSavedFraction}`);
  assert.ok(s.ofOracle >= 0.275, `of oracle ${s.ofOracle}`);
});

test("leave-one-source-out: the choices do not depend on the order of the curves", () => {
  const reversed = evaluateLoso([...all].reverse(), sourceOf, [FORECAST_FAMILY]).families[0];
  assert.ok(reversed !== undefined);
  assert.deepEqual(reversed.chosen, family("Forecast").chosen);
  const [r, f] = [reversed.summary, family("Forecast").summary];
  // Sums in another order: equal up to rounding.
  for (const k of ["gpuSecondsSavedFraction", "meanBestEmaLoss", "maxBestEmaLoss", "ofOracle"] as const)
    assert.ok(Math.abs(r[k] - f[k]) < 1e-12, `${k}: ${r[k]} ${f[k]}`);
});

test("leave-one-source-out: Forecast saves more than every calibrated baseline that keeps the budget", () => {
  const forecast = family("Forecast").summary;
  const baselines = loso.families.filter((f) => f.family !== "Forecast");
  assert.ok(baselines.length >= 2);
  for (const b of baselines) {
    if (!b.summary.withinBudget) continue;
    assert.ok(
      forecast.gpuSecondsSavedFraction > b.summary.gpuSecondsSavedFraction,
      `${b.family} saves ${b.summary.gpuSecondsSavedFraction}`,
    );
  }
  // Calibrated Patience keeps neither: a curve that gains 0.043 after 250 epochs without one.
  assert.equal(family("Patience").summary.withinBudget, false);
});

test("the shipped default maxGain is what --calibrate chooses on all the shared curves", () => {
  const cal = calibrate(tabulate(FORECAST_FAMILY, all), () => true);
  const shipped = EarlyStopSpec.parse({}).forecast.maxGain;
  assert.deepEqual(cal.chosen?.setting.spec, { policy: "Forecast", forecast: { maxGain: shipped } });
  assert.deepEqual(PRESETS["Forecast"], { policy: "Forecast" }, "the evaluator's Forecast is the API default");
});

// The evaluator derives every setting's stop from one pass of scores per curve; the
// controller decides through FoldState. Both must agree, epoch for epoch.
const sample = all.filter((_, i) => i % 9 === 0);
for (const f of FAMILIES) {
  test(`${f.name}: the stop derived from the scores is the controller's own, on ${sample.length} real curves and three settings`, () => {
    const settings = [f.settings[0], f.settings[Math.floor(f.settings.length / 2)], f.settings.at(-1)];
    for (const c of sample) {
      const scores = f.scores(c);
      for (const s of settings) {
        assert.ok(s !== undefined);
        const { index, stopped } = stopIndexOf(scores, s.threshold);
        const replayed = replayCurve(c, (curve) => makePolicyConfig(s.spec, curve.maxEpochs));
        assert.equal(stopped ? c.points[index]?.epoch : undefined, replayed.stopEpoch, `${c.name} ${s.label}`);
      }
    }
  });
}

test("the Forecast preset replays through the same scores", () => {
  const c = sample[0];
  assert.ok(c !== undefined);
  const shipped = FORECAST_FAMILY.settings.find((s) => s.threshold === EarlyStopSpec.parse({}).forecast.maxGain);
  assert.ok(shipped !== undefined);
  const { index, stopped } = stopIndexOf(FORECAST_FAMILY.scores(c), shipped.threshold);
  assert.equal(stopped ? c.points[index]?.epoch : undefined, replayCurve(c, presetConfig("Forecast")).stopEpoch);
});
