import { type Clock, sleep } from "@nnunet-operator/kube";
import type { Logger } from "pino";
import type { EarlyStopMetrics } from "./metrics.js";

// early-stop owns the NNUNET_EPOCHS stream, and with it the end of a run's epochs: when a
// TrainingRun is deleted, the leader purges nnunet.epochs.<ns>.<run>.* (the operator's
// NATS user only reads the stream, and the operator puts no finalizer on runs). A deletion
// seen while no replica led, or a purge that failed, or epochs a terminating pod published
// after the purge, are caught by a sweep every interval: runs with stored epochs that the
// run cache lacks and the API server answers 404 for. Only namespaces early-stop watches are
// swept; it cannot know the runs of the others. A run recreated under the same name keeps
// whatever the old one left (the controller tells them apart by run uid).

export type PurgeTrigger = "deleted" | "sweep";

interface RunRef {
  readonly namespace: string;
  readonly run: string;
}

/** The runs with stored epochs that the sweep should look up: watched, and not in the cache. Pure. */
export function sweepCandidates(
  stored: readonly RunRef[],
  cached: (namespace: string, run: string) => boolean,
  namespaces: readonly string[],
): RunRef[] {
  const watched = new Set(namespaces);
  return stored.filter((r) => (watched.size === 0 || watched.has(r.namespace)) && !cached(r.namespace, r.run));
}

export interface RunPurgerDeps {
  /** Whether the run cache holds a TrainingRun of this name now. */
  readonly cached: (namespace: string, run: string) => boolean;
  /** Whether the API server answers 404 for the run (a GET, so a stale cache purges nothing). */
  readonly gone: (namespace: string, run: string) => Promise<boolean>;
  readonly stream: {
    /** Purges one run's epochs; returns how many messages went. */
    purge(namespace: string, run: string): Promise<number>;
    /** Runs with epochs in the stream. */
    runs(): Promise<RunRef[]>;
  };
  /** Namespaces early-stop watches; empty: every namespace. */
  readonly namespaces: readonly string[];
  /** Resolves true once the run cache has listed (false when aborted first). */
  readonly waitForRuns: (signal: AbortSignal) => Promise<boolean>;
  readonly metrics: Pick<EarlyStopMetrics, "runPurges">;
  readonly clock: Clock;
  readonly log: Logger;
  readonly intervalMs: number;
}

export class RunPurger {
  constructor(private readonly deps: RunPurgerDeps) {}

  /** The run's deletion was seen: purge its epochs, unless a run of that name exists again. Never throws. */
  async deleted(namespace: string, run: string): Promise<void> {
    if (this.deps.cached(namespace, run)) return;
    await this.purge(namespace, run, "deleted");
  }

  /** One sweep; returns how many runs' epochs it purged. Never throws (a failed look is logged and waits for the next). */
  async sweep(): Promise<number> {
    const { stream, cached, namespaces, gone, log } = this.deps;
    let stored: RunRef[];
    try {
      stored = await stream.runs();
    } catch (err) {
      log.warn({ err }, "cannot list the runs in the epoch stream; sweeping later");
      return 0;
    }
    let purged = 0;
    for (const { namespace, run } of sweepCandidates(stored, cached, namespaces)) {
      let absent: boolean;
      try {
        absent = await gone(namespace, run);
      } catch (err) {
        log.warn({ err, namespace, trainingRun: run }, "cannot look the run up; sweeping it later");
        continue;
      }
      if (absent && (await this.purge(namespace, run, "sweep"))) purged += 1;
    }
    return purged;
  }

  /** Sweeps once the run cache has listed, then every interval, until `signal` aborts (the leader's term). */
  async run(signal: AbortSignal): Promise<void> {
    if (!(await this.deps.waitForRuns(signal))) return;
    while (!signal.aborted) {
      await this.sweep();
      if (!(await sleep(this.deps.clock, this.deps.intervalMs, signal))) return;
    }
  }

  private async purge(namespace: string, run: string, trigger: PurgeTrigger): Promise<boolean> {
    try {
      const messages = await this.deps.stream.purge(namespace, run);
      this.deps.metrics.runPurges.inc({ trigger, result: "purged" });
      this.deps.log.info({ namespace, trainingRun: run, trigger, messages }, "purged a deleted run's epochs");
      return true;
    } catch (err) {
      this.deps.metrics.runPurges.inc({ trigger, result: "failed" });
      this.deps.log.warn({ err, namespace, trainingRun: run, trigger }, "purging a deleted run's epochs failed");
      return false;
    }
  }
}
