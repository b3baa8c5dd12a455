import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { IPod } from "kubernetes-models/v1/Pod";
import { parseOperatorConfig } from "../../config.js";
import { at, makeCalibrationResult, makeJob, makeNode, makePod, makeRun, T0 } from "../../testing/builders.js";
import { serialiseCacheEntry } from "../manifests/calibration-cache.js";
import { cacheKeyForRun, calibrationCacheKey } from "./calibration-cache.js";
import { batchLadder, type CalibrationInput, decideCalibration } from "./calibration.js";

const config = parseOperatorConfig("images: { training: registry.example/nnunet:2.5 }");
const IMAGE = "registry.example/nnunet:2.5";
const auto = makeRun().build();
const result = makeCalibrationResult();
const node = makeNode("gpu-7").build();
const cachedFor = (run = auto, image = IMAGE, product = "NVIDIA-L40S") => ({
  [cacheKeyForRun(run, image, product)]: serialiseCacheEntry({
    result,
    gpuProduct: product,
    image,
    source: "team-a/older",
    cachedAt: at(-3600).toISOString(),
  }),
});
const calibratePod = (p: ReturnType<typeof makePod>): IPod => p.of("liver", "calibrate").on("gpu-7").build();
const job = (j: ReturnType<typeof makeJob>): IJob => j.of("liver", "calibrate").build();

function input(over: Partial<CalibrationInput> = {}): CalibrationInput {
  return {
    run: auto,
    config,
    job: undefined,
    pods: [],
    nodes: [node],
    cache: undefined,
    previous: undefined,
    admitted: false,
    now: T0,
    ...over,
  };
}

