import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { EPOCH_STREAM, connectBus, foldInboxPrefix, publishEpoch } from "@nnunet-operator/bus";
import {
  type NatsAuthFixture,
  type NatsServerHandle,
  makeNatsAuthFixture,
  startNatsServer,
} from "@nnunet-operator/bus/testing";
import { type EarlyStopHandle, loadConfig, startEarlyStop } from "@nnunet-operator/early-stop";
import { epochMessage } from "@nnunet-operator/early-stop/testing";
import { pino } from "pino";
import { type ApiBackend, fakeApiBackend } from "./early-stop-support.js";

// Issue 17: deleting the epoch stream left early-stop idle, /readyz ready, and no warning.
// Now early-stop (NATS auth on, its own user) notices within a tick, counts it for the
// alert, recreates the stream and its consumer, and consumes what the reporters publish next.
// The stream is deleted by a NATS administrator (the test observer): no service user may.

let auth: NatsAuthFixture;
let nats: NatsServerHandle;
let backend: ApiBackend;
let admin: NatsConnection;
let reporter: NatsConnection;
let earlyStop: EarlyStopHandle;
const fold = { namespace: "team-a", run: "liver", fold: "0" };

async function until(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const values = (await earlyStop.registry.getMetricsAsJSON()).find((m) => m.name === name)?.values ?? [];
  return values
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((s, v) => s + v.value, 0);
}

before(async () => {
  auth = await makeNatsAuthFixture();
  nats = await startNatsServer({ auth: auth.material });
  backend = await fakeApiBackend();
  const config = loadConfig({
    NATS_URL: nats.url,
    NATS_CREDS_FILE: auth.earlyStopCredsFile,
    HTTP_HOST: "127.0.0.1",
    HTTP_PORT: "0",
    POD_NAME: "es-0",
    TICK_SECONDS: "1",
    LOG_LEVEL: "silent",
  });
  earlyStop = await startEarlyStop({
    config,
    kubeConfig: backend.controllerKubeConfig(),
    log: pino({ level: "silent" }),
    identity: "es-0",
    leaderElection: { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 200 },
  });
  admin = await connectBus({ servers: nats.url, name: "nats-admin", credsFile: auth.observerCredsFile });
  reporter = await connectBus({
    servers: nats.url,
    name: "reporter",
    credsFile: await auth.foldCredsFile({ ...fold, attempt: 0 }),
    inboxPrefix: foldInboxPrefix(fold),
  });
});

after(async () => {
  await earlyStop?.stop();
  for (const nc of [admin, reporter]) await nc?.close();
  await backend?.close();
  await nats?.stop();
  await auth?.cleanup();
});

it("recreates a deleted stream, counts it for the alert, and consumes the epochs published after it", {
  timeout: 60_000,
}, async () => {
  await until(
    "early-stop leading and ready",
    async () => earlyStop.controller.active && (await fetch(`${earlyStop.url}/readyz`)).status === 200,
  );
  const js = jetstream(reporter);
  await publishEpoch(
    js,
    epochMessage({ epoch: 0, pseudoDiceMean: 0.5, emaPseudoDice: 0.5, epochTimeSeconds: 30 }, Date.now(), {
      ...fold,
      runUid: "uid-liver",
    }),
    { timeoutMs: 5000 },
  );
  await until("the first epoch consumed", async () => (await metric("nnunet_earlystop_messages_total")) === 1);

  assert.equal(await (await jetstreamManager(admin)).streams.delete(EPOCH_STREAM), true);
  await until(
    "the deletion counted",
    async () => (await metric("nnunet_earlystop_stream_recreated_total", { missing: "stream" })) === 1,
  );
  await until(
    "the stream back",
    async () =>
      await (await jetstreamManager(admin)).streams.info(EPOCH_STREAM).then(
        () => true,
        () => false,
      ),
  );
  await until(
    "ready again",
    async () =>
      (await fetch(`${earlyStop.url}/readyz`)).status === 200 && (await metric("nnunet_earlystop_stream_ready")) === 1,
  );

  await publishEpoch(
    js,
    epochMessage({ epoch: 1, pseudoDiceMean: 0.5, emaPseudoDice: 0.5, epochTimeSeconds: 30 }, Date.now(), {
      ...fold,
      runUid: "uid-liver",
    }),
    { timeoutMs: 5000 },
  );
  await until("the epoch after the loss consumed", async () => (await metric("nnunet_earlystop_messages_total")) === 2);
});
