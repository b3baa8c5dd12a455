// Pods that do not get going give their GPUs back (issue 17, build item 4), end to end with
// every controller real: the devcluster in RBAC mode with the chart's ServiceAccounts and
// roles, its simulated L40S node (64 CPUs, 512Gi, 4 GPUs), scheduler, Job controller and
// process kubelet; a real nats-server; the reporter sidecar; the operator composed as in
// production with the chart's configuration and short start timeouts (seconds instead of
// minutes). Four ways a training pod fails to start:
// - unschedulable: another workload holds the node's memory, so a fold admitted on the
//   node's free GPUs cannot be placed; past the limit its attempt fails, its Job is deleted
//   and a waiting run of higher priority gets the GPUs;
// - an image the registry does not have (the devcluster answers in containerd's words):
//   past the limit the run fails for good, naming the image;
// - CreateContainerConfigError: an image that runs as root under the hardened pods'
//   runAsNonRoot (the likeliest configuration error of these pods: they reference no
//   Secret keys in their environment, and a missing key of a mounted Secret is a
//   FailedMount, not a configuration error); past the limit the attempt is retried, and
//   with spec.maxRestarts used up the fold fails naming the cause;
// - no first epoch: the simulated nnU-Net hangs once before its first epoch
//   (NNUNET_SIM_HANG_AT_EPOCH=0); the reporter's heartbeat confirms it, and the fold is
//   restarted like a stalled one and trains on.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { ANNOTATION_ATTEMPT } from "@nnunet-operator/api";
import { connectBus, ensureEpochStream } from "@nnunet-operator/bus";
import { type NatsServerHandle, startNatsServer } from "@nnunet-operator/bus/testing";
import { assertNoUnexpectedFailures, type DevCluster, loadImageMap } from "@nnunet-operator/devcluster";
import { repoRoot } from "../../scripts/demo/stack.js";
import {
  eventually,
  getJob,
  getRun,
  listObjects,
  startChartOperator,
  startProcessCluster,
} from "./operator-harness.js";

const NS = "team-a";
const EPOCHS = 70;
const EPOCH_SECONDS = 0.25;
const LIMITS = { unschedulableSeconds: 3, imagePullSeconds: 3, containerConfigSeconds: 3, firstEpochSeconds: 8 };
const MISSING_IMAGE = "registry.example/nnunet:missing";
const ROOT_IMAGE = "nnunet-operator/nnunet-root:0.1.0";

let dc: DevCluster;
let nats: NatsServerHandle;
let work: string;
const stops: Array<() => Promise<void>> = [];

/** The shipped image map, plus the training image built to run as root. */
function imageMap() {
  const map = loadImageMap(join(repoRoot, "services/devcluster/images.yaml"));
  const nnunet = map.images.find((e) => e.image === "*nnunet-operator/nnunet");
  assert.ok(nnunet, "the image map has the nnU-Net image");
  return { images: [{ ...nnunet, image: "*nnunet-operator/nnunet-root", user: "0" }, ...map.images] };
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), "fold-start-"));
  dc = await startProcessCluster({
    work,
    namespaces: [NS, "other"],
    curve: { epochs: EPOCHS, epochSeconds: EPOCH_SECONDS },
    imageMap: imageMap(),
    containerEnv: {
      NNUNET_SIM_HANG_AT_EPOCH: "0",
      NNUNET_SIM_GPU_MODEL: "off",
      REPORTER_HEARTBEAT_SECONDS: "1",
    },
  });
  nats = await startNatsServer();
  const admin = await connectBus({ servers: nats.url, name: "stream-setup" });
  // early-stop owns the stream in production; here only its existence matters.
  await ensureEpochStream(await jetstreamManager(admin), {
    maxAgeMs: 3_600_000,
    maxBytes: 64 * 1024 * 1024,
    duplicateWindowMs: 60_000,
  });
  await admin.drain();
  // The chart's configuration, with the start timeouts in seconds and the two test images allowed.
  const operator = await startChartOperator(dc, nats.url, {
    configure: (raw) => {
      raw["startTimeouts"] = LIMITS;
      raw["policy"] = { allowedImages: [MISSING_IMAGE, ROOT_IMAGE], allowedPriorityClasses: [] };
    },
    waitingResyncSeconds: 2,
  });
  stops.push(operator.stop);
});

after(async () => {
  for (const stop of stops.reverse()) await stop();
  await dc?.stop();
  await nats?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
  if (dc) assertNoUnexpectedFailures(dc);
});

function createRun(name: string, spec: Record<string, unknown> = {}) {
  return dc.cluster.create({
    apiVersion: "nnunet-operator.io/v1alpha1",
    kind: "TrainingRun",
    metadata: { name, namespace: NS },
    spec: {
      dataset: "Dataset003_Liver",
      configuration: "3d_fullres",
      folds: [0],
      storage: { claimName: "nnunet-data" },
      batchSize: { mode: "Fixed", value: 2 },
      resources: { cpu: "4", memory: "16Gi", shmSize: "1Gi" },
      schedule: { maxEpochs: 100, earlyStop: { enabled: false } },
      validation: { enabled: false },
      ...spec,
    },
  });
}

