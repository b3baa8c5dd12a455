import type { EpochMetrics } from "@nnunet-operator/api";
import type { DecodeReason, DeliveryMeta } from "@nnunet-operator/bus";
import { type Clock, defaultIsRetryable, type EventRecorder, sleep } from "@nnunet-operator/kube";
import type { Logger } from "pino";
import { StopDecision } from "@nnunet-operator/api";
import { toStopDecision } from "./convergence/decide.js";
import { decisionEvidence } from "./evidence.js";
import { decideMode } from "./audit.js";
import type { EpochSource } from "./consumer.js";
import { EpochIngestor, type FoldEntry } from "./ingest.js";
import type { EarlyStopMetrics, FoldSample } from "./metrics.js";
import type { ReadRunResult } from "./runs.js";
import type { StopTarget, Terminator } from "./terminator.js";

// One leadership term of the early-stop controller: rebuild every fold's state from the
// stream, settle decisions that earlier terms took but could not write, then consume new
// epochs until leadership (or the process) ends. A tick on the injected clock retries stop
// patches that failed. Stalls are the operator's (it owns a fold's lifecycle). State lives
// only for the term: the next leader
// rebuilds it the same way, which is what makes two replicas safe.

/** Requests for an audit's checkpoint copy: one at the decision, then one per tick (15 s by default). */
const KEEP_CHECKPOINT_TRIES = 20;

export interface ControllerDeps {
  readonly source: EpochSource;
  readonly runs: { get(namespace: string, name: string): ReadRunResult | undefined };
  /** Resolves true once the TrainingRun cache is synced (false: aborted). */
  readonly waitForRuns: (signal: AbortSignal) => Promise<boolean>;
  readonly terminator: Pick<Terminator, "terminate">;
  readonly events: Pick<EventRecorder, "record">;
  readonly metrics: EarlyStopMetrics;
  readonly clock: Clock;
  readonly log: Logger;
  readonly tickMs: number;
  /** Share of otherwise enforced folds audited (see audit.ts); default 0. */
  readonly auditFraction?: number;
  /** Asks the fold's reporter to keep checkpoint_best.pth as of an audit's decision; true once it has. */
  readonly keepCheckpoint?: (target: StopTarget, decision: StopDecision) => Promise<boolean>;
  /** Pause before retrying a failed NATS setup, replay or subscription. */
  readonly retryDelayMs?: number;
}

export class EarlyStopController {
  private ingestor: EpochIngestor | undefined;
  private readonly settling = new Set<string>();
  private consuming: AbortController | undefined;

  constructor(private readonly deps: ControllerDeps) {
    deps.metrics.setFoldSource(() => this.samples());
  }

  /** The folds of the running term as the per-fold gauges show them. */
  *samples(): Iterable<FoldSample> {
    for (const e of this.ingestor?.folds.values() ?? []) {
      const last = e.state.history.last;
      if (last === undefined) continue;
      yield {
        namespace: e.namespace,
        run: e.run,
        fold: e.fold,
        epoch: last.epoch,
        maxEpochs: e.state.config.maxEpochs,
        ema: last.emaPseudoDice,
        lastEpochAtMs: e.lastEpochAtMs,
      };
    }
  }

  /** Whether a term is running (this replica leads and has rebuilt its state). */
  get active(): boolean {
    return this.ingestor !== undefined;
  }

  /** The folds of the running term (tests and debugging). */
  folds(): ReadonlyMap<string, FoldEntry> {
    return this.ingestor?.folds ?? new Map();
  }

