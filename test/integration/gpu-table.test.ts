import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { GPU_PRODUCTS, gpuProduct } from "@nnunet-operator/devcluster";
import { repoRoot } from "../chart/render.js";

// One GPU model table (services/calibrator/nnunet_calibrate/gpu_products.json) for the
// devcluster's simulated nodes and the calibrator's simulated backend: every product a
// simulated node can carry is found by the calibrator under the node's label, with the same
// memory, and every spelling the calibrator accepts finds the same product in both.

function calibratorLookup(spellings: readonly string[]): Array<{ name: string; memory: number } | { error: string }> {
  const script = [
    "import json, sys",
    "from nnunet_calibrate import gpus",
    "out = []",
    "for s in json.loads(sys.argv[1]):",
    "    try:",
    "        p = gpus.lookup(s); out.append({'name': p.name, 'memory': p.memory_mib})",
    "    except Exception as e:",
    "        out.append({'error': str(e)})",
    "print(json.dumps(out))",
  ].join("\n");
  const r = spawnSync("python3", ["-c", script, JSON.stringify(spellings)], {
    cwd: join(repoRoot, "services/calibrator"),
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Array<{ name: string; memory: number } | { error: string }>;
}

describe("the simulated GPU model table", () => {
  it("gives the calibrator every node label's product with the memory the devcluster's nodes advertise", () => {
    const products = Object.values(GPU_PRODUCTS);
    assert.ok(products.length >= 10);
    const found = calibratorLookup(products.map((p) => p.label));
    products.forEach((p, i) =>
      assert.deepEqual(
        { label: p.label, memory: (found[i] as { memory?: number }).memory },
        { label: p.label, memory: p.memoryMib },
      ),
    );
  });

  it("resolves the short spellings (node specs, nvidia-smi names) to the same product on both sides", () => {
    const spellings = ["L40S", "A100-80GB", "A100", "H100", "NVIDIA H100 80GB HBM3", "H200", "Tesla-T4", "RTX4090"];
    const found = calibratorLookup(spellings);
    spellings.forEach((s, i) => assert.equal(gpuProduct(s)?.memoryMib, (found[i] as { memory?: number }).memory, s));
    assert.equal(gpuProduct("B200"), undefined);
    assert.match((calibratorLookup(["B200"])[0] as { error: string }).error, /unknown GPU product 'B200'/);
  });
});