async function deleteRun(name: string): Promise<void> {
  await dc.cluster.delete(dc.cluster.resourceFor("nnunet-operator.io/v1alpha1", "TrainingRun"), NS, name);
}

function runIfAny(name: string): ReturnType<typeof getRun> | undefined {
  try {
    return getRun(dc, name, NS);
  } catch {
    return undefined;
  }
}

type Fold = { fold: string; phase: string; reason?: string; message?: string; attempt: number; epoch?: number };
const fold = (run: string): Fold | undefined => getRun(dc, run, NS).status?.folds?.find((f: Fold) => f.fold === "0");
const condition = (run: string, type: string) =>
  getRun(dc, run, NS).status?.conditions?.find((c: { type: string }) => c.type === type) as
    | { status: string; reason: string; message: string }
    | undefined;
/** Events on a run, as the API stores them (core/v1 form: events.k8s.io's note is the message). */
const events = (run: string, reason: string) =>
  (
    listObjects(dc, "events.k8s.io/v1", "Event", NS) as unknown as Array<{
      reason?: string;
      type: string;
      message?: string;
      involvedObject?: { kind?: string; name?: string };
    }>
  ).filter((e) => e.reason === reason && e.involvedObject?.kind === "TrainingRun" && e.involvedObject.name === run);
const trainPods = (run: string) =>
  listObjects(dc, "v1", "Pod", NS).filter(
    (p) =>
      p.metadata.labels?.["nnunet-operator.io/run"] === run &&
      p.metadata.labels?.["nnunet-operator.io/role"] === "train",
  );

describe("a training pod that cannot be placed", { timeout: 90_000 }, () => {
  const seen = { waitingRun: new Set<string>(), phases: [] as string[] };
  const watch = () => {
    const queue = runIfAny("small")?.status?.queue?.reason;
    if (queue) seen.waitingRun.add(queue);
    const f = fold("big");
    const phase = `${f?.phase}/${f?.reason}/${f?.attempt}`;
    if (seen.phases.at(-1) !== phase) seen.phases.push(phase);
  };

  before(async () => {
    // Another workload holds 500Gi of the node's 512Gi: admission counts GPUs, which are all
    // free, so a fold asking for 16Gi is admitted and then fits nowhere.
    const nodes = dc.cluster.resourceFor("v1", "Node");
    const node = [...dc.cluster.store.scan(nodes.storage)][0]?.object.metadata.name;
    assert.ok(node);
    await dc.cluster.create({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "memory-hog", namespace: "other" },
      spec: {
        nodeName: node,
        tolerations: [{ operator: "Exists" }],
        containers: [
          {
            name: "main",
            image: "busybox",
            command: ["sleep", "3600"],
            resources: { requests: { cpu: "100m", memory: "500Gi" } },
          },
        ],
      },
    });
    await createRun("big", { gpu: { perFold: 4 }, maxRestarts: 1 });
    await eventually(() => {
      watch();
      return getJob(dc, "big-fold-0", NS);
    }, "the training Job of big");
    // A run of higher priority that fits the memory left waits for the GPUs big holds.
    await createRun("small", { priority: 10, resources: { cpu: "2", memory: "4Gi", shmSize: "1Gi" } });
    await eventually(
      () => {
        watch();
        return trainPods("small").some((p) => p.spec?.nodeName);
      },
      "small's training pod on the node",
      60_000,
    );
  });

  after(async () => {
    await deleteRun("big");
    await deleteRun("small");
    await dc.cluster.delete(dc.cluster.resourceFor("v1", "Pod"), "other", "memory-hog", { gracePeriodSeconds: 0 });
    await eventually(
      () =>
        listObjects(dc, "v1", "Pod", "other").length === 0 && trainPods("big").length + trainPods("small").length === 0,
      "the hog and both runs' pods gone",
      30_000,
    );
  });

  it("waits Unschedulable in its attempt, naming the scheduler's reason, while the other run waits for its GPUs", () => {
    assert.ok(seen.phases.includes("Training/Unschedulable/0"), seen.phases.join(" -> "));
    assert.ok(seen.waitingRun.has("NoGpuCapacity"), [...seen.waitingRun].join(", "));
  });

  it("past the limit fails the attempt with a Warning naming the cause and the limit, and its Job is deleted", async () => {
    const restarting = events("big", "FoldRestarting");
    assert.ok(restarting.length >= 1, seen.phases.join(" -> "));
    assert.equal(restarting[0]?.type, "Warning");
    assert.match(
      restarting[0]?.message ?? "",
      /^fold 0: UnschedulableTimeout: the training pod big-fold-0-\S+ could not be scheduled for 3 s \(operator startTimeouts\.unschedulableSeconds\): 0\/1 nodes are available: 1 Insufficient memory/,
    );
    assert.ok((fold("big")?.attempt ?? 0) >= 1, seen.phases.join(" -> "));
    // The next attempt needs 4 GPUs on one node and small holds one: no Job until it is done.
    await eventually(() => getJob(dc, "big-fold-0", NS) === undefined, "big's Job of attempt 0 deleted");
  });

  it("frees the GPUs for the other run, which is admitted and scheduled while big's next attempt waits", () => {
    assert.ok(trainPods("small").some((p) => p.spec?.nodeName));
    assert.equal(condition("small", "Admitted")?.status, "True");
    assert.ok(
      trainPods("big").every((p) => !p.spec?.nodeName),
      "big never got a node",
    );
  });
});

