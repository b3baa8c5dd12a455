import { LABEL_FOLD, LABEL_ROLE, type TrainingRun } from "@nnunet-operator/api";
import type { Clock, TimerHandle } from "@nnunet-operator/kube";
import type { OperatorConfig } from "../config.js";
import {
  type AssumedGrant,
  type AdmissionDecision,
  type AdmissionRun,
  admissionSteps,
  type Demand,
  demandKey,
  NOTHING_ADMITTED,
  type RunAdmission,
  runKey,
} from "./decide/admission.js";
import { withClusterDefaults } from "./decide/defaults.js";
import { label } from "./decide/objects.js";
import { runControlledJobs } from "./decide/ownership.js";
import { gpuTolerations } from "./manifests/common.js";
import type { World } from "./world.js";

// Admission as its own loop, apart from the per-run reconcilers (as kueue's scheduler is
// apart from its workload controller). Each reconcile publishes the GPU work its run wants
// to start (its plan's wants); this loop, one cycle at a time, runs the pure admission
// (decide/admission.ts: the named checks, best fit) over every published want and the
// cluster's free GPUs, and hands out grants. A reconcile only creates the Jobs its run was
// granted, so reconciles may run concurrently without two of them handing out the same GPUs.
//
// Between a grant and its Job showing in the informer cache the GPUs are "assumed": counted
// against their node and queue by the next cycles, until the Job is in the cache (then it
// counts as a reservation, decide/capacity.ts) or the run no longer wants the work.
//
// Checks that later admission needs (a fold must fit a node's allocatable, start timeouts)
// go into decide/admission.ts's check chains as named pure checks; this loop stays the same.

export interface SchedulerDeps {
  readonly world: World;
  readonly config: OperatorConfig;
  readonly clock: Clock;
  /**
   * A run whose grant or wait changed: its reconcile acts on it (enqueue the key). `granted`:
   * it was granted more work, whose GPUs stay idle until its reconcile creates the Jobs.
   */
  readonly onChange: (key: string, granted: boolean) => void;
  readonly onError: (err: unknown) => void;
  /**
   * Coalescing window: the triggers within it make one cycle. It stretches to twice the
   * last cycle's duration, so that under a stream of triggers admission takes at most a
   * third of the process (a cycle is O(runs): at 10,000 runs back-to-back cycles starved
   * the reconciles that use their grants).
   */
  readonly batchMs?: number;
  /**
   * A cycle over more objects than this (published runs, pods and Jobs: its cost is linear
   * in each) yields to the event loop between its steps (default 5,000).
   */
  readonly sliceAboveObjects?: number;
}

export interface CycleStats {
  /** Milliseconds of the cycle's own work, summed over its slices. */
  readonly busyMs: number;
  readonly slices: number;
  /** The longest the cycle held the event loop at once. */
  readonly longestSliceMs: number;
  /** From its start to its decisions applied, other work between its slices included. */
  readonly wallMs: number;
  /** Of its first slice: taking its inputs (settling assumptions, each run's current parse). */
  readonly inputsMs: number;
  /** Of its last slice: applying its decisions. */
  readonly applyMs: number;
}

/**
 * A run's wants as its last pass published them. Not the run: a cycle reads the World's
 * current parse of it (a pass's parse kept here went stale at its own status write, and at
 * 10,000 runs those second copies held 44 MB).
 */
interface Published {
  readonly wants: readonly Demand[];
  readonly signature: string;
}

export class AdmissionScheduler {
  private readonly published = new Map<string, Published>();
  private readonly decisions = new Map<string, RunAdmission>();
  /** Per run, per demand key: granted GPUs whose Job the cache does not show yet. */
  private readonly assumed = new Map<string, Map<string, AssumedGrant>>();
  private timer: TimerHandle | undefined;
  private cycling = false;
  private again = false;
  private lastCycleMs = 0;
  /** Bumped by stop(): a cycle in slices from before it gives up. */
  private epoch = 0;
  /** Cycles run (tests and metrics). */
  cycles = 0;

  constructor(private readonly deps: SchedulerDeps) {}

  /** This run's share of the last cycle: what its reconcile may start, or why it waits. */
  admissionOf(key: string): RunAdmission {
    return this.decisions.get(key) ?? NOTHING_ADMITTED;
  }

