import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import { iso } from "../../testing/builders.js";
import { lastLines, podGpuRequest, tolerates } from "./objects.js";
import { accumulateProgress, type FoldProgress } from "./progress.js";
import type { EpochMetrics } from "@nnunet-operator/api";

const gpu = (n: number) => ({ resources: { limits: { "nvidia.com/gpu": String(n) } } });

describe("GPUs a pod holds", () => {
  const table: Array<[string, IPodSpec, number]> = [
    ["no GPU", { containers: [{ name: "a" }] }, 0],
    [
      "the sum of regular containers",
      {
        containers: [
          { name: "a", ...gpu(1) },
          { name: "b", ...gpu(2) },
        ],
      },
      3,
    ],
    ["a request alone counts", { containers: [{ name: "a", resources: { requests: { "nvidia.com/gpu": "2" } } }] }, 2],
    [
      "native sidecars add to the containers",
      { containers: [{ name: "a", ...gpu(1) }], initContainers: [{ name: "s", restartPolicy: "Always", ...gpu(1) }] },
      2,
    ],
    [
      "a plain init container counts only when it is the largest",
      { containers: [{ name: "a", ...gpu(1) }], initContainers: [{ name: "i", ...gpu(4) }] },
      4,
    ],
  ];
  for (const [what, spec, expected] of table)
    it(`${what}: ${expected}`, () => assert.equal(podGpuRequest(spec), expected));
});

describe("taint toleration", () => {
  const table: Array<[string, Parameters<typeof tolerates>[0], Parameters<typeof tolerates>[1], boolean]> = [
    [
      "Exists on the key tolerates any value",
      [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
      { key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" },
      true,
    ],
    [
      "another effect is not tolerated",
      [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
      { key: "nvidia.com/gpu", effect: "NoExecute" },
      false,
    ],
    [
      "Equal needs the value",
      [{ key: "d", operator: "Equal", value: "x" }],
      { key: "d", value: "y", effect: "NoSchedule" },
      false,
    ],
    [
      "an empty key with Exists tolerates everything",
      [{ operator: "Exists" }],
      { key: "any", effect: "NoExecute" },
      true,
    ],
  ];
  for (const [what, tolerations, taint, expected] of table)
    it(what, () => assert.equal(tolerates(tolerations, taint), expected));
});

describe("last lines of a log", () => {
  it("keeps the tail, bounded in lines and characters", () => {
    assert.equal(lastLines("a\nb\nc\n", 2), "b\nc");
    assert.equal(lastLines(undefined), "");
    assert.equal(lastLines("x".repeat(2000), 1, 10), `...${"x".repeat(10)}`);
  });
});

describe("fold progress from EpochMetrics", () => {
  const m = (epoch: number, ema: number, attempt = 0, time = 100): EpochMetrics => ({
    schemaVersion: 1,
    namespace: "team-a",
    run: "liver",
    runUid: "u",
    fold: "0",
    attempt,
    epoch,
    pseudoDice: [ema],
    emaPseudoDice: ema,
    epochTimeSeconds: time,
    observedAt: iso(epoch),
  });
  const fold = (ms: EpochMetrics[]) =>
    ms.reduce<FoldProgress | undefined>((p, x) => accumulateProgress(p, x), undefined)!;

  it("tracks the latest and the best EMA and the mean epoch time", () => {
    const p = fold([m(0, 0.5, 0, 90), m(1, 0.7, 0, 110), m(2, 0.65, 0, 100)]);
    assert.deepEqual([p.epoch, p.latestEma, p.bestEma, p.bestEpoch, p.meanEpochSeconds], [2, 0.65, 0.7, 1, 100]);
  });
  it("ignores a replayed epoch of the same attempt and any message of an older attempt", () => {
    const p = fold([m(0, 0.5), m(1, 0.6), m(1, 0.9)]);
    assert.equal(p.bestEma, 0.6);
    const q = fold([m(3, 0.6, 1), m(9, 0.99, 0)]);
    assert.deepEqual([q.epoch, q.attempt], [3, 1]);
  });
  it("follows a resumed attempt back to the epochs after its checkpoint, keeping the best", () => {
    const p = fold([m(0, 0.5), m(70, 0.8), m(51, 0.75, 1)]);
    assert.deepEqual([p.epoch, p.attempt, p.bestEma, p.bestEpoch], [51, 1, 0.8, 70]);
  });
});
