import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { ResourceDef } from "../api/resources.js";
import { humanDuration, jsonPath, toTable } from "./table.js";

describe("humanDuration as kubectl prints ages", () => {
  const cases: [number, string][] = [
    [-5000, "<invalid>"],
    [500, "0s"],
    [59_000, "59s"],
    [119_000, "119s"],
    [125_000, "2m5s"],
    [600_000, "10m"],
    [3 * 3600_000, "3h"],
    [3 * 3600_000 + 60_000 * 7, "3h7m"],
    [30 * 3600_000, "30h"],
    [3 * 86400_000 + 3600_000, "3d1h"],
    [40 * 86400_000, "40d"],
    [3 * 365 * 86400_000 + 86400_000, "3y1d"],
  ];
  for (const [ms, want] of cases) it(`${ms} ms is ${want}`, () => assert.equal(humanDuration(ms), want));
});

describe("printer-column JSONPath", () => {
  const obj = {
    status: {
      phase: "Training",
      conditions: [
        { type: "Ready", status: "False" },
        { type: "Converged", status: "True" },
      ],
      folds: [{ fold: 0 }, { fold: 1 }],
    },
  };
  const cases: [string, unknown[]][] = [
    [".status.phase", ["Training"]],
    ['.status.conditions[?(@.type=="Converged")].status', ["True"]],
    [".status.folds[1].fold", [1]],
    [".status.folds[*].fold", [0, 1]],
    [".status.missing", []],
  ];
  for (const [path, want] of cases) it(path, () => assert.deepEqual(jsonPath(obj, path), want));
});

describe("tables", () => {
  it("puts Name first, then the CRD's columns, dates as ages and missing values as null", () => {
    const def = {
      custom: true,
      resource: "trainingruns",
      printerColumns: [
        { name: "Phase", type: "string", jsonPath: ".status.phase" },
        { name: "Batch", type: "integer", jsonPath: ".status.calibration.batchSize" },
        { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
      ],
    } as unknown as ResourceDef;
    const now = Date.parse("2026-01-01T00:10:00Z");
    const t = toTable(
      def,
      [
        {
          apiVersion: "x/v1",
          kind: "TrainingRun",
          metadata: { name: "r", creationTimestamp: "2026-01-01T00:00:00Z" },
          status: { phase: "Queued" },
        },
      ],
      {},
      null,
      now,
    );
    assert.deepEqual(
      t.columnDefinitions.map((c) => c.name),
      ["Name", "Phase", "Batch", "Age"],
    );
    assert.deepEqual(t.rows[0]?.cells, ["r", "Queued", null, "10m"]);
    assert.equal((t.rows[0]!.object as { kind: string }).kind, "PartialObjectMetadata");
  });
});
