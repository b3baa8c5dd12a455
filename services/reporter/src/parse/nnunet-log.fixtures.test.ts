import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readdirSync } from "node:fs";
import { FIXTURES, fixtureRuns, readCurveCsv, replayLogFiles } from "./fixture-curves.js";

// Every real log in test/fixtures/nnunet-logs/raw reproduces its curve CSV epoch for epoch:
// v1 and v2, SLURM captures, resumed runs stitched over several files, and a capture that
// holds two trainings back to back.

const runs = fixtureRuns();

function close(actual: number | undefined, expected: number, tolerance: number, what: string): void {
  assert.ok(actual !== undefined, `${what}: missing, expected ${expected}`);
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} differs from ${expected}`);
}

test("the SOURCES table maps every curve CSV and every raw log", () => {
  const csvs = readdirSync(join(FIXTURES, "curves")).filter((f) => f.endsWith(".csv"));
  assert.deepEqual(runs.map((r) => r.csv).sort(), csvs.sort());
  const used = new Set(runs.flatMap((r) => r.logFiles));
  const raw = readdirSync(join(FIXTURES, "raw"), { recursive: true, withFileTypes: true })
    // REPO and COMMIT name where a folder's logs come from (attribution), they are no logs.
    .filter((d) => d.isFile() && d.name !== "REPO" && d.name !== "COMMIT")
    .map((d) => join(d.parentPath, d.name));
  assert.deepEqual(
    raw.filter((f) => !used.has(f)),
    [],
  );
});

for (const run of runs) {
  test(`${run.csv}: the parser reproduces the curve from ${run.logFiles.length} log file(s)`, () => {
    const trainings = replayLogFiles(run.logFiles);
    // A capture with several trainings holds one per configuration; pick this CSV's.
    const training =
      trainings.length === 1 ? trainings[0] : trainings.find((t) => t.configuration === run.configuration);
    assert.ok(training !== undefined, `no training with configuration ${run.configuration}`);
    const expected = readCurveCsv(join(FIXTURES, "curves", run.csv));
    assert.equal(training.epochs.length, expected.length, "number of epochs");
    expected.forEach((row, i) => {
      const got = training.epochs[i];
      const at = `epoch ${row.epoch}`;
      assert.ok(got !== undefined, `${at}: missing`);
      assert.equal(got.epoch, row.epoch, at);
      close(got.trainLoss, row.trainLoss, 1e-12, `${at} train loss`);
      close(got.valLoss, row.valLoss, 1e-12, `${at} val loss`);
      assert.deepEqual(got.pseudoDice, row.pseudoDice, `${at} pseudo Dice`);
      close(got.pseudoDiceMean, row.pseudoDiceMean, 5.1e-7, `${at} mean pseudo Dice`);
      close(got.emaPseudoDice, row.emaPseudoDice, 5.1e-7, `${at} EMA pseudo Dice`);
      close(got.epochTimeSeconds, row.epochTimeSeconds, 1e-9, `${at} epoch time`);
      close(got.learningRate, row.learningRate, 1e-12, `${at} learning rate`);
    });
  });
}
