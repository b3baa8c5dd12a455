import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { ANNOTATION_ATTEMPT, type FoldStatus } from "@nnunet-operator/api";
import { parseOperatorConfig } from "../../config.js";
import { at, iso, type JobBuilder, makeJob, makePod, makeRun, type PodBuilder } from "../../testing/builders.js";
import { type FoldInput, decideFold } from "./folds.js";
import { ANNOTATION_BATCH_SIZE } from "./objects.js";
import { decideSchedule } from "./schedule.js";
import { RECENT_EPOCH_TIMES } from "./progress.js";
import { assertFoldDecision, type FoldCase, previousFold } from "../../testing/fold-cases.js";

const config = parseOperatorConfig("restartBackoff: { initialSeconds: 10, maxSeconds: 300 }");
const run = makeRun().build();
const calibrated = { ready: true, batchSize: 8, ladder: [6, 4, 2], schedule: decideSchedule(run, 8, 2) };

const trainJob = (attempt = 0, batch = 8): JobBuilder =>
  makeJob("liver-fold-0")
    .of("liver", "train", "0")
    .annotate(ANNOTATION_ATTEMPT, String(attempt))
    .annotate(ANNOTATION_BATCH_SIZE, String(batch))
    .gpus(1);
const trainPod = (name = "liver-fold-0-abcde"): PodBuilder =>
  makePod(name).of("liver", "train", "0").gpus(1).on("gpu-1");
const traceback = [
  "Traceback (most recent call last):",
  '  File "nnunetv2/run/run_training.py", line 275',
  "    raise RuntimeError(msg)",
  "RuntimeError: Expected 3 channels, got 1",
].join("\n");
const cudaOom =
  "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 44.53 GiB";

function input(over: Partial<FoldInput> = {}): FoldInput {
  return {
    run,
    config,
    fold: "0",
    job: undefined,
    pods: [],
    validateJob: undefined,
    validatePods: [],
    previous: undefined,
    calibration: calibrated,
    admitted: { train: false, validate: false },
    progress: undefined,
    liveness: { heartbeat: undefined, feedSince: undefined },
    now: at(1000),
    ...over,
  };
}
const prev = previousFold;

