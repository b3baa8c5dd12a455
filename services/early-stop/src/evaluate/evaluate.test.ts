import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { readCurveDir, parseCurveCsv, CurveFormatError, type Curve } from "./curves.js";
import { oracleSavedFraction, perCurveBoundSavedFraction } from "./oracle.js";
import { evaluateBySource, sourceOf } from "./report.js";
import { CALIBRATION_DEFAULTS } from "./calibrate.js";
import { parseEvaluateArgs, UsageError } from "./cli-args.js";
import { FORECAST_MODEL } from "../convergence/forecast.js";

// The evaluator on the real curves in test/fixtures: the oracle, the per-curve bound, sets by
// source and the command. The leave-one-source-out figures are held in loso.test.ts.

const CURVES = fileURLToPath(new URL("../../../../test/fixtures/nnunet-logs/curves/", import.meta.url));
const all = readCurveDir(CURVES).filter((c) => c.points.length >= 200);

test("the oracle saves about 23.5% on the 79 curves of at least 200 epochs", () => {
  const o = oracleSavedFraction(all);
  assert.ok(o > 0.23 && o < 0.24, `oracle ${o}`);
});

function curve(name: string, emas: number[], times: number[]): Curve {
  return {
    name,
    maxEpochs: emas.length,
    points: emas.map((ema, epoch) => ({ epoch, emaPseudoDice: ema, epochTimeSeconds: times[epoch] ?? 1 })),
  };
}

test("the oracle spends the loss budget where it saves the most GPU-seconds", () => {
  // Stopping a after epoch 0 loses 0.003 and saves 30 s; stopping b after epoch 0 loses 0.001
  // and saves 3 s. With a mean budget of 0.002 over two curves (0.004 in all) both fit.
  const a = curve("a", [0.9, 0.903], [10, 30]);
  const b = curve("b", [0.9, 0.901], [10, 3]);
  assert.ok(Math.abs(oracleSavedFraction([a, b]) - 33 / 53) < 1e-9);
  // A curve losing more than 0.010 by any stop cannot be stopped early at all.
  const c = curve("c", [0.5, 0.52], [10, 100]);
  assert.ok(Math.abs(oracleSavedFraction([c, curve("flat", [0.9, 0.9], [10, 10])]) - 10 / 130) < 1e-9);
});

const boundCases: { name: string; curves: Curve[]; maxLoss?: number; expected: number }[] = [
  // Gains 0.003 after epoch 0 and 0.001 after epoch 1: the first epoch within 0.002 of the
  // maximum is epoch 1, so only epoch 2 (5 s of 20) is saved.
  {
    name: "a curve stops at its first epoch within the loss of its maximum",
    curves: [curve("a", [0.9, 0.902, 0.903], [10, 5, 5])],
    expected: 5 / 20,
  },
  {
    name: "a curve that peaks at once saves everything after its first epoch",
    curves: [curve("flat", [0.9, 0.9, 0.89], [10, 10, 10])],
    expected: 20 / 30,
  },
  {
    name: "a curve still gaining to the end saves nothing",
    curves: [curve("late", [0.5, 0.6, 0.7], [10, 10, 10])],
    expected: 0,
  },
  {
    name: "a larger allowed loss stops earlier",
    curves: [curve("a", [0.9, 0.902, 0.903], [10, 5, 5])],
    maxLoss: 0.003,
    expected: 10 / 20,
  },
  {
    name: "over a set, the saving is weighted by GPU-seconds, not averaged per curve",
    curves: [curve("flat", [0.9, 0.9], [1, 99]), curve("late", [0.5, 0.6], [50, 50])],
    expected: 99 / 200,
  },
];

for (const c of boundCases) {
  test(`the per-curve bound: ${c.name}`, () => {
    assert.ok(Math.abs(perCurveBoundSavedFraction(c.curves, c.maxLoss) - c.expected) < 1e-9);
  });
}

test("no rule within the mean budget on every single curve reaches half the oracle on the 79 curves", () => {
  // The per-curve bound (48% of the oracle): the oracle spends most of its budget on few curves.
  const ratio = perCurveBoundSavedFraction(all) / oracleSavedFraction(all);
  assert.ok(ratio > 0.47 && ratio < 0.49, `per-curve bound / oracle ${ratio}`);
});

test("a curve's source is its file name up to the first double underscore", () => {
  assert.equal(sourceOf("crf-effunet__Task008_Refuge__2d__fold0.csv"), "crf-effunet");
  assert.equal(sourceOf("plain.csv"), "plain");
});

test("--by-source judges every set the sources make against that set's own oracle and budget", () => {
  // Source a: two flat curves (all saving comes from them); source b: one still gaining.
  const curves = [
    curve("a__1", [0.9, 0.9, 0.9], [10, 10, 10]),
    curve("a__2", [0.8, 0.8, 0.8], [10, 10, 10]),
    curve("b__1", [0.5, 0.6, 0.7], [10, 10, 10]),
  ];
  const sets = evaluateBySource(curves, "Patience200");
  assert.deepEqual(
    sets.map((s) => [s.set, s.summary.curves]),
    [
      ["all", 3],
      ["only a", 2],
      ["all but a", 1],
      ["all but b", 2],
    ],
    "a source with one curve has no set of its own",
  );
  const oracle = Object.fromEntries(sets.map((s) => [s.set, s.summary.oracleGpuSecondsSavedFraction]));
  assert.ok(Math.abs((oracle["all"] ?? 0) - 40 / 90) < 1e-9);
  assert.ok(Math.abs((oracle["only a"] ?? 0) - 40 / 60) < 1e-9);
  assert.equal(oracle["all but a"], 0);
  for (const s of sets)
    assert.ok(
      Math.abs(s.perCurveBoundGpuSecondsSavedFraction - (oracle[s.set] ?? 0)) < 1e-9,
      `${s.set}: lossless stops only`,
    );
});