  /** Runs one leadership term until `signal` aborts. Never rejects. */
  async lead(signal: AbortSignal): Promise<void> {
    const { log, clock } = this.deps;
    const retryMs = this.deps.retryDelayMs ?? 1000;
    if (!(await this.deps.waitForRuns(signal))) return;
    let ingestor: EpochIngestor | undefined;
    while (!signal.aborted && ingestor === undefined) {
      try {
        await this.deps.source.prepare();
        const fresh = new EpochIngestor(this.deps.runs);
        const replayed = await this.deps.source.replayDelivered(
          (m) => this.onEpoch(fresh, m, false),
          () => undefined,
          signal,
        );
        ingestor = fresh;
        log.info({ replayed, folds: fresh.folds.size }, "fold state rebuilt from the stream");
      } catch (err) {
        log.warn({ err }, "rebuilding fold state failed; retrying");
        if (!(await sleep(clock, retryMs, signal))) return;
      }
    }
    if (signal.aborted || ingestor === undefined) return;
    this.ingestor = ingestor;
    const stopTicks = this.startTicks(ingestor, signal);
    try {
      await this.settlePending(ingestor, false);
      while (!signal.aborted) {
        const round = (this.consuming = new AbortController());
        try {
          await this.deps.source.consume(
            (m, meta) => this.onEpoch(ingestor, m, true, meta),
            (reason, detail, meta) => this.onMalformed(reason, detail, meta),
            AbortSignal.any([signal, round.signal]),
          );
        } catch (err) {
          if (!signal.aborted) log.warn({ err }, "epoch subscription failed; resubscribing");
        }
        if (signal.aborted || !(await sleep(clock, retryMs, signal))) break;
        try {
          await this.deps.source.prepare();
        } catch (err) {
          log.warn({ err }, "preparing the epoch stream failed");
        }
      }
    } finally {
      stopTicks();
      this.ingestor = undefined;
      log.info("leadership term ended; fold state dropped");
    }
  }

  /** Ends the current subscription; the term subscribes again (after the stream was recreated). */
  resubscribe(): void {
    this.consuming?.abort();
  }

  /** A run was deleted: drop its folds (and so their series). */
  forgetRun(namespace: string, run: string): void {
    this.ingestor?.forgetRun(namespace, run);
  }

  private onMalformed(reason: DecodeReason, detail: string, meta: DeliveryMeta): void {
    this.deps.metrics.countMessage("rejected", reason);
    this.deps.log.warn(
      { reason, detail, subject: meta.subject, seq: meta.streamSequence },
      "malformed epoch message dropped",
    );
  }

  private async onEpoch(ingestor: EpochIngestor, m: EpochMetrics, live: boolean, meta?: DeliveryMeta): Promise<void> {
    const { metrics, clock } = this.deps;
    // A replayed epoch was received when it was observed, not now.
    const result = ingestor.ingest(m, live ? clock.now() : Date.parse(m.observedAt));
    if (!result.accepted) {
      if (live) {
        metrics.countMessage("rejected", result.reason);
        this.deps.log.debug(
          { reason: result.reason, detail: result.detail, seq: meta?.streamSequence },
          "epoch message dropped",
        );
      }
      return;
    }
    if (live) metrics.countMessage("accepted");
    const { entry } = result;
    if (entry.state.decision !== undefined && !entry.settled && live) await this.settle(entry, true);
  }

  private async settlePending(ingestor: EpochIngestor, live: boolean): Promise<void> {
    for (const entry of ingestor.pending()) await this.settle(entry, live);
  }