describe("calibration decision", () => {
  const cases: Array<{
    name: string;
    input: Partial<CalibrationInput>;
    ready: boolean;
    batch?: number;
    source?: string;
    condition: [string, string];
    actions?: string[];
    wantsGpu?: boolean;
    message?: RegExp;
    trainer?: string;
  }> = [
    {
      name: "mode Plans trains with the plans file unchanged and needs no pre-job",
      input: { run: makeRun().batch({ mode: "Plans" }).build() },
      ready: true,
      source: "Plans",
      condition: ["True", "PlansBatchSize"],
      trainer: "nnUNetTrainer",
    },
    {
      name: "mode Fixed trains with the value and, without a known plans size, keeps the schedule",
      input: { run: makeRun().batch({ mode: "Fixed", value: 8 }).build() },
      ready: true,
      batch: 8,
      source: "Fixed",
      condition: ["True", "FixedBatchSize"],
      trainer: "nnUNetTrainer",
      message: /plans' batch size unknown/,
    },
    {
      name: "mode Fixed shortens the schedule when a cached calibration of the same plans knows their size",
      input: { run: makeRun().batch({ mode: "Fixed", value: 8 }).build(), cache: cachedFor() },
      ready: true,
      batch: 8,
      source: "Fixed",
      condition: ["True", "FixedBatchSize"],
      trainer: "nnUNetTrainer_250epochs",
    },
    {
      name: "Auto without a Job or admission waits for a GPU and asks for one",
      input: {},
      ready: false,
      condition: ["Unknown", "Calibrating"],
      wantsGpu: true,
      actions: [],
    },
    {
      name: "Auto once admitted creates the calibration Job",
      input: { admitted: true },
      ready: false,
      condition: ["Unknown", "Calibrating"],
      actions: ["CreateCalibrationJob"],
    },
    {
      name: "a cached calibration of the same dataset, plans, configuration, GPU and image skips the pre-job",
      input: { cache: cachedFor(), admitted: true },
      ready: true,
      batch: 8,
      source: "Cached",
      condition: ["True", "CalibrationCached"],
      actions: [],
      message: /cached from team-a\/older/,
      trainer: "nnUNetTrainer_250epochs",
    },
    {
      name: "a cached calibration made with another image is not reused",
      input: { cache: cachedFor(auto, "registry.example/nnunet:2.4") },
      ready: false,
      condition: ["Unknown", "Calibrating"],
      wantsGpu: true,
    },
    {
      name: "a running calibration Job is waited for, counting attempts from its failed pods",
      input: { job: job(makeJob("liver-calibrate").active()), pods: [calibratePod(makePod().running())] },
      ready: false,
      condition: ["Unknown", "Calibrating"],
      message: /running \(attempt 1 of at most 3\)/,
    },
    {
      name: "a calibration pod that cannot pull its image says so while waiting",
      input: {
        job: job(makeJob("liver-calibrate").active()),
        pods: [calibratePod(makePod().waiting("ImagePullBackOff", "pull access denied"))],
      },
      ready: false,
      condition: ["Unknown", "Calibrating"],
      message:
        /image nnunet cannot be pulled \(ImagePullBackOff: pull access denied\); fix spec\.image.*fails after 300 s/,
    },
    {
      name: "a finished Job's result is used and written to the cache",
      input: {
        job: job(makeJob("liver-calibrate").complete()),
        pods: [calibratePod(makePod().running().succeeded(300, JSON.stringify(result)))],
      },
      ready: true,
      batch: 8,
      source: "Calibrated",
      condition: ["True", "Calibrated"],
      actions: ["WriteCalibrationCache"],
      message: /batch size 8 \(4x the plans' 2\) on NVIDIA-L40S; schedule 250 epochs/,
    },
    {
      name: "an unparseable termination message is a calibration failure quoting the text, and the run falls back to the plans",
      input: {
        job: job(makeJob("liver-calibrate").complete()),
        pods: [calibratePod(makePod().running().succeeded(300, "Segmentation fault (core dumped)"))],
      },
      ready: true,
      source: "Fallback",
      condition: ["False", "CalibrationFailed"],
      message: /not JSON: "Segmentation fault \(core dumped\)"/,
      trainer: "nnUNetTrainer",
    },
    {
      name: "JSON that is not a CalibrationResult names the field",
      input: {
        job: job(makeJob("liver-calibrate").complete()),
        pods: [calibratePod(makePod().running().succeeded(300, '{"schemaVersion":1}'))],
      },
      ready: true,
      source: "Fallback",
      condition: ["False", "CalibrationFailed"],
      message: /not a CalibrationResult \(chosenBatchSize/,
    },
    {
      name: "a Job that failed past its retry limit falls back with the exit code and log tail, never failing the run",
      input: {
        job: job(makeJob("liver-calibrate").failed(400, "BackoffLimitExceeded", 3)),
        pods: [calibratePod(makePod().running().failed(3, { message: "nothing fits: batch size 1 needs 52 GiB" }))],
      },
      ready: true,
      source: "Fallback",
      condition: ["False", "CalibrationFailed"],
      message: /after 3 attempt\(s\).*exit code 3: nothing fits/,
    },
    {
      name: "a calibration recorded in status is kept, whatever the cache says now",
      input: {
        previous: {
          batchSize: 6,
          plansBatchSize: 2,
          plans: "nnUNetPlans_bs6",
          source: "Calibrated",
          gpuProduct: "NVIDIA-L40S",
        },
        cache: cachedFor(),
      },
      ready: true,
      batch: 6,
      source: "Calibrated",
      condition: ["True", "Calibrated"],
      actions: [],
      trainer: "nnUNetTrainer_300epochs",
    },
    {
      name: "a recorded fallback stays a fallback",
      input: { previous: { plans: "nnUNetPlans", source: "Fallback", attempts: 3, message: "calibration failed" } },
      ready: true,
      source: "Fallback",
      condition: ["False", "CalibrationFailed"],
    },
    {
      name: "a recorded result whose cache write was lost is written again",
      input: {
        previous: { batchSize: 8, plansBatchSize: 2, plans: "nnUNetPlans_bs8", source: "Calibrated" },
        job: job(makeJob("liver-calibrate").complete()),
        pods: [calibratePod(makePod().running().succeeded(300, JSON.stringify(result)))],
      },
      ready: true,
      batch: 8,
      source: "Calibrated",
      condition: ["True", "Calibrated"],
      actions: ["WriteCalibrationCache"],
    },
    {
      name: "a recorded result already in the cache is not written twice",
      input: {
        previous: { batchSize: 8, plansBatchSize: 2, plans: "nnUNetPlans_bs8", source: "Calibrated" },
        job: job(makeJob("liver-calibrate").complete()),
        pods: [calibratePod(makePod().running().succeeded(300, JSON.stringify(result)))],
        cache: cachedFor(),
      },
      ready: true,
      batch: 8,
      source: "Calibrated",
      condition: ["True", "Calibrated"],
      actions: [],
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const d = decideCalibration(input(c.input));
      assert.equal(d.ready, c.ready, "ready");
      assert.equal(d.batchSize, c.batch, "batch size");
      assert.equal(d.status.source, c.source, "source");
      assert.deepEqual([d.condition.status, d.condition.reason], c.condition);
      if (c.actions)
        assert.deepEqual(
          d.actions.map((a) => a.type),
          c.actions,
        );
      assert.equal(d.wantsGpu, c.wantsGpu ?? false, "wants a GPU");
      if (c.message) assert.match(`${d.condition.message} ${d.status.message ?? ""}`, c.message);
      if (c.trainer) assert.equal(d.schedule.trainer, c.trainer);
    });
  }

  it("the cache entry it writes is keyed by the GPU product of the node the calibration ran on", () => {
    const a100 = makeNode("gpu-7").product("NVIDIA-A100-SXM4-80GB").build();
    const run = makeRun().gpus(1, ["NVIDIA-L40S", "NVIDIA-A100-SXM4-80GB"]).build();
    const d = decideCalibration(
      input({
        run,
        nodes: [a100],
        job: job(makeJob("liver-calibrate").complete()),
        pods: [calibratePod(makePod().running().succeeded(300, JSON.stringify(result)))],
      }),
    );
    const write = d.actions[0];
    assert.ok(write?.type === "WriteCalibrationCache");
    assert.equal(write.key, cacheKeyForRun(run, IMAGE, "NVIDIA-A100-SXM4-80GB"));
    assert.equal(write.entry.source, "team-a/liver");
    assert.equal(d.status.gpuProduct, "NVIDIA-A100-SXM4-80GB");
  });
});

describe("calibration cache key", () => {
  const parts = {
    dataset: "Dataset003_Liver",
    plans: "nnUNetPlans",
    configuration: "3d_fullres",
    gpuProduct: "NVIDIA-L40S",
    image: "reg.example:5000/nnunet@sha256:abc",
    headroom: 0.1,
    maxBatchSize: 64,
    objective: "Throughput",
    precision: "Mixed",
  };
  const table: Array<[string, Partial<typeof parts>]> = [
    ["another image", { image: "reg.example:5000/nnunet:other" }],
    ["another GPU product", { gpuProduct: "NVIDIA-A100-SXM4-80GB" }],
    ["another headroom", { headroom: 0.2 }],
    ["another objective", { objective: "Memory" }],
    ["another plans", { plans: "nnUNetResEncUNetMPlans" }],
  ];
  for (const [what, change] of table) {
    it(`differs for ${what}`, () =>
      assert.notEqual(calibrationCacheKey(parts), calibrationCacheKey({ ...parts, ...change })));
  }
  it("is a valid ConfigMap key, readable, stable and at most 253 characters even for long names", () => {
    const key = calibrationCacheKey(parts);
    assert.match(key, /^Dataset003_Liver\.3d_fullres\.nnUNetPlans\.NVIDIA-L40S\.[0-9a-f]{16}$/);
    assert.equal(key, calibrationCacheKey({ ...parts }));
    const long = calibrationCacheKey({
      ...parts,
      dataset: `Dataset001_${"x".repeat(89)}`,
      plans: "P".repeat(200),
      configuration: "c".repeat(100),
    });
    assert.ok(long.length <= 253 && /^[-._a-zA-Z0-9]+$/.test(long));
  });
});

describe("out-of-memory step ladder", () => {
  it("walks down the calibrated sizes that fitted, largest first", () => {
    assert.deepEqual(batchLadder(makeCalibrationResult().probes, 8), [6, 4, 2]);
  });
  it("skips sizes that fitted only beyond the headroom", () => {
    assert.deepEqual(
      batchLadder(
        [
          { batchSize: 4, fits: true, withinHeadroom: false },
          { batchSize: 2, fits: true },
        ],
        8,
      ),
      [2],
    );
  });
  it("halves when there are no probes (a fixed batch size)", () => {
    assert.deepEqual(batchLadder(undefined, 12), [6, 3, 1]);
    assert.deepEqual(batchLadder(undefined, undefined), []);
  });
});