const cases: FoldCase[] = [
  {
    name: "a fold waits in Pending until the batch size is known",
    input: { calibration: { ...calibrated, ready: false } },
    phase: "Pending",
    actions: [],
  },
  {
    name: "a fold without a GPU grant is Queued and asks for one",
    input: {},
    phase: "Queued",
    reason: "WaitingForGpu",
    wants: "train",
    actions: [],
  },
  {
    name: "an admitted fold creates its training Job as attempt 0",
    input: { admitted: { train: true, validate: false } },
    phase: "Queued",
    attempt: 0,
    batch: 8,
    actions: ["CreateTrainingJob"],
  },
  {
    name: "a Job whose pod is not scheduled yet is Training, starting",
    input: { job: trainJob().active().build() },
    phase: "Training",
    reason: "Starting",
  },
  {
    name: "a running pod is Training on its node",
    input: { job: trainJob().active().build(), pods: [trainPod().running(400).build()] },
    phase: "Training",
    reason: "Running",
    message: /running on gpu-1/,
  },
  {
    name: "a pod the scheduler cannot place says what the scheduler says",
    input: {
      job: trainJob().active().build(),
      pods: [
        (() => {
          const p = makePod("liver-fold-0-abcde").of("liver", "train", "0").gpus(1).build();
          p.status = {
            phase: "Pending",
            conditions: [
              {
                type: "PodScheduled",
                status: "False",
                reason: "Unschedulable",
                message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
                lastTransitionTime: iso(900),
              },
            ],
          };
          return p;
        })(),
      ],
    },
    phase: "Training",
    reason: "Unschedulable",
    message: /cannot be scheduled: 0\/3 nodes are available.*; the attempt fails after 600 s/,
    requeue: 500,
  },
  {
    name: "an image that cannot be pulled waits, within its limit, with a message naming the fix",
    input: {
      job: trainJob().active().build(),
      pods: [trainPod().running(800).waiting("ImagePullBackOff", "not found").build()],
    },
    phase: "Training",
    reason: "ImagePullFailed",
    message: /cannot be pulled.*fix spec\.image/,
    requeue: 100,
  },
  {
    name: "a stop decision with the pod still terminating keeps the fold Training until the pod is gone",
    input: { job: trainJob().stopDecision().build(), pods: [trainPod().running().build()] },
    phase: "Training",
    reason: "Stopping",
  },
  {
    name: "a stop decision with the pod gone is Converged, never restarted, and asks to validate",
    input: { job: trainJob().stopDecision().build(), pods: [trainPod().running().failed(143).build()] },
    phase: "Converged",
    reason: "EarlyStopped",
    actions: [],
    wants: "validate",
  },
  {
    name: "a Divergence stop decision fails the fold with reason Diverged",
    input: { job: trainJob().stopDecision({ policy: "Divergence", reason: "train_loss nan" }).build(), pods: [] },
    phase: "Failed",
    reason: "Diverged",
    message: /train_loss nan/,
  },
  {
    name: "an unreadable stop decision is ignored, and said so, while the pod trains",
    input: {
      job: trainJob().annotate("nnunet-operator.io/stop-decision", "{oops").active().build(),
      pods: [trainPod().running().build()],
    },
    phase: "Training",
    reason: "Running",
    message: /ignoring the Job's unreadable stop decision: not JSON/,
  },
  {
    name: "a completed Job is Completed and, admitted, validated",
    input: {
      job: trainJob().complete().build(),
      pods: [trainPod().running().succeeded().build()],
      admitted: { train: false, validate: true },
    },
    phase: "Completed",
    actions: ["CreateValidationJob"],
  },
  {
    name: "a pod lost with its node waits out the backoff before resuming",
    input: {
      job: trainJob().failed(995).build(),
      pods: [trainPod().running().disrupted().failed(137, { finishSeconds: 995 }).build()],
    },
    phase: "Restarting",
    reason: "NodeLost",
    attempt: 0,
    requeue: 5,
    actions: [],
  },
  {
    name: "after the backoff a lost pod's Job is deleted and the next attempt recorded",
    input: {
      job: trainJob().failed(900).build(),
      pods: [trainPod().running().disrupted().failed(137, { finishSeconds: 900 }).build()],
    },
    phase: "Restarting",
    reason: "NodeLost",
    attempt: 1,
    batch: 8,
    actions: ["DeleteTrainingJob"],
    message: /resuming from checkpoint_latest\.pth as attempt 1/,
  },
  {
    name: "an evicted pod is resumed",
    input: { job: trainJob().failed(900).build(), pods: [trainPod().running().evicted().build()] },
    phase: "Restarting",
    reason: "Evicted",
    attempt: 1,
    actions: ["DeleteTrainingJob"],
  },
  {
    name: "an OOM-killed pod (host memory) is resumed at the same batch size",
    input: {
      job: trainJob().failed(900).build(),
      pods: [trainPod().running().failed(137, { reason: "OOMKilled", finishSeconds: 900 }).build()],
    },
    phase: "Restarting",
    reason: "OOMKilled",
    attempt: 1,
    batch: 8,
    actions: ["DeleteTrainingJob"],
  },
  {
    name: "a pod killed by a signal (a stalled pod deleted) is resumed",
    input: {
      job: trainJob().failed(900).build(),
      pods: [trainPod().running().failed(143, { finishSeconds: 900 }).build()],
    },
    phase: "Restarting",
    reason: "Killed",
    attempt: 1,
  },
  {
    name: "a Job failed with no pod left is resumed as node loss",
    input: { job: trainJob().failed(900).build(), pods: [] },
    phase: "Restarting",
    reason: "NodeLost",
    attempt: 1,
  },
  {
    name: "CUDA out of memory lowers the batch size one calibrated step",
    input: {
      job: trainJob().failed(900).build(),
      pods: [trainPod().running().failed(1, { message: cudaOom, finishSeconds: 900 }).build()],
    },
    phase: "Restarting",
    reason: "CudaOutOfMemory",
    attempt: 1,
    batch: 6,
    actions: ["DeleteTrainingJob"],
    message: /batch size 6 \(from 8\)/,
  },
  {
    name: "CUDA out of memory at the smallest calibrated size fails the fold",
    input: {
      job: trainJob(1, 2).failed(900).build(),
      pods: [trainPod().running().failed(1, { message: cudaOom, finishSeconds: 900 }).build()],
    },
    phase: "Failed",
    reason: "TrainerError",
    message: /no calibrated batch size below 2/,
  },
  {
    name: "CUDA out of memory with the plans' own batch size fails and points to Auto",
    input: {
      calibration: { ready: true, batchSize: undefined, ladder: [], schedule: calibrated.schedule },
      job: makeJob("liver-fold-0").of("liver", "train", "0").failed(900).build(),
      pods: [trainPod().running().failed(1, { message: cudaOom, finishSeconds: 900 }).build()],
    },
    phase: "Failed",
    reason: "TrainerError",
    message: /use spec\.batchSize\.mode Auto/,
  },
  {
    name: "an nnU-Net error exit fails the fold with the last log lines",
    input: {
      job: trainJob().failed(900).build(),
      pods: [trainPod().running().failed(1, { message: traceback, finishSeconds: 900 }).build()],
    },
    phase: "Failed",
    reason: "TrainerError",
    actions: [],
    message: /exited with code 1:\nTraceback[\s\S]*Expected 3 channels, got 1/,
  },
  {
    name: "a derived plans file that cannot be written fails the fold with its message",
    input: {
      job: trainJob().failed(900).build(),
      pods: [
        (() => {
          const p = trainPod().running().build();
          p.status = {
            ...p.status,
            phase: "Failed",
            initContainerStatuses: [
              {
                name: "derive-plans",
                image: "x",
                imageID: "",
                ready: false,
                restartCount: 0,
                state: { terminated: { exitCode: 1, message: "plans file /nnunet/preprocessed/x.json not found" } },
              },
            ],
          };
          return p;
        })(),
      ],
    },
    phase: "Failed",
    reason: "TrainerError",
    message: /derived plans file could not be written: plans file/,
  },
  {
    name: "a retryable failure after spec.maxRestarts restarts fails the fold",
    input: { job: trainJob(3).failed(900).build(), pods: [trainPod().running().evicted().build()] },
    phase: "Failed",
    reason: "RestartsExhausted",
    message: /gave up after 3 restart\(s\).*evicted/,
  },
  {
    name: "a Job older than the attempt in status is deleted (the replacement was decided before an operator restart)",
    input: {
      job: trainJob(0).failed(900).build(),
      previous: prev({ phase: "Restarting", attempt: 1, batchSize: 6, reason: "CudaOutOfMemory" }),
    },
    phase: "Restarting",
    attempt: 1,
    batch: 6,
    actions: ["DeleteTrainingJob"],
  },
  {
    name: "an old Job being deleted is waited for",
    input: { job: trainJob(0).failed(900).deleting().build(), previous: prev({ phase: "Restarting", attempt: 1 }) },
    phase: "Restarting",
    attempt: 1,
    actions: [],
    message: /waiting for Job liver-fold-0 of attempt 0 to be deleted/,
  },
  {
    name: "once the old Job is gone the next attempt is created with its batch size when admitted",
    input: {
      previous: prev({ phase: "Restarting", attempt: 1, batchSize: 6 }),
      admitted: { train: true, validate: false },
    },
    phase: "Restarting",
    attempt: 1,
    batch: 6,
    actions: ["CreateTrainingJob"],
  },
  {
    name: "a restart waiting for GPUs stays Restarting and asks for one",
    input: { previous: prev({ phase: "Restarting", attempt: 1, reason: "NodeLost" }) },
    phase: "Restarting",
    reason: "NodeLost",
    wants: "train",
  },
  {
    name: "a Job that vanished while Training counts as a lost attempt",
    input: { previous: prev({ phase: "Training", attempt: 0 }), admitted: { train: true, validate: false } },
    phase: "Restarting",
    attempt: 1,
    actions: ["CreateTrainingJob"],
    message: /disappeared; resuming as attempt 1/,
  },
  {
    name: "a Job that was only about to be created is created again, not counted as lost",
    input: { previous: prev({ phase: "Queued", attempt: 0 }), admitted: { train: true, validate: false } },
    phase: "Queued",
    attempt: 0,
    actions: ["CreateTrainingJob"],
  },
  {
    name: "a converged fold whose Job was deleted stays Converged",
    input: {
      previous: prev({
        phase: "Converged",
        reason: "EarlyStopped",
        stopDecision: { schemaVersion: 1, epoch: 10, policy: "Patience", reason: "r", decidedAt: iso(5) },
      }),
      run: makeRun()
        .with({ validation: { enabled: false } })
        .build(),
    },
    phase: "Converged",
    actions: [],
  },
  {
    name: "a failed fold whose Job was deleted stays Failed",
    input: { previous: prev({ phase: "Failed", reason: "TrainerError", message: "boom" }) },
    phase: "Failed",
    reason: "TrainerError",
  },
];

