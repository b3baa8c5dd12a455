import { type Clock, sleep, systemClock, toMicroTime } from "./clock.js";
import { isAlreadyExists, isConflict, isNotFound } from "./errors.js";
import { type KubeObject, type KubePort, Resources, apiVersionOf } from "./port.js";

// Lease-based leader election (coordination.k8s.io/v1), after client-go's leaderelection:
// the holder renews every retry period; a candidate takes the Lease over once it has not
// changed for leaseDuration; every write carries the resourceVersion it was decided on, so
// of two candidates racing for one Lease exactly one wins (the other gets 409 Conflict).
// Expiry is measured on the candidate's own clock from when it last saw the record change,
// not from renewTime, so clock skew between replicas cannot cause an early takeover.

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export interface LeaderElectionConfig {
  /** How long a non-renewed Lease stays valid for candidates. */
  leaseDurationMs: number;
  /** The leader gives up if it could not renew for this long; must be below leaseDurationMs. */
  renewDeadlineMs: number;
  /** Pause between attempts to acquire or renew. */
  retryPeriodMs: number;
}

export const DEFAULT_LEADER_ELECTION: LeaderElectionConfig = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

export type LeaseDecision =
  | { action: "create" | "acquire" | "renew"; spec: LeaseSpec }
  | { action: "wait"; holder: string; expiresAtMs: number };

