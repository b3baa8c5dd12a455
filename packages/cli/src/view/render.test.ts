import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TrainingRun } from "@nnunet-operator/api";
import { NOW, calibratingRun, failedRun, makeRun, queuedRun, succeededRun, trainingRun } from "../testing/runs.js";
import { visibleLength } from "./format.js";
import { renderRunView } from "./render.js";

const ESC = "\x1b[";

interface Case {
  name: string;
  runs: TrainingRun[];
  width?: number;
  tty?: boolean;
  contains: Array<string | RegExp>;
  absent?: string[];
}

const cases: Case[] = [
  {
    name: "a queued run shows only in the queue block: place, priority, waiting time and reason",
    runs: [queuedRun()],
    contains: [
      /^queue\n {2}#1 {2}liver-low {2}queue default, priority 10 for 3m, starts in 1h35m:\n {7}NoGpuCapacity - needs 5 GPUs of NVIDIA-L40S, 0 free\n$/,
    ],
    absent: ["Queued"],
  },
  {
    name: "a calibrating run says that the GPU is being measured",
    runs: [calibratingRun()],
    contains: ["calib  Calibrating", "calibration  measuring on the GPU (attempt 1)..."],
  },
  {
    name: "a training run shows the calibration, a bar per fold and the early stop of fold 1",
    runs: [trainingRun()],
    width: 120,
    contains: [
      "topcow-ctamra  Training  epochs 120/250",
      "calibration  batch 12 (Calibrated, plans 2) · 41.3 samples/s · NVIDIA-L40S · 250 epochs planned (/4)",
      /fold 0 {4}\[#{14}-{16}\] {3}120\/250 {2}ema 0\.8123 {2}best 0\.8150@118 {3}Training {2}ends in 3h15m/,
      /fold 1 .*187\/250 {2}ema 0\.8601 {2}best 0\.8610@184 {3}Converged {2}stopped @187 Forecast/,
      /fold 2 .*-\/250 .*Queued/,
      "GPU-hours 7.7 used of 100.0 for the full schedule, saved 45.3 (90.6%) on the 1 of 3 folds that finished",
    ],
    absent: ["summary", ESC],
  },
  {
    name: "a succeeded run ends with the summary: best EMA and validation Dice per fold",
    runs: [succeededRun()],
    width: 120,
    contains: [
      "done  Succeeded",
      /fold 0 .*Validated\n {13}stopped @180 Forecast · Dice 0\.8231/,
      "GPU-hours 9.6 used of 100.0 for the full schedule, saved 90.4 (90.4%)",
      "summary",
      "fold 0    best EMA 0.8610 @ epoch 177  validation Dice 0.8231 (best)  GPU-h 4.5",
      "mean validation Dice 0.8267 over 2 folds · mean best EMA 0.8610",
    ],
  },
  {
    name: "a failed run shows the failure on the run and the fold's first log line",
    runs: [failedRun()],
    width: 160,
    contains: [
      "broken  Failed  TrainingFailed: fold 0 failed 4 times",
      /fold 0 .*12\/1000 .*Failed {2}OutOfMemory: torch.OutOfMemoryError: CUDA out of memory/,
    ],
    absent: ["Tried to allocate"],
  },
  {
    name: "on a TTY phases are coloured and the bar uses blocks",
    runs: [trainingRun()],
    tty: true,
    width: 120,
    contains: [`${ESC}34mTraining${ESC}0m`, `${ESC}32mConverged${ESC}0m`, "█", "░"],
    absent: ["[#"],
  },
  {
    name: "a narrow terminal drops the bar for a percentage",
    runs: [trainingRun()],
    width: 70,
    contains: [/fold 0 {5}48% {3}120\/250 {2}ema 0\.8123 {2}best 0\.8150@118 {3}Training/],
    absent: ["[#"],
  },
  {
    name: "a very narrow terminal also drops the best EMA column and cuts lines with an ellipsis",
    runs: [trainingRun(), queuedRun()],
    width: 40,
    contains: [/fold 0 {5}48% {3}120\/250 {2}ema 0\.8123 …/],
    absent: ["best 0.8150"],
  },
  {
    name: "runs from several namespaces are named with their namespace",
    runs: [trainingRun(), { ...queuedRun(), metadata: { ...queuedRun().metadata, namespace: "team-b" } }],
    width: 160,
    contains: ["default/topcow-ctamra  Training", "#1  team-b/liver-low"],
  },
  {
    name: "a run held without a place in the queue (suspended) says why",
    runs: [makeRun("held", { phase: "Suspended", queue: { reason: "Suspended", message: "spec.suspend is true" } })],
    contains: ["held  Suspended", "  held: Suspended - spec.suspend is true"],
  },
  {
    name: "nothing to show says so",
    runs: [],
    contains: ["no TrainingRuns yet"],
  },
];

describe("renderRunView", () => {
  for (const c of cases) {
    it(c.name, () => {
      const width = c.width ?? 100;
      const out = renderRunView(c.runs, { width, tty: c.tty ?? false, now: NOW });
      for (const want of c.contains) {
        if (typeof want === "string") assert.ok(out.includes(want), `missing ${JSON.stringify(want)} in\n${out}`);
        else assert.match(out, want);
      }
      for (const unwanted of c.absent ?? [])
        assert.ok(!out.includes(unwanted), `unexpected ${JSON.stringify(unwanted)} in\n${out}`);
      for (const line of out.split("\n"))
        assert.ok(visibleLength(line) <= width, `line longer than ${width}: ${JSON.stringify(line)}`);
      if (!c.tty) assert.ok(!out.includes("\x1b"), "no escape codes without a TTY");
    });
  }

  it("is stable: the same statuses render the same frame", () => {
    const a = renderRunView([trainingRun(), queuedRun()], { width: 100, tty: true, now: NOW });
    const b = renderRunView([queuedRun(), trainingRun()], { width: 100, tty: true, now: NOW });
    assert.equal(a, b);
  });
});