  /**
   * A reconcile's wants, after it acted (its new Jobs are in the cache). A demand no longer
   * wanted loses its assumption: its Job exists now, or the run changed its mind.
   */
  publish(run: TrainingRun, wants: readonly Demand[]): void {
    const key = runKey(run);
    const { spec, metadata } = withClusterDefaults(run, this.deps.config);
    const signature = JSON.stringify([
      metadata.creationTimestamp,
      spec.priority,
      spec.queue,
      spec.suspend,
      spec.gpu,
      wants,
    ]);
    const held = this.assumed.get(key);
    if (held) {
      const wanted = new Set(wants.map(demandKey));
      for (const k of [...held.keys()]) if (!wanted.has(k)) held.delete(k);
      if (held.size === 0) this.assumed.delete(key);
    }
    const prev = this.published.get(key);
    if (prev?.signature === signature) return;
    if (wants.length === 0 && !prev) return;
    if (wants.length === 0) this.published.delete(key);
    else this.published.set(key, { wants, signature });
    this.trigger();
  }

  forget(key: string): void {
    // Both, always: a run deleted between its grant and its Jobs would otherwise keep its
    // assumed GPUs, counted as taken by every later cycle.
    const published = this.published.delete(key);
    const assumed = this.assumed.delete(key);
    const had = published || assumed;
    this.decisions.delete(key);
    if (had) this.trigger();
  }

