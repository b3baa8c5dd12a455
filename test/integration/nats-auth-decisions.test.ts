import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { CheckpointKept, KEPT_CHECKPOINT_FILE, type StopDecision } from "@nnunet-operator/api";
import {
  EPOCH_STREAM,
  connectBus,
  decisionSubject,
  ensureEpochStream,
  epochSubject,
  foldInboxPrefix,
  publishEpoch,
  replayEpochs,
} from "@nnunet-operator/bus";
import {
  type NatsAuthFixture,
  type NatsServerHandle,
  makeNatsAuthFixture,
  startNatsServer,
} from "@nnunet-operator/bus/testing";
import { keepCheckpointAtDecision, NatsReporterBus } from "@nnunet-operator/reporter";

// Audit mode over NATS with JWT auth on (real nats-server 2.9): early-stop's user sends an
// audit's would-be decision as a request on the fold's decision subject, the fold's reporter
// (its per-attempt credential, as the operator mints it) keeps checkpoint_best.pth and
// answers. A forger's fold credential can neither send a decision to another fold nor listen
// on its decision subject, and the export user (kubectl nnunet curves export) reads the
// epoch stream and nothing more.

const limits = { maxAgeMs: 3600_000, maxBytes: 64 * 1024 * 1024, duplicateWindowMs: 120_000 };
const victim = { namespace: "team-b", run: "victim", fold: "0" };
const forger = { namespace: "team-a", run: "forger", fold: "0" };
const audit: StopDecision = {
  schemaVersion: 1,
  epoch: 180,
  policy: "Forecast",
  reason: "forecast gain below maxGain",
  bestEpoch: 172,
  bestEma: 0.91,
  decidedAt: "2026-01-01T00:00:00Z",
  mode: "Audit",
};
const encode = (o: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(o));

/** The error text of `attempt`, or a failure when the server allowed it. */
async function refused(what: string, attempt: () => Promise<unknown>): Promise<string> {
  try {
    await attempt();
  } catch (err) {
    return String((err as Error).message) + String((err as Error).cause ?? "");
  }
  return assert.fail(`${what} was allowed`);
}

describe("audit decisions over NATS with auth on", () => {
  let auth: NatsAuthFixture;
  let server: NatsServerHandle;
  let earlyStop: NatsConnection;
  let forgerNc: NatsConnection;
  let exporter: NatsConnection;
  let foldDir: string;
  const reporterStop = new AbortController();
  let reporter: NatsReporterBus;
  const answered: string[] = [];

  before(async () => {
    auth = await makeNatsAuthFixture();
    server = await startNatsServer({ auth: auth.material });
    earlyStop = await connectBus({ servers: server.url, name: "early-stop", credsFile: auth.earlyStopCredsFile });
    await ensureEpochStream(await jetstreamManager(earlyStop), limits);
    foldDir = await mkdtemp(join(tmpdir(), "audit-fold-"));
    await writeFile(join(foldDir, "checkpoint_best.pth"), "best as of epoch 172");
    const silent = { info: () => undefined, warn: () => undefined };
    reporter = new NatsReporterBus({
      servers: [server.url],
      name: "reporter/victim",
      credsFile: await auth.foldCredsFile({ ...victim, attempt: 0 }),
      fold: victim,
      logger: silent,
      sleep: (ms) => new Promise<void>((r) => setTimeout(r, ms)),
      responder: {
        subject: decisionSubject(victim),
        answer: async (data) => {
          answered.push(new TextDecoder().decode(data));
          return encode(await keepCheckpointAtDecision(foldDir, data));
        },
      },
    });
    await reporter.start(reporterStop.signal);
    forgerNc = await connectBus({
      servers: server.url,
      name: "reporter/forger",
      credsFile: await auth.foldCredsFile({ ...forger, attempt: 0 }),
      inboxPrefix: foldInboxPrefix(forger),
      waitOnFirstConnect: false,
    });
    exporter = await connectBus({
      servers: server.url,
      name: "kubectl-nnunet",
      credsFile: auth.exportCredsFile,
      waitOnFirstConnect: false,
    });
  });

  after(async () => {
    reporterStop.abort();
    await reporter?.drain(1000);
    for (const nc of [earlyStop, forgerNc, exporter]) await nc?.close();
    await server?.stop();
    await auth?.cleanup();
    if (foldDir) await rm(foldDir, { recursive: true, force: true });
  });

  it("delivers early-stop's audit request to the fold's reporter, which keeps the checkpoint and answers", async () => {
    const reply = await earlyStop.request(decisionSubject(victim), encode(audit), { timeout: 5000 });
    assert.deepEqual(CheckpointKept.parse(JSON.parse(new TextDecoder().decode(reply.data))), {
      schemaVersion: 1,
      kept: true,
      file: KEPT_CHECKPOINT_FILE,
    });
    assert.ok(existsSync(join(foldDir, KEPT_CHECKPOINT_FILE)));
    assert.equal(answered.length, 1);
  });

  it("refuses a forger's decision sent to another fold: the victim's reporter never sees it", async () => {
    const before = answered.length;
    const message = await refused("the forger's request", () =>
      forgerNc.request(decisionSubject(victim), encode({ ...audit, reason: "forged" }), { timeout: 1000 }),
    );
    assert.match(message, /permissions violation|timeout/i);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(answered.length, before, "no forged decision reached the reporter");
  });

  it("refuses a forger listening on another fold's decision subject", async () => {
    const sub = forgerNc.subscribe(decisionSubject(victim));
    const message = await refused("subscribing to the victim's decisions", async () => {
      for await (const _ of sub) break;
    });
    assert.match(message, /permissions violation/i);
  });

  it("lets the export user read the stored epochs, and nothing else", async () => {
    const victimNc = await connectBus({
      servers: server.url,
      name: "reporter/victim-epochs",
      credsFile: await auth.foldCredsFile({ ...victim, attempt: 0 }),
      inboxPrefix: foldInboxPrefix(victim),
      waitOnFirstConnect: false,
    });
    try {
      const epoch = {
        schemaVersion: 1 as const,
        ...victim,
        runUid: "uid-victim",
        attempt: 0,
        epoch: 0,
        pseudoDice: [0.8],
        observedAt: "2026-01-01T00:00:00Z",
      };
      await publishEpoch(jetstream(victimNc), epoch, { timeoutMs: 5000 });
    } finally {
      await victimNc.close();
    }
    const read: number[] = [];
    await replayEpochs(jetstream(exporter), epochSubject(victim), (m) => void read.push(m.epoch));
    assert.deepEqual(read, [0]);
    const attacks: Array<[string, () => Promise<unknown>]> = [
      [
        "publishing an epoch",
        () =>
          publishEpoch(
            jetstream(exporter),
            {
              schemaVersion: 1,
              ...victim,
              runUid: "uid-victim",
              attempt: 0,
              epoch: 1,
              pseudoDice: [0.8],
              observedAt: "2026-01-01T00:00:00Z",
            },
            { timeoutMs: 2000 },
          ),
      ],
      [
        "purging the stream",
        async () => (await jetstreamManager(exporter, { checkAPI: false, timeout: 2000 })).streams.purge(EPOCH_STREAM),
      ],
      ["sending a decision", () => exporter.request(decisionSubject(victim), encode(audit), { timeout: 1000 })],
    ];
    const answers = answered.length;
    for (const [what, attempt] of attacks)
      assert.match(await refused(what, attempt), /permissions violation|timeout/i, what);
    assert.equal(answered.length, answers, "the export user's decision never reached the reporter");
  });
});
