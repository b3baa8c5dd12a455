import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock, settle } from "./testing/fake-clock.js";
import { type ProcessFn, WorkQueue, computeBackoff } from "./workqueue.js";

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** A queue with a recording handler; `block` makes the handler wait for a key's release. */
function harness(options: { concurrency?: number; fail?: (key: string, n: number) => unknown } = {}) {
  const clock = new FakeClock();
  const calls: string[] = [];
  const counts = new Map<string, number>();
  const gates = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  let active = 0;
  let maxActive = 0;
  const queue = new WorkQueue({ clock, concurrency: options.concurrency ?? 1, random: () => 0.5 });
  const process: ProcessFn = async (key) => {
    active += 1;
    maxActive = Math.max(maxActive, active);
    calls.push(key);
    const n = (counts.get(key) ?? 0) + 1;
    counts.set(key, n);
    try {
      await gates.get(key)?.promise;
      const failure = options.fail?.(key, n);
      if (failure) throw failure;
    } finally {
      active -= 1;
    }
  };
  const controller = new AbortController();
  const running = queue.run(process, controller.signal);
  const block = (key: string) => {
    const d = deferred();
    gates.set(key, d);
    return () => {
      gates.delete(key);
      d.resolve();
    };
  };
  return { clock, queue, calls, block, controller, running, maxActive: () => maxActive };
}

describe("computeBackoff", () => {
  const config = { baseMs: 100, maxMs: 10_000, jitter: 0.2 };
  const cases: Array<[string, number, () => number, number]> = [
    ["the first failure waits the base delay", 1, () => 0.5, 100],
    ["each further failure doubles the delay", 4, () => 0.5, 800],
    ["the delay never passes the cap", 20, () => 0.5, 10_000],
    ["a thousand failures still give the cap, not Infinity or NaN", 1000, () => 0.5, 10_000],
    ["jitter spreads the delay down by up to its fraction", 3, () => 0, 320],
    ["jitter spreads the delay up by up to its fraction", 3, () => 1, 480],
    ["jitter above the cap is clipped to the cap", 30, () => 1, 10_000],
  ];
  for (const [name, failures, random, expected] of cases) {
    it(name, () => assert.equal(computeBackoff(failures, config, random), expected));
  }
});

