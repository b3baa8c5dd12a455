import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { EpochMetrics } from "@nnunet-operator/api";
import {
  EARLY_STOP_DURABLE,
  EPOCH_STREAM,
  connectBus,
  ensureEpochConsumer,
  ensureEpochStream,
  epochMessageId,
  epochSubject,
  foldInboxPrefix,
  heartbeatSubject,
  publishEpoch,
  replayEpochs,
} from "@nnunet-operator/bus";
import {
  type NatsAuthFixture,
  type NatsServerHandle,
  makeNatsAuthFixture,
  startNatsServer,
} from "@nnunet-operator/bus/testing";

// The attacks of issue 17 item 1 against a real nats-server 2.9 with JWT auth on: a
// forger holds a valid credential for its own fold (team-a/forger/0) and tries every way
// the unauthenticated bus allowed to stop or fail another tenant's fold (team-b/victim/0).
// The server refuses each one (permissions violation) and the victim's epochs keep flowing.

const limits = { maxAgeMs: 3600_000, maxBytes: 64 * 1024 * 1024, duplicateWindowMs: 120_000 };
const victim = { namespace: "team-b", run: "victim", fold: "0" };
const forger = { namespace: "team-a", run: "forger", fold: "0" };

function epoch(address: typeof victim, n: number, overrides: Partial<EpochMetrics> = {}): EpochMetrics {
  return {
    schemaVersion: 1,
    ...address,
    runUid: `uid-${address.run}`,
    attempt: 0,
    epoch: n,
    trainLoss: -0.5,
    valLoss: -0.4,
    pseudoDice: [0.8],
    pseudoDiceMean: 0.8,
    emaPseudoDice: 0.7,
    epochTimeSeconds: 40,
    learningRate: 0.01,
    observedAt: "2026-01-01T00:00:00Z",
    ...overrides,
  };
}

/** Resolves with the error text of `attempt`, or fails when the server allowed it. */
async function refused(what: string, attempt: () => Promise<unknown>): Promise<string> {
  try {
    await attempt();
  } catch (err) {
    return String((err as Error).message) + String((err as Error).cause ?? "");
  }
  return assert.fail(`${what} was allowed`);
}

