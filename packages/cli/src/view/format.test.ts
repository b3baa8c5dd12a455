import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { TrainingRunStatus } from "@nnunet-operator/api";
import { gpuFigures } from "./format.js";

describe("a run's GPU line, from status as the operator wrote it", () => {
  const cases: Array<{ name: string; status: TrainingRunStatus | undefined; line: string | undefined }> = [
    { name: "nothing before the operator wrote totals", status: { phase: "Pending" }, line: undefined },
    {
      name: "used alone before any fold logged an epoch time",
      status: { totals: { gpuSecondsUsed: 0 }, summary: { folds: "0/5", gpuHours: 0 } },
      line: "GPU-hours 0.0 used",
    },
    {
      name: "used of planned while no fold has finished",
      status: { totals: { gpuSecondsUsed: 7200, gpuSecondsPlanned: 360000 }, summary: { folds: "0/5", gpuHours: 2 } },
      line: "GPU-hours 2.0 used of 100.0 for the full schedule",
    },
    {
      name: "the saving of the finished folds, saying how many",
      status: {
        totals: { gpuSecondsUsed: 27810, gpuSecondsPlanned: 360000, gpuSecondsSaved: 163080, savedPercent: 90.6 },
        summary: { folds: "1/3", gpuHours: 7.7, saved: "45.3 (90.6%)" },
      },
      line: "GPU-hours 7.7 used of 100.0 for the full schedule, saved 45.3 (90.6%) on the 1 of 3 folds that finished",
    },
    {
      name: "the run's saving once every fold finished",
      status: {
        totals: { gpuSecondsUsed: 68400, gpuSecondsPlanned: 239760, gpuSecondsSaved: 171360, savedPercent: 71.5 },
        summary: { folds: "5/5", gpuHours: 19, saved: "47.6 (71.5%)" },
      },
      line: "GPU-hours 19.0 used of 66.6 for the full schedule, saved 47.6 (71.5%)",
    },
  ];
  for (const c of cases) it(c.name, () => assert.equal(gpuFigures(c.status), c.line));
});
