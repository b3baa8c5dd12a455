import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { toMicroTime } from "./clock.js";
import { FakeClock } from "./testing/fake-clock.js";
import { KubeApiError } from "./errors.js";
import { DEFAULT_LEADER_ELECTION, type Lease, LeaderElector, decideLease } from "./leader.js";
import { Resources } from "./port.js";
import { FakeKubePort } from "./testing/fake-port.js";

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const config = DEFAULT_LEADER_ELECTION; // 15 s lease, 10 s renew deadline, 2 s retry

function lease(holder: string, renewMsAgo: number, transitions = 3): Lease {
  return {
    metadata: { name: "op", namespace: "sys", resourceVersion: "7" },
    spec: {
      holderIdentity: holder,
      leaseDurationSeconds: 15,
      acquireTime: toMicroTime(T0 - 60_000),
      renewTime: toMicroTime(T0 - renewMsAgo),
      leaseTransitions: transitions,
    },
  };
}

describe("decideLease", () => {
  const cases: Array<[string, Lease | undefined, number | undefined, string, Record<string, unknown>]> = [
    [
      "creates the Lease when there is none",
      undefined,
      undefined,
      "create",
      { holderIdentity: "me", leaseTransitions: 0, acquireTime: toMicroTime(T0) },
    ],
    [
      "renews its own Lease, keeping acquireTime and transitions",
      lease("me", 5_000),
      undefined,
      "renew",
      { holderIdentity: "me", leaseTransitions: 3, acquireTime: toMicroTime(T0 - 60_000), renewTime: toMicroTime(T0) },
    ],
    ["waits while another holder's Lease is fresh", lease("other", 14_000), undefined, "wait", {}],
    [
      "takes over a Lease not renewed for its duration, counting a transition",
      lease("other", 15_000),
      undefined,
      "acquire",
      { holderIdentity: "me", leaseTransitions: 4, acquireTime: toMicroTime(T0) },
    ],
    [
      "takes over a released Lease at once",
      lease("", 0),
      undefined,
      "acquire",
      { holderIdentity: "me", leaseTransitions: 4 },
    ],
    ["trusts its own observation over a renewTime from a skewed clock", lease("other", 60_000), T0 - 3_000, "wait", {}],
    [
      "takes over when its own observation is older than the duration",
      lease("other", 0),
      T0 - 16_000,
      "acquire",
      { holderIdentity: "me" },
    ],
  ];
  for (const [name, current, observedAt, action, fields] of cases) {
    it(name, () => {
      const decision = decideLease(current, "me", T0, config, observedAt);
      assert.equal(decision.action, action);
      if (decision.action !== "wait") {
        for (const [k, v] of Object.entries(fields))
          assert.deepEqual(decision.spec[k as keyof typeof decision.spec], v, k);
        assert.equal(decision.spec.leaseDurationSeconds, 15);
      } else {
        assert.equal(decision.holder, "other");
      }
    });
  }
  it("writes MicroTime with six fractional digits", () => {
    const d = decideLease(undefined, "me", T0 + 123, config);
    assert.equal(d.action === "create" && d.spec.renewTime, "2026-01-01T12:00:00.123000Z");
  });
});

function elector(port: FakeKubePort, clock: FakeClock, identity: string, log: string[]) {
  const controller = new AbortController();
  const e = new LeaderElector({
    port,
    clock,
    namespace: "sys",
    name: "op",
    identity,
    onStartedLeading: (signal) => {
      log.push(`${identity} started`);
      signal.addEventListener("abort", () => log.push(`${identity} signal aborted`));
    },
    onStoppedLeading: () => log.push(`${identity} stopped`),
  });
  const running = e.run(controller.signal);
  return { e, stop: async () => (controller.abort(), await running) };
}

