import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { describe, it } from "node:test";
import { startDevCluster } from "../server.js";
import { assertNoUnexpectedFailures } from "../sim/controller-failures.js";
import { isNodeReady } from "./node-control.js";

// `devcluster node ACTION NAME` against a running devcluster, and `serve --nodes` refusing
// a malformed spec.

const bin = resolve(import.meta.dirname, "../../bin/devcluster.js");

function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [bin, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  return new Promise((r) => child.once("exit", (code) => r({ code, out, err })));
}

describe("devcluster node", () => {
  it("fails, recovers and cordons a node of a running devcluster", async () => {
    const dc = await startDevCluster({ nodes: "1xL40S:4" });
    try {
      const node = () => dc.cluster.store.get("nodes", undefined, "l40s-0")!;
      const failed = await cli(["node", "fail", "l40s-0"], { KUBECONFIG: dc.kubeconfigPath });
      assert.equal(failed.code, 0, failed.err);
      assert.equal(failed.out, "node/l40s-0 failed\n");
      assert.equal(isNodeReady(node()), false);
      assert.equal((await cli(["node", "recover", "l40s-0", "--kubeconfig", dc.kubeconfigPath])).code, 0);
      assert.equal(isNodeReady(node()), true);
      assert.equal((await cli(["node", "cordon", "l40s-0", "--kubeconfig", dc.kubeconfigPath])).code, 0);
      assert.equal((node()["spec"] as { unschedulable?: boolean }).unschedulable, true);
      const missing = await cli(["node", "fail", "h100-9", "--kubeconfig", dc.kubeconfigPath]);
      assert.equal(missing.code, 1);
      assert.match(missing.err, /nodes "h100-9" not found/);
    } finally {
      await dc.stop();
    }
    assertNoUnexpectedFailures(dc);
  });

  it("refuses an unknown action with the usage and exit code 2", async () => {
    const r = await cli(["node", "explode", "x"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /devcluster node fail\|recover\|cordon\|uncordon NAME/);
  });

  it("refuses a malformed node spec naming the part, exit code 2", async () => {
    const r = await cli(["serve", "--nodes", "4xL40S:4,2xQ9000"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /invalid node spec part "2xQ9000": unknown GPU product "Q9000"/);
  });
});
