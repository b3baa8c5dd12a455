import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NOW, auditedRun, queuedRun, trainingRun } from "../testing/runs.js";
import { formatFoldTable, formatRunList } from "./status.js";

// The predicted finish and the estimated start in `kubectl nnunet status`.

describe("status shows when work ends and when waiting runs start", () => {
  const cases: Array<{ name: string; text: () => string; contains: Array<string | RegExp> }> = [
    {
      name: "the run list says when a training run's last fold ends and when a queued run starts",
      text: () => formatRunList([trainingRun(), queuedRun()], NOW, false),
      contains: [
        /^NAME .* QUEUE +ETA +AGE$/m,
        /^liver-low .*#1 NoGpuCapacity +start in 1h35m +90m$/m,
        /^topcow-ctamra .* - +end in 3h15m +90m$/m,
      ],
    },
    {
      name: "the fold table gives each training fold its predicted finish, and none to the others",
      text: () => formatFoldTable(trainingRun(), NOW),
      contains: [/FINISH +STOP\/VALIDATION/, /^0 +Training .* in 3h15m +-$/m, /^1 +Converged .* - +stopped @187/m],
    },
    {
      name: "a queued run's detail names its estimated start with the instant",
      text: () => formatFoldTable(queuedRun(), NOW),
      contains: [
        "Queue: #1 in default, NoGpuCapacity: needs 5 GPUs of NVIDIA-L40S, 0 free; estimated start in 1h35m (2026-01-01T13:35:00.000Z)",
      ],
    },
    {
      name: "an audited run shows its audits and, per fold, the would-be stop and what it would have cost and saved",
      text: () => formatFoldTable(auditedRun(), NOW),
      contains: [
        "Audits: 1 fold(s) trained on past the would-be stop: mean best EMA given up 0.0035, mean validation Dice given up 0.0042, GPU-hours the stops would have saved 1.9",
        /^0 +Completed .*audit: would have stopped @180 by Forecast, costing best EMA 0\.0035, validation Dice 0\.0042, saving 69 epochs, 1\.9 GPU-h/m,
        /^1 +Training .*audit: would have stopped @150 by Forecast$/m,
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const text = c.text();
      for (const want of c.contains) {
        if (typeof want === "string") assert.ok(text.includes(want), `missing ${want} in\n${text}`);
        else assert.match(text, want);
      }
    });
  }
});
