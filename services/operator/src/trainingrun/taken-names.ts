import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { TrainingRun } from "@nnunet-operator/api";
import { isNotFound, type KubeObject, type KubePort, Resources } from "@nnunet-operator/kube";
import { isChildOf } from "./decide/ownership.js";
import { slimJob } from "./slim.js";

// Jobs that hold a name a run needs, that the run does not control, and that the run's
// children from the cache do not show: the Job informer selects on the run label, and
// anyone may create a Job named `<run>-fold-0` without it (or with another run's). A
// create that meets one (AlreadyExists, act.ts) reports it here; every later pass of the
// run reads it again from the API server, since no watch event of the run's would say
// when it goes, until it is gone or has become the run's own. The decisions see these
// beside the labelled foreign Jobs (RunWorld.foreignJobs), and leave them alone.

export class TakenJobNames {
  /** Per run key, by Job name. */
  private readonly byRun = new Map<string, Map<string, IJob>>();

  constructor(private readonly port: Pick<KubePort, "get">) {}

  /** Keeps the foreign Jobs a create met. */
  remember(key: string, foreign: readonly KubeObject[]): void {
    if (foreign.length === 0) return;
    const names = this.byRun.get(key) ?? new Map<string, IJob>();
    for (const job of foreign) names.set(job.metadata.name ?? "", slimJob(job) as IJob);
    this.byRun.set(key, names);
  }

  /** The remembered Jobs of the run that are still there and still not its own, as they are now. */
  async recheck(key: string, run: TrainingRun): Promise<IJob[]> {
    const names = this.byRun.get(key);
    if (!names) return [];
    const namespace = run.metadata.namespace ?? "default";
    for (const name of [...names.keys()]) {
      let job: KubeObject | undefined;
      try {
        job = await this.port.get(Resources.jobs, { namespace, name });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      if (!job || isChildOf(job as IJob, run.metadata.name, run.metadata.uid)) names.delete(name);
      else names.set(name, slimJob(job) as IJob);
    }
    if (names.size === 0) this.byRun.delete(key);
    return [...names.values()];
  }

  forget(key: string): void {
    this.byRun.delete(key);
  }
}
