import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { EpochMetrics } from "@nnunet-operator/api";
import {
  EPOCH_STREAM,
  connectBus,
  consumeEpochs,
  decodeHeartbeatMessage,
  ensureEpochConsumer,
  ensureEpochStream,
  epochSubject,
  heartbeatSubject,
  publishEpoch,
  publishHeartbeat,
  purgeRunSubjects,
  replayEpochs,
  runEpochsFilter,
} from "@nnunet-operator/bus";
import {
  type NatsAuthFixture,
  type NatsServerHandle,
  makeNatsAuthFixture,
  startNatsServer,
} from "@nnunet-operator/bus/testing";

// The bus against a real nats-server 2.9 with JetStream (Debian's), started on a free port
// with a temporary store and JWT auth on. These tests exercise the library's calls, so they
// sign in as the unlimited test observer; nats-auth.test.ts checks each service's limits.

const limits = { maxAgeMs: 7 * 24 * 3600_000, maxBytes: 64 * 1024 * 1024, duplicateWindowMs: 120_000 };

function epoch(n: number, overrides: Partial<EpochMetrics> = {}): EpochMetrics {
  return {
    schemaVersion: 1,
    namespace: "team-a",
    run: "liver",
    runUid: "uid-liver",
    fold: "0",
    attempt: 0,
    epoch: n,
    trainLoss: -0.5 - n / 1000,
    valLoss: -0.4,
    pseudoDice: [0.8, 0.7],
    pseudoDiceMean: 0.75,
    emaPseudoDice: 0.7,
    epochTimeSeconds: 40,
    learningRate: 0.01,
    observedAt: "2026-01-01T00:00:00Z",
    ...overrides,
  };
}

