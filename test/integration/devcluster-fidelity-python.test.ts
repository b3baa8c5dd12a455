import { strict as assert } from "node:assert";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { python, repo, startClientHarness, type ClientHarness } from "./support/clients.js";

// Debian's python3-kubernetes (scripts/setup.sh installs it) against the devcluster: each
// check in python/fidelity.py is a departure the Python client found (issue 16).

const script = join(repo, "test/integration/python/fidelity.py");

describe("the official Python client against the devcluster", () => {
  let h: ClientHarness;
  before(async () => {
    assert.ok(existsSync(python), `${python} is missing`);
    const probe = await new Promise<number>((done) =>
      import("node:child_process").then(({ execFile }) =>
        execFile(python, ["-c", "import kubernetes"], (e) => done(e ? 1 : 0)),
      ),
    );
    assert.equal(probe, 0, "python3-kubernetes is missing: run `bash scripts/setup.sh system` (npm test does)");
    h = await startClientHarness({ nodes: "1xL40S:1" });
  });
  after(() => h?.stop());

  const check = async (name: string) => {
    const r = await h.run(python, [script, name]);
    assert.equal(r.code, 0, `python3 fidelity.py ${name}: ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };

  it("gets watch events for watch=True (a List answer gave none before)", async () => {
    const out = await check("watch_events");
    assert.deepEqual(out["events"], [["ADDED", "watched-1"]]);
  });

  it("takes a field over with server_side_apply(force_conflicts=True) (force=True)", async () => {
    assert.deepEqual(await check("apply_force_conflicts"), { owner: "second", managers: ["second"] });
  });

  it("lists nodes with list_node() (NodeSystemInfo complete)", async () => {
    const out = await check("list_nodes");
    assert.ok((out["count"] as number) > 0, "the devcluster has nodes");
    assert.deepEqual(
      { ...out, count: 1 },
      {
        count: 1,
        bootID: true,
        machineID: true,
        systemUUID: true,
        kernelVersion: true,
        osImage: true,
        kubeProxyVersion: true,
      },
    );
  });
});
