import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EpochMetrics, Heartbeat } from "@nnunet-operator/api";
import {
  InvalidMessageError,
  MAX_MESSAGE_BYTES,
  decodeEpochMessage,
  decodeEpochMetrics,
  decodeHeartbeatMessage,
  encodeEpochMetrics,
  encodeHeartbeat,
} from "./messages.js";

function makeEpoch(overrides: Partial<EpochMetrics> = {}): EpochMetrics {
  return {
    schemaVersion: 1,
    namespace: "team-a",
    run: "liver",
    runUid: "uid-1",
    fold: "0",
    attempt: 0,
    epoch: 12,
    trainLoss: -0.61,
    valLoss: -0.58,
    pseudoDice: [0.91, 0.72],
    pseudoDiceMean: 0.815,
    emaPseudoDice: 0.8,
    epochTimeSeconds: 41.2,
    learningRate: 0.0089,
    observedAt: "2026-01-01T00:00:00Z",
    ...overrides,
  };
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe("EpochMetrics encoding", () => {
  it("round-trips a finished epoch", () => {
    const epoch = makeEpoch();
    assert.deepEqual(decodeEpochMetrics(encodeEpochMetrics(epoch)), { ok: true, value: epoch });
  });

  const nonFinite: Array<[string, number, string]> = [
    ["NaN", Number.NaN, '"NaN"'],
    ["Infinity", Number.POSITIVE_INFINITY, '"Infinity"'],
    ["-Infinity", Number.NEGATIVE_INFINITY, '"-Infinity"'],
  ];
  for (const [name, value, wire] of nonFinite) {
    it(`carries a ${name} loss as the string ${wire} and back as a number`, () => {
      const bytes = encodeEpochMetrics(makeEpoch({ trainLoss: value }));
      assert.match(text(bytes), new RegExp(`"trainLoss":${wire}`));
      const decoded = decodeEpochMetrics(bytes);
      assert.ok(decoded.ok);
      assert.ok(Object.is(decoded.value.trainLoss, value));
    });
  }

  it("refuses to encode a message the other side could not decode", () => {
    assert.throws(() => encodeEpochMetrics(makeEpoch({ fold: "7" })), InvalidMessageError);
    assert.throws(() => encodeEpochMetrics(makeEpoch({ pseudoDice: [Number.NaN] })), InvalidMessageError);
  });
});

describe("decoding malformed payloads", () => {
  const cases: Array<[string, Uint8Array | string, string]> = [
    ["truncated JSON", text(encodeEpochMetrics(makeEpoch())).slice(0, 40), "json"],
    ["bytes that are not UTF-8", new Uint8Array([0xff, 0xfe, 0x7b]), "encoding"],
    ["an empty payload", "", "json"],
    ["a JSON array", "[]", "schema"],
    ["a newer schema version", JSON.stringify({ ...makeEpoch(), schemaVersion: 2 }), "schema"],
    ["an unknown field (strict schema)", JSON.stringify({ ...makeEpoch(), extra: 1 }), "schema"],
    ["a negative epoch", JSON.stringify({ ...makeEpoch(), epoch: -1 }), "schema"],
    ["a loss string that is not a non-finite name", JSON.stringify({ ...makeEpoch(), trainLoss: "nan" }), "schema"],
    ["a payload over the size limit", "x".repeat(MAX_MESSAGE_BYTES + 1), "too-large"],
  ];
  for (const [name, payload, reason] of cases) {
    it(`reports ${name} as ${reason}, without throwing`, () => {
      const decoded = decodeEpochMetrics(payload);
      assert.equal(decoded.ok, false);
      assert.equal(!decoded.ok && decoded.reason, reason);
      assert.ok(!decoded.ok && decoded.detail.length > 0);
    });
  }

  it("reports a payload that belongs to another fold than its subject", () => {
    const decoded = decodeEpochMessage("nnunet.epochs.team-a.liver.1", encodeEpochMetrics(makeEpoch({ fold: "0" })));
    assert.equal(!decoded.ok && decoded.reason, "subject");
  });

  it("accepts a payload on its own subject", () => {
    assert.equal(decodeEpochMessage("nnunet.epochs.team-a.liver.0", encodeEpochMetrics(makeEpoch())).ok, true);
  });
});

describe("Heartbeat encoding", () => {
  const hb: Heartbeat = {
    schemaVersion: 1,
    namespace: "team-a",
    run: "liver",
    runUid: "uid-1",
    fold: "all",
    attempt: 2,
    sentAt: "2026-01-01T00:00:00Z",
    lastEpoch: 5,
    buffered: 0,
  };
  it("round-trips on its subject", () => {
    assert.deepEqual(decodeHeartbeatMessage("nnunet.heartbeat.team-a.liver.all", encodeHeartbeat(hb)), {
      ok: true,
      value: hb,
    });
  });
  it("refuses to encode a heartbeat without its buffer count", () => {
    const { buffered: _b, ...rest } = hb;
    assert.throws(() => encodeHeartbeat(rest as Heartbeat), InvalidMessageError);
  });
});
