import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, it } from "node:test";
import { ANNOTATION_STOP_DECISION, StopDecision } from "@nnunet-operator/api";
import {
  type NatsAuthFixture,
  type NatsServerHandle,
  makeNatsAuthFixture,
  startNatsServer,
} from "@nnunet-operator/bus/testing";
import {
  type EarlyStopHandle,
  loadConfig,
  parseCurveCsv,
  presetConfig,
  replayCurve,
  startEarlyStop,
} from "@nnunet-operator/early-stop";
import { makeRun, makeTrainingJob } from "@nnunet-operator/early-stop/testing";
import { type KubeObject, Resources } from "@nnunet-operator/kube";
import { pino } from "pino";
import { type ApiBackend, devclusterBackend } from "./early-stop-support.js";
import {
  REPO_ROOT,
  ReporterProcess,
  killReporters,
  makeFoldDir,
  readLines,
  reporterEnv,
  waitFor,
  writeLog,
} from "./support/reporter-harness.js";

// From a trainer's log to the suspended Job, with every part real except the trainer and
// the cluster: a real nnU-Net log is written into the fold folder a few lines at a time; the
// reporter sidecar (its main.ts, in its own process) tails it and publishes to a real
// nats-server; the early-stop controller (as main.ts composes it, holding only the chart's
// RBAC) decides and patches the Job in the devcluster. The reporter, the controller and the
// NATS server are each restarted mid-run: the Job must still be stopped at the epoch the
// evaluator predicts from the log's curve CSV, and the controller must hold every epoch of
// the log once.

// A temporal bone run (nnU-Net v1 log, 300 of 300 planned epochs) that Forecast stops near
// its end, after all three restarts. (The BraTS run used before, cut off at 262 of 1000
// epochs and still gaining, is rightly left alone by the Forecast of issue 13.)
const CURVE = parseCurveCsv(
  "tbone",
  readFileSync(
    join(REPO_ROOT, "test/fixtures/nnunet-logs/curves/tbone-exp01__Task101_TemporalBone__3d_fullres__fold3.csv"),
    "utf8",
  ),
);
const TBONE_LOG = join(
  REPO_ROOT,
  "test/fixtures/nnunet-logs/raw/tbone/01_ading/nnUnet/nnUNet_trained_models/nnUNet/3d_fullres/Task101_TemporalBone/nnUNetTrainerV2__nnUNetPlansv2.1/fold_3/training_log_2022_2_11_18_38_12.txt",
);
let nats: NatsServerHandle;
let auth: NatsAuthFixture;
let backend: ApiBackend;
let root: string;
const controllers: EarlyStopHandle[] = [];

before(async () => {
  auth = await makeNatsAuthFixture();
  nats = await startNatsServer({ auth: auth.material });
  backend = await devclusterBackend(["team-a"]);
  root = await mkdtemp(join(tmpdir(), "early-stop-e2e-"));
});

after(async () => {
  killReporters();
  for (const c of controllers) await c.stop();
  await backend?.close();
  await nats?.stop();
  await auth?.cleanup();
  if (root) await rm(root, { recursive: true, force: true });
});

async function startController(name: string): Promise<EarlyStopHandle> {
  const config = loadConfig({
    NATS_URL: nats.url,
    NATS_CREDS_FILE: auth.earlyStopCredsFile,
    HTTP_HOST: "127.0.0.1",
    HTTP_PORT: "0",
    POD_NAME: name,
    LOG_LEVEL: "silent",
  });
  const handle = await startEarlyStop({
    config,
    kubeConfig: backend.controllerKubeConfig(),
    log: pino({ level: "silent" }),
    identity: name,
    leaderElection: { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 200 },
  });
  controllers.push(handle);
  await waitFor(`${name} leading`, () => handle.controller.active);
  return handle;
}

async function stopController(handle: EarlyStopHandle): Promise<void> {
  await handle.stop();
  controllers.splice(controllers.indexOf(handle), 1);
}