function parseTime(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * What `identity` should do about `lease` at `nowMs`. Pure.
 * `observedAtMs`: when this candidate last saw the Lease record change (its own clock); if
 * omitted, the Lease's renewTime is trusted.
 */
export function decideLease(
  lease: Lease | undefined,
  identity: string,
  nowMs: number,
  config: LeaderElectionConfig,
  observedAtMs?: number,
): LeaseDecision {
  const now = toMicroTime(nowMs);
  const leaseDurationSeconds = Math.ceil(config.leaseDurationMs / 1000);
  if (!lease) {
    return {
      action: "create",
      spec: { holderIdentity: identity, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
    };
  }
  const spec = lease.spec ?? {};
  if (spec.holderIdentity === identity) {
    return { action: "renew", spec: { ...spec, holderIdentity: identity, leaseDurationSeconds, renewTime: now } };
  }
  const lastRenew = observedAtMs ?? parseTime(spec.renewTime) ?? parseTime(spec.acquireTime) ?? 0;
  const expiresAtMs = lastRenew + (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
  if (spec.holderIdentity && nowMs < expiresAtMs) {
    return { action: "wait", holder: spec.holderIdentity, expiresAtMs };
  }
  return {
    action: "acquire",
    spec: {
      holderIdentity: identity,
      leaseDurationSeconds,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: (spec.leaseTransitions ?? 0) + 1,
    },
  };
}

export interface LeaderElectorOptions {
  port: Pick<KubePort, "get" | "create" | "patch">;
  namespace: string;
  name: string;
  /** Unique per replica: the pod name, plus a random suffix if pods can share names. */
  identity: string;
  config?: Partial<LeaderElectionConfig>;
  clock?: Clock;
  /** Starts the leader's work; `signal` aborts when leadership ends. */
  onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  onStoppedLeading?: () => void;
  /** Called whenever the observed holder changes (this replica included). */
  onNewLeader?: (identity: string) => void;
  /** On shutdown, hand the Lease back so another replica takes over at once. Default true. */
  releaseOnCancel?: boolean;
  onError?: (err: unknown) => void;
}

export class LeaderElector {
  private readonly config: LeaderElectionConfig;
  private readonly clock: Clock;
  private leading: AbortController | undefined;
  private lastRenewMs = 0;
  private observed: { record: string; atMs: number } | undefined;
  private current: Lease | undefined;
  private knownLeader: string | undefined;

  constructor(private readonly options: LeaderElectorOptions) {
    this.config = { ...DEFAULT_LEADER_ELECTION, ...options.config };
    this.clock = options.clock ?? systemClock;
    if (this.config.renewDeadlineMs >= this.config.leaseDurationMs)
      throw new Error("renewDeadlineMs must be below leaseDurationMs");
  }

  isLeader(): boolean {
    return this.leading !== undefined;
  }

  /** Campaigns, leads and renews until `signal` aborts; then steps down (and releases). */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const held = await this.tryAcquireOrRenew();
      const now = this.clock.now();
      if (held) {
        this.lastRenewMs = now;
        if (!this.leading) this.startLeading();
      } else if (this.leading && now - this.lastRenewMs >= this.config.renewDeadlineMs) {
        this.stopLeading();
      }
      await sleep(this.clock, this.config.retryPeriodMs, signal);
    }
    if (this.leading) {
      if (this.options.releaseOnCancel ?? true) await this.release();
      this.stopLeading();
    }
  }

  private startLeading(): void {
    const controller = new AbortController();
    this.leading = controller;
    try {
      Promise.resolve(this.options.onStartedLeading(controller.signal)).catch((err) => this.options.onError?.(err));
    } catch (err) {
      this.options.onError?.(err);
    }
  }

  private stopLeading(): void {
    this.leading?.abort();
    this.leading = undefined;
    this.options.onStoppedLeading?.();
  }

  private key() {
    return { namespace: this.options.namespace, name: this.options.name };
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    let lease: Lease | undefined;
    try {
      lease = await this.options.port.get<Lease>(Resources.leases, this.key());
    } catch (err) {
      if (!isNotFound(err)) {
        this.options.onError?.(err);
        return false;
      }
    }
    const now = this.clock.now();
    const record = JSON.stringify([
      lease?.spec?.holderIdentity,
      lease?.spec?.renewTime,
      lease?.metadata.resourceVersion,
    ]);
    if (this.observed?.record !== record) this.observed = { record, atMs: now };
    this.current = lease;
    const decision = decideLease(
      lease,
      this.options.identity,
      now,
      this.config,
      lease ? this.observed.atMs : undefined,
    );
    if (decision.action === "wait") {
      this.noteLeader(decision.holder);
      return false;
    }
    try {
      if (decision.action === "create") {
        const body: Lease = {
          apiVersion: apiVersionOf(Resources.leases),
          kind: "Lease",
          metadata: this.key(),
          spec: decision.spec,
        };
        this.current = await this.options.port.create<Lease>(Resources.leases, body);
      } else {
        this.current = await this.write(lease!, decision.spec);
      }
    } catch (err) {
      // Another replica wrote first: not an error, just a lost race.
      if (!isConflict(err) && !isAlreadyExists(err)) this.options.onError?.(err);
      return false;
    }
    this.observed = {
      record: JSON.stringify([
        decision.spec.holderIdentity,
        decision.spec.renewTime,
        this.current?.metadata.resourceVersion,
      ]),
      atMs: now,
    };
    this.noteLeader(this.options.identity);
    return true;
  }

  private async release(): Promise<void> {
    const lease = this.current;
    if (lease?.spec?.holderIdentity !== this.options.identity) return;
    const now = toMicroTime(this.clock.now());
    try {
      await this.write(lease, { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: now });
    } catch (err) {
      this.options.onError?.(err);
    }
  }

  /**
   * Writes `spec` over `lease` with a merge patch guarded by the resourceVersion it was
   * decided on (a stale version is a 409, a lost race). The chart's Roles grant leases
   * get, create and patch, nothing more.
   */
  private write(lease: Lease, spec: LeaseSpec): Promise<Lease> {
    const patch = { metadata: { resourceVersion: lease.metadata.resourceVersion }, spec };
    return this.options.port.patch<Lease>(Resources.leases, this.key(), patch, { type: "merge" });
  }

  private noteLeader(identity: string): void {
    if (identity === this.knownLeader) return;
    this.knownLeader = identity;
    this.options.onNewLeader?.(identity);
  }
}
