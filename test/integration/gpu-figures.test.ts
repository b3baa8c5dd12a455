// One figure for a run's GPU time wherever a user reads it: `kubectl nnunet status RUN`, the
// live view (`kubectl nnunet watch`, the demo's screen), its plain lines (the demo without a
// TTY) and the demo's closing summary all print the line the operator's status carries. The
// statuses here are the operator's own accounting over the printer-column fixture's folds.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import { type FoldStatus, TrainingRun, TrainingRunStatus } from "@nnunet-operator/api";
import { EMPTY_PLAIN_STATE, formatFoldTable, plainUpdates, renderRunView } from "@nnunet-operator/cli";
import { computeSummary, computeTotals } from "@nnunet-operator/operator";
import { loadManifests } from "@nnunet-operator/devcluster";
import { formatSummary, runFigures } from "../../scripts/demo/summary.js";

const repo = resolve(import.meta.dirname, "../..");
const NOW = new Date("2026-01-01T12:00:00Z");
const fixture = TrainingRunStatus.parse(
  (
    JSON.parse(readFileSync(join(repo, "test/fixtures/trainingruns/status/training-five-folds.json"), "utf8")) as {
      status: unknown;
    }
  ).status,
);
const sample = loadManifests(join(repo, "deploy/samples/trainingrun.yaml"))[0] as Record<string, unknown>;

function runWith(phase: TrainingRunStatus["phase"], folds: FoldStatus[]): TrainingRun {
  const totals = computeTotals(folds);
  return TrainingRun.parse({
    ...sample,
    metadata: { ...(sample["metadata"] as object), creationTimestamp: "2026-01-01T11:00:00Z" },
    status: { ...fixture, phase, folds, totals, summary: computeSummary(folds, totals) },
  });
}

const finishedFolds = (fixture.folds ?? []).map(
  (f): FoldStatus => ({
    ...f,
    phase: "Validated",
    ...(f.gpuSecondsUsed === undefined ? { epoch: 188, gpuSecondsUsed: 189 * 94, gpuSecondsPlanned: 244000 } : {}),
  }),
);

const cases: Array<{ name: string; run: TrainingRun; figure: string; plain: boolean }> = [
  {
    name: "in the middle of a run the saving is the finished folds' and says so",
    run: runWith("Training", fixture.folds ?? []),
    figure: "GPU-hours 19.5 used of 268.3 for the full schedule, saved 125.3 (92.7%) on the 2 of 5 folds that finished",
    plain: false,
  },
  {
    name: "once every fold finished it is the whole run's: 1 - used / planned",
    run: runWith("Succeeded", finishedFolds),
    // used 16560 + 19190 + 19292 + 15252 + 17766 = 88060 s; planned 1210000 s; saved 1121940 s
    // = 311.65 h (each figure rounded on its own); 1 - 88060/1210000 = 92.7%.
    figure: "GPU-hours 24.5 used of 336.1 for the full schedule, saved 311.7 (92.7%)",
    plain: true,
  },
];

const gpuLine = (text: string): string | undefined =>
  text
    .split("\n")
    .map((l) => l.trim())
    .find((l) => l.startsWith("GPU-hours"));

describe("a run's GPU figure is the same in the plugin, the live view and the demo summary", () => {
  for (const c of cases) {
    it(c.name, () => {
      const plugin = gpuLine(formatFoldTable(c.run, NOW));
      assert.equal(plugin, c.figure, "kubectl nnunet status RUN");
      assert.equal(gpuLine(formatSummary([runFigures(c.run)], 60)), plugin, "the demo's summary");
      assert.equal(gpuLine(renderRunView([c.run], { width: 200, tty: false, now: NOW })), plugin, "the live view");
      const plain = plainUpdates(EMPTY_PLAIN_STATE, [c.run]).lines.find((l) =>
        l.startsWith("topcow-ctamra summary: GPU-hours"),
      );
      assert.equal(
        plain,
        c.plain ? `topcow-ctamra summary: ${plugin}` : undefined,
        "the plain lines print it once the run ended",
      );
    });
  }
});
