import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { IPod } from "kubernetes-models/v1/Pod";
import { ANNOTATION_ATTEMPT } from "@nnunet-operator/api";
import { parseOperatorConfig } from "../../config.js";
import {
  at,
  FakeClock,
  iso,
  type JobBuilder,
  makeJob,
  makeNode,
  makePod,
  makeRun,
  type PodBuilder,
} from "../../testing/builders.js";
import { assertFoldDecision, type FoldCase, previousFold } from "../../testing/fold-cases.js";
import { Sim } from "../../testing/sim.js";
import { gpuTolerations } from "../manifests/common.js";
import { decideAdmission } from "./admission.js";
import { type CalibrationInput, decideCalibration } from "./calibration.js";
import { type FoldInput, decideFold } from "./folds.js";
import { ANNOTATION_BATCH_SIZE } from "./objects.js";
import { decideSchedule } from "./schedule.js";
import { isPermanentPullFailure } from "./start-timeouts.js";

// Pods the operator built that do not get going (issue 17): past the operator's
// startTimeouts their attempt fails with the cause and the limit, and their Job is deleted
// so that the GPUs are freed. Limits here are the defaults: unschedulable 600 s, image pull
// 300 s, container configuration 120 s, first epoch 1800 s. Pods are created at 0 s and
// start on their node at 10 s unless a case says otherwise.

const config = parseOperatorConfig("restartBackoff: { initialSeconds: 10, maxSeconds: 300 }");
const withLimits = (limits: string) =>
  parseOperatorConfig(`restartBackoff: { initialSeconds: 10, maxSeconds: 300 }\nstartTimeouts: ${limits}`);
const run = makeRun().build();
const calibrated = { ready: true, batchSize: 8, ladder: [6, 4, 2], schedule: decideSchedule(run, 8, 2) };
const IMAGE = "registry.example/nnunet:missing";

const trainJob = (attempt = 0): JobBuilder =>
  makeJob("liver-fold-0")
    .of("liver", "train", "0")
    .annotate(ANNOTATION_ATTEMPT, String(attempt))
    .annotate(ANNOTATION_BATCH_SIZE, "8")
    .gpus(1);
const trainPod = (): PodBuilder => makePod("liver-fold-0-abcde").of("liver", "train", "0").gpus(1);

/** A pod the scheduler has said no to since `since`. */
function unschedulable(p: PodBuilder, since: number): IPod {
  const pod = p.build();
  pod.status = {
    phase: "Pending",
    conditions: [
      {
        type: "PodScheduled",
        status: "False",
        reason: "Unschedulable",
        message: "0/2 nodes are available: 2 Insufficient memory.",
        lastTransitionTime: iso(since),
      },
    ],
  };
  return pod;
}

/** A pod on its node since 10 s whose container `name` (nnunet, or an init container) waits for `reason`. */
function stuck(p: PodBuilder, reason: string, message: string, name = "nnunet", image = IMAGE): IPod {
  const pod = p.on("gpu-1").running(10).waiting(reason, message).build();
  const status = { ...pod.status!.containerStatuses![0]!, name, image };
  if (name === "nnunet") {
    pod.spec!.containers[0]!.image = image;
    pod.status!.containerStatuses = [status];
  } else {
    pod.spec!.initContainers = [{ name, image, ...(name === "reporter" ? { restartPolicy: "Always" } : {}) }];
    pod.status!.initContainerStatuses = [status];
    pod.status!.containerStatuses = [{ ...status, name: "nnunet", state: { waiting: { reason: "PodInitializing" } } }];
  }
  return pod;
}

const NOT_FOUND =
  'rpc error: code = NotFound desc = failed to pull and unpack image "registry.example/nnunet:missing": failed to resolve reference "registry.example/nnunet:missing": registry.example/nnunet:missing: not found';
const TIMEOUT =
  'failed to pull and unpack image "registry.example/nnunet:missing": failed to do request: Head "https://registry.example/v2/nnunet/manifests/missing": dial tcp 10.0.0.5:443: i/o timeout';