describe("NATS with auth on: a fold can publish only its own epochs", () => {
  let auth: NatsAuthFixture;
  let server: NatsServerHandle;
  let manager: NatsConnection;
  let victimNc: NatsConnection;
  let forgerNc: NatsConnection;

  before(async () => {
    auth = await makeNatsAuthFixture();
    server = await startNatsServer({ auth: auth.material });
    manager = await connectBus({ servers: server.url, name: "early-stop", credsFile: auth.earlyStopCredsFile });
    await ensureEpochStream(await jetstreamManager(manager), limits);
    await ensureEpochConsumer(await jetstreamManager(manager), "early-stop");
    const fold = async (address: typeof victim): Promise<NatsConnection> =>
      connectBus({
        servers: server.url,
        name: `reporter/${address.run}`,
        credsFile: await auth.foldCredsFile({ ...address, attempt: 0 }),
        inboxPrefix: foldInboxPrefix(address),
        waitOnFirstConnect: false,
      });
    victimNc = await fold(victim);
    forgerNc = await fold(forger);
  });

  after(async () => {
    for (const nc of [manager, victimNc, forgerNc]) await nc?.close();
    await server?.stop();
    await auth?.cleanup();
  });

  it("refuses a connection without a credential", async () => {
    const message = await refused("connecting without creds", () =>
      connectBus({ servers: server.url, name: "anonymous", waitOnFirstConnect: false }),
    );
    assert.match(message, /Authorization Violation/i);
  });

  it("lets each fold publish its own epochs", async () => {
    const ack = await publishEpoch(jetstream(victimNc), epoch(victim, 1), { timeoutMs: 5000 });
    assert.equal(ack.duplicate, false);
    await publishEpoch(jetstream(forgerNc), epoch(forger, 1), { timeoutMs: 5000 });
  });

  const attacks: Array<{ name: string; attempt: (nc: NatsConnection) => Promise<unknown> }> = [
    {
      name: "an epoch+1 with NaN losses on the victim's subject",
      attempt: (nc) =>
        publishEpoch(jetstream(nc), epoch(victim, 2, { trainLoss: Number.NaN, valLoss: Number.NaN }), {
          timeoutMs: 2000,
        }),
    },
    {
      name: "a forged attempt 7 on the victim's subject",
      attempt: (nc) => publishEpoch(jetstream(nc), epoch(victim, 3, { attempt: 7 }), { timeoutMs: 2000 }),
    },
    {
      name: "an epoch of 10^9 on the victim's subject",
      attempt: (nc) => publishEpoch(jetstream(nc), epoch(victim, 1e9), { timeoutMs: 2000 }),
    },
    {
      name: "reading the victim's last stored epoch (its run uid)",
      attempt: async (nc) =>
        (await jetstreamManager(nc, { checkAPI: false, timeout: 2000 })).direct.getMessage(EPOCH_STREAM, {
          last_by_subj: epochSubject(victim),
        }),
    },
    {
      name: "purging the stream",
      attempt: async (nc) =>
        (await jetstreamManager(nc, { checkAPI: false, timeout: 2000 })).streams.purge(EPOCH_STREAM),
    },
    {
      name: "deleting the stream",
      attempt: async (nc) =>
        (await jetstreamManager(nc, { checkAPI: false, timeout: 2000 })).streams.delete(EPOCH_STREAM),
    },
    {
      name: "deleting early-stop's consumer",
      attempt: async (nc) =>
        (await jetstreamManager(nc, { checkAPI: false, timeout: 2000 })).consumers.delete(EPOCH_STREAM, "early-stop"),
    },
  ];
  for (const attack of attacks) {
    it(`refuses ${attack.name} from the forger with a permissions violation`, async () => {
      const message = await refused(attack.name, () => attack.attempt(forgerNc));
      assert.match(message, /permissions violation/i);
    });
  }

  it("refuses the forger's subscription to everyone's replies", async () => {
    const sub = forgerNc.subscribe("_INBOX.>");
    const message = await refused("subscribing to _INBOX.>", async () => {
      for await (const _ of sub) break;
    });
    assert.match(message, /permissions violation/i);
  });

  it("drops a heartbeat on the victim's subject (the server refuses core publishes too)", async () => {
    const seen: string[] = [];
    const sub = manager.subscribe(heartbeatSubject(victim), { callback: (_err, m) => void seen.push(m.subject) });
    await manager.flush();
    forgerNc.publish(heartbeatSubject(victim), new TextEncoder().encode("{}"));
    victimNc.publish(heartbeatSubject(victim), new TextEncoder().encode("{}"));
    await victimNc.flush();
    await new Promise((r) => setTimeout(r, 200));
    sub.unsubscribe();
    assert.deepEqual(seen, [heartbeatSubject(victim)], "only the victim's own heartbeat arrives");
  });

  it("lets nobody delete the stream, early-stop and the operator included", async () => {
    const operatorNc = await connectBus({
      servers: server.url,
      name: "operator",
      credsFile: auth.operatorCredsFile,
      waitOnFirstConnect: false,
    });
    try {
      for (const nc of [manager, operatorNc]) {
        const message = await refused("deleting the stream", async () =>
          (await jetstreamManager(nc, { checkAPI: false, timeout: 2000 })).streams.delete(EPOCH_STREAM),
        );
        assert.match(message, /permissions violation/i);
      }
      const message = await refused("the operator creating a stream", async () =>
        (await jetstreamManager(operatorNc, { checkAPI: false, timeout: 2000 })).streams.add({
          name: "OTHER",
          subjects: ["other.>"],
        }),
      );
      assert.match(message, /permissions violation/i, "only early-stop manages streams");
    } finally {
      await operatorNc.close();
    }
  });

  for (const user of ["operator", "export"] as const) {
    it(`lets the ${user} user read the stream but not purge it, delete a consumer or alter early-stop's`, async () => {
      const nc = await connectBus({
        servers: server.url,
        name: user,
        credsFile: user === "operator" ? auth.operatorCredsFile : auth.exportCredsFile,
        waitOnFirstConnect: false,
      });
      try {
        const read: string[] = [];
        await replayEpochs(jetstream(nc), epochSubject(victim), (m) => void read.push(`${m.run}/${m.epoch}`));
        assert.ok(read.includes("victim/1"), "reads through an ephemeral consumer");
        const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: 2000 });
        const attempts: Array<[string, () => Promise<unknown>]> = [
          ["purging the stream", () => jsm.streams.purge(EPOCH_STREAM)],
          ["purging one run's epochs", () => jsm.streams.purge(EPOCH_STREAM, { filter: epochSubject(victim) })],
          ["deleting early-stop's consumer", () => jsm.consumers.delete(EPOCH_STREAM, "early-stop")],
          [
            "creating a consumer under the name of early-stop's durable one",
            () =>
              jsm.consumers.add(EPOCH_STREAM, {
                name: EARLY_STOP_DURABLE,
                durable_name: EARLY_STOP_DURABLE,
                ack_policy: AckPolicy.Explicit,
              }),
          ],
        ];
        for (const [what, attempt] of attempts)
          assert.match(await refused(what, attempt), /permissions violation/i, `${user}: ${what}`);
      } finally {
        await nc.close();
      }
    });
  }

  it("keeps the victim training: its next epochs are accepted and the stream holds only its own", async () => {
    const js = jetstream(victimNc);
    for (const n of [2, 3])
      assert.equal((await publishEpoch(js, epoch(victim, n), { timeoutMs: 5000 })).duplicate, false);
    const stored: string[] = [];
    await replayEpochs(
      jetstream(manager),
      epochSubject(victim),
      (m, meta) => void stored.push(`${m.attempt}/${m.epoch}/${meta.msgId}`),
    );
    assert.deepEqual(
      stored,
      [1, 2, 3].map((n) => `0/${n}/${epochMessageId({ runUid: "uid-victim", fold: "0", attempt: 0, epoch: n })}`),
    );
    const own = await (await jetstreamManager(victimNc, { checkAPI: false })).direct.getMessage(EPOCH_STREAM, {
      last_by_subj: epochSubject(victim),
    });
    assert.equal(
      own?.subject,
      epochSubject(victim),
      "a fold may still read its own last epoch (the reporter's resume)",
    );
  });
});
