import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { Registry } from "prom-client";
import { ConfigError, parseOperatorConfig } from "./config.js";
import { Operator } from "./controller.js";
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