test("a CSV with another header is rejected with a typed error", () => {
  assert.throws(() => parseCurveCsv("x.csv", "epoch,loss\n0,1\n"), CurveFormatError);
});

test("the command prints one JSON object whose summary has the documented keys", () => {
  const script = fileURLToPath(new URL("../../scripts/evaluate.ts", import.meta.url));
  const out = execFileSync(
    process.execPath,
    ["--import", "tsx", script, "--curves", CURVES, "--json", "--match", "^tbone-exp01"],
    { encoding: "utf8" },
  );
  const parsed = JSON.parse(out) as { summary: Record<string, unknown>; curves: unknown[] };
  for (const key of [
    "curves",
    "epochsSavedFraction",
    "gpuSecondsSavedFraction",
    "oracleGpuSecondsSavedFraction",
    "meanBestEmaLoss",
    "maxBestEmaLoss",
  ]) {
    assert.equal(typeof parsed.summary[key], "number", key);
  }
  assert.equal(parsed.summary["curves"], 5);
  assert.equal(parsed.curves.length, 5);
});

test("--protocol loso prints, as JSON, the pooled figures of every family and the oracle on the same set", () => {
  const script = fileURLToPath(new URL("../../scripts/evaluate.ts", import.meta.url));
  const out = execFileSync(
    process.execPath,
    ["--import", "tsx", script, "--curves", CURVES, "--json", "--protocol", "loso", "--match", "^(tbone|crf-effunet)"],
    { encoding: "utf8" },
  );
  const parsed = JSON.parse(out) as {
    curves: number;
    sources: { source: string }[];
    oracleGpuSecondsSavedFraction: number;
    families: { family: string; summary: Record<string, unknown>; chosen: unknown[] }[];
  };
  assert.equal(parsed.curves, 28);
  assert.deepEqual(
    parsed.sources.map((s) => s.source),
    ["andy-s-ding/tbone-seg-nnunet", "lixiang007666/CRF-EfficientUNet-OC-OD-Segmentation"],
  );
  assert.deepEqual(
    parsed.families.map((f) => f.family),
    ["Forecast", "Patience", "Plateau"],
  );
  for (const f of parsed.families) {
    assert.equal(f.chosen.length, 2);
    for (const key of ["gpuSecondsSavedFraction", "meanBestEmaLoss", "maxBestEmaLoss", "oracleGpuSecondsSavedFraction"])
      assert.equal(typeof f.summary[key], "number", key);
  }
});

const badInput: { name: string; args: string[]; says: RegExp }[] = [
  { name: "no curves folder", args: [], says: /^--curves is required: a folder of curve CSVs$/ },
  {
    name: "an unknown protocol",
    args: ["--protocol", "kfold"],
    says: /^--protocol kfold is unknown: the one protocol is loso$/,
  },
  {
    name: "a confidence level outside (0, 1)",
    args: ["--calibrate", "--delta", "2"],
    says: /^--delta 2 must be a number between 0 and 1$/,
  },
  {
    name: "an unknown mean bound",
    args: ["--calibrate", "--mean-bound", "clt"],
    says: /^--mean-bound clt is unknown: orders \(betting capital averaged over 50 random orders\), wsr \(Waudby-Smith-Ramdas over one random order\) or hb \(Hoeffding-Bentkus\)$/,
  },
  {
    name: "a model constant that does not exist",
    args: ["--model", '{"window":3}'],
    says: /^--model: window is not a constant of FORECAST_MODEL \(trendWindowFraction, /,
  },
  {
    name: "a model constant of the wrong type",
    args: ["--model", '{"turn":1}'],
    says: /^--model: turn takes a boolean, not 1$/,
  },
  { name: "a model that is not JSON", args: ["--model", "{turn}"], says: /^--model is not JSON/ },
  {
    name: "a fractional minimum length",
    args: ["--min-length", "2.5"],
    says: /^--min-length 2.5 must be a whole number of epochs$/,
  },
];

for (const c of badInput) {
  test(`the command refuses ${c.name}, naming the flag and what it takes`, () => {
    const args = c.args.length === 0 ? [] : ["--curves", CURVES, ...c.args];
    assert.throws(
      () => parseEvaluateArgs(args),
      (err: unknown) => err instanceof UsageError && c.says.test(err.message),
    );
  });
}

test("the command line's defaults: fixed settings, the calibration's defaults and the controller's model", () => {
  const a = parseEvaluateArgs(["--curves", "x"]);
  assert.equal(a.mode, "fixed");
  assert.deepEqual(a.options, CALIBRATION_DEFAULTS);
  assert.equal(a.model, FORECAST_MODEL);
  assert.equal(parseEvaluateArgs(["--curves", "x", "--protocol", "loso", "--calibrate"]).mode, "loso");
  assert.equal(parseEvaluateArgs(["--curves", "x", "--model", '{"turn":true}']).model.turn, true);
});