  /** Puts a fold's decision on its Job; on failure the next tick tries again. */
  private async settle(entry: FoldEntry, live: boolean): Promise<void> {
    const decision = entry.state.decision;
    if (decision === undefined || entry.settled || this.settling.has(entry.key)) return;
    this.settling.add(entry.key);
    const { metrics, clock, log } = this.deps;
    const target: StopTarget = { namespace: entry.namespace, run: entry.run, runUid: entry.runUid, fold: entry.fold };
    const child = log.child({ namespace: entry.namespace, trainingRun: entry.run, fold: entry.fold });
    try {
      const mode = decideMode(
        entry.state.config.earlyStop.mode,
        decision.policy,
        entry.runUid,
        entry.fold,
        this.deps.auditFraction ?? 0,
      );
      const payload = StopDecision.parse({
        ...toStopDecision(decision, new Date(clock.now())),
        ...decisionEvidence(entry.state.history, entry.state.config, decision),
        ...(mode === "Audit" && { mode }),
      });
      const outcome = await this.deps.terminator.terminate(target, payload);
      entry.settled = true;
      // Also when a Job already held the decision (a new term): the reporter answers a repeat at once.
      if (mode === "Audit" && (outcome === "patched" || outcome === "already-decided")) {
        entry.keepCheckpoint = { decision: payload, triesLeft: KEEP_CHECKPOINT_TRIES };
        await this.askToKeepCheckpoint(entry);
      }
      if (outcome === "patched") {
        metrics.decisions.inc({ policy: decision.policy, reason: decision.reason });
        if (live && entry.decidedAtMs !== undefined)
          metrics.decisionLatency.observe(Math.max(0, clock.now() - entry.decidedAtMs) / 1000);
        // An audited fold trains on: nothing is saved.
        if (mode === "Enforce") metrics.epochsSaved.inc(Math.max(0, entry.state.config.maxEpochs - 1 - decision.epoch));
        child.info(
          {
            epoch: decision.epoch,
            policy: decision.policy,
            reason: decision.reason,
            mode,
            bestEpoch: decision.bestEpoch,
            bestEma: decision.bestEma,
          },
          mode === "Audit" ? "would-be stop recorded (audit)" : "fold stopped",
        );
      } else {
        child.info({ outcome, epoch: decision.epoch, policy: decision.policy }, "stop decision needs no patch");
      }
    } catch (err) {
      const retryable = defaultIsRetryable(err);
      if (!retryable) entry.settled = true;
      child.error(
        { err, retryable, epoch: decision.epoch },
        retryable ? "stop patch failed; will retry" : "stop patch refused; giving up",
      );
    } finally {
      this.settling.delete(entry.key);
    }
  }

  private startTicks(ingestor: EpochIngestor, signal: AbortSignal): () => void {
    const { clock } = this.deps;
    let handle = clock.setTimeout(tick, this.deps.tickMs);
    let stopped = false;
    const self = this;
    function tick(): void {
      if (stopped || signal.aborted) return;
      void self.onTick(ingestor).finally(() => {
        if (!stopped && !signal.aborted) handle = clock.setTimeout(tick, self.deps.tickMs);
      });
    }
    return () => {
      stopped = true;
      clock.clearTimeout(handle);
    };
  }

  /** Retries pending stop patches. */
  async onTick(ingestor: EpochIngestor | undefined = this.ingestor): Promise<void> {
    if (ingestor === undefined) return;
    await this.settlePending(ingestor, false);
    for (const entry of ingestor.folds.values())
      if (entry.keepCheckpoint !== undefined) await this.askToKeepCheckpoint(entry);
  }

  /** One request to the fold's reporter; a failure is retried on the next ticks, a bounded number of times. Never throws. */
  private async askToKeepCheckpoint(entry: FoldEntry): Promise<void> {
    const pending = entry.keepCheckpoint;
    if (pending === undefined || this.deps.keepCheckpoint === undefined) return;
    const child = this.deps.log.child({ namespace: entry.namespace, trainingRun: entry.run, fold: entry.fold });
    pending.triesLeft -= 1;
    let kept = false;
    try {
      kept = await this.deps.keepCheckpoint(
        { namespace: entry.namespace, run: entry.run, runUid: entry.runUid, fold: entry.fold },
        pending.decision,
      );
    } catch (err) {
      child.debug(
        { err, triesLeft: pending.triesLeft },
        "the fold's reporter did not answer the keep-checkpoint request",
      );
    }
    if (kept) {
      entry.keepCheckpoint = undefined;
      child.info({ epoch: pending.decision.epoch }, "the reporter kept checkpoint_best.pth as of the would-be stop");
    } else if (pending.triesLeft <= 0) {
      entry.keepCheckpoint = undefined;
      child.warn(
        { epoch: pending.decision.epoch },
        "the reporter never confirmed a copy of checkpoint_best.pth: the audit has no validation of the would-be stop's checkpoint",
      );
    }
  }
}
