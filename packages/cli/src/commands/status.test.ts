import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NOW, queuedRun, trainingRun } from "../testing/runs.js";
import { formatFoldTable, formatRunList } from "./status.js";

// The predicted finish and the estimated start in `kubectl nnunet status`.

describe("status shows when work ends and when waiting runs start", () => {
  const cases: Array<{ name: string; text: () => string; contains: Array<string | RegExp> }> = [
    {
      name: "the run list says when a training run's last fold ends and when a queued run starts",
      text: () => formatRunList([trainingRun(), queuedRun()], NOW, false),
      contains: [/^NAME .* QUEUE +ETA +AGE$/m, /^liver-low .*#1 NoGpuCapacity +start in 1h35m +90m$/m, /^totalseg-ct .* - +end in 3h15m +90m$/m],
    },
    {
      name: "the fold table gives each training fold its predicted finish, and none to the others",
      text: () => formatFoldTable(trainingRun(), NOW),
      contains: [/FINISH +STOP\/VALIDATION/, /^0 +Training .* in 3h15m +-$/m, /^1 +Converged .* - +stopped @187/m],
    },
    {
      name: "a queued run's detail names its estimated start with the instant",
      text: () => formatFoldTable(queuedRun(), NOW),
      contains: ["Queue: #1 in default, NoGpuCapacity: needs 5 GPUs of NVIDIA-L40S, 0 free; estimated start in 1h35m (2026-01-01T13:35:00.000Z)"],
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
