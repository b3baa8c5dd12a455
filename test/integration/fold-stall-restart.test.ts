// A fold whose trainer hangs is restarted, end to end with every controller real: the
// devcluster in RBAC mode with the chart's ServiceAccounts and roles (deploy/manifests), its
// simulated L40S node, scheduler, Job controller and process kubelet; a real nats-server; the
// reporter sidecar in the training pods; the early-stop controller and the operator, each
// composed as in production and authenticated with its ServiceAccount's token. The simulated
// nnU-Net replays a short curve of 0.25 s epochs (recorded time, replayed at time scale 1) and
// hangs once at epoch 55 (NNUNET_SIM_HANG_AT_EPOCH), after checkpoint_latest at epoch 50.
// The operator detects the stall itself (48 median epoch times: 12 s, confirmed by the
// reporter's heartbeat, sent every second here, that the log has not moved), restarts the
// fold as attempt 1, which resumes from epoch 50 with --c and finishes. The early-stop
// controller only sees epochs: it writes nothing for a stall.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { ANNOTATION_ATTEMPT, runResultsSubPath, type TrainingRun } from "@nnunet-operator/api";
import { type NatsServerHandle, startNatsServer } from "@nnunet-operator/bus/testing";
import { assertNoUnexpectedFailures, type DevCluster } from "@nnunet-operator/devcluster";
import { type EarlyStopHandle, loadConfig, startEarlyStop } from "@nnunet-operator/early-stop";
import { NnunetLogParser } from "@nnunet-operator/reporter";
import { SYSTEM_NS } from "../../scripts/demo/stack.js";
import {
  eventually,
  getJob,
  getRun,
  listObjects,
  serviceAccountKubeConfig,
  startChartOperator,
  startProcessCluster,
} from "./operator-harness.js";

const NS = "team-a";
const RUN = "hang";
const EPOCHS = 70;
const HANG_AT = 55;
const EPOCH_SECONDS = 0.25;
// 12 s: well above an epoch, and room for the restarted pod to start (sidecar, trainer) on a
// busy machine before its quiet time would count as a stall.
const STALL_AFTER = 48;

let dc: DevCluster;
let nats: NatsServerHandle;
let earlyStop: EarlyStopHandle;
let work: string;
const stops: Array<() => Promise<void>> = [];

before(async () => {
  work = mkdtempSync(join(tmpdir(), "fold-stall-"));
  dc = await startProcessCluster({
    work,
    namespaces: [NS],
    curve: { epochs: EPOCHS, epochSeconds: EPOCH_SECONDS },
    containerEnv: {
      NNUNET_SIM_HANG_AT_EPOCH: String(HANG_AT),
      NNUNET_SIM_GPU_MODEL: "off",
      REPORTER_HEARTBEAT_SECONDS: "1",
    },
  });
  nats = await startNatsServer();

  // The early-stop controller first: it owns the epoch stream.
  const esConfig = loadConfig({
    NATS_URL: nats.url,
    HTTP_HOST: "127.0.0.1",
    HTTP_PORT: "0",
    POD_NAME: "early-stop-0",
    POD_NAMESPACE: SYSTEM_NS,
    LOG_LEVEL: "silent",
    TICK_SECONDS: "1",
  });
  earlyStop = await startEarlyStop({
    config: esConfig,
    kubeConfig: serviceAccountKubeConfig(dc, "nnunet-operator-early-stop"),
    log: pino({ level: process.env.EARLY_STOP_TEST_LOG ?? "silent" }),
    identity: "early-stop-0",
    leaderElection: { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 200 },
  });
  stops.push(() => earlyStop.stop());
  await eventually(() => earlyStop.controller.active, "the early-stop controller leading", 20_000);

  const operator = await startChartOperator(dc, nats.url, { waitingResyncSeconds: 5 });
  stops.push(operator.stop);
});

after(async () => {
  for (const stop of stops.reverse()) await stop();
  await dc?.stop();
  await nats?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
  if (dc) assertNoUnexpectedFailures(dc);
});

type Job = NonNullable<ReturnType<typeof getJob>>;
const attemptOf = (job: Job | undefined) => job?.metadata.annotations?.[ANNOTATION_ATTEMPT];
const fold = () => getRun(dc, RUN, NS).status?.folds?.find((f: { fold: string }) => f.fold === "0");
/** Events on the run, as the API stores them (core/v1 form: events.k8s.io's note is the message). */
const events = (reason: string) =>
  (
    listObjects(dc, "events.k8s.io/v1", "Event", NS) as unknown as Array<{
      reason?: string;
      type: string;
      message?: string;
      involvedObject?: { kind?: string; name?: string };
    }>
  ).filter((e) => e.reason === reason && e.involvedObject?.kind === "TrainingRun" && e.involvedObject.name === RUN);

