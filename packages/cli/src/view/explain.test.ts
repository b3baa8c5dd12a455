import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { StopDecision } from "@nnunet-operator/api";
import { type ExplainInput, type ExplainPoint, renderExplainText } from "./explain.js";
import { renderExplainSvg } from "./explain-svg.js";

// explain's picture from real curves (test/fixtures/nnunet-logs/curves), against golden
// text. The decisions are the ones the early-stop controller's Forecast takes on these
// curves with the API defaults, evidence included (services/early-stop evidence.test.ts
// checks those numbers); they are written out here so that the picture is tested alone.

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const CURVES = here("../../../../test/fixtures/nnunet-logs/curves/");

/** The columns explain draws, from a curve CSV of the evaluator's format. */
function readCurvePoints(name: string): ExplainPoint[] {
  const [, ...rows] = readFileSync(`${CURVES}${name}`, "utf8").trim().split("\n");
  return rows.map((row) => {
    const cells = row.split(",");
    return { epoch: Number(cells[0]), pseudoDiceMean: Number(cells[3]), emaPseudoDice: Number(cells[5]) };
  });
}

const LIVER_DECISION: StopDecision = {
  schemaVersion: 1,
  epoch: 966,
  policy: "Forecast",
  reason:
    "Converged: the remaining 33 of 1000 epochs are predicted to add at most 0.0017 (97.5% bound; maxGain 0.002) for 5 epochs in a row; 0.9072 is the best so far",
  bestEpoch: 942,
  bestEma: 0.907213,
  decidedAt: "2026-01-01T00:00:00.000Z",
  forecast: { confidence: 0.975, maxGain: 0.002, maxEpochs: 1000, gain: 0.001168, gainUpper: 0.001651, epochsLeft: 33 },
  trainedSeconds: 26717.04,
};
const OCT_DECISION: StopDecision = {
  schemaVersion: 1,
  epoch: 494,
  policy: "Forecast",
  mode: "Audit",
  reason:
    "Converged: even the 97.5% bound of the level the annealing left can reach stays 0.0025 below the best for 5 epochs in a row; 0.7617 is the best so far",
  bestEpoch: 395,
  bestEma: 0.761694,
  decidedAt: "2026-01-01T00:00:00.000Z",
  forecast: {
    confidence: 0.975,
    maxGain: 0.002,
    maxEpochs: 1000,
    gain: -0.013976,
    gainUpper: -0.002454,
    epochsLeft: 505,
  },
  trainedSeconds: 23350.17,
};

const cases: Array<{ name: string; golden: string; input: () => ExplainInput }> = [
  {
    name: "an enforced Forecast stop near the end of a 1000-epoch liver run: the trend's bound under maxGain",
    golden: "explain-liver-fold0.txt",
    input: () => ({
      run: "liver",
      fold: "0",
      points: readCurvePoints("liver-at__Dataset003_Liver__3d_fullres__fold0.csv").filter((p) => p.epoch <= 966),
      maxEpochs: 1000,
      phase: "Converged",
      decision: LIVER_DECISION,
    }),
  },
  {
    name: "an audited fold that trained on: the would-be stop at 494 of a calcium OCT run that had turned down, and what training on added",
    golden: "explain-oct-audit.txt",
    input: () => ({
      run: "oct",
      fold: "0",
      points: readCurvePoints("icekang__Dataset306_Sohee_Ajay_Calcium_OCT__2d__fold0.csv"),
      maxEpochs: 1000,
      phase: "Completed",
      decision: OCT_DECISION,
      audit: { stopEpoch: 494, policy: "Forecast", bestEmaAtStop: 0.761694, bestEmaLost: 0 },
    }),
  },
  {
    name: "a fold still training without a decision says so",
    golden: "explain-training.txt",
    input: () => ({
      run: "liver",
      fold: "1",
      points: readCurvePoints("liver-at__Dataset003_Liver__3d_fullres__fold0.csv").filter((p) => p.epoch < 300),
      maxEpochs: 1000,
      phase: "Training",
    }),
  },
];

describe("kubectl nnunet explain's terminal picture", () => {
  for (const c of cases) {
    it(c.name, () => assert.equal(renderExplainText(c.input()), readFileSync(here(`testdata/${c.golden}`), "utf8")));
  }
});

describe("kubectl nnunet explain --output FILE.svg", () => {
  it("draws the three series, the stop line at its epoch and the same sentences, with text escaped", () => {
    const svg = renderExplainSvg(cases[0]!.input());
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal((svg.match(/<path d="M/g) ?? []).length, 3);
    // x of epoch 966 on a 790-pixel plot starting at 70: 70 + 966/999*790.
    assert.match(svg, /<line x1="833\.9" y1="50" x2="833\.9"/);
    assert.ok(svg.includes("stop @966"));
    assert.ok(svg.includes("was below maxGain 0.002"));
    assert.ok(svg.trimEnd().endsWith("</svg>"));
    assert.ok(
      !/<text[^>]*>[^<]*[<>&][^<]*<\/text>/.test(svg.replace(/&(amp|lt|gt|quot);/g, "")),
      "no raw markup characters in text",
    );
  });
  it("draws an audited stop dashed and names it a would-be stop", () => {
    const svg = renderExplainSvg(cases[1]!.input());
    assert.match(svg, /stroke="#d62728" stroke-width="1\.5" stroke-dasharray="6 4"/);
    assert.ok(svg.includes("would-be stop @494"));
  });
});