describe("fold decision", () => {
  for (const c of cases) {
    it(c.name, () => {
      const d = decideFold(input(c.input));
      assertFoldDecision(d, c);
    });
  }

  it("the create action carries attempt, batch size and trainer", () => {
    const d = decideFold(
      input({
        previous: prev({ phase: "Restarting", attempt: 2, batchSize: 4 }),
        admitted: { train: true, validate: false },
      }),
    );
    assert.deepEqual(d.actions[0], {
      type: "CreateTrainingJob",
      fold: "0",
      attempt: 2,
      batchSize: 4,
      trainer: "nnUNetTrainer_250epochs",
    });
  });

  it("a running pod gives the fold its start time, node and planned epochs", () => {
    const d = decideFold(
      input({ job: trainJob(2).active().build(), pods: [trainPod().running(400).build()], now: at(1000) }),
    );
    assert.equal(d.status.startedAt, iso(400));
    assert.equal(d.status.node, "gpu-1");
    assert.equal(d.status.maxEpochs, 250);
  });

  it("the GPU-seconds stored for a fold carry over passes and attempts (the pod's clock never counts)", () => {
    const stored = { gpuSecondsUsed: 840, gpuSecondsPlanned: 9000 };
    const stopped = decideFold(
      input({
        job: trainJob().stopDecision().build(),
        pods: [],
        previous: prev({ phase: "Converged", attempt: 0, ...stored }),
      }),
    );
    assert.deepEqual([stopped.status.gpuSecondsUsed, stopped.status.gpuSecondsPlanned], [840, 9000]);
    const resumed = decideFold(
      input({
        job: trainJob(1).active().build(),
        pods: [trainPod().running(400).build()],
        previous: prev({ phase: "Restarting", attempt: 1, ...stored }),
        now: at(100000),
      }),
    );
    assert.deepEqual([resumed.status.gpuSecondsUsed, resumed.status.gpuSecondsPlanned], [840, 9000]);
  });

  it("epoch and EMA values come from the progress the NATS side provides", () => {
    const d = decideFold(
      input({
        job: trainJob().active().build(),
        pods: [trainPod().running().build()],
        progress: {
          attempt: 0,
          epoch: 41,
          latestEma: 0.81,
          bestEma: 0.82,
          bestEpoch: 39,
          epochsTimed: 42,
          meanEpochSeconds: 95,
          recentEpochSeconds: Array(RECENT_EPOCH_TIMES).fill(95),
          observedAt: iso(900),
        },
      }),
    );
    assert.deepEqual([d.status.epoch, d.status.latestEma, d.status.bestEma, d.status.bestEpoch], [41, 0.81, 0.82, 39]);
  });

  it("the restart backoff doubles with each attempt up to the cap", () => {
    const failedAt = 1000;
    const job = trainJob(2).failed(failedAt).build();
    const pods = [trainPod().running().evicted().build()];
    const d = decideFold(input({ run: makeRun().with({ maxRestarts: 5 }).build(), job, pods, now: at(failedAt + 1) }));
    assert.equal(d.requeueAfterSeconds, 39, "10s doubled twice, minus the second that passed");
  });
});

