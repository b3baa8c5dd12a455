import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, it } from "node:test";
import {
  freePort,
  type NatsAuthFixture,
  type NatsServerHandle,
  makeNatsAuthFixture,
  startNatsServer,
} from "@nnunet-operator/bus/testing";
import { type FakeApiServer, startFakeApiServer } from "@nnunet-operator/early-stop/testing";
import { type Lease, Resources } from "@nnunet-operator/kube";
import { FakeKubePort } from "@nnunet-operator/kube/testing";

// The early-stop controller as its container runs it: `main.ts` in its own process with the
// chart's environment and a kubeconfig. It must become ready, take the Lease, and on SIGTERM
// hand the Lease back and exit 0.

const MAIN = fileURLToPath(new URL("../../services/early-stop/src/main.ts", import.meta.url));
let nats: NatsServerHandle;
let auth: NatsAuthFixture;
let kube: FakeKubePort;
let api: FakeApiServer;
let dir: string;

before(async () => {
  auth = await makeNatsAuthFixture();
  nats = await startNatsServer({ auth: auth.material });
  kube = new FakeKubePort();
  api = await startFakeApiServer(kube);
  dir = await mkdtemp(join(tmpdir(), "early-stop-"));
});

after(async () => {
  await api?.close();
  await nats?.stop();
  await auth?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

it("starts from the chart's environment, leads, and exits 0 on SIGTERM after handing the Lease back", {
  timeout: 60_000,
}, async () => {
  const kubeconfig = join(dir, "kubeconfig");
  await writeFile(kubeconfig, api.kubeConfig().exportConfig());
  const port = await freePort();
  // Not a test process: without the runner's context variable the child logs plainly.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const child = spawn(process.execPath, ["--import", "tsx", MAIN], {
    env: {
      ...env,
      KUBECONFIG: kubeconfig,
      NATS_URL: nats.url,
      NATS_CREDS_FILE: auth.earlyStopCredsFile,
      HTTP_PORT: String(port),
      HTTP_HOST: "127.0.0.1",
      POD_NAME: "early-stop-0",
      POD_NAMESPACE: "nnunet-system",
      LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr.on("data", (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        async (r): Promise<{ leading?: boolean }> => (r.ok ? ((await r.json()) as { leading: boolean }) : {}),
        (): { leading?: boolean } => ({}),
      );
      if (ready.leading === true) break;
      if (Date.now() > deadline) assert.fail(`not ready and leading after 30 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const lease = await kube.get<Lease>(Resources.leases, {
      namespace: "nnunet-system",
      name: "nnunet-operator-early-stop",
    });
    assert.match(lease.spec?.holderIdentity ?? "", /^early-stop-0_/);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^# TYPE nnunet_earlystop_messages_total counter$/m);
    assert.match(metrics, /^# TYPE process_cpu_seconds_total counter$/m);
    child.kill("SIGTERM");
    assert.equal(await exited, 0, output);
    const released = await kube.get<Lease>(Resources.leases, {
      namespace: "nnunet-system",
      name: "nnunet-operator-early-stop",
    });
    assert.equal(released.spec?.holderIdentity, "");
    assert.match(output, /"msg":"stopped"/);
  } finally {
    child.kill("SIGKILL");
  }
});
