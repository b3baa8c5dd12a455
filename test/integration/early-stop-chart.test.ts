import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CONFIG_ENV, loadConfig } from "@nnunet-operator/early-stop";
import { find, type K8sObject, renderChart } from "../chart/render.js";

// The chart's early-stop Deployment and services/early-stop's config.ts agree: every
// variable the chart sets is one the controller reads, and the rendered values parse.

type Env = { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } };
type Deployment = K8sObject & {
  spec: { template: { spec: { containers: Array<{ env?: Env[]; ports?: Array<{ containerPort: number }> }> } } };
};

describe("the early-stop Deployment's environment", () => {
  const deployment = find(
    renderChart({ set: { "nats.tls.enabled": "true", "nats.tls.secretName": "nats-tls" } }),
    "Deployment",
    "nnunet-operator-early-stop",
  ) as Deployment;
  const container = deployment.spec.template.spec.containers[0]!;
  const env = container.env ?? [];

  it("sets only variables the controller reads", () => {
    const known = new Set(Object.values(CONFIG_ENV));
    assert.deepEqual(
      env.map((e) => e.name).filter((n) => !known.has(n)),
      [],
    );
    for (const name of [
      "NATS_URL",
      "NATS_CREDS_FILE",
      "NATS_TLS_CA_FILE",
      "LOG_LEVEL",
      "HTTP_PORT",
      "POD_NAME",
      "POD_NAMESPACE",
    ])
      assert.ok(
        env.some((e) => e.name === name),
        name,
      );
  });

  it("parses, with the pod fields filled in, into the port the probes use", () => {
    const values = Object.fromEntries(
      env.map((e) => [
        e.name,
        e.value ??
          (e.valueFrom?.fieldRef?.fieldPath === "metadata.name"
            ? "nnunet-operator-early-stop-7d9f-abcde"
            : "nnunet-system"),
      ]),
    );
    const config = loadConfig(values);
    assert.equal(config.httpPort, container.ports?.[0]?.containerPort);
    assert.equal(config.podNamespace, "nnunet-system");
    assert.equal(config.natsCredsFile, "/etc/nnunet-operator/nats/early-stop.creds");
    assert.equal(config.natsTlsCaFile, "/etc/nnunet-operator/nats/ca.crt");
  });
});
