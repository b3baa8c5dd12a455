import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "./config.js";

// The environment the chart sets, and what a wrong value says.

describe("loadConfig", () => {
  it("applies defaults for what the chart leaves out", () => {
    const c = loadConfig({});
    assert.equal(c.natsUrl, "nats://nats:4222");
    assert.equal(c.httpPort, 8080);
    assert.equal(c.podNamespace, "nnunet-system");
    assert.equal(c.logLevel, "info");
    assert.equal(c.podName, undefined);
  });

  it("reads the chart's variables; an empty one counts as unset", () => {
    const c = loadConfig({
      NATS_URL: "tls://a:4222,tls://b:4222",
      NATS_CREDS_FILE: "/etc/nnunet-operator/nats/nats.creds",
      LOG_LEVEL: "debug",
      HTTP_PORT: "9090",
      POD_NAME: "es-0",
      POD_NAMESPACE: "ops",
      TICK_SECONDS: "",
    });
    assert.deepEqual(
      [c.natsUrl, c.natsCredsFile, c.logLevel, c.httpPort, c.podName, c.podNamespace, c.tickSeconds],
      ["tls://a:4222,tls://b:4222", "/etc/nnunet-operator/nats/nats.creds", "debug", 9090, "es-0", "ops", 15],
    );
  });

  it("watches every namespace and sweeps hourly unless told otherwise", () => {
    const c = loadConfig({});
    assert.deepEqual([c.watchNamespaces, c.purgeSweepMinutes], [[], 60]);
  });

  it("reads the watched namespaces as a comma-separated list, spaces and empty items ignored", () => {
    const c = loadConfig({ WATCH_NAMESPACES: " team-a, team-b,", PURGE_SWEEP_MINUTES: "5" });
    assert.deepEqual([c.watchNamespaces, c.purgeSweepMinutes], [["team-a", "team-b"], 5]);
  });

  const bad: Array<[string, Record<string, string>, RegExp]> = [
    [
      "a watched namespace that is not a DNS label",
      { WATCH_NAMESPACES: "team-a,Team_B" },
      /WATCH_NAMESPACES: namespace "Team_B" is not a DNS label/,
    ],
    [
      "a watched namespace listed twice",
      { WATCH_NAMESPACES: "team-a,team-a" },
      /WATCH_NAMESPACES: namespace "team-a" is listed twice/,
    ],
    ["a purge sweep of no minutes", { PURGE_SWEEP_MINUTES: "0" }, /PURGE_SWEEP_MINUTES/],
    ["a port out of range", { HTTP_PORT: "70000" }, /HTTP_PORT/],
    ["a URL that is not NATS", { NATS_URL: "http://nats:4222" }, /NATS_URL/],
    ["an unknown log level", { LOG_LEVEL: "loud" }, /LOG_LEVEL/],
    [
      "a duplicate window longer than the stream keeps messages",
      { EPOCH_STREAM_MAX_AGE_HOURS: "1", EPOCH_STREAM_DUPLICATE_WINDOW_MINUTES: "120" },
      /DUPLICATE_WINDOW/,
    ],
  ];
  for (const [name, env, message] of bad) {
    it(`refuses ${name}, naming the variable`, () =>
      assert.throws(
        () => loadConfig(env),
        (err: unknown) => err instanceof ConfigError && message.test(err.message),
      ));
  }
});
