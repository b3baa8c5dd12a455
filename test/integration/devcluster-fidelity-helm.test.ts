import { strict as assert } from "node:assert";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startClientHarness, type ClientHarness } from "./support/clients.js";

// helm 3.17 (client-go's typed clients) against the devcluster: its release Secrets and the
// DeleteOptions of uninstall and of history pruning travel as protobuf.

describe("helm against the devcluster", () => {
  let h: ClientHarness;
  let chart: string;
  before(async () => {
    h = await startClientHarness();
    chart = join(h.home, "tiny");
    mkdirSync(join(chart, "templates"), { recursive: true });
    writeFileSync(join(chart, "Chart.yaml"), "apiVersion: v2\nname: tiny\nversion: 0.1.0\n");
    writeFileSync(
      join(chart, "templates/cm.yaml"),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tiny-{{ .Release.Name }}\ndata:\n  revision: "{{ .Release.Revision }}"\n',
    );
  });
  after(() => h.stop());

  const ok = async (...args: string[]) => {
    const r = await h.helm(...args);
    assert.equal(r.code, 0, `helm ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const releaseSecrets = async () =>
    JSON.parse((await h.kubectl("get", "secrets", "-l", "owner=helm", "-o", "json")).stdout)
      .items.map((s: { metadata: { name: string } }) => s.metadata.name)
      .sort();

  it("prunes release history past --history-max (protobuf DeleteOptions on each pruned Secret)", async () => {
    await ok("install", "tiny", chart);
    for (let i = 0; i < 4; i++) await ok("upgrade", "tiny", chart, "--history-max", "2");
    assert.deepEqual(await releaseSecrets(), ["sh.helm.release.v1.tiny.v4", "sh.helm.release.v1.tiny.v5"]);
    assert.match(await ok("history", "tiny"), /5\s.*deployed/);
  });

  it("uninstalls a release completely instead of sticking in `uninstalling`", async () => {
    assert.match(await ok("uninstall", "tiny"), /release "tiny" uninstalled/);
    assert.deepEqual(await releaseSecrets(), []);
    assert.equal((await h.kubectl("get", "configmap", "tiny-tiny")).code, 1, "the release's objects are gone");
    assert.match(await ok("install", "tiny", chart), /STATUS: deployed/);
  });

  it("installs a chart whose Job has an unknown field with the server's warning, and stores the Job without it", async () => {
    const bad = join(h.home, "bad");
    mkdirSync(join(bad, "templates"), { recursive: true });
    writeFileSync(join(bad, "Chart.yaml"), "apiVersion: v2\nname: bad\nversion: 0.1.0\n");
    writeFileSync(
      join(bad, "templates/job.yaml"),
      "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: bad\nspec:\n  backoffLimitt: 1\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: busybox}]\n",
    );
    const r = await h.helm("install", "bad", bad);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /unknown field "spec.backoffLimitt"/);
    const job = JSON.parse((await h.kubectl("get", "job", "bad", "-o", "json")).stdout) as {
      spec: Record<string, unknown>;
    };
    assert.equal(job.spec["backoffLimitt"], undefined);
  });
});
