import { stat } from "node:fs/promises";
import { type EpochMetricsInput, type Heartbeat, MESSAGE_SCHEMA_VERSION } from "@nnunet-operator/api";
import { buildEpochMessage, type ReporterIdentity } from "./epoch-message.js";
import { PublishGate } from "./file-gate.js";
import { FolderWakeup } from "./folder-wakeup.js";
import { NnunetLogParser } from "./parse/nnunet-log.js";
import type { EpochPublisher, Sleep } from "./publish.js";
import { tailTrainingLog, type TailEvent } from "./tail.js";

// The reporter's loops: the log tail feeding parser, gate and publisher; heartbeats on core
// NATS while the trainer is alive; the counters in the log now and then. Nothing throws out
// of here: a line that does not parse is counted and skipped, a failing tail is restarted,
// a bus that is down only fills the publisher's buffer. A sidecar must never take the
// training down with it.

export interface ReporterLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

export interface ReporterCounters {
  readonly skippedLines: { inc(n?: number): void };
}

export interface ReporterDeps {
  readonly identity: ReporterIdentity;
  readonly foldDir: string;
  readonly pollMs: number;
  readonly heartbeatMs: number;
  readonly statsMs: number;
  readonly utcOffset?: string;
  readonly publisher: EpochPublisher;
  /** Sends one heartbeat; false when it could not (not connected). */
  readonly heartbeat: (heartbeat: Heartbeat) => boolean;
  readonly counters: ReporterCounters;
  readonly logger: ReporterLogger;
  readonly now: () => Date;
  readonly sleep: Sleep;
  /** Wake the tail on changes in the fold folder (fs.watch) instead of waiting out the poll. */
  readonly watchFolder?: boolean;
  /** Whether the fold folder exists (a port so tests can pin it). */
  readonly folderExists?: (dir: string) => Promise<boolean>;
}

export interface ReporterState {
  logFile: string | undefined;
  /** Last epoch let through the gate (this trainer's), published or still buffered. */
  lastEpoch: number | undefined;
  lastLineAt: number | undefined;
  lines: number;
  epochs: number;
  skippedLines: number;
  tailRestarts: number;
}

const defaultFolderExists = async (dir: string): Promise<boolean> => {
  try {
    return (await stat(dir)).isDirectory();
  } catch {
    return false;
  }
};

export class Reporter {
  readonly state: ReporterState = {
    logFile: undefined,
    lastEpoch: undefined,
    lastLineAt: undefined,
    lines: 0,
    epochs: 0,
    skippedLines: 0,
    tailRestarts: 0,
  };
  #parser: NnunetLogParser;
  #gate = new PublishGate<EpochMetricsInput>();

  constructor(readonly deps: ReporterDeps) {
    this.#parser = this.#newParser();
  }

