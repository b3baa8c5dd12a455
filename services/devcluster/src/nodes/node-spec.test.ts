import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { decideNodeAction, isNodeReady } from "./node-control.js";
import { buildNodes, NodeSpecError, parseNodeSpec } from "./node-spec.js";

describe("node spec", () => {
  const good: [string, string, { count: number; product: string | undefined; gpus: number }[]][] = [
    [
      "a mixed pool",
      "4xL40S:4,2xA100-80GB:8,2xcpu",
      [
        { count: 4, product: "NVIDIA-L40S", gpus: 4 },
        { count: 2, product: "NVIDIA-A100-SXM4-80GB", gpus: 8 },
        { count: 2, product: undefined, gpus: 0 },
      ],
    ],
    [
      "one GPU per node when the count is left out",
      "3xH100",
      [{ count: 3, product: "NVIDIA-H100-80GB-HBM3", gpus: 1 }],
    ],
    [
      "product spellings as GFD and nvidia-smi write them",
      "1xNVIDIA-L40S:2, 1xtesla-t4",
      [
        { count: 1, product: "NVIDIA-L40S", gpus: 2 },
        { count: 1, product: "Tesla-T4", gpus: 1 },
      ],
    ],
  ];
  for (const [name, spec, want] of good) {
    it(`parses ${name}`, () => {
      assert.deepEqual(
        parseNodeSpec(spec).map((g) => ({ count: g.count, product: g.gpu?.label, gpus: g.gpusPerNode })),
        want,
      );
    });
  }

  const bad: [string, string, string][] = [
    ["an unknown product", "4xL40S:4,2xB300:8", "2xB300:8"],
    ["a missing count", "L40S:4", "L40S:4"],
    ["GPUs on a cpu node", "2xcpu:2", "2xcpu:2"],
    ["zero nodes", "0xL40S", "0xL40S"],
    ["an empty part", "1xL40S,,1xcpu", ""],
    ["too many GPUs", "1xL40S:64", "1xL40S:64"],
  ];
  for (const [name, spec, part] of bad) {
    it(`refuses ${name}, naming the part`, () => {
      assert.throws(
        () => parseNodeSpec(spec),
        (e: unknown) =>
          e instanceof NodeSpecError && e.part === part && e.message.startsWith(`invalid node spec part "${part}"`),
      );
    });
  }

  it("builds nodes labelled as GPU feature discovery labels them, with the device plugin's allocatable and the GPU taint", () => {
    const nodes = buildNodes(parseNodeSpec("2xL40S:4,1xcpu"));
    assert.deepEqual(
      nodes.map((n) => n.metadata.name),
      ["l40s-0", "l40s-1", "cpu-0"],
    );
    const gpu = nodes[0]!;
    assert.equal(gpu.metadata.labels!["nvidia.com/gpu.product"], "NVIDIA-L40S");
    assert.equal(gpu.metadata.labels!["nvidia.com/gpu.memory"], "46068");
    assert.equal(gpu.metadata.labels!["nvidia.com/gpu.count"], "4");
    assert.equal((gpu["status"] as { allocatable: Record<string, string> }).allocatable["nvidia.com/gpu"], "4");
    assert.deepEqual((gpu["spec"] as { taints: unknown[] }).taints, [
      { key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" },
    ]);
    assert.ok(isNodeReady(gpu));
    assert.deepEqual(nodes[2]!["spec"], {});
    assert.equal(
      (nodes[2]!["status"] as { allocatable: Record<string, string> }).allocatable["nvidia.com/gpu"],
      undefined,
    );
  });

  it("fails, recovers, cordons and uncordons a node", () => {
    const [node] = buildNodes(parseNodeSpec("1xL40S"));
    const now = new Date("2026-01-01T00:00:00Z");
    const failed = decideNodeAction(node!, "fail", now);
    const lost = { ...node!, spec: failed.spec, status: { conditions: failed.conditions } };
    assert.equal(isNodeReady(lost), false);
    assert.deepEqual(
      (failed.spec["taints"] as { key: string; effect: string }[]).map((t) => `${t.key}:${t.effect}`),
      [
        "nvidia.com/gpu:NoSchedule",
        "node.kubernetes.io/unreachable:NoSchedule",
        "node.kubernetes.io/unreachable:NoExecute",
      ],
    );
    const back = decideNodeAction(lost, "recover", now);
    assert.ok(isNodeReady({ ...node!, status: { conditions: back.conditions } }));
    assert.deepEqual(back.spec["taints"], [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }]);
    const cordoned = decideNodeAction(node!, "cordon", now);
    assert.equal(cordoned.spec["unschedulable"], true);
    const uncordoned = decideNodeAction({ ...node!, spec: cordoned.spec }, "uncordon", now);
    assert.equal(uncordoned.spec["unschedulable"], undefined);
    assert.equal((uncordoned.spec["taints"] as unknown[]).length, 1);
  });
});
