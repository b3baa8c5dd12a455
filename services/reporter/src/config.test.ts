import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, parseReporterEnv } from "./config.js";

const env = {
  NNUNET_NAMESPACE: "team-a",
  NNUNET_RUN: "liver",
  NNUNET_RUN_UID: "6f1c7f0e-2b1e-4a57-9a53-0c9d3c1d2e10",
  NNUNET_FOLD: "3",
  NNUNET_ATTEMPT: "1",
  NNUNET_FOLD_DIR: "/nnunet/results/Dataset003_Liver/nnUNetTrainer__nnUNetPlans__3d_fullres/fold_3",
  NATS_URL: "nats://nats.nnunet-system:4222",
};

describe("parseReporterEnv", () => {
  it("reads the operator's environment with defaults for every tuning knob", () => {
    const c = parseReporterEnv(env);
    assert.deepEqual(c.identity, {
      namespace: "team-a",
      run: "liver",
      runUid: env.NNUNET_RUN_UID,
      fold: "3",
      attempt: 1,
    });
    assert.equal(c.foldDir, env.NNUNET_FOLD_DIR);
    assert.deepEqual(c.nats, { servers: ["nats://nats.nnunet-system:4222"], credsFile: undefined });
    assert.equal(c.bufferMax, 5000);
    assert.equal(c.heartbeatMs, 30_000);
    assert.equal(c.metricsPort, undefined);
    assert.equal(c.utcOffset, "Z");
  });

  it("takes a creds file, a server list and the optional knobs", () => {
    const c = parseReporterEnv({
      ...env,
      NATS_URL: "nats://a:4222, nats://b:4222",
      NATS_CREDS_FILE: "/etc/nnunet-operator/nats/nats.creds",
      REPORTER_BUFFER_MAX: "10",
      REPORTER_HEARTBEAT_SECONDS: "5",
      REPORTER_METRICS_PORT: "9102",
      NNUNET_LOG_UTC_OFFSET: "+02:00",
    });
    assert.deepEqual(c.nats, {
      servers: ["nats://a:4222", "nats://b:4222"],
      credsFile: "/etc/nnunet-operator/nats/nats.creds",
    });
    assert.equal(c.bufferMax, 10);
    assert.equal(c.heartbeatMs, 5000);
    assert.equal(c.metricsPort, 9102);
    assert.equal(c.utcOffset, "+02:00");
  });

  const bad: { name: string; patch: Record<string, string | undefined>; variable: string; says: RegExp }[] = [
    {
      name: "a missing run uid",
      patch: { NNUNET_RUN_UID: undefined },
      variable: "NNUNET_RUN_UID",
      says: /is not set.*operator sets it/,
    },
    { name: "an empty namespace", patch: { NNUNET_NAMESPACE: " " }, variable: "NNUNET_NAMESPACE", says: /is empty/ },
    {
      name: "a fold that is no fold",
      patch: { NNUNET_FOLD: "7" },
      variable: "NNUNET_FOLD",
      says: /0, 1, 2, 3, 4 or all/,
    },
    {
      name: "a run name with a dot (not a subject token)",
      patch: { NNUNET_RUN: "liver.v2" },
      variable: "NNUNET_RUN",
      says: /DNS label/,
    },
    {
      name: "a uid with a slash (the message id separator)",
      patch: { NNUNET_RUN_UID: "a/b" },
      variable: "NNUNET_RUN_UID",
      says: /uid/,
    },
    { name: "a negative attempt", patch: { NNUNET_ATTEMPT: "-1" }, variable: "NNUNET_ATTEMPT", says: /whole number/ },
    {
      name: "a relative fold folder",
      patch: { NNUNET_FOLD_DIR: "results/fold_3" },
      variable: "NNUNET_FOLD_DIR",
      says: /absolute path/,
    },
    { name: "an http URL for NATS", patch: { NATS_URL: "http://nats:4222" }, variable: "NATS_URL", says: /NATS URL/ },
    { name: "a zero buffer", patch: { REPORTER_BUFFER_MAX: "0" }, variable: "REPORTER_BUFFER_MAX", says: /at least 1/ },
    {
      name: "a port out of range",
      patch: { REPORTER_METRICS_PORT: "70000" },
      variable: "REPORTER_METRICS_PORT",
      says: /at most 65535/,
    },
  ];
  for (const b of bad)
    it(`refuses ${b.name}, naming ${b.variable} and the fix`, () => {
      assert.throws(
        () => parseReporterEnv({ ...env, ...b.patch }),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.variables.includes(b.variable) &&
          err.message.includes(b.variable) &&
          b.says.test(err.message),
      );
    });
});
