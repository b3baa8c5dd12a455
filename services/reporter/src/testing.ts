import { MESSAGE_SCHEMA_VERSION, type EpochMetricsInput } from "@nnunet-operator/api";
import type { ReporterIdentity } from "./epoch-message.js";
import type { EpochBusPort, Sleep } from "./publish.js";

// Test doubles shared by the reporter's unit tests: a fake clock whose sleeps resolve only
// when the test advances time, and an in-memory bus with a JetStream-like duplicate check.

export class FakeClock {
  now = 0;
  readonly waits: number[] = [];
  #timers: { at: number; resolve: () => void }[] = [];

  readonly sleep: Sleep = (ms, signal) =>
    new Promise<void>((resolve) => {
      this.waits.push(ms);
      if (signal.aborted) return resolve();
      const timer = { at: this.now + ms, resolve };
      this.#timers.push(timer);
      signal.addEventListener(
        "abort",
        () => {
          this.#timers = this.#timers.filter((t) => t !== timer);
          resolve();
        },
        { once: true },
      );
    });

  get pending(): number {
    return this.#timers.length;
  }

  /** Moves time on, fires due sleeps, and lets the woken code run. */
  async advance(ms: number): Promise<void> {
    await settle();
    this.now += ms;
    const due = this.#timers.filter((t) => t.at <= this.now);
    this.#timers = this.#timers.filter((t) => t.at > this.now);
    for (const t of due) t.resolve();
    await settle();
  }
}

/** Lets pending promise chains run to their next real wait. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

export class RetryableError extends Error {
  override readonly name = "RetryableError";
  readonly retryable = true;
}

export class TerminalError extends Error {
  override readonly name = "TerminalError";
  readonly retryable = false;
}

/** A bus that stores by message id like JetStream's duplicate window (an endless one). */
export class FakeBus implements EpochBusPort {
  up = true;
  /** The next publishes store the message but lose the ack (the client sees a failure). */
  loseAcks = 0;
  /** Ids refused for good. */
  readonly refuse = new Set<string>();
  readonly stored: string[] = [];
  readonly tries: string[] = [];
  /** When set, the bus answers lastStoredEpoch with this (a function may throw). */
  lastStored: (() => number | undefined) | undefined;
  lookups = 0;

  lastStoredEpoch = async (_identity: ReporterIdentity): Promise<number | undefined> => {
    this.lookups += 1;
    if (this.lastStored === undefined) return undefined;
    if (!this.up) throw new RetryableError("bus down");
    return this.lastStored();
  };

  async publish(message: EpochMetricsInput, msgId: string): Promise<{ duplicate: boolean }> {
    this.tries.push(msgId);
    if (this.refuse.has(msgId)) throw new TerminalError(`refused ${msgId}`);
    if (!this.up) throw new RetryableError("bus down");
    const duplicate = this.stored.includes(msgId);
    if (!duplicate) this.stored.push(msgId);
    if (this.loseAcks > 0) {
      this.loseAcks -= 1;
      throw new RetryableError("ack lost");
    }
    void message;
    return { duplicate };
  }
}

export const IDENTITY: ReporterIdentity = { namespace: "team-a", run: "liver", runUid: "uid-1", fold: "0", attempt: 0 };

export function makeEpochMessage(epoch: number, overrides: Partial<EpochMetricsInput> = {}): EpochMetricsInput {
  return {
    schemaVersion: MESSAGE_SCHEMA_VERSION,
    namespace: "team-a",
    run: "liver",
    runUid: "uid-1",
    fold: "0",
    attempt: 0,
    epoch,
    trainLoss: -0.5,
    valLoss: -0.4,
    pseudoDice: [0.8],
    pseudoDiceMean: 0.8,
    emaPseudoDice: 0.7,
    newBest: true,
    observedAt: "2026-01-01T00:00:00.000Z",
    ...overrides,
  };
}
