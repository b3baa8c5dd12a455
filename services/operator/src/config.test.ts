import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { applyEnvOverrides, ConfigError, parseOperatorConfig, parseOperatorEnv, queueQuota } from "./config.js";

describe("operator configuration file", () => {
  it("an empty file yields every default", () => {
    const config = parseOperatorConfig("");
    assert.equal(config.namespace, "nnunet-system");
    assert.deepEqual(config.queues, [{ name: "default" }]);
    assert.equal(config.images.reporter, "nnunet-operator/reporter:latest");
    assert.equal(config.calibration.retryLimit, 2);
    assert.equal(config.restartBackoff.initialSeconds, 10);
    assert.equal(config.gpu.defaultProductLabel, "nvidia.com/gpu.product");
    assert.deepEqual(config.watchNamespaces, [], "every namespace");
    assert.deepEqual(config.startTimeouts, {
      unschedulableSeconds: 600,
      imagePullSeconds: 300,
      containerConfigSeconds: 120,
      firstEpochSeconds: 1800,
    });
  });

  it("reads the namespaces to watch", () => {
    assert.deepEqual(parseOperatorConfig("watchNamespaces: [team-a, team-b]").watchNamespaces, ["team-a", "team-b"]);
  });

  it("start timeouts set in part keep the other defaults, and 0 turns one off", () => {
    const config = parseOperatorConfig("startTimeouts: { imagePullSeconds: 0, firstEpochSeconds: 900 }");
    assert.deepEqual(config.startTimeouts, {
      unschedulableSeconds: 600,
      imagePullSeconds: 0,
      containerConfigSeconds: 120,
      firstEpochSeconds: 900,
    });
  });

  it("a full file as the chart renders it is read field for field", () => {
    const config = parseOperatorConfig(`
namespace: gpu-ops
queues:
  - name: research
    gpuQuota: 8
  - name: default
gpu:
  acceptedProducts: [NVIDIA-L40S, NVIDIA-A100-SXM4-80GB]
  extraTolerations:
    - { key: dedicated, operator: Equal, value: nnunet, effect: NoSchedule }
images:
  training: registry.example/nnunet:2.5
nats:
  url: nats://nats.gpu-ops:4222
  credsSecret: { name: nats-reporter }
calibration: { retryLimit: 4, backend: simulated }
restartBackoff: { initialSeconds: 5, maxSeconds: 60 }
`);
    assert.deepEqual(queueQuota(config, "research"), { defined: true, quota: 8 });
    assert.deepEqual(queueQuota(config, "default"), { defined: true, quota: undefined });
    assert.deepEqual(queueQuota(config, "nope"), { defined: false, quota: undefined });
    assert.equal(config.nats.credsSecret?.key, "nats.creds");
    assert.equal(config.gpu.extraTolerations[0]?.value, "nnunet");
    assert.equal(config.calibration.backend, "simulated");
  });

  const bad: Array<{ name: string; yaml: string; key: string }> = [
    {
      name: "a negative quota names queues.0.gpuQuota",
      yaml: "queues: [{name: a, gpuQuota: -1}]",
      key: "queues.0.gpuQuota",
    },
    { name: "a queue listed twice names the second", yaml: "queues: [{name: a}, {name: a}]", key: "queues.1.name" },
    { name: "a misspelt key is named", yaml: "images: {trainng: x}", key: "images" },
    { name: "an http NATS url names nats.url", yaml: "nats: {url: http://x}", key: "nats.url" },
    {
      name: "a shared credential beside per-fold credentials names nats.credsSecret",
      yaml: "nats: {credsSecret: {name: x}, auth: {credsFile: /a, signingKeyFile: /b, accountPublicKeyFile: /c}}",
      key: "nats.credsSecret",
    },
    {
      name: "per-fold credentials without the signing key name nats.auth.signingKeyFile",
      yaml: "nats: {auth: {credsFile: /a, accountPublicKeyFile: /c}}",
      key: "nats.auth.signingKeyFile",
    },
    {
      name: "a watched namespace that is not a DNS label names its entry",
      yaml: "watchNamespaces: [team-a, Team_B]",
      key: "watchNamespaces.1",
    },
    {
      name: "a watched namespace listed twice names the second",
      yaml: "watchNamespaces: [team-a, team-b, team-a]",
      key: "watchNamespaces.2",
    },
    {
      name: "a backoff cap below its start names maxSeconds",
      yaml: "restartBackoff: {initialSeconds: 30, maxSeconds: 5}",
      key: "restartBackoff.maxSeconds",
    },
    {
      name: "a retry limit beyond 10 names calibration.retryLimit",
      yaml: "calibration: {retryLimit: 50}",
      key: "calibration.retryLimit",
    },
    {
      name: "a negative start timeout names its field and says 0 turns it off",
      yaml: "startTimeouts: {imagePullSeconds: -5}",
      key: "startTimeouts.imagePullSeconds",
    },
    {
      name: "a start timeout written as text names its field",
      yaml: "startTimeouts: {unschedulableSeconds: 10m}",
      key: "startTimeouts.unschedulableSeconds",
    },
    {
      name: "a start timeout of milliseconds, beyond a week, names its field",
      yaml: "startTimeouts: {firstEpochSeconds: 1800000}",
      key: "startTimeouts.firstEpochSeconds",
    },
    {
      name: "a misspelt start timeout is named as an unknown key of startTimeouts",
      yaml: "startTimeouts: {imagePullSecs: 60}",
      key: "startTimeouts",
    },
  ];
  for (const c of bad) {
    it(`${c.name}`, () => {
      assert.throws(
        () => parseOperatorConfig(c.yaml),
        (e: unknown) => e instanceof ConfigError && e.keys.includes(c.key) && e.message.includes(c.key),
      );
    });
  }

  it("a bad start timeout's message says what a limit may be", () => {
    assert.throws(
      () => parseOperatorConfig("startTimeouts: {containerConfigSeconds: -1}"),
      /startTimeouts\.containerConfigSeconds: must be 0 \(off\) or a positive number of seconds/,
    );
    assert.throws(
      () => parseOperatorConfig("startTimeouts: {containerConfigSeconds: soon}"),
      /startTimeouts\.containerConfigSeconds: must be a number of seconds \(0 turns this limit off\)/,
    );
  });

  it("text that is not YAML is a ConfigError with the line", () => {
    assert.throws(
      () => parseOperatorConfig("queues: [a\n  b: :"),
      (e: unknown) => e instanceof ConfigError && /not YAML at line/.test(e.message),
    );
  });
});