describe("a fold whose trainer hangs", { timeout: 150_000 }, () => {
  // What the test saw on the way: the fold's phases, and its message when it was restarted.
  const phases: string[] = [];
  let stalledMessage: string | undefined;

  before(async () => {
    await dc.cluster.create({
      apiVersion: "nnunet-operator.io/v1alpha1",
      kind: "TrainingRun",
      metadata: { name: RUN, namespace: NS },
      spec: {
        dataset: "Dataset003_Liver",
        configuration: "3d_fullres",
        folds: [0],
        storage: { claimName: "nnunet-data" },
        batchSize: { mode: "Fixed", value: 2 },
        resources: { cpu: "4", memory: "16Gi", shmSize: "1Gi" },
        schedule: { maxEpochs: 100, earlyStop: { enabled: false, stallAfterEpochTimes: STALL_AFTER } },
        validation: { enabled: true, checkpoint: "final" },
      },
    });
    await eventually(
      () => {
        // The status says why only until the old Job is gone; the FoldRestarting event keeps it.
        const message = fold()?.message;
        if (fold()?.reason === "Stalled" && message?.startsWith("training stalled")) stalledMessage ??= message;
        const phase = `${fold()?.phase}/${fold()?.reason}/${fold()?.attempt}`;
        if (phases.at(-1) !== phase) phases.push(phase);
        const runPhase = getRun(dc, RUN, NS).status?.phase;
        return runPhase === "Succeeded" || runPhase === "Failed";
      },
      "the run to finish",
      140_000,
    );
  });

  it("is found stalled by the operator after the last epoch before the hang, past the limit, with the heartbeat's confirmation", () => {
    stalledMessage ??= events("FoldRestarting")[0]?.message?.replace(/^fold 0: /, "");
    assert.ok(stalledMessage, `no stall seen; fold phases: ${phases.join(" -> ")}`);
    const m = new RegExp(
      `^training stalled: no epoch for ([\\d.]+)s after epoch ${HANG_AT - 1} \\(limit 12s, ${STALL_AFTER} median epoch times; the reporter's heartbeat confirms the log has not moved\\)`,
    ).exec(stalledMessage);
    assert.ok(m, stalledMessage);
    // The quiet time is printed to a tenth of a second, like the limit: a check right at the
    // deadline prints both as 12s.
    assert.ok(Number(m[1]) >= STALL_AFTER * EPOCH_SECONDS, stalledMessage);
    assert.deepEqual(events("FoldStalled"), [], "the early-stop controller reports no stall");
  });

  it("is restarted by the operator as attempt 1, with a FoldRestarting warning naming the stall", () => {
    assert.ok(phases.includes("Restarting/Stalled/0") || phases.includes("Restarting/Stalled/1"), phases.join(" -> "));
    assert.equal(fold()?.attempt, 1, phases.join(" -> "));
    const restarting = events("FoldRestarting");
    assert.equal(restarting.length, 1, JSON.stringify(restarting));
    assert.equal(restarting[0]?.type, "Warning");
    assert.match(
      restarting[0]?.message ?? "",
      new RegExp(`fold 0: training stalled: no epoch for [\\d.]+s after epoch ${HANG_AT - 1}`),
    );
    const job = getJob(dc, `${RUN}-fold-0`, NS);
    assert.equal(attemptOf(job), "1");
    const args: string[] =
      job?.spec.template.spec.containers.find((c: { name: string }) => c.name === "nnunet").args ?? [];
    assert.equal(args.at(-1), "--c");
  });

  it("resumes from checkpoint_latest at epoch 50 and finishes: the run succeeds with every epoch trained", async () => {
    const run = getRun(dc, RUN, NS);
    assert.equal(run.status?.phase, "Succeeded", JSON.stringify(run.status?.conditions));
    assert.deepEqual([fold()?.phase, fold()?.attempt], ["Validated", 1]);
    const dir = join(
      work,
      "data",
      "pvc",
      NS,
      "nnunet-data",
      runResultsSubPath(run as unknown as TrainingRun),
      "Dataset003_Liver",
      `${run.status?.calibration?.trainer}__${run.status?.calibration?.plans}__3d_fullres`,
      "fold_0",
    );
    const logs = readdirSync(dir)
      .filter((f) => f.startsWith("training_log_"))
      .sort();
    assert.equal(logs.length, 2, "one log per attempt");
    const epochsOf = async (file: string) => {
      const parser = new NnunetLogParser();
      const { readFile } = await import("node:fs/promises");
      return (await readFile(join(dir, file), "utf8"))
        .split("\n")
        .map((l) => parser.push(l))
        .filter((e) => e !== undefined)
        .map((e) => e.epoch);
    };
    assert.deepEqual(
      await epochsOf(logs[0]!),
      Array.from({ length: HANG_AT }, (_, i) => i),
    );
    assert.deepEqual(
      await epochsOf(logs[1]!),
      Array.from({ length: EPOCHS - 50 }, (_, i) => 50 + i),
    );
    // The early-stop controller holds the fold as the resumed attempt left it. It consumes the
    // stream on its own, beside the operator: on a busy machine its last epochs may come after
    // the run's end.
    const held = () => earlyStop.controller.folds().get(`${NS}/${RUN}/0`)?.state;
    await eventually(
      () => held()?.attempt === 1 && held()?.history.points.length === EPOCHS,
      "the early-stop controller to hold every epoch of the resumed attempt",
      20_000,
    ).catch(() => undefined);
    assert.equal(held()?.attempt, 1);
    assert.deepEqual(
      held()?.history.points.map((p) => p.epoch),
      Array.from({ length: EPOCHS }, (_, i) => i),
    );
    assert.equal(events("FoldRestarting").length, 1, "the restarted attempt was never found stalled");
  });
});
