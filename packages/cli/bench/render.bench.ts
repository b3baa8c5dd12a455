import type { TrainingRun } from "@nnunet-operator/api";
import { NOW, makeRun, queuedRun, calibration, trainingFold, convergedFold } from "../src/testing/runs.js";
import { renderRunView } from "../src/view/render.js";
import { EMPTY_PLAIN_STATE, plainUpdates } from "../src/view/plain.js";
import { formatRunList } from "../src/commands/status.js";

// How long a frame of the live view takes, so that redraws on every status write of a busy
// namespace stay far below the terminal's refresh. Prints a table: case, frames, us/frame.

function runs(count: number): TrainingRun[] {
  const out: TrainingRun[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 4 === 3) {
      out.push(queuedRun(`wait-${i}`, 1 + Math.floor(i / 4)));
      continue;
    }
    const folds = [0, 1, 2, 3, 4].map((f) =>
      f % 2 ? convergedFold(String(f), 150 + f) : trainingFold(String(f), 100 + i + f),
    );
    out.push(
      makeRun(`run-${i}`, {
        phase: "Training",
        calibration,
        folds,
        totals: { gpuSecondsUsed: 1e5, gpuSecondsPlanned: 4e5 },
        summary: { epochs: "800/1250" },
      }),
    );
  }
  return out;
}

function time(label: string, iterations: number, fn: (i: number) => void): string[] {
  for (let i = 0; i < Math.min(200, iterations); i++) fn(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn(i);
  const us = Number(process.hrtime.bigint() - start) / 1000 / iterations;
  return [label, String(iterations), us.toFixed(1)];
}

const rows: string[][] = [];
for (const count of [1, 10, 50]) {
  const set = runs(count);
  rows.push(
    time(`renderRunView ${count} runs, tty, 120 cols`, 2000, () =>
      renderRunView(set, { width: 120, tty: true, now: NOW }),
    ),
  );
  rows.push(
    time(`renderRunView ${count} runs, plain, 80 cols`, 2000, () =>
      renderRunView(set, { width: 80, tty: false, now: NOW }),
    ),
  );
  let state = EMPTY_PLAIN_STATE;
  rows.push(time(`plainUpdates ${count} runs`, 2000, () => (state = plainUpdates(state, set).state)));
  rows.push(time(`status list ${count} runs`, 2000, () => formatRunList(set, NOW, false)));
}
const header = ["case", "frames", "us/frame"];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
for (const row of [header, ...rows])
  console.log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  "));
