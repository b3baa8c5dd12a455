// Issue 17, least privilege: the chart's watchNamespaces mode and who may do what on NATS.
// The devcluster in RBAC mode holds the RBAC `helm template --set watchNamespaces={team-a}`
// renders for the operator and early-stop (Roles in team-a; cluster-wide the operator only
// reads nodes and pods); a real nats-server runs with JWT auth; the operator and early-stop
// are composed as in production, each with its ServiceAccount's token and its own NATS user,
// and both told to watch team-a only. A run in team-a trains; a run in team-b is never
// touched; the operator's NATS user cannot purge the stream; deleting the team-a run has
// early-stop purge its epochs (the operator puts no finalizer on runs).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { Registry } from "prom-client";
import { EPOCH_STREAM, connectBus, foldInboxPrefix, publishEpoch } from "@nnunet-operator/bus";
import {
  type NatsAuthFixture,
  type NatsServerHandle,
  makeNatsAuthFixture,
  startNatsServer,
} from "@nnunet-operator/bus/testing";
import { assertNoUnexpectedFailures, type DevCluster, startDevCluster } from "@nnunet-operator/devcluster";
import { type EarlyStopHandle, loadConfig, startEarlyStop } from "@nnunet-operator/early-stop";
import { ClientPort, isForbidden, type RequestInfo, Resources } from "@nnunet-operator/kube";
import { Operator, parseOperatorConfig } from "@nnunet-operator/operator/runtime";
import { NAMESPACE } from "../chart/render.js";
import {
  addClaim,
  addNode,
  CRD,
  eventually,
  getRun,
  jobNames,
  listObjects,
  makeRunObject,
  renderedRbac,
  serviceAccountKubeConfig,
  startPod,
} from "./operator-harness.js";

const WATCHED = "team-a";
const UNWATCHED = "team-b";
const WATCH = { watchNamespaces: `{${WATCHED}}` };

let dc: DevCluster;
let auth: NatsAuthFixture;
let nats: NatsServerHandle;
let operatorNc: NatsConnection;
let observer: NatsConnection;
let earlyStop: EarlyStopHandle;
const operatorRequests: RequestInfo[] = [];
const stops: Array<() => Promise<void>> = [];

/** Messages the stream holds for one run, per subject (the observer is the test's own NATS user). */
async function storedEpochs(namespace: string, run: string): Promise<Record<string, number>> {
  const info = await (await jetstreamManager(observer)).streams.info(EPOCH_STREAM, {
    subjects_filter: `nnunet.epochs.${namespace}.${run}.>`,
  });
  return info.state.subjects ?? {};
}

async function earlyStopMetric(name: string, labels: Record<string, string>): Promise<number> {
  const values = (await earlyStop.registry.getMetricsAsJSON()).find((m) => m.name === name)?.values ?? [];
  return values
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((sum, v) => sum + v.value, 0);
}

