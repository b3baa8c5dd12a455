import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { INode } from "kubernetes-models/v1/Node";
import type { IPod } from "kubernetes-models/v1/Pod";
import type { TrainingRun } from "@nnunet-operator/api";
import { parseOperatorConfig } from "../../config.js";
import { makeJob, makeNode, makePod, makeRun } from "../../testing/builders.js";
import { gpuTolerations } from "../manifests/common.js";
import { buildTrainingJob } from "../manifests/training-job.js";
import { type AdmissionInput, type AdmissionRun, decideAdmission, type Demand } from "./admission.js";

const config = parseOperatorConfig(`
queues: [{ name: default }, { name: small, gpuQuota: 2 }]
gpu: { acceptedProducts: [NVIDIA-L40S, NVIDIA-A100-SXM4-80GB], extraTolerations: [{ key: dedicated, operator: Equal, value: nnunet, effect: NoSchedule }] }
`);
const folds = (n: number, gpus = 1): Demand[] =>
  Array.from({ length: n }, (_, f) => ({ kind: "train", fold: String(f), gpus }));
const entry = (run: TrainingRun, wants: Demand[], claimExists = true): AdmissionRun => ({ run, wants, claimExists });
const foreign = (node: string, gpus: number, name = `other-${node}-${gpus}`): IPod =>
  makePod(name).namespace("someone-else").gpus(gpus).on(node).running().build();

function decide(over: Partial<AdmissionInput>) {
  return decideAdmission({
    nodes: [],
    pods: [],
    jobs: [],
    runs: [],
    queues: config.queues,
    acceptedProducts: config.gpu.acceptedProducts,
    tolerations: gpuTolerations(config),
    ...over,
  });
}
const of = (d: ReturnType<typeof decide>, key = "team-a/liver") => d.runs.get(key)!;