const NO_KEY = "couldn't find key nats.creds in Secret team-a/nats-creds";

function input(over: Partial<FoldInput> = {}): FoldInput {
  return {
    run,
    config,
    fold: "0",
    job: trainJob().active().build(),
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

describe("which image pull failures no retry can fix", () => {
  const cases: Array<{ name: string; reason: string; message: string; permanent: boolean }> = [
    {
      name: "a tag the registry does not have (containerd)",
      reason: "ErrImagePull",
      message: NOT_FOUND,
      permanent: true,
    },
    {
      name: "a repository Docker Hub does not have, or hides",
      reason: "ImagePullBackOff",
      message:
        'Back-off pulling image "acme/nnunet:2": ErrImagePull: failed to pull and unpack image "docker.io/acme/nnunet:2": failed to resolve reference "docker.io/acme/nnunet:2": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed',
      permanent: true,
    },
    {
      name: "a private registry without credentials (401)",
      reason: "ErrImagePull",
      message:
        'failed to resolve reference "registry.example/nnunet:2": unexpected status from HEAD request to https://registry.example/v2/nnunet/manifests/2: 401 Unauthorized',
      permanent: true,
    },
    {
      name: "a registry that refuses this node (403)",
      reason: "ErrImagePull",
      message: "unexpected status code https://registry.example/v2/nnunet/manifests/2: 403 Forbidden",
      permanent: true,
    },
    {
      name: "an image name that is not one",
      reason: "InvalidImageName",
      message:
        'Failed to apply default image tag "Registry/NNUNET": couldn\'t parse image reference "Registry/NNUNET": invalid reference format: repository name must be lowercase',
      permanent: true,
    },
    {
      name: "pull policy Never without the image on the node",
      reason: "ErrImageNeverPull",
      message: 'Container image "nnunet:local" is not present with pull policy of Never',
      permanent: true,
    },
    { name: "a registry that does not answer", reason: "ErrImagePull", message: TIMEOUT, permanent: false },
    {
      name: "a registry that is down for maintenance (503)",
      reason: "ErrImagePull",
      message: "unexpected status code https://registry.example/v2/: 503 Service Unavailable",
      permanent: false,
    },
    {
      name: "Docker Hub's rate limit",
      reason: "ErrImagePull",
      message:
        "toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit",
      permanent: false,
    },
    {
      name: "a registry name DNS cannot resolve (a typo, or DNS down)",
      reason: "ErrImagePull",
      message: "dial tcp: lookup registry.example on 10.96.0.10:53: no such host",
      permanent: false,
    },
    {
      name: "a back-off without its cause (kubelets before the cause was added)",
      reason: "ImagePullBackOff",
      message: 'Back-off pulling image "registry.example/nnunet:2"',
      permanent: false,
    },
  ];
  for (const c of cases)
    it(`${c.name}: ${c.permanent ? "for good" : "worth another attempt"}`, () => {
      assert.equal(isPermanentPullFailure(c.reason, c.message), c.permanent);
    });
});

const prev = previousFold;
const trainingCases: FoldCase[] = [
  {
    name: "a pod the scheduler cannot place, within its limit, says what the scheduler says and comes back at the limit",
    input: { pods: [unschedulable(trainPod(), 500)] },
    phase: "Training",
    reason: "Unschedulable",
    actions: [],
    requeue: 100,
    message:
      /^the training pod liver-fold-0-abcde cannot be scheduled: 0\/2 nodes are available: 2 Insufficient memory\.; the attempt fails after 600 s \(operator startTimeouts\.unschedulableSeconds\)$/,
  },
  {
    name: "a pod unschedulable past its limit fails its attempt: the next attempt is recorded and the Job deleted at once, freeing its GPUs",
    input: { pods: [unschedulable(trainPod(), 400)] },
    phase: "Restarting",
    reason: "UnschedulableTimeout",
    attempt: 1,
    actions: ["DeleteTrainingJob"],
    message:
      /^UnschedulableTimeout: the training pod liver-fold-0-abcde could not be scheduled for 600 s \(operator startTimeouts\.unschedulableSeconds\): 0\/2 nodes are available: 2 Insufficient memory\.; resuming from checkpoint_latest\.pth as attempt 1$/,
  },
  {
    name: "with the unschedulable limit off the pod waits as long as it takes, and nothing comes back for it",
    input: { config: withLimits("{ unschedulableSeconds: 0 }"), pods: [unschedulable(trainPod(), 0)] },
    phase: "Training",
    reason: "Unschedulable",
    actions: [],
    message: /cannot be scheduled: 0\/2 nodes are available: 2 Insufficient memory\.$/,
  },
  {
    name: "an image that does not exist, within its limit, waits with the fix and comes back at the limit",
    input: { pods: [stuck(trainPod(), "ErrImagePull", NOT_FOUND)], now: at(200) },
    phase: "Training",
    reason: "ImagePullFailed",
    actions: [],
    requeue: 110,
    message:
      /^image registry\.example\/nnunet:missing cannot be pulled \(ErrImagePull: rpc error.*not found\); fix spec\.image/,
  },
  {
    name: "an image that does not exist, past its limit, fails the fold for good, naming the image, and deletes the Job",
    input: {
      pods: [stuck(trainPod(), "ImagePullBackOff", `Back-off pulling image "${IMAGE}": ErrImagePull: ${NOT_FOUND}`)],
    },
    phase: "Failed",
    reason: "ImagePullTimeout",
    attempt: 0,
    actions: ["DeleteTrainingJob"],
    message:
      /^ImagePullTimeout: image "registry\.example\/nnunet:missing" could not be pulled for 300 s \(operator startTimeouts\.imagePullSeconds\): ImagePullBackOff: Back-off pulling image .*not found; the image does not exist or may not be pulled: fix spec\.image or the operator's images\.training, or add an image pull secret$/,
  },
  {
    name: "a registry that does not answer, past the limit, is worth another attempt",
    input: { pods: [stuck(trainPod(), "ErrImagePull", TIMEOUT)] },
    phase: "Restarting",
    reason: "ImagePullTimeout",
    attempt: 1,
    actions: ["DeleteTrainingJob"],
    message:
      /^ImagePullTimeout: image "registry\.example\/nnunet:missing" could not be pulled for 300 s .*i\/o timeout; resuming/,
  },
  {
    name: "the derived-plans init container pulls the training image first: its pull failure counts the same",
    input: { pods: [stuck(trainPod(), "ErrImagePull", NOT_FOUND, "derive-plans")] },
    phase: "Failed",
    reason: "ImagePullTimeout",
    actions: ["DeleteTrainingJob"],
    message: /image "registry\.example\/nnunet:missing" could not be pulled/,
  },
  {
    name: "a reporter image that does not exist names the operator's images.reporter as the fix",
    input: {
      pods: [stuck(trainPod(), "ErrImagePull", NOT_FOUND, "reporter", "registry.example/reporter:missing")],
    },
    phase: "Failed",
    reason: "ImagePullTimeout",
    actions: ["DeleteTrainingJob"],
    message: /image "registry\.example\/reporter:missing" could not be pulled.*: fix the operator's images\.reporter$/,
  },
  {
    name: "a container that cannot be created, within its limit, waits and says why",
    input: { pods: [stuck(trainPod(), "CreateContainerConfigError", NO_KEY)], now: at(100) },
    phase: "Training",
    reason: "ContainerConfigError",
    actions: [],
    requeue: 30,
    message:
      /^container nnunet of the training pod liver-fold-0-abcde cannot be created \(CreateContainerConfigError: couldn't find key nats\.creds in Secret team-a\/nats-creds\); the attempt fails after 120 s/,
  },
  {
    name: "a container that cannot be created past its limit fails its attempt, retried as the next one (the Secret may appear)",
    input: { pods: [stuck(trainPod(), "CreateContainerConfigError", NO_KEY)], now: at(131) },
    phase: "Restarting",
    reason: "ContainerConfigTimeout",
    attempt: 1,
    actions: ["DeleteTrainingJob"],
    message:
      /^ContainerConfigTimeout: container nnunet of the training pod liver-fold-0-abcde could not be created for 120 s \(operator startTimeouts\.containerConfigSeconds\): CreateContainerConfigError: couldn't find key/,
  },
  {
    name: "with spec.maxRestarts used up a start timeout fails the fold, naming it, and still deletes the Job",
    input: {
      job: trainJob(3).active().build(),
      previous: prev({ attempt: 3 }),
      pods: [stuck(trainPod(), "CreateContainerConfigError", NO_KEY)],
    },
    phase: "Failed",
    reason: "RestartsExhausted",
    attempt: 3,
    actions: ["DeleteTrainingJob"],
    message: /^gave up after 3 restart\(s\) \(spec\.maxRestarts 3\); last failure: ContainerConfigTimeout: /,
  },
  {
    name: "the failed fold's Job on its way out asks for nothing more, and the failure stands",
    input: {
      job: trainJob().active().deleting().build(),
      previous: prev({ phase: "Failed", reason: "ImagePullTimeout", message: "ImagePullTimeout: image ..." }),
      pods: [stuck(trainPod(), "ImagePullBackOff", NOT_FOUND)],
    },
    phase: "Failed",
    reason: "ImagePullTimeout",
    actions: [],
  },
  {
    name: "a trainer that never started (a volume that cannot be mounted) fails its attempt after the first-epoch limit, with no heartbeat needed",
    input: { pods: [stuck(trainPod(), "ContainerCreating", "")], now: at(1811) },
    phase: "Restarting",
    reason: "FirstEpochTimeout",
    attempt: 1,
    actions: ["DeleteTrainingJob"],
    message:
      /^FirstEpochTimeout: no first epoch for 1800 s since attempt 0 started \(operator startTimeouts\.firstEpochSeconds\): the trainer never started, nnunet is waiting: ContainerCreating; resuming/,
  },
  {
    name: "a trainer not started yet, within the first-epoch limit, brings the reconcile back at the limit even with the NATS feed down",
    input: { pods: [stuck(trainPod(), "ContainerCreating", "")] },
    phase: "Training",
    reason: "Running",
    actions: [],
    requeue: 810,
  },
  {
    name: "with the first-epoch limit off a trainer that never started is left alone",
    input: {
      config: withLimits("{ firstEpochSeconds: 0 }"),
      pods: [stuck(trainPod(), "ContainerCreating", "")],
      now: at(5000),
    },
    phase: "Training",
    reason: "Running",
    actions: [],
  },
  {
    name: "an attempt with an epoch of its own started, whatever its pod status says",
    input: {
      pods: [stuck(trainPod(), "ContainerCreating", "")],
      progress: { attempt: 0, epoch: 0, epochsTimed: 1, recentEpochSeconds: [100], observedAt: iso(900) },
      now: at(1811),
    },
    phase: "Training",
    reason: "Running",
    actions: [],
  },
];

describe("a training pod that does not get going", () => {
  for (const c of trainingCases) it(c.name, () => assertFoldDecision(decideFold(input(c.input)), c));
});

describe("a validation pod that does not get going", () => {
  const trained = {
    job: trainJob().complete(400).build(),
    pods: [trainPod().on("gpu-1").running(10).succeeded(400).build()],
    validateJob: makeJob("liver-validate-0").of("liver", "validate", "0").active().gpus(1).build(),
  };
  const validatePod = () => makePod("liver-validate-0-xyz").of("liver", "validate", "0").gpus(1);
  const cases: FoldCase[] = [
    {
      name: "within its limit the fold is Validating, saying why the pod waits, and comes back at the limit",
      input: { ...trained, validatePods: [unschedulable(validatePod(), 500)] },
      phase: "Validating",
      actions: [],
      requeue: 100,
      message: /^the validation pod liver-validate-0-xyz cannot be scheduled: .*fails after 600 s/,
    },
    {
      name: "past its limit the fold fails, naming the cause, and the validation Job is deleted to free its GPU",
      input: { ...trained, validatePods: [unschedulable(validatePod(), 400)] },
      phase: "Failed",
      reason: "UnschedulableTimeout",
      actions: ["DeleteValidationJob"],
      message: /^UnschedulableTimeout: the validation pod liver-validate-0-xyz could not be scheduled for 600 s/,
    },
    {
      name: "once that Job is gone the failure stands: no new validation Job, even with a GPU granted",
      input: {
        ...trained,
        validateJob: undefined,
        admitted: { train: false, validate: true },
        previous: prev({ phase: "Failed", reason: "UnschedulableTimeout", message: "UnschedulableTimeout: ..." }),
      },
      phase: "Failed",
      reason: "UnschedulableTimeout",
      actions: [],
    },
  ];
  for (const c of cases) it(c.name, () => assertFoldDecision(decideFold(input(c.input)), c));
});

describe("a calibration pod that does not get going", () => {
  const auto = makeRun().build();
  const calJob = () => makeJob("liver-calibrate").of("liver", "calibrate").active().gpus(1);
  const calPod = () => makePod("liver-calibrate-xyz").of("liver", "calibrate").gpus(1);
  const cal = (over: Partial<CalibrationInput>): CalibrationInput => ({
    run: auto,
    config,
    job: calJob().build(),
    pods: [],
    nodes: [makeNode("gpu-1").build()],
    cache: undefined,
    previous: undefined,
    admitted: false,
    now: at(200),
    ...over,
  });

  it("within its limit calibration goes on, saying why the pod waits, and comes back at the limit", () => {
    const d = decideCalibration(cal({ pods: [stuck(calPod(), "ErrImagePull", TIMEOUT, "calibrate")] }));
    assert.equal(d.ready, false);
    assert.match(d.condition.message, /image registry\.example\/nnunet:missing cannot be pulled .*fails after 300 s/);
    assert.equal(d.requeueAfterSeconds, 110);
    assert.deepEqual(d.actions, []);
  });

  it("past its limit calibration falls back to the plans' batch size, as for any failed calibration, and deletes its Job", () => {
    const d = decideCalibration(cal({ pods: [unschedulable(calPod(), 0)], now: at(601) }));
    assert.equal(d.ready, true);
    assert.equal(d.status.source, "Fallback");
    assert.deepEqual([d.condition.status, d.condition.reason], ["False", "CalibrationFailed"]);
    assert.match(
      d.condition.message,
      /^calibration failed after 1 attempt\(s\), training with the batch size of plans nnUNetPlans: UnschedulableTimeout: the calibration pod liver-calibrate-xyz could not be scheduled for 600 s/,
    );
    assert.deepEqual(d.actions, [
      { type: "DeleteCalibrationJob", name: "liver-calibrate", reason: "UnschedulableTimeout" },
    ]);
  });

  it("the fallback kept in status deletes the Job again while it still runs, and nothing once it is on its way out", () => {
    const first = decideCalibration(cal({ pods: [unschedulable(calPod(), 0)], now: at(601) }));
    const again = decideCalibration(cal({ previous: first.status, pods: [unschedulable(calPod(), 0)], now: at(602) }));
    assert.deepEqual(
      again.actions.map((a) => a.type),
      ["DeleteCalibrationJob"],
    );
    const leaving = decideCalibration(cal({ previous: first.status, job: calJob().deleting().build(), now: at(603) }));
    assert.deepEqual(leaving.actions, []);
    assert.equal(leaving.status.source, "Fallback");
  });
});

describe("a fold whose pod cannot be placed, pass by pass", () => {
  it("holds its GPU while it waits, then fails its attempt with a Warning naming the cause, and the GPU goes to another run", () => {
    const clock = new FakeClock();
    const node = makeNode("a").gpus(1).build();
    const sim = new Sim(makeRun().folds(0).batch({ mode: "Fixed", value: 4 }).build(), config, [node]);
    let plan = sim.pass(clock.now());
    assert.deepEqual(
      plan.actions.map((a) => a.verb),
      ["create"],
    );
    sim.addPod(unschedulable(makePod("liver-fold-0-x").of("liver", "train", "0").gpus(1), 0));

    // Another run asks for the node's only GPU: the unplaced pod's Job holds it.
    const other = makeRun().named("spleen").createdAt(5).folds(0).build();
    const otherWaits = () =>
      decideAdmission({
        nodes: sim.nodes,
        pods: sim.pods,
        jobs: sim.jobs,
        runs: [{ run: other, claimExists: true, wants: [{ kind: "train", fold: "0", gpus: 1 }] }],
        queues: config.queues,
        acceptedProducts: config.gpu.acceptedProducts,
        tolerations: gpuTolerations(config),
      }).runs.get("team-a/spleen")?.wait?.reason;
    clock.advance(300);
    plan = sim.pass(clock.now());
    assert.deepEqual([plan.status.folds?.[0]?.reason, plan.requeueAfterSeconds], ["Unschedulable", 300]);
    assert.equal(otherWaits(), "NoGpuCapacity");

    clock.advance(300);
    plan = sim.pass(clock.now());
    assert.deepEqual(
      [plan.status.folds?.[0]?.phase, plan.status.folds?.[0]?.reason, plan.status.folds?.[0]?.attempt],
      ["Restarting", "UnschedulableTimeout", 1],
    );
    assert.deepEqual(
      plan.actions.map((a) => (a.verb === "delete" ? `${a.verb} ${a.name}` : a.verb)),
      ["delete liver-fold-0"],
    );
    const warning = plan.events.find((e) => e.reason === "FoldRestarting");
    assert.equal(warning?.type, "Warning");
    assert.match(
      warning?.message ?? "",
      /^fold 0: UnschedulableTimeout: the training pod liver-fold-0-x could not be scheduled for 600 s/,
    );
    assert.equal(otherWaits(), undefined, "the other run is admitted on the freed GPU");
  });

  it("an image that does not exist fails the run with a Failed condition and a Warning naming the image", () => {
    const clock = new FakeClock();
    const sim = new Sim(makeRun().folds(0).batch({ mode: "Fixed", value: 4 }).build(), config, [makeNode("a").build()]);
    sim.pass(clock.now());
    sim.addPod(stuck(makePod("liver-fold-0-x").of("liver", "train", "0").gpus(1), "ErrImagePull", NOT_FOUND));
    clock.advance(100);
    let plan = sim.pass(clock.now());
    assert.equal(plan.status.phase, "Training");
    clock.advance(210);
    plan = sim.pass(clock.now());
    assert.equal(plan.status.phase, "Failed");
    const failed = plan.status.conditions?.find((c) => c.type === "Failed");
    assert.deepEqual([failed?.status, failed?.reason], ["True", "ImagePullTimeout"]);
    assert.match(
      failed?.message ?? "",
      /^fold 0: ImagePullTimeout: image "registry\.example\/nnunet:missing" could not be pulled for 300 s/,
    );
    const event = plan.events.find((e) => e.reason === "ImagePullTimeout");
    assert.equal(event?.type, "Warning");
    assert.deepEqual(
      plan.actions.map((a) => (a.verb === "delete" ? `${a.verb} ${a.name}` : a.verb)),
      ["delete liver-fold-0"],
    );
    plan = sim.pass(clock.advance(5));
    assert.deepEqual([plan.status.phase, plan.actions], ["Failed", []], "the Job gone, the failure stands");
  });
});