async function waitFor(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("bus on a real nats-server with JetStream", () => {
  let auth: NatsAuthFixture;
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;

  before(async () => {
    auth = await makeNatsAuthFixture();
    server = await startNatsServer({ auth: auth.material });
    nc = await connectBus({
      servers: server.url,
      name: "bus-test",
      credsFile: auth.observerCredsFile,
      reconnectTimeWaitMs: 100,
      reconnectJitterMs: 50,
    });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
  });

  after(async () => {
    await nc?.close();
    await server?.stop();
    await auth?.cleanup();
  });

  beforeEach(async () => {
    await jsm.streams.delete(EPOCH_STREAM).catch(() => false);
  });

  it("creates the stream once, leaves it alone when unchanged and updates changed limits", async () => {
    const first = await ensureEpochStream(jsm, limits);
    assert.equal(first.action, "created");
    assert.equal(first.info.config.storage, "file");
    assert.deepEqual(first.info.config.subjects, ["nnunet.epochs.>"]);
    assert.equal((await ensureEpochStream(jsm, limits)).action, "unchanged");
    const updated = await ensureEpochStream(jsm, { ...limits, maxBytes: 32 * 1024 * 1024 });
    assert.equal(updated.action, "updated");
    assert.equal(updated.info.config.max_bytes, 32 * 1024 * 1024);
  });

  it("lets two replicas ensure the stream at the same time", async () => {
    // The server answers an add of an identical config as a success, so both may say created.
    const results = await Promise.all([ensureEpochStream(jsm, limits), ensureEpochStream(jsm, limits)]);
    for (const r of results) assert.ok(r.action === "created" || r.action === "unchanged", r.action);
    assert.equal((await jsm.streams.names().next()).length, 1);
  });

  it("stores an epoch published twice with the same message id once", async () => {
    await ensureEpochStream(jsm, limits);
    const a = await publishEpoch(js, epoch(5));
    const b = await publishEpoch(js, epoch(5));
    const otherAttempt = await publishEpoch(js, epoch(5, { attempt: 1 }));
    assert.equal(a.duplicate, false);
    assert.equal(b.duplicate, true);
    assert.equal(b.seq, a.seq);
    assert.equal(otherAttempt.duplicate, false, "a new attempt is a new message");
    assert.equal((await jsm.streams.info(EPOCH_STREAM)).state.messages, 2);
  });

  it("resumes a durable consumer after it stopped, delivering every epoch and none acknowledged twice", async () => {
    await ensureEpochStream(jsm, limits);
    await ensureEpochConsumer(jsm, "early-stop", { ackWaitMs: 2000 });
    for (let n = 0; n < 10; n++) await publishEpoch(js, epoch(n));
    const acked: number[] = [];
    const first = new AbortController();
    await consumeEpochs(
      js,
      "early-stop",
      (m) => {
        acked.push(m.epoch);
        if (acked.length === 4) first.abort();
      },
      first.signal,
    );
    assert.deepEqual(acked, [0, 1, 2, 3]);
    const second = new AbortController();
    const running = consumeEpochs(
      js,
      "early-stop",
      (m) => {
        acked.push(m.epoch);
      },
      second.signal,
    );
    await waitFor("the remaining six epochs", () => acked.length >= 10);
    second.abort();
    await running;
    assert.deepEqual(acked, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("redelivers an epoch whose handler failed and acknowledges it after the retry succeeds", async () => {
    await ensureEpochStream(jsm, limits);
    await ensureEpochConsumer(jsm, "retry");
    await publishEpoch(js, epoch(1));
    const deliveries: number[] = [];
    const errors: unknown[] = [];
    const controller = new AbortController();
    const running = consumeEpochs(
      js,
      "retry",
      (_m, meta) => {
        deliveries.push(meta.deliveryCount);
        if (meta.deliveryCount === 1) throw new Error("API down");
      },
      controller.signal,
      { nakDelayMs: 50, onHandlerError: (e) => errors.push(e) },
    );
    await waitFor("the redelivery", () => deliveries.length >= 2);
    controller.abort();
    await running;
    assert.deepEqual(deliveries, [1, 2]);
    assert.equal(errors.length, 1);
    assert.equal((await jsm.consumers.info(EPOCH_STREAM, "retry")).num_ack_pending, 0);
  });

  it("counts and terminates malformed and foreign payloads instead of handing them on or redelivering them", async () => {
    await ensureEpochStream(jsm, limits);
    await ensureEpochConsumer(jsm, "strict", { ackWaitMs: 1000 });
    const subject = epochSubject({ namespace: "team-a", run: "liver", fold: "0" });
    await js.publish(subject, "{not json");
    await js.publish(subject, JSON.stringify({ hello: "world" }));
    await js.publish("nnunet.epochs.team-a.liver.extra.0", JSON.stringify(epoch(1)));
    await js.publish(
      epochSubject({ namespace: "team-a", run: "liver", fold: "3" }),
      new TextEncoder().encode(JSON.stringify(epoch(2))),
    );
    await publishEpoch(js, epoch(3));
    const malformed: string[] = [];
    const good: number[] = [];
    const controller = new AbortController();
    const running = consumeEpochs(js, "strict", (m) => void good.push(m.epoch), controller.signal, {
      onMalformed: (reason) => malformed.push(reason),
    });
    await waitFor("all five messages", () => malformed.length + good.length >= 5);
    await new Promise((r) => setTimeout(r, 1500)); // past ack_wait: a terminated message must not come back
    controller.abort();
    await running;
    assert.deepEqual(malformed, ["json", "schema", "subject", "subject"]);
    assert.deepEqual(good, [3]);
  });

  it("replays the stored epochs of one fold in order, acknowledged or not, and returns at the end", async () => {
    await ensureEpochStream(jsm, limits);
    for (let n = 0; n < 5; n++) {
      await publishEpoch(js, epoch(n));
      await publishEpoch(js, epoch(n, { fold: "1" }));
    }
    const fold0: number[] = [];
    const count = await replayEpochs(
      js,
      epochSubject({ namespace: "team-a", run: "liver", fold: "0" }),
      (m) => void fold0.push(m.epoch),
    );
    assert.equal(count, 5);
    assert.deepEqual(fold0, [0, 1, 2, 3, 4]);
    assert.equal(await replayEpochs(js, runEpochsFilter("team-a", "liver"), () => {}), 10);
    assert.equal(await replayEpochs(js, runEpochsFilter("team-a", "spleen"), () => assert.fail("nothing stored")), 0);
  });

  it("purges every stored epoch of one run and nothing of another", async () => {
    await ensureEpochStream(jsm, limits);
    for (const fold of ["0", "1", "2"]) await publishEpoch(js, epoch(1, { fold }));
    await publishEpoch(js, epoch(1, { run: "liver-2", runUid: "uid-2" }));
    await publishEpoch(js, epoch(1, { namespace: "team-b", runUid: "uid-team-b" }));
    assert.equal(await purgeRunSubjects(jsm, "team-a", "liver"), 3);
    assert.equal((await jsm.streams.info(EPOCH_STREAM)).state.messages, 2);
    assert.equal(await purgeRunSubjects(jsm, "team-a", "liver"), 0, "purging again is a no-op");
  });

  it("reports a purge without a stream as nothing purged", async () => {
    assert.equal(await purgeRunSubjects(jsm, "team-a", "liver"), 0);
  });

  it("updates the durable consumer's max-ack-pending bound when it changes", async () => {
    await ensureEpochStream(jsm, limits);
    await ensureEpochConsumer(jsm, "bounded", { maxAckPending: 100 });
    await ensureEpochConsumer(jsm, "bounded", { maxAckPending: 100 });
    assert.equal((await jsm.consumers.info(EPOCH_STREAM, "bounded")).config.max_ack_pending, 100);
    await ensureEpochConsumer(jsm, "bounded", { maxAckPending: 20 });
    assert.equal((await jsm.consumers.info(EPOCH_STREAM, "bounded")).config.max_ack_pending, 20);
  });

  it("drains a connection on abort: what was published before still arrives, then it closes", async () => {
    const controller = new AbortController();
    const publisher = await connectBus({
      servers: server.url,
      name: "drain-test",
      credsFile: auth.observerCredsFile,
      signal: controller.signal,
    });
    const address = { namespace: "team-a", run: "liver", fold: "4" };
    const sub = nc.subscribe(heartbeatSubject(address), { max: 50 });
    await nc.flush();
    for (let i = 0; i < 50; i++)
      publishHeartbeat(publisher, {
        schemaVersion: 1,
        ...address,
        runUid: "u",
        attempt: 0,
        sentAt: "2026-01-01T00:00:00Z",
        buffered: i,
      });
    controller.abort();
    await publisher.closed();
    let received = 0;
    for await (const _m of sub) received += 1;
    assert.equal(received, 50);
    assert.equal(publisher.isClosed(), true);
  });

  it("delivers heartbeats on core NATS", async () => {
    const address = { namespace: "team-a", run: "liver", fold: "1" };
    const sub = nc.subscribe(heartbeatSubject(address), { max: 1 });
    publishHeartbeat(nc, {
      schemaVersion: 1,
      ...address,
      runUid: "uid-liver",
      attempt: 0,
      sentAt: "2026-01-01T00:00:00Z",
      buffered: 3,
    });
    for await (const m of sub) {
      const decoded = decodeHeartbeatMessage(m.subject, m.data);
      assert.equal(decoded.ok && decoded.value.buffered, 3);
    }
  });

  it("keeps consuming across a server restart without losing an epoch", async () => {
    await ensureEpochStream(jsm, limits);
    await ensureEpochConsumer(jsm, "restart", { ackWaitMs: 2000 });
    const seen = new Set<number>();
    const controller = new AbortController();
    const running = consumeEpochs(js, "restart", (m) => void seen.add(m.epoch), controller.signal);
    const publish = async (n: number) => {
      for (;;) {
        try {
          return await publishEpoch(js, epoch(n), { timeoutMs: 1000 });
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    for (let n = 0; n < 10; n++) await publish(n);
    await waitFor("the first ten", () => seen.size >= 10);
    const restartedAt = Date.now();
    await server.restart({ downMs: 200 });
    for (let n = 10; n < 20; n++) await publish(n);
    await waitFor("the ten published after the restart", () => seen.size >= 20, 40_000);
    console.log(`# consumer caught up ${Date.now() - restartedAt} ms after the restart began`);
    controller.abort();
    await running;
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i),
    );
  });

  it("survives a server restart in the middle of publishing: every epoch stored exactly once", async () => {
    await ensureEpochStream(jsm, limits);
    const total = 60;
    const publisher = (async () => {
      for (let n = 0; n < total; n++) {
        for (;;) {
          try {
            await publishEpoch(js, epoch(n), { timeoutMs: 1000 });
            break;
          } catch {
            // Disconnected or no ack: the same message id makes the retry safe.
            await new Promise((r) => setTimeout(r, 50));
          }
        }
        if (n === 20) await server.restart({ hard: true, downMs: 300 });
      }
    })();
    await publisher;
    await waitFor("the reconnect", () => !nc.isClosed() && nc.info !== undefined);
    const info = await jsm.streams.info(EPOCH_STREAM);
    assert.equal(info.state.messages, total);
    assert.equal(info.state.last_seq, total, "no duplicate was stored and later dropped");
  });
});
