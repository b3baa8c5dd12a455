// Which parsed epochs the reporter publishes, decided per log file. Pure.
//
// A fold folder can hold logs of other trainer processes: earlier attempts of this fold
// (each attempt is a new pod whose nnU-Net resumes from checkpoint_latest and opens a new
// training_log file), or a finished earlier run that used the same folder. Their lines are
// read to rebuild the parser's EMA history, but their epochs must not be published under
// this pod's attempt: the resumed trainer re-runs the epochs after its checkpoint, and the
// same id <runUid>/<fold>/<attempt>/<epoch> would then name two different epochs (JetStream
// keeps the first, the controller would reject the second as a duplicate), and a finished
// run's log would make the controller stop a training that has just begun.
//
// So, by what the tail saw:
// - an older file (not the newest) is history: parsed, never published;
// - a file that appeared after the reporter started is this pod's trainer: published;
// - the newest file that was already there at start is either this trainer's log (the
//   reporter restarted mid-run) or a dead trainer's (the reporter starts before nnU-Net in a
//   native sidecar). Its epochs are held until the file grows, which only a living trainer
//   does; then they are published in order (the ones published before the restart come
//   back as duplicates). A newer file appearing first proves it history and drops them.
// After a reporter restart this delays the first new publish by at most one log line's
// wait; it never sends an epoch of another trainer.

export type GateMode = "history" | "held" | "live";

export class PublishGate<T> {
  #mode: GateMode = "history";
  #path: string | undefined;
  #synced = false;
  #held: T[] = [];

  get mode(): GateMode {
    return this.#mode;
  }

  get heldCount(): number {
    return this.#held.length;
  }

  /** A new file begins; returns how many held epochs this proved to be history. */
  file(path: string, opts: { newest: boolean; preexisting: boolean }): number {
    const discarded = this.#held.length;
    this.#held = [];
    this.#path = path;
    this.#synced = false;
    this.#mode = !opts.newest ? "history" : opts.preexisting ? "held" : "live";
    return discarded;
  }

  /** The tail handed out all the file held at its first read. */
  synced(path: string): void {
    if (path === this.#path) this.#synced = true;
  }

  /** Call before parsing each line: returns the held epochs a sign of life releases. */
  line(path: string): T[] {
    if (this.#mode !== "held" || !this.#synced || path !== this.#path) return [];
    this.#mode = "live";
    return this.#held.splice(0);
  }

  /** A parsed epoch of the current file: returns what to publish now. */
  epoch(value: T): T[] {
    if (this.#mode === "live") return [value];
    if (this.#mode === "held") this.#held.push(value);
    return [];
  }
}
