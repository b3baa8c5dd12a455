// The operator's composition root as a process: configuration from env and file, the
// chart's ServiceAccount on the devcluster, NATS, /healthz /readyz /metrics on the HTTP port,
// the webhook over TLS on the webhook port, a run reconciled, and a graceful stop on SIGTERM
// that hands the Lease back.
import { strict as assert } from "node:assert";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort } from "@nnunet-operator/bus/testing";
import { admissionReview } from "@nnunet-operator/operator/testing";
import { NAMESPACE, repoRoot } from "../chart/render.js";
import {
  addClaim,
  addNode,
  createRun,
  type Env,
  eventually,
  getJob,
  OPERATOR_SA,
  startEnv,
} from "./operator-harness.js";

let env: Env;
let child: ChildProcess;
let output = "";
let httpPort = 0;
let webhookPort = 0;

before(async () => {
  env = await startEnv();
  await addNode(env.dc, "gpu-a");
  await addClaim(env.dc);
  const dir = mkdtempSync(join(tmpdir(), "operator-main-"));
  const kubeconfig = join(dir, "kubeconfig");
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name: "dc",
          cluster: {
            server: env.dc.url,
            "certificate-authority-data": Buffer.from(env.dc.caPem ?? "").toString("base64"),
          },
        },
      ],
      users: [{ name: "operator", user: { token: env.dc.serviceAccountToken(NAMESPACE, OPERATOR_SA) } }],
      contexts: [{ name: "operator", context: { cluster: "dc", user: "operator" } }],
      "current-context": "operator",
    }),
  );
  writeFileSync(
    join(dir, "config.yaml"),
    `namespace: ${NAMESPACE}\nqueues: [{ name: default }]\nnats: { url: "${env.nats.url}" }\n`,
  );
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=nnunet-operator-webhook",
      "-keyout",
      join(dir, "tls.key"),
      "-out",
      join(dir, "tls.crt"),
    ],
    { stdio: "ignore" },
  );
  [httpPort, webhookPort] = [await freePort(), await freePort()];
  child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "services/operator/src/main.ts")], {
    cwd: repoRoot,
    env: {
      ...process.env,
      KUBECONFIG: kubeconfig,
      NNUNET_OPERATOR_CONFIG: join(dir, "config.yaml"),
      POD_NAME: "nnunet-operator-0",
      POD_NAMESPACE: NAMESPACE,
      HTTP_PORT: String(httpPort),
      WEBHOOK_PORT: String(webhookPort),
      WEBHOOK_CERT_DIR: dir,
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
});
after(async () => {
  if (child.exitCode === null) child.kill("SIGKILL");
  await env?.stop();
});

const get = async (path: string) => fetch(`http://127.0.0.1:${httpPort}${path}`).catch(() => undefined);

function postTls(path: string, body: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: webhookPort,
        path,
        method: "POST",
        rejectUnauthorized: false,
        headers: { "content-type": "application/json" },
      },
      (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

describe("the operator process", () => {
  it("answers /healthz, then /readyz once its caches synced, and serves /metrics", async () => {
    await eventually(async () => (await get("/healthz"))?.status === 200, `/healthz (output: ${output})`, 30_000);
    await eventually(async () => (await get("/readyz"))?.status === 200, "/readyz", 30_000);
    const metrics = await (await get("/metrics"))!.text();
    assert.match(metrics, /# TYPE nnunet_trainingruns gauge/);
    assert.match(metrics, /nnunet_kube_requests_total\{verb="list"/);
  });

  it("serves the validating webhook over TLS on the webhook port", async () => {
    const review = admissionReview("CREATE", {
      apiVersion: "nnunet-operator.io/v1alpha1",
      kind: "TrainingRun",
      metadata: { name: "x", namespace: "team-a" },
      spec: { dataset: "Dataset003_Liver", configuration: "3d_fullres", storage: { claimName: "d" }, folds: [9] },
    });
    const res = await postTls("/validate-trainingrun", review);
    assert.equal(res.status, 200);
    assert.equal(res.json.response.allowed, false);
    assert.match(res.json.response.status.message, /spec\.folds/);
  });

  it("reconciles a run with the chart's RBAC", async () => {
    await createRun(env.dc, "proc", { folds: [0] });
    await eventually(() => getJob(env.dc, "proc-fold-0"), `the training Job (output: ${output})`, 30_000);
  });

  it("stops on SIGTERM, handing the Lease back", async () => {
    child.kill("SIGTERM");
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    assert.equal(code, 0, output);
    const lease = env.dc.cluster.registry.get(
      env.dc.cluster.resourceFor("coordination.k8s.io/v1", "Lease"),
      NAMESPACE,
      "nnunet-operator",
    ) as { spec?: { holderIdentity?: string } };
    assert.equal(lease.spec?.holderIdentity, "");
  });
});
