import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { Registry } from "prom-client";
import type { EventInput } from "@nnunet-operator/kube";
import { ConfigError, parseOperatorConfig } from "./config.js";
import { boundedEvents, Operator } from "./controller.js";
import type { FoldSigning } from "./trainingrun/fold-credentials.js";

const AUTH = `
nats:
  url: nats://nats:4222
  auth:
    credsFile: /etc/nnunet-operator/nats-auth/operator.creds
    signingKeyFile: /etc/nnunet-operator/nats-auth/account-signing.nk
    accountPublicKeyFile: /etc/nnunet-operator/nats-auth/account.pub
`;

describe("the operator's composition", () => {
  const build = (configYaml: string, foldSigning?: FoldSigning) =>
    new Operator({
      // Nothing is called on the port while constructing.
      port: {} as never,
      config: parseOperatorConfig(configYaml),
      logger: pino({ level: "silent" }),
      registry: new Registry(),
      identity: "operator-0",
      ...(foldSigning ? { foldSigning } : {}),
    });

  it("refuses NATS auth without the signing key that mints each fold's credential, naming nats.auth and both fixes", () => {
    assert.throws(
      () => build(AUTH),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.keys.includes("nats.auth") &&
        /pass foldSigning/.test(err.message) &&
        /remove nats.auth/.test(err.message),
    );
  });

  it("starts with NATS auth and a signing key, and without auth at all", () => {
    assert.ok(build(AUTH, { accountSigningSeed: "SA", accountPublicKey: "A" }));
    assert.ok(build("nats:\n  url: nats://nats:4222\n"));
  });
});

describe("the bounded event sink", () => {
  const run = {
    apiVersion: "nnunet-operator.io/v1alpha1",
    kind: "TrainingRun",
    metadata: { name: "liver", namespace: "team-a", uid: "u-1", resourceVersion: "7" },
    spec: { large: "x".repeat(10_000) },
    status: { folds: [] },
  };

  it("keeps at most `concurrency` events in flight, sends the rest in order, and drops beyond the backlog", async () => {
    const sent: EventInput[] = [];
    const pending: Array<() => void> = [];
    let dropped = 0;
    const sink = boundedEvents(
      {
        record: (input) => {
          sent.push(input);
          return new Promise<void>((resolve) => pending.push(resolve));
        },
      },
      2,
      3,
      () => (dropped += 1),
    );
    const done = ["A", "B", "C", "D", "E", "F"].map((reason) => sink.event(run, "Normal", reason, reason));
    // Two in flight, three queued, the sixth dropped (its promise resolves at once).
    assert.deepEqual(
      sent.map((e) => e.reason),
      ["A", "B"],
    );
    assert.equal(dropped, 1);
    await done[5];
    while (pending.length > 0) {
      pending.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(done);
    assert.deepEqual(
      sent.map((e) => e.reason),
      ["A", "B", "C", "D", "E"],
    );
  });

  it("records the object's reference, which is all a queued event keeps of a run (not its spec or status)", () => {
    const sent: EventInput[] = [];
    const sink = boundedEvents({ record: (input) => (sent.push(input), new Promise<void>(() => {})) }, 1, 10, () => {});
    void sink.event(run, "Warning", "Stalled", "no epoch for 30 minutes");
    void sink.event(run, "Warning", "Stalled", "again");
    assert.deepEqual(sent[0], {
      regarding: {
        apiVersion: "nnunet-operator.io/v1alpha1",
        kind: "TrainingRun",
        name: "liver",
        namespace: "team-a",
        uid: "u-1",
        resourceVersion: "7",
      },
      type: "Warning",
      reason: "Stalled",
      note: "no epoch for 30 minutes",
    });
  });
});
