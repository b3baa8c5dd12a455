import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { type JetStreamClient, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ANNOTATION_STOP_DECISION, StopDecision } from "@nnunet-operator/api";
import { connectBus, ensureEpochStream, EPOCH_STREAM, publishEpoch } from "@nnunet-operator/bus";
import {
  type NatsAuthFixture,
  type NatsServerHandle,
  makeNatsAuthFixture,
  startNatsServer,
} from "@nnunet-operator/bus/testing";
import {
  type Curve,
  type EarlyStopHandle,
  loadConfig,
  parseCurveCsv,
  presetConfig,
  replayCurve,
  startEarlyStop,
  streamLimits,
} from "@nnunet-operator/early-stop";
import { epochMessage, makeRun, makeTrainingJob } from "@nnunet-operator/early-stop/testing";
import { ClientPort, Informer, isForbidden, type KubeObject, Resources } from "@nnunet-operator/kube";
import { readFileSync } from "node:fs";
import { pino } from "pino";
import { type ApiBackend, devclusterBackend, fakeApiBackend } from "./early-stop-support.js";

// The early-stop controller as main.ts composes it (ClientPort, informer, leader election,
// JetStream consumer, fastify) against a real nats-server with JetStream, and two Kubernetes
// APIs: the devcluster with RBAC on (the controller holds only the chart's early-stop
// rights) and an HTTP fake over FakeKubePort. Real learning curves are published epoch by
// epoch; each fold's Job must be patched exactly once, at the epoch the evaluator's own
// replay predicts, also when the controller and the NATS server restart mid-run, and no
// epoch may be lost on the way.

const CURVES = fileURLToPath(new URL("../fixtures/nnunet-logs/curves/", import.meta.url));
const curve = (file: string): Curve => parseCurveCsv(file, readFileSync(`${CURVES}${file}`, "utf8"));
const REFUGE = curve("crf-effunet__Task008_Refuge__2d__fold1.csv");
const OCT = curve("icekang__Dataset310_nnInteractive_Calcium_OCT_CrossValidation__3d_32x160x128_b10__fold0.csv");