it("stops the fold at the evaluator's epoch from the raw log, across restarts of the reporter, the controller and NATS", {
  timeout: 120_000,
}, async () => {
  const expected = replayCurve(CURVE, presetConfig("Forecast")).stopEpoch;
  assert.ok(expected !== undefined);
  const kube = backend.admin;
  await kube.create(Resources.trainingRuns, makeRun({ name: "lucy", folds: [0] }));
  const run = await kube.patchStatus(
    Resources.trainingRuns,
    { namespace: "team-a", name: "lucy" },
    { status: { folds: [{ fold: "0", phase: "Training", attempt: 0, maxEpochs: CURVE.maxEpochs }] } },
    { type: "merge" },
  );
  await kube.create(Resources.jobs, makeTrainingJob(run, "0"));

  const lines = await readLines(TBONE_LOG);
  const foldDir = await makeFoldDir(root);
  const log = join(foldDir, basename(TBONE_LOG));
  const who = { namespace: "team-a", run: "lucy", runUid: run.metadata.uid ?? "", fold: "0", attempt: 0 };
  const env = reporterEnv(who, foldDir, nats.url, { NATS_CREDS_FILE: await auth.foldCredsFile(who) });
  const held = (c: EarlyStopHandle) =>
    c.controller
      .folds()
      .get("team-a/lucy/0")
      ?.state.history.points.map((p) => p.epoch) ?? [];

  let controller = await startController("es-1");
  let reporter = ReporterProcess.start(env);
  await reporter.waitForLog("the reporter connected", (r) => r.msg === "connected to NATS");
  const third = Math.floor(lines.length / 3);
  // Each write picks up exactly where the last one stopped (a line written twice would be a
  // corrupt log, which the reporter rightly skips).
  let written = await writeLog(log, lines, { until: (i) => i >= third });
  await waitFor(
    "the first third consumed",
    () => held(controller).length >= 40,
    20_000,
    () => reporter.output(),
  );

  // The reporter restarts (a new sidecar reads the log from its start; JetStream drops the repeats).
  assert.equal((await reporter.stop()).code, 0);
  reporter = ReporterProcess.start(env);
  await reporter.waitForLog("the reporter connected", (r) => r.msg === "connected to NATS");
  const twoThirds = Math.floor((2 * lines.length) / 3);
  const before = held(controller).length;
  written = await writeLog(log, lines, { from: written, until: (i) => i >= twoThirds });
  await waitFor(
    "more epochs consumed",
    () => held(controller).length > before,
    20_000,
    () => reporter.output(),
  );

  // The controller restarts, then NATS, while the trainer keeps writing.
  await stopController(controller);
  controller = await startController("es-2");
  await nats.restart();
  await writeLog(log, lines, { from: written });

  const decisionOn = async () => {
    const job = await kube.get<KubeObject & { spec: { suspend?: boolean } }>(Resources.jobs, {
      namespace: "team-a",
      name: "lucy-fold-0",
    });
    const raw = job.metadata.annotations?.[ANNOTATION_STOP_DECISION];
    return raw === undefined ? undefined : { decision: StopDecision.parse(JSON.parse(raw)), suspend: job.spec.suspend };
  };
  await waitFor(
    "the stop patch",
    async () => (await decisionOn()) !== undefined,
    30_000,
    () => reporter.output(),
  );
  const stopped = await decisionOn();
  assert.equal(stopped?.decision.epoch, expected);
  assert.equal(stopped?.decision.policy, "Forecast");
  assert.equal(stopped?.suspend, true);
  const last = CURVE.points.at(-1)?.epoch ?? 0;
  await waitFor(
    "every epoch of the log consumed",
    () => held(controller).at(-1) === last,
    20_000,
    () => reporter.output(),
  );
  assert.deepEqual(
    held(controller),
    CURVE.points.map((p) => p.epoch),
  );
  assert.equal((await reporter.stop()).code, 0);
});
