import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  InvalidSubjectError,
  epochMessageId,
  epochSubject,
  heartbeatSubject,
  parseEpochMessageId,
  parseEpochSubject,
  parseHeartbeatSubject,
  runEpochsFilter,
} from "./subjects.js";

const address = { namespace: "team-a", run: "liver-3d", fold: "2" };

describe("subjects", () => {
  it("builds the epoch and heartbeat subjects of a fold", () => {
    assert.equal(epochSubject(address), "nnunet.epochs.team-a.liver-3d.2");
    assert.equal(heartbeatSubject({ ...address, fold: "all" }), "nnunet.heartbeat.team-a.liver-3d.all");
  });

  it("builds the purge filter of all folds of a run", () => {
    assert.equal(runEpochsFilter("team-a", "liver-3d"), "nnunet.epochs.team-a.liver-3d.*");
  });

  const rejected: Array<[string, Partial<typeof address>, string]> = [
    ["a run name with a dot, which would add a subject token", { run: "liver.v2" }, "run"],
    ["a run name with a wildcard", { run: "liver*" }, "run"],
    ["a run name with a full wildcard", { run: ">" }, "run"],
    ["a namespace with a space", { namespace: "team a" }, "namespace"],
    ["an upper-case namespace, not a DNS label", { namespace: "Team" }, "namespace"],
    ["an empty run name", { run: "" }, "run"],
    ["a run name of 64 characters", { run: "a".repeat(64) }, "run"],
    ["fold 5, which nnU-Net does not have", { fold: "5" }, "fold"],
  ];
  for (const [name, change, field] of rejected) {
    it(`rejects ${name}`, () => {
      assert.throws(
        () => epochSubject({ ...address, ...change }),
        (err: unknown) => err instanceof InvalidSubjectError && err.field === field && err.retryable === false,
      );
    });
  }

  const parsed: Array<[string, string, boolean]> = [
    ["parses a subject it built", "nnunet.epochs.team-a.liver-3d.2", true],
    ["refuses a subject with an extra token", "nnunet.epochs.team-a.liver.v2.2", false],
    ["refuses a subject with a missing token", "nnunet.epochs.team-a.2", false],
    ["refuses a heartbeat subject as an epoch subject", "nnunet.heartbeat.team-a.liver-3d.2", false],
    ["refuses a foreign subject", "other.epochs.team-a.liver-3d.2", false],
    ["refuses a bad fold", "nnunet.epochs.team-a.liver-3d.9", false],
  ];
  for (const [name, subject, ok] of parsed) {
    it(name, () => assert.equal(parseEpochSubject(subject).ok, ok));
  }

  it("round-trips a heartbeat subject", () => {
    assert.deepEqual(parseHeartbeatSubject(heartbeatSubject(address)), { ok: true, value: address });
  });
});

describe("message ids", () => {
  const id = { runUid: "3f1c2a9e-7b7d-4c1e-9f00-0a1b2c3d4e5f", fold: "2", attempt: 1, epoch: 417 };

  it("builds <runUid>/<fold>/<attempt>/<epoch> and parses it back", () => {
    const text = epochMessageId(id);
    assert.equal(text, "3f1c2a9e-7b7d-4c1e-9f00-0a1b2c3d4e5f/2/1/417");
    assert.deepEqual(parseEpochMessageId(text), { ok: true, value: id });
  });

  const bad: Array<[string, Partial<typeof id>]> = [
    ["a uid with a slash", { runUid: "a/b" }],
    ["a negative attempt", { attempt: -1 }],
    ["a fractional epoch", { epoch: 1.5 }],
  ];
  for (const [name, change] of bad) {
    it(`refuses to build an id from ${name}`, () =>
      assert.throws(() => epochMessageId({ ...id, ...change }), InvalidSubjectError));
  }

  const unparsable = ["a/2/1", "u/2/x/4", "u/9/1/4", "u/2/1/4/5", ""];
  for (const text of unparsable) {
    it(`reports ${JSON.stringify(text)} as not an id`, () => assert.equal(parseEpochMessageId(text).ok, false));
  }
});
