import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { TrainingRun } from "@nnunet-operator/api";
import { parseOperatorConfig } from "../../config.js";
import { makeNode, makeRun } from "../../testing/builders.js";
import { gpuTolerations } from "../manifests/common.js";
import { type AdmissionInput, decideAdmission, type Demand } from "./admission.js";
import { parseQuantity } from "./quantity.js";

// Issue 17: admission reserves only what can run (a fold's CPU and memory must fit one
// matching node: 600Gi on 512Gi nodes sat Pending with its GPUs counted as reserved), and
// two runs never share a results folder.

const config = parseOperatorConfig("");
const train: Demand[] = [{ kind: "train", fold: "0", gpus: 1 }];
function decide(runs: TrainingRun[], over: Partial<AdmissionInput> = {}) {
  return decideAdmission({
    nodes: [makeNode("a").build(), makeNode("b").build()],
    pods: [],
    jobs: [],
    runs: runs.map((run) => ({ run, wants: train, claimExists: true })),
    queues: config.queues,
    acceptedProducts: config.gpu.acceptedProducts,
    tolerations: gpuTolerations(config),
    ...over,
  });
}
const run = (name: string, spec: Record<string, unknown> = {}, created = "2026-01-01T00:00:00Z") => {
  const r = makeRun().named(name).with(spec).build();
  return { ...r, metadata: { ...r.metadata, uid: `uid-${name}`, creationTimestamp: created } } as TrainingRun;
};

describe("admission: a fold must fit the largest matching node", () => {
  const cases: Array<{ name: string; resources: Record<string, string>; fits: boolean; field?: RegExp }> = [
    {
      name: "64 CPUs and 512Gi on 64-CPU, 512Gi nodes fit exactly",
      resources: { cpu: "64", memory: "512Gi" },
      fits: true,
    },
    {
      name: "600Gi on 512Gi nodes is refused, naming spec.resources.memory and the largest node",
      resources: { memory: "600Gi" },
      fits: false,
      field:
        /^spec\.resources\.memory 600Gi fit no matching node: the largest, a, can allocate 64 CPUs, 512Gi memory and 4 GPU\(s\)/,
    },
    {
      name: "1e100 CPUs is refused, naming spec.resources.cpu",
      resources: { cpu: "1e100" },
      fits: false,
      field: /^spec\.resources\.cpu 1e100 fit no/,
    },
    {
      name: "too much of both names both",
      resources: { cpu: "65", memory: "1Ti" },
      fits: false,
      field: /^spec\.resources\.cpu 65 and spec\.resources\.memory 1Ti/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = decide([run("liver", { resources: { cpu: "8", memory: "64Gi", shmSize: "16Gi", ...c.resources } })]);
      const got = d.runs.get("team-a/liver")!;
      assert.equal(got.admitted.size, c.fits ? 1 : 0);
      if (c.fits) return;
      assert.equal(got.wait?.reason, "ExceedsLargestNode");
      assert.match(got.wait?.message ?? "", c.field!);
      assert.equal(got.wait?.position, undefined, "not queued: it would wait forever");
      assert.equal(d.admittedGpus, 0, "no GPU reserved for it");
    });
  }

  it("does not hold GPUs from the runs behind it", () => {
    const d = decide(
      [
        run("huge", { resources: { memory: "600Gi" } }, "2026-01-01T00:00:00Z"),
        run("small", {}, "2026-01-02T00:00:00Z"),
      ],
      { nodes: [makeNode("a").gpus(1).build()] },
    );
    assert.equal(d.runs.get("team-a/small")!.admitted.size, 1);
  });
});

describe("admission: two runs never share a results folder", () => {
  it("admits two runs with the same dataset, trainer, plans and resultsSubPath: each writes below its own uid", () => {
    const d = decide([run("a"), run("b", {}, "2026-01-02T00:00:00Z")]);
    assert.equal(d.runs.get("team-a/a")!.admitted.size, 1);
    assert.equal(d.runs.get("team-a/b")!.admitted.size, 1);
  });

  it("holds the younger run whose resultsSubPath points into an older run's folder, with the reason, and never the older", () => {
    const older = run("a");
    const intruder = run(
      "b",
      { storage: { claimName: "nnunet-data", resultsSubPath: "nnUNet_results/team-a/a/uid-a" } },
      "2026-01-02T00:00:00Z",
    );
    const d = decide([older, intruder]);
    assert.equal(d.runs.get("team-a/a")!.admitted.size, 1);
    const held = d.runs.get("team-a/b")!;
    assert.equal(held.admitted.size, 0);
    assert.equal(held.wait?.reason, "ResultsFolderInUse");
    assert.match(
      held.wait?.message ?? "",
      /overlaps nnUNet_results\/team-a\/a\/uid-a of TrainingRun a; .*choose another spec\.storage\.resultsSubPath/,
    );
  });

  it("does not compare folders on different claims", () => {
    const d = decide([
      run("a"),
      run(
        "b",
        { storage: { claimName: "other", resultsSubPath: "nnUNet_results/team-a/a/uid-a" } },
        "2026-01-02T00:00:00Z",
      ),
    ]);
    assert.equal(d.runs.get("team-a/b")!.admitted.size, 1);
  });
});

describe("quantities", () => {
  const cases: Array<[string, number]> = [
    ["8", 8],
    ["500m", 0.5],
    ["64Gi", 64 * 2 ** 30],
    ["1e100", 1e100],
    ["1.5Ti", 1.5 * 2 ** 40],
    ["2k", 2000],
  ];
  for (const [text, want] of cases) it(`${text} is ${want}`, () => assert.equal(parseQuantity(text), want));
  it("something else is NaN", () => assert.ok(Number.isNaN(parseQuantity("16 gigabytes"))));
});