  #newParser(): NnunetLogParser {
    return new NnunetLogParser(this.deps.utcOffset === undefined ? {} : { utcOffset: this.deps.utcOffset });
  }

  /** Runs the tail, heartbeat and stats loops until `signal` aborts. Never rejects. */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.all([this.#tailLoop(signal), this.#heartbeatLoop(signal), this.#statsLoop(signal)]);
  }

  async #tailLoop(signal: AbortSignal): Promise<void> {
    const { foldDir, pollMs, sleep, logger } = this.deps;
    const wakeup = this.deps.watchFolder ? new FolderWakeup(foldDir, sleep) : undefined;
    while (!signal.aborted) {
      try {
        for await (const event of tailTrainingLog({ dir: foldDir, pollMs, sleep: wakeup?.sleep ?? sleep }, signal))
          this.handle(event);
      } catch (err) {
        // An unreadable folder (permissions, a stale NFS handle): start over from the first
        // file, as a restarted reporter would; the message ids make the replay harmless.
        this.state.tailRestarts += 1;
        logger.warn({ err, dir: foldDir }, "log tail failed; starting it over");
        this.#parser = this.#newParser();
        this.#gate = new PublishGate();
        await sleep(Math.max(1000, pollMs), signal);
      }
    }
    wakeup?.close();
  }

  /** One tail event through gate, parser and publisher. Never throws. */
  handle(event: TailEvent): void {
    const { logger } = this.deps;
    try {
      if (event.kind === "file") {
        const discarded = this.#gate.file(event.path, event);
        this.#parser.startFile();
        if (event.newest) this.state.logFile = event.path;
        logger.info(
          {
            logFile: event.path,
            newest: event.newest,
            preexisting: event.preexisting,
            mode: this.#gate.mode,
            discarded,
          },
          "reading training log",
        );
        return;
      }
      if (event.kind === "synced") {
        this.#gate.synced(event.path);
        if (this.#gate.mode === "held")
          logger.info(
            { logFile: event.path, held: this.#gate.heldCount },
            "log was there before us: publishing once it grows",
          );
        return;
      }
      const released = this.#gate.line(event.path);
      if (released.length > 0)
        logger.info({ logFile: event.path, released: released.length }, "log grows: publishing its epochs");
      for (const m of released) this.#send(m);
      this.state.lines += 1;
      this.state.lastLineAt = this.deps.now().getTime();
      const before = this.#parser.stats.garbled;
      const parsed = this.#parser.push(event.line);
      this.#skip(this.#parser.stats.garbled - before);
      if (parsed === undefined) return;
      this.state.epochs += 1;
      let message: EpochMetricsInput;
      try {
        message = buildEpochMessage(parsed, this.deps.identity, this.deps.now());
      } catch (err) {
        this.#skip(1);
        logger.warn({ err, epoch: parsed.epoch }, "epoch does not form a valid message; skipped");
        return;
      }
      for (const m of this.#gate.epoch(message)) this.#send(m);
    } catch (err) {
      // Defensive: the parser and gate do not throw, but the tail loop must survive anything.
      this.#skip(1);
      logger.warn({ err }, "log line skipped after an unexpected error");
    }
  }

  #send(message: EpochMetricsInput): void {
    // The last epoch of this pod's trainer: an older log's epochs rebuild state but say nothing about it.
    this.state.lastEpoch = message.epoch;
    this.deps.publisher.enqueue(message);
  }

  #skip(n: number): void {
    if (n <= 0) return;
    this.state.skippedLines += n;
    this.deps.counters.skippedLines.inc(n);
  }

  /** Alive: the log advanced within two heartbeat periods, or the fold folder exists. */
  async trainerAlive(): Promise<boolean> {
    const last = this.state.lastLineAt;
    if (last !== undefined && this.deps.now().getTime() - last < 2 * this.deps.heartbeatMs) return true;
    return (this.deps.folderExists ?? defaultFolderExists)(this.deps.foldDir);
  }

  buildHeartbeat(): Heartbeat {
    return {
      schemaVersion: MESSAGE_SCHEMA_VERSION,
      ...this.deps.identity,
      sentAt: this.deps.now().toISOString(),
      ...(this.state.lastEpoch !== undefined && { lastEpoch: this.state.lastEpoch }),
      ...(this.state.logFile !== undefined && { logFile: this.state.logFile }),
      buffered: this.deps.publisher.buffered,
    };
  }

  async #heartbeatLoop(signal: AbortSignal): Promise<void> {
    const { heartbeatMs, sleep, logger } = this.deps;
    while (!signal.aborted) {
      try {
        if (await this.trainerAlive()) this.deps.heartbeat(this.buildHeartbeat());
      } catch (err) {
        logger.warn({ err }, "heartbeat not sent");
      }
      await sleep(heartbeatMs, signal);
    }
  }

  stats(): Record<string, number | string | undefined> {
    const p = this.deps.publisher;
    return { ...p.stats, buffered: p.buffered, lastPublishedEpoch: p.lastPublishedEpoch, ...this.state };
  }

  async #statsLoop(signal: AbortSignal): Promise<void> {
    const { statsMs, sleep, logger } = this.deps;
    for (;;) {
      await sleep(statsMs, signal);
      if (signal.aborted) return;
      logger.info(this.stats(), "reporter counters");
    }
  }
}
