import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { at, iso, makeRun } from "../../testing/builders.js";
import { estimateQueuedStart, type GpuRelease, predictFoldFinish, type QueuedRun, queueOutlookOf } from "./finish.js";

describe("a training fold's predicted finish", () => {
  const cases: Array<{
    name: string;
    epoch: number;
    maxEpochs: number;
    epochSeconds: number | undefined;
    lastEpochAt: number;
    stopEpoch?: number;
    expected: number | undefined;
  }> = [
    {
      name: "epoch 199 of 1000 at 60 s an epoch ends 800 epochs after the last one",
      epoch: 199,
      maxEpochs: 1000,
      epochSeconds: 60,
      lastEpochAt: 12_000,
      expected: 12_000 + 800 * 60,
    },
    {
      name: "the last epoch of the schedule is the end itself",
      epoch: 999,
      maxEpochs: 1000,
      epochSeconds: 60,
      lastEpochAt: 5_000,
      expected: 5_000,
    },
    {
      name: "a stop already decided at epoch 400 ends there, not at the schedule's end",
      epoch: 300,
      maxEpochs: 1000,
      epochSeconds: 10,
      lastEpochAt: 3_000,
      stopEpoch: 400,
      expected: 3_000 + 100 * 10,
    },
    {
      name: "a stop epoch past the schedule is cut to the schedule",
      epoch: 10,
      maxEpochs: 20,
      epochSeconds: 1,
      lastEpochAt: 0,
      stopEpoch: 50,
      expected: 9,
    },
    {
      name: "without a measured epoch time there is no prediction",
      epoch: 3,
      maxEpochs: 1000,
      epochSeconds: undefined,
      lastEpochAt: 0,
      expected: undefined,
    },
    {
      name: "a zero epoch time (a log without times) is no measurement",
      epoch: 3,
      maxEpochs: 1000,
      epochSeconds: 0,
      lastEpochAt: 0,
      expected: undefined,
    },
    {
      name: "fractional epoch times round to whole seconds",
      epoch: 0,
      maxEpochs: 4,
      epochSeconds: 0.4,
      lastEpochAt: 0,
      expected: 1,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = predictFoldFinish({
        epoch: c.epoch,
        maxEpochs: c.maxEpochs,
        epochSeconds: c.epochSeconds,
        lastEpochAt: at(c.lastEpochAt),
        stopEpoch: c.stopEpoch,
      });
      assert.equal(got?.toISOString(), c.expected === undefined ? undefined : iso(c.expected));
    });
  }
});

describe("a queued run's estimated start", () => {
  const release = (node: string, gpus: number, seconds: number): GpuRelease => ({ node, gpus, at: at(seconds) });
  const me = (pieces: number[], position = 1): QueuedRun => ({ key: "team-a/me", position, pieces });
  const cases: Array<{
    name: string;
    target: QueuedRun;
    ahead?: QueuedRun[];
    releases: GpuRelease[];
    now?: number;
    expected: number | undefined;
  }> = [
    {
      name: "first in the queue, it starts when the first fold holding a GPU ends",
      target: me([1]),
      releases: [release("n1", 1, 900), release("n1", 1, 300)],
      expected: 300,
    },
    {
      name: "a run ahead takes the first GPU, so this one gets the second",
      target: me([1], 2),
      ahead: [{ key: "team-a/first", position: 1, pieces: [1] }],
      releases: [release("n1", 1, 300), release("n2", 1, 600)],
      expected: 600,
    },
    {
      name: "two GPUs on one node: two single-GPU releases on different nodes do not make it",
      target: me([2]),
      releases: [release("n1", 1, 100), release("n2", 1, 200), release("n2", 1, 700)],
      expected: 700,
    },
    {
      name: "releases at the same instant add up before anything is placed",
      target: me([2]),
      releases: [release("n1", 1, 400), release("n1", 1, 400)],
      expected: 400,
    },
    {
      name: "a big piece ahead that cannot fit lets this smaller one pass (best-effort FIFO)",
      target: me([1], 2),
      ahead: [{ key: "team-a/big", position: 1, pieces: [4] }],
      releases: [release("n1", 1, 100)],
      expected: 100,
    },
    {
      name: "runs behind it do not delay it",
      target: me([1], 1),
      ahead: [{ key: "team-a/later", position: 2, pieces: [1] }],
      releases: [release("n1", 1, 100)],
      expected: 100,
    },
    {
      name: "a fold predicted to have ended already means now",
      target: me([1]),
      releases: [release("n1", 1, 50)],
      now: 80,
      expected: 80,
    },
    {
      name: "no release frees enough: no estimate",
      target: me([2]),
      releases: [release("n1", 1, 100)],
      expected: undefined,
    },
    { name: "nothing to start: no estimate", target: me([]), releases: [release("n1", 1, 100)], expected: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = estimateQueuedStart(c.target, c.ahead ?? [], c.releases, at(c.now ?? 0));
      assert.equal(got?.toISOString(), c.expected === undefined ? undefined : iso(c.expected));
    });
  }
});

describe("the queue outlook read from the runs' statuses", () => {
  it("training folds with a prediction release their GPUs on their node; waiting runs list one piece per fold not started", () => {
    const training = makeRun()
      .named("busy")
      .folds(0, 1)
      .gpus(2)
      .status({
        folds: [
          { fold: "0", phase: "Training", attempt: 0, node: "gpu-1", predictedFinishAt: iso(600) },
          { fold: "1", phase: "Training", attempt: 0, node: "gpu-2" },
        ],
      })
      .build();
    const waiting = makeRun()
      .named("waits")
      .folds(0, 1, 2)
      .status({
        queue: { position: 1, reason: "NoGpuCapacity" },
        folds: [
          { fold: "0", phase: "Training", attempt: 0, node: "gpu-3" },
          { fold: "1", phase: "Queued", attempt: 0 },
        ],
      })
      .build();
    const outlook = queueOutlookOf([training, waiting]);
    assert.deepEqual(outlook.releases, [{ node: "gpu-1", gpus: 2, at: at(600) }]);
    assert.deepEqual(outlook.waiting, [{ key: "team-a/waits", position: 1, pieces: [1, 1] }]);
  });
});