describe("pods that cannot start, side by side", { timeout: 120_000 }, () => {
  const phases = new Map<string, string[]>();
  const note = (run: string) => {
    const f = fold(run);
    const phase = `${f?.phase}/${f?.reason}/${f?.attempt}`;
    const list = phases.get(run) ?? [];
    if (list.at(-1) !== phase) list.push(phase);
    phases.set(run, list);
  };
  const history = (run: string) => (phases.get(run) ?? []).join(" -> ");
  let rootJobAttempts = new Set<string>();

  before(async () => {
    await createRun("nopull", { image: MISSING_IMAGE });
    await createRun("rootimg", { image: ROOT_IMAGE, maxRestarts: 1 });
    await createRun("nofirst");
    rootJobAttempts = new Set();
    await eventually(
      () => {
        for (const r of ["nopull", "rootimg", "nofirst"]) note(r);
        const attempt = getJob(dc, "rootimg-fold-0", NS)?.metadata.annotations?.[ANNOTATION_ATTEMPT];
        if (attempt) rootJobAttempts.add(attempt);
        const done = (r: string) => getRun(dc, r, NS).status?.phase === "Failed";
        const trainsAgain = (fold("nofirst")?.attempt ?? 0) >= 1 && fold("nofirst")?.epoch !== undefined;
        return done("nopull") && done("rootimg") && trainsAgain;
      },
      "nopull and rootimg failed, nofirst training again",
      100_000,
    );
  });

  after(async () => {
    for (const r of ["nopull", "rootimg", "nofirst"]) await deleteRun(r);
  });

  it("an image the registry does not have fails the run for good, naming the image, and its Job is deleted", async () => {
    const failed = condition("nopull", "Failed");
    assert.deepEqual([failed?.status, failed?.reason], ["True", "ImagePullTimeout"], history("nopull"));
    assert.match(
      failed?.message ?? "",
      /^fold 0: ImagePullTimeout: image "registry\.example\/nnunet:missing" could not be pulled for 3 s \(operator startTimeouts\.imagePullSeconds\): (ErrImagePull|ImagePullBackOff): .*not found.*; the image does not exist or may not be pulled: fix spec\.image/,
    );
    assert.equal(fold("nopull")?.attempt, 0, "not retried");
    assert.equal(events("nopull", "ImagePullTimeout")[0]?.type, "Warning");
    await eventually(() => getJob(dc, "nopull-fold-0", NS) === undefined, "nopull's Job deleted");
  });

  it("a container the kubelet refuses to create is retried as the next attempt, then fails the fold naming the cause", () => {
    assert.deepEqual([...rootJobAttempts].sort(), ["0", "1"], history("rootimg"));
    const restarting = events("rootimg", "FoldRestarting");
    assert.match(
      restarting[0]?.message ?? "",
      /^fold 0: ContainerConfigTimeout: container derive-plans of the training pod rootimg-fold-0-\S+ could not be created for 3 s \(operator startTimeouts\.containerConfigSeconds\): CreateContainerConfigError: container has runAsNonRoot and image will run as root/,
    );
    const failed = condition("rootimg", "Failed");
    assert.equal(failed?.reason, "RestartsExhausted", history("rootimg"));
    assert.match(
      failed?.message ?? "",
      /gave up after 1 restart\(s\) \(spec\.maxRestarts 1\); last failure: ContainerConfigTimeout: /,
    );
  });

  it("a trainer with no first epoch in time is restarted like a stalled one, confirmed by the heartbeat, and trains on", () => {
    const restarting = events("nofirst", "FoldRestarting");
    assert.ok(restarting.length >= 1, history("nofirst"));
    assert.match(
      restarting[0]?.message ?? "",
      /^fold 0: FirstEpochTimeout: no first epoch for 8 s since attempt 0 started \(operator startTimeouts\.firstEpochSeconds; the reporter's heartbeat confirms the log has not moved\); resuming from checkpoint_latest\.pth as attempt 1$/,
    );
    assert.ok(history("nofirst").includes("Restarting/FirstEpochTimeout/1"), history("nofirst"));
    assert.notEqual(getRun(dc, "nofirst", NS).status?.phase, "Failed", history("nofirst"));
  });
});