describe("fold validation", () => {
  const stopped = () => trainJob().stopDecision().build();
  const gone = [trainPod().running().failed(143).build()];
  const valJob = () => makeJob("liver-validate-0").of("liver", "validate", "0");
  const valPod = () => makePod("liver-validate-0-xyz").of("liver", "validate", "0").running();
  const good = JSON.stringify({ schemaVersion: 1, checkpoint: "best", meanDice: 0.9123, perClassDice: [0.95, 0.87] });

  const table: Array<{
    name: string;
    over: Partial<FoldInput>;
    phase: FoldStatus["phase"];
    reason?: string;
    message?: RegExp;
    check?: (s: FoldStatus, actions: readonly unknown[]) => void;
  }> = [
    {
      name: "an early-stopped fold validates checkpoint_best",
      over: { job: stopped(), pods: gone, admitted: { train: false, validate: true } },
      phase: "Converged",
      check: (_s, actions) =>
        assert.deepEqual(actions, [
          {
            type: "CreateValidationJob",
            fold: "0",
            checkpoint: "best",
            batchSize: 8,
            trainer: "nnUNetTrainer_250epochs",
          },
        ]),
    },
    {
      name: "a completed fold validates the final checkpoint",
      over: { job: trainJob().complete().build(), admitted: { train: false, validate: true } },
      phase: "Completed",
      check: (_s, actions) => assert.equal((actions[0] as { checkpoint: string }).checkpoint, "final"),
    },
    {
      name: "a running validation Job is Validating",
      over: { job: stopped(), pods: gone, validateJob: valJob().active().build(), validatePods: [valPod().build()] },
      phase: "Validating",
    },
    {
      name: "a finished validation puts mean and per-class Dice into the fold status",
      over: {
        job: stopped(),
        pods: gone,
        validateJob: valJob().complete().build(),
        validatePods: [valPod().succeeded(2000, good).build()],
      },
      phase: "Validated",
      reason: "ValidationPassed",
      check: (s) =>
        assert.deepEqual(s.validation, {
          checkpoint: "best",
          meanDice: 0.9123,
          perClassDice: [0.95, 0.87],
          completedAt: iso(2000),
        }),
    },
    {
      name: "a NaN class Dice leaves the per-class list out instead of shifting it",
      over: {
        job: stopped(),
        pods: gone,
        validateJob: valJob().complete().build(),
        validatePods: [
          valPod()
            .succeeded(
              2000,
              JSON.stringify({ schemaVersion: 1, checkpoint: "best", meanDice: 0.9, perClassDice: [0.9, null] }),
            )
            .build(),
        ],
      },
      phase: "Validated",
      check: (s) => assert.equal(s.validation?.perClassDice, undefined),
    },
    {
      name: "a validation Job seen Complete before its pod's termination message waits for the pod, not failing the fold",
      over: {
        job: stopped(),
        pods: gone,
        validateJob: valJob().complete(995).build(),
        validatePods: [valPod().build()],
      },
      phase: "Validating",
      reason: "Validating",
      message: /waiting for its pod's termination message/,
    },
    {
      name: "a validation Job seen Complete before any of its pods waits for the pod too",
      over: { job: stopped(), pods: gone, validateJob: valJob().complete(995).build(), validatePods: [] },
      phase: "Validating",
    },
    {
      name: "a completed validation whose pod never showed a result within the grace fails the fold",
      over: { job: stopped(), pods: gone, validateJob: valJob().complete(900).build(), validatePods: [] },
      phase: "Failed",
      reason: "ValidationFailed",
      message: /left no termination message/,
    },
    {
      name: "an unparseable validation result fails the fold quoting the text",
      over: {
        job: stopped(),
        pods: gone,
        validateJob: valJob().complete().build(),
        validatePods: [valPod().succeeded(2000, "Killed").build()],
      },
      phase: "Failed",
      reason: "ValidationFailed",
      message: /not JSON: "Killed"/,
    },
    {
      name: "a failed validation Job fails the fold with the log tail",
      over: {
        job: stopped(),
        pods: gone,
        validateJob: valJob().failed().build(),
        validatePods: [valPod().failed(1, { message: "RuntimeError: Cannot run validation" }).build()],
      },
      phase: "Failed",
      reason: "ValidationFailed",
      message: /exit code 1:\nRuntimeError: Cannot run validation/,
    },
    {
      name: "a validation result recorded in status survives the deletion of its Job",
      over: {
        job: stopped(),
        pods: gone,
        previous: prev({ phase: "Validated", validation: { checkpoint: "best", meanDice: 0.91 } }),
      },
      phase: "Validated",
    },
    {
      name: "with validation disabled a converged fold is done",
      over: {
        run: makeRun()
          .with({ validation: { enabled: false } })
          .build(),
        job: stopped(),
        pods: gone,
      },
      phase: "Converged",
      check: (_s, a) => assert.deepEqual(a, []),
    },
  ];
  for (const c of table) {
    it(c.name, () => {
      const d = decideFold(input(c.over));
      assert.equal(d.status.phase, c.phase, `${d.status.reason}: ${d.status.message}`);
      if (c.reason) assert.equal(d.status.reason, c.reason);
      if (c.message) assert.match(d.status.message ?? "", c.message);
      c.check?.(d.status, d.actions);
    });
  }
});