  /** Something that changes capacity or holds happened: run a cycle soon (coalesced). */
  trigger(): void {
    if (this.cycling) {
      this.again = true;
      return;
    }
    if (this.timer !== undefined) return;
    this.timer = this.deps.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.cycle();
      },
      Math.max(this.deps.batchMs ?? 20, 2 * this.lastCycleMs),
    );
  }

  /** Granted demands whose Jobs the cache does not show yet, as `run: demand@node` (diagnostics). */
  assumedGrants(): string[] {
    return [...this.assumed.values()].flatMap((m) => [...m.entries()].map(([k, a]) => `${a.runKey}: ${k}@${a.node}`));
  }

  stop(): void {
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.epoch += 1;
    this.cycling = false;
    this.again = false;
  }

  /**
   * One admission pass over every published want. Its inputs are taken at once: the caches'
   * objects (replaced, never changed), the assumptions, the published wants. A pass over more
   * than `sliceAboveObjects` runs, pods and Jobs then yields to the event loop between its steps
   * (admissionSteps), so that passes waiting for an API answer are not held for all of it (at
   * 10,000 runs a cycle took up to 145 ms); its decisions are applied at once at its end. No
   * two cycles overlap: triggers during one start the next after it.
   */
  cycle(): void {
    if (this.cycling) {
      this.again = true;
      return;
    }
    this.cycling = true;
    this.cycles += 1;
    const epoch = this.epoch;
    const stats = { busyMs: 0, slices: 0, longestSliceMs: 0, inputsMs: 0, applyMs: 0 };
    const started = this.deps.clock.now();
    const runs: AdmissionRun[] = [];
    let steps: Generator<void, AdmissionDecision, void> | undefined;
    let objects = 0;
    try {
      this.settleAssumed();
      const { world, config } = this.deps;
      for (const [key, p] of this.published) {
        const run = this.currentRun(key);
        if (!run) continue;
        const held = this.assumed.get(key);
        const wants = held ? p.wants.filter((d) => !held.has(demandKey(d))) : p.wants;
        const ns = run.metadata.namespace ?? "default";
        runs.push({ run, claimExists: world.claimExists(ns, run.spec.storage.claimName), wants });
      }
      const pods = world.allPods();
      const jobs = runControlledJobs(world.allJobs());
      objects = runs.length + pods.length + jobs.length;
      steps = admissionSteps({
        nodes: world.nodes(),
        pods,
        jobs,
        runs,
        queues: config.queues,
        acceptedProducts: config.gpu.acceptedProducts,
        tolerations: gpuTolerations(config),
        defaultProductLabel: config.gpu.defaultProductLabel,
        assumed: [...this.assumed.values()].flatMap((m) => [...m.values()]),
      });
    } catch (err) {
      this.deps.onError(err);
    }
    stats.inputsMs = this.deps.clock.now() - started;
    const sliced = objects > (this.deps.sliceAboveObjects ?? 5000);
    const slice = (from: number): void => {
      // A stop (lost leadership, shutdown) abandons the cycle: its grants are not handed out.
      if (epoch !== this.epoch) return;
      try {
        for (;;) {
          const step = steps?.next();
          if (!step) break; // its inputs failed: nothing to apply
          if (step.done) {
            const applying = this.deps.clock.now();
            this.apply(runs, step.value);
            stats.applyMs = this.deps.clock.now() - applying;
            break;
          }
          if (sliced) {
            this.endSlice(stats, from);
            setImmediate(() => slice(this.deps.clock.now()));
            return;
          }
        }
      } catch (err) {
        this.deps.onError(err);
      }
      this.endSlice(stats, from);
      this.finishCycle(stats, started);
    };
    slice(started);
  }

  private finishCycle(stats: Omit<CycleStats, "wallMs">, started: number): void {
    this.cycling = false;
    this.lastCycleMs = stats.busyMs;
    this.onCycleEnd?.({ ...stats, wallMs: this.deps.clock.now() - started });
    if (this.again) {
      this.again = false;
      this.trigger();
    }
  }

  /** Called after each cycle with its work (busy), its longest slice and its wall time (ms). */
  onCycleEnd: ((cycle: CycleStats) => void) | undefined;

  private endSlice(stats: { busyMs: number; slices: number; longestSliceMs: number }, from: number): void {
    const ms = this.deps.clock.now() - from;
    stats.busyMs += ms;
    stats.slices += 1;
    stats.longestSliceMs = Math.max(stats.longestSliceMs, ms);
  }

  /** A cycle's decisions, for the runs it saw that are still published. */
  private apply(runs: readonly AdmissionRun[], decision: AdmissionDecision): void {
    for (const { run, wants } of runs) {
      const key = runKey(run);
      // Forgotten while the cycle ran (deleted): a grant now would be assumed forever.
      if (!this.published.has(key)) continue;
      const got = decision.runs.get(key) ?? NOTHING_ADMITTED;
      let held = this.assumed.get(key);
      if (got.admitted.size > 0) {
        held ??= new Map<string, AssumedGrant>();
        for (const k of got.admitted) {
          const gpus = wants.find((d) => demandKey(d) === k)?.gpus ?? 0;
          held.set(k, { runKey: key, queue: run.spec.queue, node: got.nodes.get(k) ?? "", gpus });
        }
        this.assumed.set(key, held);
      }
      // Most runs of a full cluster hold and get nothing: no sets of their own for them.
      const next: RunAdmission = {
        ...(held
          ? { admitted: new Set(held.keys()), nodes: new Map([...held].map(([k, a]) => [k, a.node])) }
          : NOTHING_ADMITTED),
        ...(got.wait ? { wait: got.wait } : {}),
      };
      const prev = this.decisions.get(key);
      this.decisions.set(key, next);
      const granted = grew(prev, next);
      if (granted || prev?.wait?.reason !== next.wait?.reason) this.deps.onChange(key, granted);
    }
    for (const key of [...this.decisions.keys()])
      if (!this.published.has(key) && !this.assumed.has(key)) this.decisions.delete(key);
  }

  /**
   * The run as the cache holds it now, parsed (cached per resourceVersion). A run gone from
   * the cache, or no longer valid, asks for nothing until its reconcile forgets or republishes it.
   */
  private currentRun(key: string): TrainingRun | undefined {
    const raw = this.deps.world.informers.runs.store.get(key);
    if (!raw) return undefined;
    const parsed = this.deps.world.parse(raw);
    return parsed.ok ? parsed.run : undefined;
  }

  /** Drops assumptions whose Job the cache shows: it is counted as a reservation from now on. */
  private settleAssumed(): void {
    for (const [key, held] of this.assumed) {
      const [ns, name] = splitRunKey(key);
      const uid = this.deps.world.informers.runs.store.get(key)?.metadata.uid;
      // Only the run's own Jobs settle a grant: a foreign one of that name holds no grant of ours.
      const { jobs } = this.deps.world.childrenOf(ns, name, uid);
      for (const k of [...held.keys()]) {
        const [kind, fold] = k.split("/");
        const role = kind === "calibrate" ? "calibrate" : kind === "train" ? "train" : "validate";
        if (jobs.some((j) => label(j, LABEL_ROLE) === role && (fold === undefined || label(j, LABEL_FOLD) === fold)))
          held.delete(k);
      }
      if (held.size === 0) this.assumed.delete(key);
    }
  }
}

function splitRunKey(key: string): [string, string] {
  const i = key.indexOf("/");
  return [key.slice(0, i), key.slice(i + 1)];
}

/**
 * What makes a run's reconcile worth running now: new grants (grew), or another reason to
 * wait. A position or a capacity message that moved is not: with thousands waiting, every
 * cycle moves them all; the run's next pass (or the periodic resync) shows them.
 */
function grew(a: RunAdmission | undefined, b: RunAdmission): boolean {
  return a ? [...b.admitted].some((k) => !a.admitted.has(k)) : b.admitted.size > 0;
}