before(async () => {
  auth = await makeNatsAuthFixture();
  nats = await startNatsServer({ auth: auth.material });
  observer = await connectBus({ servers: nats.url, name: "test-observer", credsFile: auth.observerCredsFile });
  dc = await startDevCluster({ rbac: true, manifests: [CRD] });
  for (const name of [NAMESPACE, WATCHED, UNWATCHED])
    await dc.cluster.create({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
  for (const o of [...renderedRbac("operator", WATCH), ...renderedRbac("early-stop", WATCH)])
    await dc.cluster.create(o);
  await addNode(dc, "gpu-a");
  await addClaim(dc, "nnunet-data", WATCHED);
  await addClaim(dc, "nnunet-data", UNWATCHED);
  // Before either service starts: a run neither may serve.
  await dc.cluster.create(makeRunObject("liver", { folds: [0] }, UNWATCHED));

  earlyStop = await startEarlyStop({
    config: loadConfig({
      NATS_URL: nats.url,
      NATS_CREDS_FILE: auth.earlyStopCredsFile,
      WATCH_NAMESPACES: WATCHED,
      HTTP_HOST: "127.0.0.1",
      HTTP_PORT: "0",
      POD_NAME: "early-stop-0",
      POD_NAMESPACE: NAMESPACE,
      TICK_SECONDS: "1",
      LOG_LEVEL: "silent",
    }),
    kubeConfig: serviceAccountKubeConfig(dc, "nnunet-operator-early-stop"),
    log: pino({ level: process.env.EARLY_STOP_TEST_LOG ?? "silent" }),
    identity: "early-stop-0",
    leaderElection: { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 200 },
  });
  stops.push(() => earlyStop.stop());
  // early-stop owns the stream: it exists once early-stop leads.
  await eventually(() => earlyStop.controller.active, "early-stop leading", 20_000);

  operatorNc = await connectBus({ servers: nats.url, name: "operator", credsFile: auth.operatorCredsFile });
  const operator = new Operator({
    port: new ClientPort(serviceAccountKubeConfig(dc, "nnunet-operator"), {
      onRequest: (r) => operatorRequests.push(r),
    }),
    config: parseOperatorConfig(
      JSON.stringify({
        namespace: NAMESPACE,
        watchNamespaces: [WATCHED],
        nats: {
          url: nats.url,
          // Read by main.ts only; the test hands the signing key in as foldSigning.
          auth: { credsFile: auth.operatorCredsFile, signingKeyFile: "unused", accountPublicKeyFile: "unused" },
        },
        restartBackoff: { initialSeconds: 0, maxSeconds: 0 },
      }),
    ),
    logger: pino({ level: process.env.OPERATOR_TEST_LOG ?? "silent" }),
    registry: new Registry(),
    identity: "operator-0",
    leaderElection: { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 300 },
    statusMinIntervalSeconds: 1,
    waitingResyncSeconds: 5,
    foldSigning: auth.material,
    bus: { nc: operatorNc, js: jetstream(operatorNc) },
  });
  const abort = new AbortController();
  const running = operator.run(abort.signal);
  stops.push(async () => {
    abort.abort();
    await running;
  });
  await eventually(() => operator.isLeader() && operator.ready(), "the operator leading with synced caches", 20_000);
});

after(async () => {
  for (const stop of stops.reverse()) await stop();
  for (const nc of [operatorNc, observer]) await nc?.close();
  await dc?.stop();
  await nats?.stop();
  await auth?.cleanup();
  if (dc) assertNoUnexpectedFailures(dc);
});

describe("watchNamespaces [team-a] with the chart's Roles, and NATS least privilege", { timeout: 60_000 }, () => {
  it("trains a run in team-a: its Job and its fold's NATS credential created there, its epochs seen by both services", async () => {
    const run = await dc.cluster.create(makeRunObject("liver", { folds: [0] }, WATCHED));
    await eventually(() => jobNames(dc, WATCHED).includes("liver-fold-0"), "the training Job in team-a");
    assert.deepEqual(
      listObjects(dc, "v1", "Secret", WATCHED).map((s) => s.metadata.name),
      ["liver-fold-0-nats-0"],
      "the fold attempt's credential, created under the Role in team-a",
    );
    await startPod(dc, "liver-fold-0", "gpu-a", WATCHED);
    const fold = { namespace: WATCHED, run: "liver", fold: "0" };
    const reporter = await connectBus({
      servers: nats.url,
      name: "reporter/liver/0",
      credsFile: await auth.foldCredsFile({ ...fold, attempt: 0 }),
      inboxPrefix: foldInboxPrefix(fold),
    });
    try {
      for (let epoch = 0; epoch < 3; epoch++)
        await publishEpoch(jetstream(reporter), {
          schemaVersion: 1,
          ...fold,
          runUid: run.metadata.uid ?? "",
          attempt: 0,
          epoch,
          pseudoDice: [0.5 + epoch / 10],
          emaPseudoDice: 0.5 + epoch / 10,
          epochTimeSeconds: 100,
          observedAt: new Date().toISOString(),
        });
    } finally {
      await reporter.close();
    }
    await eventually(
      () => getRun(dc, "liver", WATCHED).status?.folds?.some((f: { fold: string; epoch?: number }) => f.epoch === 2),
      "the operator showing epoch 2 from the stream",
    );
    await eventually(
      async () => (await earlyStopMetric("nnunet_earlystop_messages_total", { result: "accepted" })) === 3,
      "early-stop accepting the three epochs of a run it knows",
    );
    assert.deepEqual(
      operatorRequests.filter((r) => r.code === 403),
      [],
      "the operator asked for nothing its Roles do not grant",
    );
  });

  it("leaves a TrainingRun in team-b untouched, and may not even read it", async () => {
    const other = getRun(dc, "liver", UNWATCHED);
    assert.equal(other.status, undefined, "no status written");
    assert.equal(other.metadata.finalizers, undefined);
    assert.equal(other.metadata.generation, 1);
    assert.deepEqual(jobNames(dc, UNWATCHED), []);
    assert.deepEqual(listObjects(dc, "v1", "Secret", UNWATCHED), []);
    for (const serviceAccount of ["nnunet-operator", "nnunet-operator-early-stop"]) {
      const port = new ClientPort(serviceAccountKubeConfig(dc, serviceAccount));
      await assert.rejects(port.list(Resources.trainingRuns, { namespace: UNWATCHED }), isForbidden, serviceAccount);
      await assert.rejects(port.list(Resources.trainingRuns), isForbidden, `${serviceAccount}, cluster-wide`);
    }
  });

  it("refuses the operator's NATS user a purge of the stream with a permissions violation", async () => {
    const jsm = await jetstreamManager(operatorNc, { checkAPI: false, timeout: 2000 });
    for (const attempt of [
      () => jsm.streams.purge(EPOCH_STREAM),
      () => jsm.streams.purge(EPOCH_STREAM, { filter: "nnunet.epochs.team-a.liver.*" }),
    ]) {
      const error = await attempt().then(
        () => assert.fail("the operator purged the stream"),
        (err: Error) => `${err.message} ${String(err.cause ?? "")}`,
      );
      assert.match(error, /permissions violation/i);
    }
    assert.deepEqual(await storedEpochs(WATCHED, "liver"), { "nnunet.epochs.team-a.liver.0": 3 });
  });

  it("lets the run go at once on deletion, and early-stop purges its epochs and counts the purge", async () => {
    await dc.cluster.delete(dc.cluster.resourceFor("nnunet-operator.io/v1alpha1", "TrainingRun"), WATCHED, "liver", {});
    assert.throws(() => getRun(dc, "liver", WATCHED), "no finalizer holds the run");
    await eventually(
      async () => Object.keys(await storedEpochs(WATCHED, "liver")).length === 0,
      "the run's epochs purged",
    );
    assert.equal(
      await earlyStopMetric("nnunet_earlystop_run_purges_total", { trigger: "deleted", result: "purged" }),
      1,
    );
  });
});
