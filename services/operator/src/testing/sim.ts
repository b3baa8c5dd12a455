import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { INode } from "kubernetes-models/v1/Node";
import type { IPod } from "kubernetes-models/v1/Pod";
import type { TrainingRun } from "@nnunet-operator/api";
import type { OperatorConfig } from "../config.js";
import { gpuTolerations } from "../trainingrun/manifests/common.js";
import { decideAdmission, NOTHING_ADMITTED, runKey } from "../trainingrun/decide/admission.js";
import type { FoldProgress } from "../trainingrun/decide/progress.js";
import type { HeartbeatSeen } from "../trainingrun/decide/stall.js";
import { decideRun, type RunPlan } from "../trainingrun/decide/run.js";
import type { RunWorld } from "../trainingrun/decide/parts.js";

// A tiny in-memory world for lifecycle tests of the pure core: it plays the reconciler's
// part (admission pass, status first, then actions) and lets a test play the cluster's
// (pods appear, finish, fail) between passes.

export class Sim {
  jobs: IJob[] = [];
  pods: IPod[] = [];
  /** Jobs that hold names of the run's children and that it does not control. */
  foreignJobs: IJob[] = [];
  cache: Record<string, string> = {};
  progress = new Map<string, FoldProgress>();
  heartbeats = new Map<string, HeartbeatSeen>();
  /** The operator's NATS feed, connected since this time (undefined: down). */
  feedSince: string | undefined = undefined;
  claimExists = true;
  lastPlan: RunPlan | undefined;

  constructor(
    public run: TrainingRun,
    public readonly config: OperatorConfig,
    public nodes: INode[],
  ) {}

  world(admission = NOTHING_ADMITTED): RunWorld {
    return {
      config: this.config,
      jobs: this.jobs,
      pods: this.pods,
      foreignJobs: this.foreignJobs,
      nodes: this.nodes,
      calibrationCache: this.cache,
      claimExists: this.claimExists,
      admission,
      progress: this.progress,
      heartbeats: this.heartbeats,
      feedSince: this.feedSince,
    };
  }

  /**
   * One reconcile pass: admission over the wants, the plan, status written, actions applied.
   * `crashAfter` simulates an operator that dies after writing status and the first n actions.
   */
  pass(now: Date, crashAfter?: number): RunPlan {
    const probe = decideRun(this.run, this.world(), now);
    const admission = decideAdmission({
      nodes: this.nodes,
      pods: this.pods,
      jobs: this.jobs,
      runs: [{ run: this.run, claimExists: this.claimExists, wants: probe.wants }],
      queues: this.config.queues,
      acceptedProducts: this.config.gpu.acceptedProducts,
      tolerations: gpuTolerations(this.config),
      defaultProductLabel: this.config.gpu.defaultProductLabel,
    });
    const plan = decideRun(this.run, this.world(admission.runs.get(runKey(this.run))), now);
    this.run = { ...this.run, status: plan.status };
    for (const a of plan.actions.slice(0, crashAfter ?? plan.actions.length)) {
      if (a.verb === "create") {
        const name = a.object.metadata?.name;
        if (this.foreignJobs.some((j) => j.metadata?.name === name))
          throw new Error(`created ${name} over a foreign Job`);
        if (!this.jobs.some((j) => j.metadata?.name === name)) this.jobs.push({ ...a.object, status: { active: 1 } });
      } else if (a.verb === "delete") {
        if (
          this.foreignJobs.some((j) => j.metadata?.name === a.name) &&
          !this.jobs.some((j) => j.metadata?.name === a.name)
        )
          throw new Error(`deleted the foreign Job ${a.name}`);
        this.jobs = this.jobs.filter((j) => j.metadata?.name !== a.name);
        this.pods = this.pods.filter((p) => !p.metadata?.name?.startsWith(a.name));
      } else {
        const data = JSON.parse(JSON.stringify(a.patch.data)) as Record<string, string>;
        this.cache = { ...this.cache, ...data };
      }
    }
    this.lastPlan = plan;
    return plan;
  }

  job(name: string): IJob {
    const j = this.jobs.find((x) => x.metadata?.name === name);
    if (!j) throw new Error(`no Job ${name}; have ${this.jobs.map((x) => x.metadata?.name).join(", ")}`);
    return j;
  }

  setJob(name: string, change: (j: IJob) => IJob): void {
    this.jobs = this.jobs.map((j) => (j.metadata?.name === name ? change(structuredClone(j)) : j));
  }

  addPod(pod: IPod): void {
    this.pods = [...this.pods.filter((p) => p.metadata?.name !== pod.metadata?.name), pod];
  }
}