async function until(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const startBackend of [() => devclusterBackend(["team-a"]), fakeApiBackend])
  describe(`early-stop controller with a real nats-server and ${startBackend === fakeApiBackend ? "an HTTP fake of the API" : "the devcluster with the chart's RBAC"}`, {
    timeout: 120_000,
  }, () => {
    let nats: NatsServerHandle;
    let auth: NatsAuthFixture;
    let backend: ApiBackend;
    let kube: ApiBackend["admin"];
    const stopWatching = new AbortController();
    /** Per Job, every distinct stop-decision annotation it has carried: one entry per patch. */
    const decisionsSeen = new Map<string, string[]>();
    let nc: NatsConnection;
    let js: JetStreamClient;
    const running: EarlyStopHandle[] = [];
    const config = (name: string) =>
      loadConfig({
        NATS_URL: nats.url,
        NATS_CREDS_FILE: auth.earlyStopCredsFile,
        HTTP_HOST: "127.0.0.1",
        HTTP_PORT: "0",
        POD_NAME: name,
        TICK_SECONDS: "1",
        LOG_LEVEL: "silent",
      });

    async function startController(name: string): Promise<EarlyStopHandle> {
      const handle = await startEarlyStop({
        config: config(name),
        kubeConfig: backend.controllerKubeConfig(),
        log: pino({ level: "silent" }),
        identity: name,
        leaderElection: { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 200 },
      });
      running.push(handle);
      return handle;
    }

    async function stopController(handle: EarlyStopHandle): Promise<void> {
      await handle.stop();
      running.splice(running.indexOf(handle), 1);
    }

    /** Publishes like the reporter: retried until JetStream acknowledges (NATS may be restarting). */
    async function publish(
      curveOf: Curve,
      epoch: number,
      address: { run: string; runUid: string; fold: string },
    ): Promise<void> {
      const p = curveOf.points[epoch];
      assert.ok(p);
      for (;;) {
        try {
          await publishEpoch(js, epochMessage(p, Date.now(), { namespace: "team-a", ...address }), { timeoutMs: 2000 });
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }

    async function createRun(
      name: string,
      folds: Array<{ fold: string; maxEpochs: number }>,
      earlyStop: Record<string, unknown> = {},
    ): Promise<KubeObject> {
      // The operator writes status through the status subresource.
      const created = await kube.create(
        Resources.trainingRuns,
        makeRun({ name, folds: folds.map((f) => Number(f.fold)), earlyStop }),
      );
      const key = { namespace: "team-a", name };
      const run = await kube.patchStatus(
        Resources.trainingRuns,
        key,
        {
          status: {
            folds: folds.map((f) => ({ fold: f.fold, phase: "Training", attempt: 0, maxEpochs: f.maxEpochs })),
          },
        },
        { type: "merge" },
      );
      assert.equal(run.metadata.uid, created.metadata.uid);
      for (const f of folds) await kube.create(Resources.jobs, makeTrainingJob(run, f.fold));
      return run;
    }

    function jobPatches(run: string, fold: string): string[] {
      return decisionsSeen.get(`team-a/${run}-fold-${fold}`) ?? [];
    }

    async function decisionOn(run: string, fold: string): Promise<StopDecision | undefined> {
      const job = await kube.get(Resources.jobs, { namespace: "team-a", name: `${run}-fold-${fold}` });
      const raw = job.metadata.annotations?.[ANNOTATION_STOP_DECISION];
      return raw === undefined ? undefined : StopDecision.parse(JSON.parse(raw));
    }

    function epochsHeld(handle: EarlyStopHandle, key: string): number[] {
      return (
        handle.controller
          .folds()
          .get(key)
          ?.state.history.points.map((p) => p.epoch) ?? []
      );
    }

    before(async () => {
      auth = await makeNatsAuthFixture();
      nats = await startNatsServer({ auth: auth.material });
      backend = await startBackend();
      kube = backend.admin;
      const jobs = new Informer({ port: kube, resource: Resources.jobs, namespace: "team-a" });
      jobs.addHandler((change) => {
        const job = change.object;
        const value = job.metadata.annotations?.[ANNOTATION_STOP_DECISION];
        const key = `team-a/${job.metadata.name}`;
        const seen = decisionsSeen.get(key) ?? [];
        if (value !== undefined && seen.at(-1) !== value) decisionsSeen.set(key, [...seen, value]);
      });
      void jobs.run(stopWatching.signal);
      await jobs.waitForSync();
      // The test plays every reporter at once: it signs in as the observer, not as one fold.
      nc = await connectBus({
        servers: nats.url,
        name: "test-publisher",
        credsFile: auth.observerCredsFile,
        reconnectTimeWaitMs: 100,
        reconnectJitterMs: 50,
      });
      js = jetstream(nc);
      await ensureEpochStream(await jetstreamManager(nc), streamLimits(config("x")));
    });

    after(async () => {
      for (const h of [...running]) await h.stop();
      stopWatching.abort();
      await nc?.close();
      await backend?.close();
      await nats?.stop();
      await auth?.cleanup();
    });

    it("stops each fold at the epoch the evaluator predicts, across a controller restart and a NATS restart, losing no epoch", async () => {
      const expected = {
        "0": replayCurve(REFUGE, presetConfig("Forecast")).stopEpoch,
        "1": replayCurve(OCT, presetConfig("Forecast")).stopEpoch,
      };
      assert.ok(
        expected["0"] !== undefined &&
          expected["1"] !== undefined &&
          expected["1"] > 60 &&
          expected["0"] > expected["1"],
        `curves fit the script: ${JSON.stringify(expected)}`,
      );
      const run = await createRun("refuge", [
        { fold: "0", maxEpochs: REFUGE.maxEpochs },
        { fold: "1", maxEpochs: OCT.maxEpochs },
      ]);
      const address = (fold: string) => ({ run: "refuge", runUid: run.metadata.uid ?? "", fold });
      const curves: Record<string, Curve> = { "0": REFUGE, "1": OCT };
      const last: Record<string, number> = { "0": -1, "1": -1 };
      const publishUpTo = async (epoch: number) => {
        for (let e = Math.min(last["0"]!, last["1"]!) + 1; e <= epoch; e++) {
          for (const fold of ["0", "1"] as const) {
            // A stopped fold's pod is gone: it publishes nothing after its decision epoch.
            if (e <= last[fold]! || e >= curves[fold]!.points.length || expected[fold]! < e) continue;
            await publish(curves[fold]!, e, address(fold));
            last[fold] = e;
          }
        }
      };

      let controller = await startController("es-a");
      await until("leadership and a rebuilt state", () => controller.isLeader() && controller.controller.active);
      await publishUpTo(60);
      await until(
        "epoch 60 of both folds consumed",
        () =>
          epochsHeld(controller, "team-a/refuge/0").at(-1) === 60 &&
          epochsHeld(controller, "team-a/refuge/1").at(-1) === 60,
      );

      // Controller restart: epochs published while it is down wait in the stream, up to fold 1's decision.
      await stopController(controller);
      await publishUpTo(expected["1"]!);
      controller = await startController("es-b");
      await until("fold 1's stop patch", async () => (await decisionOn("refuge", "1")) !== undefined);
      const job = await kube.get<KubeObject & { spec: { suspend?: boolean } }>(Resources.jobs, {
        namespace: "team-a",
        name: "refuge-fold-1",
      });
      assert.equal(job.spec.suspend, true, "the same patch suspends the Job");
      assert.equal((await decisionOn("refuge", "1"))?.epoch, expected["1"]);
      await until(
        "fold 0 consumed as far as fold 1's decision",
        () => epochsHeld(controller, "team-a/refuge/0").at(-1) === expected["1"],
      );

      // NATS restart under the connected controller and publisher.
      await nats.restart();
      await publishUpTo(expected["0"]!);
      await until("fold 0's stop patch", async () => (await decisionOn("refuge", "0")) !== undefined, 30_000);
      const decision = await decisionOn("refuge", "0");
      assert.equal(decision?.epoch, expected["0"]);
      assert.equal(decision?.policy, "Forecast");

      // Every epoch published is in the rebuilt state, in order, exactly once.
      const range = (n: number) => Array.from({ length: n + 1 }, (_, i) => i);
      assert.deepEqual(epochsHeld(controller, "team-a/refuge/0"), range(expected["0"]!));
      assert.deepEqual(epochsHeld(controller, "team-a/refuge/1"), range(expected["1"]!));
      await until("the Job watch caught up", () => jobPatches("refuge", "0").length > 0);
      assert.equal(jobPatches("refuge", "0").length, 1);
      assert.equal(jobPatches("refuge", "1").length, 1);
      // One Event per stopped fold on the TrainingRun, written with the controller's own rights.
      await until(
        "the events",
        async () =>
          (await kube.list(Resources.events, { namespace: "team-a" })).items.filter(
            (e) => (e as { regarding?: { name?: string } }).regarding?.name === "refuge",
          ).length >= 2,
      );
      const events = (await kube.list(Resources.events, { namespace: "team-a" })).items as Array<
        KubeObject & { reason?: string; note?: string; regarding?: { kind?: string; name?: string } }
      >;
      assert.deepEqual(
        events.filter((e) => e.regarding?.name === "refuge").map((e) => [e.regarding?.kind, e.reason]),
        [
          ["TrainingRun", "FoldStopped"],
          ["TrainingRun", "FoldStopped"],
        ],
      );
      // Batched acknowledgements all reach the server once the controller is idle.
      const jsm = await jetstreamManager(nc);
      await until(
        "every delivery acknowledged",
        async () => (await jsm.consumers.info(EPOCH_STREAM, "nnunet-early-stop")).num_ack_pending === 0,
      );
      const metrics = await (await fetch(`${controller.url}/metrics`)).text();
      assert.match(metrics, /^nnunet_earlystop_decisions_total\{policy="Forecast",reason="Converged"\} [12]$/m);
      await stopController(controller);
    });

    // The HTTP fake has no authorisation to test.
    if (startBackend !== fakeApiBackend)
      it("works with credentials that hold only what the controller needs", async () => {
        const port = new ClientPort(backend.controllerKubeConfig());
        await createRun("rights", [{ fold: "0", maxEpochs: 100 }]);
        assert.equal(
          (await port.get(Resources.trainingRuns, { namespace: "team-a", name: "rights" })).metadata.name,
          "rights",
        );
        await assert.rejects(
          port.patchStatus(
            Resources.trainingRuns,
            { namespace: "team-a", name: "rights" },
            { status: { phase: "Failed" } },
            { type: "merge" },
          ),
          (err: unknown) => isForbidden(err),
        );
        await assert.rejects(
          port.delete(Resources.jobs, { namespace: "team-a", name: "rights-fold-0" }),
          (err: unknown) => isForbidden(err),
        );
      });

    it("runs two replicas safely: only the leader consumes, the follower takes over and decides once", async () => {
      const points = OCT;
      const expected = replayCurve(points, presetConfig("Forecast")).stopEpoch;
      assert.ok(expected !== undefined);
      const run = await createRun("oct", [{ fold: "0", maxEpochs: points.maxEpochs }]);
      const a = await startController("replica-a");
      await until("replica a leads", () => a.isLeader() && a.controller.active);
      const b = await startController("replica-b");
      await until("the follower is ready", async () => (await fetch(`${b.url}/readyz`)).status === 200);
      for (let e = 0; e < 40; e++) await publish(points, e, { run: "oct", runUid: run.metadata.uid ?? "", fold: "0" });
      await until("the leader holds 40 epochs", () => epochsHeld(a, "team-a/oct/0").length === 40);
      assert.equal(b.isLeader(), false);
      assert.equal(b.controller.active, false, "the follower consumes nothing");
      await stopController(a);
      await until("replica b leads", () => b.isLeader() && b.controller.active, 10_000);
      for (let e = 40; e <= expected; e++)
        await publish(points, e, { run: "oct", runUid: run.metadata.uid ?? "", fold: "0" });
      await until("the stop patch", async () => (await decisionOn("oct", "0")) !== undefined);
      assert.equal((await decisionOn("oct", "0"))?.epoch, expected);
      await until("the Job watch caught up", () => jobPatches("oct", "0").length > 0);
      assert.equal(jobPatches("oct", "0").length, 1);
      assert.deepEqual(epochsHeld(b, "team-a/oct/0").length, expected + 1);
      await stopController(b);
    });
  });