describe("LeaderElector", () => {
  it("lets exactly one of two replicas lead and hands over at once when the leader shuts down", async () => {
    const port = new FakeKubePort();
    const clock = new FakeClock(T0);
    const log: string[] = [];
    const a = elector(port, clock, "a", log);
    await clock.advance(0);
    const b = elector(port, clock, "b", log);
    await clock.advance(10_000);
    assert.equal(a.e.isLeader(), true);
    assert.equal(b.e.isLeader(), false);
    await a.stop();
    const released = await port.get<Lease>(Resources.leases, { namespace: "sys", name: "op" });
    assert.equal(released.spec?.holderIdentity, "", "the leader released the Lease");
    await clock.advance(2_000);
    assert.equal(b.e.isLeader(), true, "b took over within one retry period");
    assert.deepEqual(log, ["a started", "a signal aborted", "a stopped", "b started"]);
    const taken = await port.get<Lease>(Resources.leases, { namespace: "sys", name: "op" });
    assert.equal(taken.spec?.leaseTransitions, 1);
    await b.stop();
  });

  it("steps down after the renew deadline when the API is unreachable, before anyone else can take over", async () => {
    const port = new FakeKubePort();
    const clock = new FakeClock(T0);
    const log: string[] = [];
    const a = elector(port, clock, "a", log);
    await clock.advance(0);
    assert.equal(a.e.isLeader(), true);
    const down = new KubeApiError("connection refused", { code: 0, reason: "NetworkError", retryable: true });
    for (let i = 0; i < 20; i++) port.failNext("get", down);
    await clock.advance(9_000);
    assert.equal(a.e.isLeader(), true, "still within the renew deadline");
    await clock.advance(2_000);
    assert.equal(a.e.isLeader(), false);
    assert.deepEqual(log, ["a started", "a signal aborted", "a stopped"]);
    await a.stop();
  });

  it("renews and releases with merge patches, which the chart's RBAC grants as patch, never update", async () => {
    const port = new FakeKubePort();
    const clock = new FakeClock(T0);
    const controller = new AbortController();
    const e = new LeaderElector({
      port,
      clock,
      namespace: "sys",
      name: "op",
      identity: "a",
      onStartedLeading: () => {},
    });
    const running = e.run(controller.signal);
    await clock.advance(0);
    await clock.advance(2_000);
    controller.abort();
    await running;
    const verbs = port.writes().map((r) => r.verb);
    assert.deepEqual(verbs, ["create", "patch", "patch"], "create, one renew, the release");
  });

  it("loses a race for the Lease to a concurrent writer without reporting an error", async () => {
    const port = new FakeKubePort();
    const clock = new FakeClock(T0);
    await port.create<Lease>(Resources.leases, {
      metadata: { namespace: "sys", name: "op" },
      spec: { holderIdentity: "", renewTime: toMicroTime(T0) },
    });
    port.failNext("patch", new KubeApiError("modified", { code: 409, reason: "Conflict", retryable: true }));
    const errors: unknown[] = [];
    const controller = new AbortController();
    const e = new LeaderElector({
      port,
      clock,
      namespace: "sys",
      name: "op",
      identity: "a",
      onStartedLeading: () => {},
      onError: (err) => errors.push(err),
    });
    const running = e.run(controller.signal);
    await clock.advance(0);
    assert.equal(e.isLeader(), false);
    await clock.advance(2_000);
    assert.equal(e.isLeader(), true, "won on the next attempt");
    assert.deepEqual(errors, []);
    controller.abort();
    await running;
  });

  it("takes over a crashed leader's Lease only after the lease duration passed on its own clock", async () => {
    const port = new FakeKubePort();
    const clock = new FakeClock(T0);
    const crashed = new AbortController();
    const a = new LeaderElector({
      port,
      clock,
      namespace: "sys",
      name: "op",
      identity: "a",
      onStartedLeading: () => {},
      releaseOnCancel: false,
    });
    const runningA = a.run(crashed.signal);
    await clock.advance(0);
    crashed.abort();
    await runningA;
    const log: string[] = [];
    const b = elector(port, clock, "b", log);
    await clock.advance(14_000);
    assert.equal(b.e.isLeader(), false, "the Lease is still valid");
    await clock.advance(2_000);
    assert.equal(b.e.isLeader(), true);
    await b.stop();
  });

  it("refuses a renew deadline that is not below the lease duration", () => {
    assert.throws(
      () =>
        new LeaderElector({
          port: new FakeKubePort(),
          namespace: "n",
          name: "l",
          identity: "i",
          onStartedLeading: () => {},
          config: { leaseDurationMs: 10_000, renewDeadlineMs: 10_000 },
        }),
    );
  });
});