describe("WorkQueue", () => {
  it("merges adds of a key that is already queued into one pass", async () => {
    const h = harness();
    const release = h.block("ns/a");
    h.queue.add("ns/a");
    await settle();
    h.queue.add("ns/b");
    h.queue.add("ns/b");
    h.queue.add("ns/b");
    assert.equal(h.queue.len(), 1);
    release();
    await settle();
    await settle();
    assert.deepEqual(h.calls, ["ns/a", "ns/b"]);
    h.controller.abort();
    await h.running;
  });

  it("never processes one key twice at once and re-runs it once when it was added during processing", async () => {
    const h = harness({ concurrency: 4 });
    const release = h.block("ns/a");
    h.queue.add("ns/a");
    await settle();
    h.queue.add("ns/a");
    h.queue.add("ns/a");
    await settle();
    assert.deepEqual(h.calls, ["ns/a"], "the second add waits for the first pass");
    release();
    await settle();
    await settle();
    assert.deepEqual(h.calls, ["ns/a", "ns/a"], "exactly one more pass");
    assert.equal(h.maxActive(), 1);
    h.controller.abort();
    await h.running;
  });

  it("serves addFirst keys before the others, moving a queued key forward, and a key in flight first after its pass", async () => {
    const h = harness();
    const release = h.block("ns/a");
    h.queue.add("ns/a");
    await settle();
    for (const k of ["ns/b", "ns/c", "ns/d"]) h.queue.add(k);
    h.queue.addFirst("ns/d"); // queued already: moves ahead
    h.queue.addFirst("ns/e"); // new: behind the earlier addFirst
    h.queue.addFirst("ns/a"); // in flight: again, first, once it is done
    h.queue.addFirst("ns/d"); // merged
    assert.equal(h.queue.len(), 4);
    release();
    for (let i = 0; i < 8; i++) await settle();
    assert.deepEqual(h.calls, ["ns/a", "ns/d", "ns/e", "ns/a", "ns/b", "ns/c"]);
    h.controller.abort();
    await h.running;
  });

  it("runs different keys in parallel up to the concurrency bound", async () => {
    const h = harness({ concurrency: 2 });
    const releases = ["a", "b", "c"].map((k) => h.block(k));
    for (const k of ["a", "b", "c"]) h.queue.add(k);
    await settle();
    assert.deepEqual(h.calls, ["a", "b"]);
    releases.forEach((r) => r());
    await settle();
    await settle();
    assert.deepEqual(h.calls, ["a", "b", "c"]);
    assert.equal(h.maxActive(), 2);
    h.controller.abort();
    await h.running;
  });

  it("retries a failing key with growing backoff and starts over after a success", async () => {
    const h = harness({ fail: (_k, n) => (n <= 3 ? new Error("transient") : undefined) });
    h.queue.add("k");
    await settle();
    assert.equal(h.calls.length, 1);
    await h.clock.advance(99);
    assert.equal(h.calls.length, 1, "not before the base delay of 100 ms");
    await h.clock.advance(1);
    assert.equal(h.calls.length, 2);
    await h.clock.advance(199);
    assert.equal(h.calls.length, 2, "the second retry waits 200 ms");
    await h.clock.advance(1);
    assert.equal(h.calls.length, 3);
    await h.clock.advance(400);
    assert.equal(h.calls.length, 4);
    assert.equal(h.queue.numRequeues("k"), 0, "success forgets the failures");
    await h.clock.advance(60_000);
    assert.equal(h.calls.length, 4, "no retry after success");
    h.controller.abort();
    await h.running;
  });

  it("waits at least as long as the server asked with Retry-After", async () => {
    const h = harness({
      fail: (_k, n) => (n === 1 ? Object.assign(new Error("429"), { retryAfterMs: 3000 }) : undefined),
    });
    h.queue.add("k");
    await settle();
    await h.clock.advance(2999);
    assert.equal(h.calls.length, 1, "not after the 100 ms backoff");
    await h.clock.advance(1);
    assert.equal(h.calls.length, 2);
    h.controller.abort();
    await h.running;
  });

  it("does not retry an error that says it is terminal", async () => {
    const terminal = Object.assign(new Error("422 Invalid"), { retryable: false });
    const h = harness({ fail: () => terminal });
    h.queue.add("k");
    await settle();
    await h.clock.advance(600_000);
    assert.equal(h.calls.length, 1);
    assert.equal(h.queue.waitingCount(), 0);
    h.controller.abort();
    await h.running;
  });

  it("requeues after the delay a handler asks for, keeping the earliest of several delays", async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    const calls: number[] = [];
    const controller = new AbortController();
    const running = queue.run(async () => {
      calls.push(clock.now());
      return calls.length === 1 ? { requeueAfterMs: 5000 } : undefined;
    }, controller.signal);
    const t0 = clock.now();
    queue.add("k");
    await settle();
    queue.addAfter("k", 9000);
    queue.addAfter("k", 3000);
    await clock.advance(10_000);
    assert.deepEqual(
      calls.map((t) => t - t0),
      [0, 3000],
    );
    controller.abort();
    await running;
  });

  it("on shutdown waits for the handler in flight, drops queued and delayed keys and refuses new ones", async () => {
    const h = harness();
    const release = h.block("a");
    h.queue.add("a");
    await settle();
    h.queue.add("b");
    h.queue.addAfter("c", 1000);
    h.controller.abort();
    let finished = false;
    void h.running.then(() => (finished = true));
    await settle();
    assert.equal(finished, false, "the handler of a is still running");
    h.queue.add("d");
    release();
    await h.running;
    await h.clock.advance(5000);
    assert.deepEqual(h.calls, ["a"]);
    assert.equal(h.clock.pending(), 0, "delayed timers are cancelled");
  });

  it("reports depth, adds, retries and latency through the metrics hooks", async () => {
    const clock = new FakeClock();
    const seen = { depth: [] as number[], added: 0, retried: 0, latency: [] as number[], work: 0 };
    const queue = new WorkQueue({
      clock,
      random: () => 0.5,
      metrics: {
        depth: (d) => seen.depth.push(d),
        added: () => (seen.added += 1),
        retried: () => (seen.retried += 1),
        queueLatency: (s) => seen.latency.push(s),
        workDuration: () => (seen.work += 1),
      },
    });
    queue.add("a");
    queue.add("b");
    await clock.advance(2000);
    const controller = new AbortController();
    let first = true;
    const running = queue.run(async () => {
      if (first) {
        first = false;
        throw new Error("boom");
      }
    }, controller.signal);
    await clock.advance(1000);
    controller.abort();
    await running;
    assert.equal(seen.added, 3, "two adds and the retry's add");
    assert.equal(seen.retried, 1);
    assert.deepEqual(seen.latency.slice(0, 2), [2, 2], "both keys waited 2 s for a worker");
    assert.equal(seen.work, 3);
    assert.equal(seen.depth[1], 2);
  });
});