describe("operator environment", () => {
  it("defaults ports and the config path, and overrides namespace and NATS from the Deployment", () => {
    const env = parseOperatorEnv({ POD_NAMESPACE: "ops", NATS_URL: "nats://n:4222", HTTP_PORT: "9000", PATH: "/bin" });
    assert.equal(env.HTTP_PORT, 9000);
    assert.equal(env.NNUNET_OPERATOR_CONFIG, "/etc/nnunet-operator/config.yaml");
    const config = applyEnvOverrides(parseOperatorConfig(""), env);
    assert.equal(config.namespace, "ops");
    assert.equal(config.nats.url, "nats://n:4222");
  });

  it("progress-only status writes default to every 30 s and can be made more frequent", () => {
    assert.equal(parseOperatorEnv({}).STATUS_MIN_INTERVAL_SECONDS, 30);
    assert.equal(parseOperatorEnv({ STATUS_MIN_INTERVAL_SECONDS: "2" }).STATUS_MIN_INTERVAL_SECONDS, 2);
    assert.throws(
      () => parseOperatorEnv({ STATUS_MIN_INTERVAL_SECONDS: "soon" }),
      (e: unknown) => e instanceof ConfigError && e.message.includes("STATUS_MIN_INTERVAL_SECONDS"),
    );
  });

  it("a port that is not a number names the variable", () => {
    assert.throws(
      () => parseOperatorEnv({ WEBHOOK_PORT: "https" }),
      (e: unknown) => e instanceof ConfigError && e.message.includes("WEBHOOK_PORT"),
    );
  });
});
