import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { writeSummary } from "./validation.js";

describe("the simulated validation summary", () => {
  const cases = [
    { name: "one label per curve class", dice: [0.8, 0.6], labels: ["1", "2"], keys: ["1", "2"] },
    {
      name: "a stand-in curve with fewer classes than the dataset's labels covers the curve's classes",
      dice: [0.7],
      labels: ["1", "2", "3"],
      keys: ["1"],
    },
    { name: "labels missing for some classes are numbered", dice: [0.7, 0.5], labels: ["1"], keys: ["1", "2"] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const dir = mkdtempSync(join(tmpdir(), "fake-val-"));
      const summary = JSON.parse(readFileSync(writeSummary(dir, c.dice, c.labels, 3), "utf8")) as {
        mean: Record<string, { Dice: number }>;
        foreground_mean: { Dice: number };
      };
      assert.deepEqual(Object.keys(summary.mean), c.keys);
      assert.ok(summary.foreground_mean.Dice > 0 && summary.foreground_mean.Dice < 1);
    });
  }
});