describe("admission of fold-work", () => {
  it("five folds spread over the free GPUs of two nodes", () => {
    const d = decide({
      nodes: [makeNode("a").build(), makeNode("b").build()],
      runs: [entry(makeRun().build(), folds(5))],
    });
    assert.deepEqual([...of(d).admitted], ["train/0", "train/1", "train/2", "train/3", "train/4"]);
    assert.equal(of(d).wait, undefined);
    assert.deepEqual([...new Set(of(d).nodes.values())].sort(), ["a", "b"]);
  });

  it("GPUs requested by anyone's pods count, so only what is free is admitted and the rest waits for capacity", () => {
    const d = decide({
      nodes: [makeNode("a").build()],
      pods: [foreign("a", 1)],
      runs: [entry(makeRun().build(), folds(5))],
    });
    assert.equal(of(d).admitted.size, 3);
    assert.equal(of(d).wait?.reason, "NoGpuCapacity");
    assert.equal(of(d).wait?.position, 1);
    assert.match(
      of(d).wait!.message,
      /^2 of 5 piece\(s\) of work wait: all matching GPUs are in use: 0 of 4 free on 1 node\(s\)/,
    );
  });

  it("terminated pods hold no GPUs", () => {
    const done = makePod("done").namespace("x").gpus(4).on("a").running().succeeded().build();
    const d = decide({ nodes: [makeNode("a").build()], pods: [done], runs: [entry(makeRun().build(), folds(4))] });
    assert.equal(of(d).admitted.size, 4);
  });

  const unusable: Array<[string, INode, RegExp]> = [
    ["a NotReady node", makeNode("a").notReady().build(), /a not Ready/],
    ["a cordoned node", makeNode("a").cordoned().build(), /a cordoned/],
    [
      "a node with a taint we do not tolerate",
      makeNode("a").taint("maintenance", "NoExecute").build(),
      /taint maintenance:NoExecute/,
    ],
    [
      "a node of another product",
      makeNode("a").product("NVIDIA-A100-SXM4-80GB").build(),
      /no node has nvidia\.com\/gpu\.product in \[NVIDIA-L40S\] \(nodes offer NVIDIA-A100-SXM4-80GB\)/,
    ],
  ];
  for (const [what, node, message] of unusable) {
    it(`${what} is no match, and the wait says so and names the fix`, () => {
      const d = decide({ nodes: [node], runs: [entry(makeRun().build(), folds(1))] });
      assert.equal(of(d).admitted.size, 0);
      assert.equal(of(d).wait?.reason, "NoMatchingNodes");
      assert.match(of(d).wait!.message, message);
      assert.match(of(d).wait!.message, /add or uncordon such nodes, or change spec\.gpu\.products/);
    });
  }

  it("taints we tolerate (the GPU taint, configured extras) and PreferNoSchedule do not block", () => {
    const node = makeNode("a").taint("dedicated", "NoSchedule", "nnunet").taint("soft", "PreferNoSchedule").build();
    assert.equal(of(decide({ nodes: [node], runs: [entry(makeRun().build(), folds(2))] })).admitted.size, 2);
  });

  it("a fold needs all its GPUs on one node: two nodes with one GPU each are no match for perFold 2", () => {
    const d = decide({
      nodes: [makeNode("a").gpus(1).build(), makeNode("b").gpus(1).build()],
      runs: [entry(makeRun().gpus(2).build(), folds(1, 2))],
    });
    assert.equal(of(d).wait?.reason, "NoMatchingNodes");
    assert.match(of(d).wait!.message, /a has 1 GPU\(s\); b has 1 GPU\(s\)/);
  });

  it("a multi-GPU fold goes to the node that still has room for it, never split", () => {
    const d = decide({
      nodes: [makeNode("a").build(), makeNode("b").build()],
      pods: [foreign("a", 3), foreign("b", 2)],
      runs: [entry(makeRun().gpus(2).build(), folds(2, 2))],
    });
    assert.deepEqual([...of(d).admitted], ["train/0"]);
    assert.equal(of(d).nodes.get("train/0"), "b");
    assert.match(of(d).wait!.message, /at most 1 on one node, and this needs 2 on one node/);
  });

  it("single GPUs go to the fullest node that fits, leaving whole nodes for bigger folds", () => {
    const d = decide({
      nodes: [makeNode("a").build(), makeNode("b").build()],
      pods: [foreign("b", 3)],
      runs: [entry(makeRun().build(), folds(1))],
    });
    assert.equal(of(d).nodes.get("train/0"), "b");
  });

  it("a queue's GPU quota caps what its runs hold together, counting their running pods", () => {
    const running = makePod("liver-fold-0-x").of("older", "train", "0").gpus(1).on("a").running().build();
    const older = makeRun().named("older").queue("small").createdAt(-100).build();
    const d = decide({
      nodes: [makeNode("a").build(), makeNode("b").build()],
      pods: [running],
      runs: [entry(older, []), entry(makeRun().queue("small").build(), folds(5))],
    });
    assert.equal(of(d).admitted.size, 1);
    assert.equal(of(d).wait?.reason, "QuotaExceeded");
    assert.match(
      of(d).wait!.message,
      /queue small uses 2 of its 2 GPU quota and this needs 1 more; .*raise gpuQuota of queue small/,
    );
  });

  it("a quota smaller than one fold says it can never fit", () => {
    const d = decide({
      nodes: [makeNode("a").build()],
      runs: [entry(makeRun().queue("small").gpus(4).build(), folds(1, 4))],
    });
    assert.match(of(d).wait!.message, /the quota is smaller than the 4 GPUs one fold needs/);
  });

  it("a run in a queue the configuration does not define waits with QuotaExceeded naming the fix", () => {
    const d = decide({ nodes: [makeNode("a").build()], runs: [entry(makeRun().queue("ghost").build(), folds(1))] });
    assert.equal(of(d).wait?.reason, "QuotaExceeded");
    assert.match(of(d).wait!.message, /queue ghost is not defined in the operator configuration/);
  });

  it("a product the operator does not accept is refused with the accepted list", () => {
    const d = decide({
      nodes: [makeNode("a").product("Tesla-T4").build()],
      runs: [entry(makeRun().gpus(1, ["Tesla-T4"]).build(), folds(1))],
    });
    assert.match(
      of(d).wait!.message,
      /Tesla-T4 are not accepted by the operator \(accepted: NVIDIA-L40S, NVIDIA-A100-SXM4-80GB\)/,
    );
  });

  it("higher priority is admitted first even when created later, and waiting runs get queue positions in order", () => {
    const low = makeRun().named("low").createdAt(0).priority(0).build();
    const high = makeRun().named("high").createdAt(50).priority(100).build();
    const mid = makeRun().named("mid").createdAt(10).priority(0).build();
    const d = decide({
      nodes: [makeNode("a").build()],
      runs: [entry(low, folds(5)), entry(mid, folds(5)), entry(high, folds(5))],
    });
    assert.equal(of(d, "team-a/high").admitted.size, 4);
    assert.deepEqual(
      ["high", "low", "mid"].map((n) => of(d, `team-a/${n}`).wait?.position),
      [1, 2, 3],
    );
    assert.equal(of(d, "team-a/low").admitted.size, 0);
    assert.equal(d.waiting, 3);
  });

  it("with equal priority and creation time the name decides, so the order is total", () => {
    const b = makeRun().named("b").build();
    const a = makeRun().named("a").build();
    const d = decide({ nodes: [makeNode("n").gpus(1).build()], runs: [entry(b, folds(1)), entry(a, folds(1))] });
    assert.equal(of(d, "team-a/a").admitted.size, 1);
    assert.equal(of(d, "team-a/b").wait?.position, 1);
  });

  it("a suspended run holds: admitted nothing, no queue position, GPUs stay for others", () => {
    const held = makeRun().named("held").priority(100).suspended().build();
    const d = decide({
      nodes: [makeNode("a").gpus(1).build()],
      runs: [entry(held, folds(1)), entry(makeRun().build(), folds(1))],
    });
    assert.deepEqual(of(d, "team-a/held").wait, {
      reason: "Suspended",
      message: "spec.suspend is true: nothing new starts; set it to false to resume",
    });
    assert.equal(of(d).admitted.size, 1);
  });

  it("a run whose claim does not exist holds with ClaimNotFound naming the claim", () => {
    const d = decide({ nodes: [makeNode("a").build()], runs: [entry(makeRun().build(), folds(1), false)] });
    assert.equal(of(d).wait?.reason, "ClaimNotFound");
    assert.equal(of(d).wait?.position, undefined);
    assert.match(of(d).wait!.message, /PersistentVolumeClaim nnunet-data not found in namespace team-a/);
  });

  it("a big fold that cannot fit does not block smaller work behind it (best-effort FIFO)", () => {
    const big = makeRun().named("big").priority(10).gpus(4).build();
    const d = decide({
      nodes: [makeNode("a").build()],
      pods: [foreign("a", 1)],
      runs: [entry(big, folds(1, 4)), entry(makeRun().build(), folds(1))],
    });
    assert.equal(of(d, "team-a/big").wait?.reason, "NoGpuCapacity");
    assert.equal(of(d).admitted.size, 1);
  });

  it("Jobs created in an earlier pass whose pods are not bound yet keep their GPUs: no double admission", () => {
    const run = makeRun().build();
    const created = [0, 1, 2].map((f) =>
      buildTrainingJob({ run, config, fold: String(f), attempt: 0, batchSize: 8, trainer: "nnUNetTrainer" }),
    );
    const d = decide({ nodes: [makeNode("a").build()], jobs: created, runs: [entry(run, folds(5).slice(3))] });
    assert.equal(of(d).admitted.size, 1);
  });

  it("grants of an earlier pass whose Jobs the cache does not show yet (assumed) hold their GPUs on their node and queue", () => {
    const d = decide({
      nodes: [makeNode("a").build()],
      runs: [entry(makeRun().build(), folds(5))],
      assumed: [{ runKey: "team-a/other", queue: "default", node: "a", gpus: 3 }],
    });
    assert.equal(of(d).admitted.size, 1);
    assert.equal(of(d).wait?.reason, "NoGpuCapacity");
  });

  it("an assumed grant keeps its node even when a floating reservation would land there first: nothing is handed out twice", () => {
    // Node a has 1 GPU left, node b 1. Grant X was counted on a; the Job of an older grant
    // (a reservation, not bound) would best-fit onto a as well. Together they fill both
    // nodes: no GPU is left for the run.
    const nodes = [makeNode("a").gpus(2).build(), makeNode("b").gpus(1).build()];
    const reserved = buildTrainingJob({
      run: makeRun().named("older").build(),
      config,
      fold: "0",
      attempt: 0,
      batchSize: 2,
      trainer: "nnUNetTrainer",
    });
    const d = decide({
      nodes,
      pods: [foreign("a", 1)],
      jobs: [reserved],
      runs: [entry(makeRun().build(), folds(1))],
      assumed: [{ runKey: "team-a/x", queue: "default", node: "a", gpus: 1 }],
    });
    assert.equal(of(d).admitted.size, 0, "2 free GPUs, 1 assumed, 1 reserved: none left");
  });

  it("a Job whose pod is bound is counted once, through its pod", () => {
    const run = makeRun().build();
    const job = buildTrainingJob({ run, config, fold: "0", attempt: 0, batchSize: 8, trainer: "nnUNetTrainer" });
    job.metadata!.uid = "job-uid";
    const pod = makePod("liver-fold-0-x")
      .of("liver", "train", "0")
      .gpus(1)
      .on("a")
      .running()
      .ownedBy({ name: job.metadata!.name!, uid: "job-uid" })
      .build();
    const d = decide({
      nodes: [makeNode("a").build()],
      jobs: [job],
      pods: [pod],
      runs: [entry(run, folds(5).slice(1))],
    });
    assert.equal(of(d).admitted.size, 3);
  });

  it("a pod that copies a Job's labels without being its pod does not cancel the Job's reservation", () => {
    const run = makeRun().build();
    const job = buildTrainingJob({ run, config, fold: "0", attempt: 0, batchSize: 8, trainer: "nnUNetTrainer" });
    job.metadata!.uid = "job-uid";
    // Bound, labelled as fold 0's training pod, asking for no GPU, and controlled by nothing.
    const forged = makePod("liver-fold-0-forged").of("liver", "train", "0").on("a").running().build();
    const d = decide({
      nodes: [makeNode("a").build()],
      jobs: [job],
      pods: [forged],
      runs: [entry(run, folds(5).slice(1))],
    });
    assert.equal(of(d).admitted.size, 3, "4 GPUs: 1 reserved by the Job whose pod is not bound yet, 3 left");
  });

  it("finished or suspended (stopped) Jobs reserve nothing", () => {
    const jobs: IJob[] = [
      makeJob("x-fold-0").of("x", "train", "0").gpus(4).complete().build(),
      makeJob("x-fold-1").of("x", "train", "1").gpus(4).stopDecision().build(),
    ];
    assert.equal(
      of(decide({ nodes: [makeNode("a").build()], jobs, runs: [entry(makeRun().build(), folds(4))] })).admitted.size,
      4,
    );
  });

  it("never over-commits a node, whatever the mix of runs, folds and foreign pods", () => {
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    for (let trial = 0; trial < 60; trial++) {
      const nodes = Array.from({ length: 1 + rand(4) }, (_, i) =>
        makeNode(`n${i}`)
          .gpus(1 + rand(8))
          .build(),
      );
      const pods = nodes.flatMap((n, i) => (rand(2) ? [foreign(n.metadata!.name!, rand(3), `f${i}`)] : []));
      const runs = Array.from({ length: 1 + rand(5) }, (_, i) => {
        const perFold = 1 + rand(3);
        return entry(makeRun().named(`r${i}`).priority(rand(3)).gpus(perFold).build(), folds(1 + rand(5), perFold));
      });
      const d = decide({ nodes, pods, runs });
      for (const n of nodes) {
        const cap = Number(n.status!.allocatable!["nvidia.com/gpu"]);
        const ours = runs.reduce(
          (s, r) =>
            s +
            [...d.runs.get(`team-a/${r.run.metadata.name}`)!.nodes.values()].filter((x) => x === n.metadata!.name)
              .length *
              r.run.spec.gpu.perFold,
          0,
        );
        const theirs = pods
          .filter((p) => p.spec!.nodeName === n.metadata!.name)
          .reduce((s, p) => s + Number(p.spec!.containers[0]!.resources?.limits?.["nvidia.com/gpu"] ?? 0), 0);
        // Foreign pods may exceed a node on their own (the test draws them at random); we never add to that.
        assert.ok(
          ours + theirs <= cap || ours === 0,
          `trial ${trial}: ${n.metadata!.name} holds ${ours}+${theirs} of ${cap}`,
        );
      }
    }
  });
});

describe("the cluster's GPU product label", () => {
  it("replaces the API default for runs that kept it, so nodes labelled otherwise match", () => {
    const node = makeNode("a").product("NVIDIA-L40S", "gpu.example.com/model").build();
    const input = { nodes: [node], runs: [entry(makeRun().build(), folds(1))] };
    assert.equal(of(decide(input)).wait?.reason, "NoMatchingNodes");
    assert.equal(of(decide({ ...input, defaultProductLabel: "gpu.example.com/model" })).admitted.size, 1);
  });

  it("leaves a label the run set itself alone", () => {
    const node = makeNode("a").product("NVIDIA-L40S", "gpu.example.com/model").build();
    const run = makeRun()
      .with({ gpu: { productLabel: "other.example.com/gpu" } })
      .build();
    assert.equal(
      of(decide({ nodes: [node], runs: [entry(run, folds(1))], defaultProductLabel: "gpu.example.com/model" })).wait
        ?.reason,
      "NoMatchingNodes",
    );
  });
});
