import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { IJob } from "kubernetes-models/batch/v1/Job";
import {
  ANNOTATION_ATTEMPT,
  ANNOTATION_STOP_DECISION,
  isJobComplete,
  isJobFailed,
  LABEL_FOLD,
  LABEL_ROLE,
} from "@nnunet-operator/api";
import { parseOperatorConfig } from "../../config.js";
import { FakeClock, makeCalibrationResult, makeNode, makePod } from "../../testing/builders.js";
import { makeRun } from "../../testing/builders.js";
import { Sim } from "../../testing/sim.js";
import { isPodActive, label } from "./objects.js";

// Seeded chaos over the whole pure core: the cluster fails pods, stops folds early and runs
// out of GPU memory at random, and the operator dies at random points of its passes (after
// the status write, after some of the actions). Whatever happens, a fold never has two live
// pods, a Job never runs an attempt the status has not recorded, attempts never go back,
// and once the chaos ends every run reaches Succeeded or Failed for a stated reason.

const config = parseOperatorConfig("restartBackoff: { initialSeconds: 0, maxSeconds: 0 }");
const result = JSON.stringify(makeCalibrationResult());
const cudaOom = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB";
const valMessage = JSON.stringify({ schemaVersion: 1, checkpoint: "best", meanDice: 0.9, perClassDice: [0.9] });

function rng(seed: number) {
  let s = seed;
  return (n: number) => ((s = (s * 1103515245 + 12345) % 2147483648), Math.floor((s / 2147483648) * n));
}

function cluster(sim: Sim, roll: (n: number) => number, t: number, chaos: boolean): void {
  for (const job of sim.jobs) {
    const name = job.metadata!.name!;
    const role = label(job, LABEL_ROLE)!;
    const fold = label(job, LABEL_FOLD);
    const attempt = job.metadata?.annotations?.[ANNOTATION_ATTEMPT] ?? "0";
    if (job.spec?.suspend || isJobComplete(job) || isJobFailed(job)) continue;
    const podName = `${name}-a${attempt}`;
    const pod = sim.pods.find((p) => p.metadata?.name === podName);
    if (!pod) {
      sim.addPod(
        makePod(podName)
          .of(sim.run.metadata.name!, role as "train", fold)
          .gpus(1)
          .on("a")
          .running(t)
          .build(),
      );
      continue;
    }
    const set = (change: (j: IJob) => IJob) => sim.setJob(name, change);
    const complete = (j: IJob): IJob => ({
      ...j,
      status: { succeeded: 1, conditions: [{ type: "Complete", status: "True" }] },
    });
    const failed = (j: IJob): IJob => ({
      ...j,
      status: { failed: 1, conditions: [{ type: "Failed", status: "True" }] },
    });
    const base = makePod(podName)
      .of(sim.run.metadata.name!, role as "train", fold)
      .gpus(1)
      .on("a")
      .running(t - 5);
    const r = chaos ? roll(10) : 9;
    if (role === "calibrate") {
      sim.addPod(base.succeeded(t, result).build());
      set(complete);
    } else if (role === "validate") {
      sim.addPod(base.succeeded(t, valMessage).build());
      set(complete);
    } else if (r === 0) {
      sim.addPod(base.disrupted().failed(137, { finishSeconds: t }).build());
      set(failed);
    } else if (r === 1) {
      sim.addPod(base.failed(1, { message: cudaOom, finishSeconds: t }).build());
      set(failed);
    } else if (r === 2) {
      const decision = {
        schemaVersion: 1,
        epoch: 120,
        policy: "Forecast",
        reason: "gain below 0.002",
        decidedAt: new Date(t * 1000).toISOString(),
      };
      sim.addPod(base.failed(143, { finishSeconds: t }).build());
      set((j) => ({
        ...j,
        metadata: {
          ...j.metadata,
          annotations: { ...j.metadata?.annotations, [ANNOTATION_STOP_DECISION]: JSON.stringify(decision) },
        },
        spec: { ...j.spec!, suspend: true },
        status: {},
      }));
    } else if (r >= 8) {
      sim.addPod(base.succeeded(t).build());
      set(complete);
    }
  }
}

describe("operator crashes and cluster faults at random", () => {
  for (let seed = 1; seed <= 25; seed++) {
    it(`seed ${seed}: no duplicated or lost child, attempts only grow, and the run ends Succeeded or Failed for a reason`, () => {
      const roll = rng(seed);
      const clock = new FakeClock();
      const sim = new Sim(makeRun().folds(0, 1, 2).with({ maxRestarts: 3 }).build(), config, [
        makeNode("a").gpus(8).build(),
      ]);
      const seen = new Map<string, number>();
      const created = new Set<string>();
      for (let step = 0; step < 90; step++) {
        const now = clock.advance(10);
        const chaos = step < 50;
        if (step % 2 === 0) cluster(sim, roll, (step + 1) * 10, chaos);
        else {
          const crash = chaos && roll(3) === 0 ? roll(3) : undefined;
          const existing = new Set(sim.jobs.map((j) => j.metadata?.name));
          const plan = sim.pass(now, crash);
          for (const a of plan.actions.slice(0, crash ?? plan.actions.length)) {
            if (a.verb !== "create" || existing.has(a.object.metadata?.name) || label(a.object, LABEL_ROLE) !== "train")
              continue;
            const key = `${label(a.object, LABEL_FOLD)}/${a.object.metadata?.annotations?.[ANNOTATION_ATTEMPT]}`;
            assert.ok(!created.has(key), `step ${step}: attempt ${key} started twice`);
            created.add(key);
          }
        }

        for (const f of sim.run.status?.folds ?? []) {
          const live = sim.pods.filter(
            (p) => label(p, LABEL_ROLE) === "train" && label(p, LABEL_FOLD) === f.fold && isPodActive(p),
          );
          assert.ok(live.length <= 1, `step ${step}: fold ${f.fold} has ${live.length} live pods`);
          const job = sim.jobs.find((j) => j.metadata?.name === `liver-fold-${f.fold}`);
          const jobAttempt = Number(job?.metadata?.annotations?.[ANNOTATION_ATTEMPT] ?? -1);
          assert.ok(
            jobAttempt <= f.attempt,
            `step ${step}: fold ${f.fold} runs attempt ${jobAttempt} but status records ${f.attempt}`,
          );
          assert.ok(f.attempt >= (seen.get(f.fold) ?? 0), `step ${step}: fold ${f.fold} attempt went back`);
          assert.ok(f.attempt <= 3 + 1, `step ${step}: fold ${f.fold} attempt ${f.attempt} beyond maxRestarts`);
          seen.set(f.fold, f.attempt);
        }
      }
      const status = sim.run.status!;
      assert.ok(
        status.phase === "Succeeded" || status.phase === "Failed",
        `ended ${status.phase}: ${JSON.stringify(status.folds?.map((f) => [f.phase, f.reason]))}`,
      );
      if (status.phase === "Succeeded") assert.ok(status.folds?.every((f) => f.validation?.meanDice === 0.9));
      else
        assert.ok(
          status.folds?.some(
            (f) => f.phase === "Failed" && ["RestartsExhausted", "TrainerError", "Diverged"].includes(f.reason ?? ""),
          ),
        );
    });
  }
});
