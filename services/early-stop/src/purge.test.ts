import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock, settle } from "@nnunet-operator/kube/testing";
import { pino } from "pino";
import { Registry } from "prom-client";
import { createEarlyStopMetrics } from "./metrics.js";
import { RunPurger, sweepCandidates } from "./purge.js";

// early-stop purges a deleted run's epochs: when it sees the deletion, and in a sweep for
// runs that are gone from the cluster but not from the stream.

const ref = (namespace: string, run: string) => ({ namespace, run });

describe("sweepCandidates", () => {
  const stored = [ref("team-a", "live"), ref("team-a", "gone"), ref("team-b", "gone")];
  const cached = (ns: string, run: string) => ns === "team-a" && run === "live";
  const cases: Array<[string, string[], string[]]> = [
    ["every namespace watched: the runs the cache lacks, in any namespace", [], ["team-a/gone", "team-b/gone"]],
    ["some namespaces watched: only theirs, whose runs early-stop can know", ["team-a"], ["team-a/gone"]],
    ["a watched namespace without stored epochs adds nothing", ["team-c"], []],
  ];
  for (const [name, namespaces, expected] of cases)
    it(name, () =>
      assert.deepEqual(
        sweepCandidates(stored, cached, namespaces).map((r) => `${r.namespace}/${r.run}`),
        expected,
      ),
    );
});

function setup(options: { namespaces?: string[]; existing?: string[]; synced?: boolean } = {}) {
  const clock = new FakeClock(0);
  const registry = new Registry();
  const cache = new Set(options.existing ?? []);
  const api = new Set(options.existing ?? []);
  const stored = new Map<string, number>();
  const purges: string[] = [];
  const lookups: string[] = [];
  const failures: Error[] = [];
  let synced = options.synced ?? true;
  let wake: () => void = () => undefined;
  const purger = new RunPurger({
    cached: (ns, run) => cache.has(`${ns}/${run}`),
    gone: async (ns, run) => {
      lookups.push(`${ns}/${run}`);
      return !api.has(`${ns}/${run}`);
    },
    stream: {
      async purge(ns, run) {
        const failure = failures.shift();
        if (failure) throw failure;
        purges.push(`${ns}/${run}`);
        const messages = stored.get(`${ns}/${run}`) ?? 0;
        stored.delete(`${ns}/${run}`);
        return messages;
      },
      async runs() {
        return [...stored.keys()].map((k) => {
          const [namespace = "", run = ""] = k.split("/");
          return { namespace, run };
        });
      },
    },
    namespaces: options.namespaces ?? [],
    waitForRuns: () =>
      synced ? Promise.resolve(true) : new Promise<boolean>((resolve) => (wake = () => resolve(true))),
    metrics: createEarlyStopMetrics(registry),
    clock,
    log: pino({ level: "silent" }),
    intervalMs: 60_000,
  });
  const counted = async () =>
    ((await registry.getMetricsAsJSON()).find((m) => m.name === "nnunet_earlystop_run_purges_total")?.values ?? [])
      .map((v) => `${v.labels.trigger}/${v.labels.result}=${v.value}`)
      .sort();
  return {
    clock,
    purger,
    cache,
    api,
    stored,
    purges,
    lookups,
    failures,
    counted,
    sync: () => {
      synced = true;
      wake();
    },
  };
}

describe("RunPurger", () => {
  it("purges a deleted run's epochs when the deletion is seen, and counts it", async () => {
    const t = setup();
    t.stored.set("team-a/liver", 12);
    await t.purger.deleted("team-a", "liver");
    assert.deepEqual(t.purges, ["team-a/liver"]);
    assert.deepEqual(await t.counted(), ["deleted/purged=1"]);
  });

  it("leaves the epochs alone when a run of the same name exists again by the time the deletion is handled", async () => {
    const t = setup({ existing: ["team-a/liver"] });
    await t.purger.deleted("team-a", "liver");
    assert.deepEqual(t.purges, []);
  });

  it("counts a failed purge and does not throw: the sweep tries again", async () => {
    const t = setup();
    t.stored.set("team-a/liver", 3);
    t.failures.push(new Error("NATS unreachable"));
    await t.purger.deleted("team-a", "liver");
    assert.deepEqual(await t.counted(), ["deleted/failed=1"]);
    assert.equal(await t.purger.sweep(), 1);
    assert.deepEqual(t.purges, ["team-a/liver"]);
    assert.deepEqual(await t.counted(), ["deleted/failed=1", "sweep/purged=1"]);
  });

  it("sweeps only runs the API server says are gone, not ones a stale cache lacks", async () => {
    const t = setup();
    t.stored.set("team-a/gone", 5);
    t.stored.set("team-a/new", 1);
    t.api.add("team-a/new"); // created after the cache last heard
    assert.equal(await t.purger.sweep(), 1);
    assert.deepEqual(t.purges, ["team-a/gone"]);
    assert.deepEqual(t.lookups.sort(), ["team-a/gone", "team-a/new"]);
  });

  it("sweeps only the watched namespaces and looks nothing up for runs in the cache", async () => {
    const t = setup({ namespaces: ["team-a"], existing: ["team-a/live"] });
    for (const k of ["team-a/live", "team-a/gone", "team-b/other"]) t.stored.set(k, 1);
    await t.purger.sweep();
    assert.deepEqual(t.purges, ["team-a/gone"]);
    assert.deepEqual(t.lookups, ["team-a/gone"]);
  });

  it("waits for the run cache, sweeps at once, then every interval until its term ends", async () => {
    const t = setup({ synced: false });
    t.stored.set("team-a/old", 1);
    const term = new AbortController();
    const running = t.purger.run(term.signal);
    await settle();
    assert.deepEqual(t.purges, [], "nothing before the cache has listed");
    t.sync();
    await settle();
    assert.deepEqual(t.purges, ["team-a/old"]);
    t.stored.set("team-a/later", 1);
    await t.clock.advance(59_000);
    assert.deepEqual(t.purges, ["team-a/old"], "not before the interval");
    await t.clock.advance(1_000);
    assert.deepEqual(t.purges, ["team-a/old", "team-a/later"]);
    term.abort();
    await running;
    t.stored.set("team-a/after", 1);
    await t.clock.advance(120_000);
    assert.deepEqual(t.purges, ["team-a/old", "team-a/later"], "no sweep after the term");
  });
});
