// `kubectl apply -k deploy/` against the devcluster, as a user without Helm installs the
// system: deploy/ issues the webhook's certificate with cert-manager (a self-signed Issuer
// and a Certificate, the CA injected into the webhook configuration), which the devcluster's
// cert-manager stand-in serves (--cert-manager). The rollout completes and a TrainingRun is
// admitted through the webhook, which fails closed: without a working certificate the apply
// would be refused.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { assertNoUnexpectedFailures, type DevCluster, startDevCluster } from "@nnunet-operator/devcluster";
import { repoRoot, SYSTEM_NS, toolPath } from "../../scripts/demo/stack.js";

const run = promisify(execFile);

describe("kubectl apply -k deploy/ with cert-manager TLS", { timeout: 400_000 }, () => {
  let dc: DevCluster;
  const dir = mkdtempSync(join(tmpdir(), "kustomize-e2e-"));
  const kubectl = async (...args: string[]) =>
    (await run(toolPath("kubectl"), ["--kubeconfig", dc.kubeconfigPath, ...args], { timeout: 240_000 })).stdout;

  before(async () => {
    dc = await startDevCluster({
      rbac: true,
      certManager: true,
      nodes: "1xL40S:4,1xcpu",
      nodeShape: { cpu: "64", memory: "512Gi" },
      dataRoot: join(dir, "data"),
      seedClaims: [{ namespace: "default", name: "nnunet-data" }],
    });
    await kubectl("apply", "-k", join(repoRoot, "deploy"));
  });
  after(async () => {
    await dc?.stop();
    rmSync(dir, { recursive: true, force: true });
    if (dc) assertNoUnexpectedFailures(dc);
  });

  it("rolls out the operator, early-stop and NATS", async () => {
    for (const w of [
      "deployment/nnunet-operator",
      "deployment/nnunet-operator-early-stop",
      "statefulset/nnunet-operator-nats",
    ]) {
      assert.match(
        await kubectl("rollout", "status", w, "-n", SYSTEM_NS, "--timeout=200s"),
        /successfully rolled out|roll out complete|partitioned roll out complete/,
      );
    }
  });

  it("issues the webhook certificate and injects its CA", async () => {
    const cert = JSON.parse(
      await kubectl("get", "certificate.cert-manager.io", "nnunet-operator-webhook", "-n", SYSTEM_NS, "-o", "json"),
    ) as { status: { conditions: { type: string; status: string }[] } };
    assert.deepEqual(
      cert.status.conditions.map((c) => [c.type, c.status]),
      [["Ready", "True"]],
    );
    const vwc = JSON.parse(await kubectl("get", "validatingwebhookconfiguration", "nnunet-operator", "-o", "json")) as {
      webhooks: { clientConfig: { caBundle?: string } }[];
    };
    const secret = JSON.parse(
      await kubectl("get", "secret", "nnunet-operator-webhook-tls", "-n", SYSTEM_NS, "-o", "json"),
    ) as { data: Record<string, string> };
    assert.equal(vwc.webhooks[0]?.clientConfig.caBundle, secret.data["ca.crt"]);
  });

  it("admits a TrainingRun through the webhook (failurePolicy Fail)", async () => {
    assert.match(
      await kubectl("apply", "-f", join(repoRoot, "deploy/samples/trainingrun.yaml")),
      /trainingrun.nnunet-operator.io\/topcow-ctamra created/,
    );
    await kubectl("delete", "-f", join(repoRoot, "deploy/samples/trainingrun.yaml"), "--wait=false");
  });
});
