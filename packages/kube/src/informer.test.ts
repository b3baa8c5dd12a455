import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock, settle } from "./testing/fake-clock.js";
import { KubeApiError } from "./errors.js";
import { INFORMER_BACKOFF, Informer, decideReconnect, labelKey, ownerKeys } from "./informer.js";
import {
  type KubeObject,
  type KubePort,
  type ListResult,
  Resources,
  type WatchEvent,
  type WatchOptions,
} from "./port.js";

const gone = new KubeApiError("too old", { code: 410, reason: "Expired", retryable: false });
const unavailable = new KubeApiError("down", { code: 503, reason: "ServiceUnavailable", retryable: true });

describe("decideReconnect", () => {
  const cases: Array<
    [string, Parameters<typeof decideReconnect>[0], number, { relist: boolean; delayMs: number; failures: number }]
  > = [
    [
      "a watch the server closed resumes at once and clears the failures",
      { kind: "closed" },
      3,
      { relist: false, delayMs: 0, failures: 0 },
    ],
    [
      "410 Gone on a watch re-lists at once",
      { kind: "failed", phase: "watch", error: gone },
      2,
      { relist: true, delayMs: 0, failures: 0 },
    ],
    [
      "a failed watch resumes from its version after a backoff",
      { kind: "failed", phase: "watch", error: unavailable },
      0,
      { relist: false, delayMs: 500, failures: 1 },
    ],
    [
      "a failed list lists again after a growing backoff",
      { kind: "failed", phase: "list", error: unavailable },
      2,
      { relist: true, delayMs: 2000, failures: 3 },
    ],
    [
      "410 on a list waits too, so a confused server cannot make us spin",
      { kind: "failed", phase: "list", error: gone },
      0,
      { relist: true, delayMs: 500, failures: 1 },
    ],
  ];
  for (const [name, outcome, failures, expected] of cases) {
    it(name, () =>
      assert.deepEqual(
        decideReconnect(outcome, failures, INFORMER_BACKOFF, () => 0.5),
        expected,
      ),
    );
  }
});

describe("key mappers", () => {
  const job: KubeObject = {
    metadata: {
      namespace: "ns",
      name: "r1-fold-0",
      labels: { "nnunet-operator.io/run": "r1" },
      ownerReferences: [
        { apiVersion: "nnunet-operator.io/v1alpha1", kind: "TrainingRun", name: "r1", uid: "u" },
        { apiVersion: "v1", kind: "Other", name: "x", uid: "v" },
      ],
    },
  };
  it("maps a child to its owning TrainingRun's key", () =>
    assert.deepEqual(ownerKeys("TrainingRun")(job, { type: "added", object: job }), ["ns/r1"]));
  it("maps a labelled object to the run named by the label", () =>
    assert.equal(labelKey("nnunet-operator.io/run")(job, { type: "added", object: job }), "ns/r1"));
  it("maps an unlabelled object to no key", () =>
    assert.equal(labelKey("missing")(job, { type: "added", object: job }), undefined));
});

type WatchStep = (emit: (e: WatchEvent) => void, signal: AbortSignal) => Promise<void>;

/** A KubePort whose list results and watch sessions are scripted, recording what it was asked. */
function scriptedPort(lists: Array<ListResult | Error>, watches: WatchStep[]) {
  const listCalls: unknown[] = [];
  const watchCalls: WatchOptions[] = [];
  const port: Pick<KubePort, "list" | "watch"> = {
    async list<T extends KubeObject>(_r: unknown, options: unknown) {
      listCalls.push(options);
      const next = lists.shift();
      if (!next) throw new Error("unexpected list");
      if (next instanceof Error) throw next;
      return next as ListResult<T>;
    },
    async watch<T extends KubeObject>(
      _r: unknown,
      options: WatchOptions,
      onEvent: (e: WatchEvent<T>) => void,
      signal: AbortSignal,
    ) {
      watchCalls.push(options);
      const step = watches.shift();
      if (!step)
        return signal.aborted
          ? undefined
          : new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
      return step(onEvent as (e: WatchEvent) => void, signal);
    },
  };
  return { port, listCalls, watchCalls };
}

const obj = (name: string, rv: string): KubeObject => ({ metadata: { namespace: "ns", name, resourceVersion: rv } });

describe("Informer", () => {
  it("lists, watches from the list's version and resumes from the last event or bookmark after the server closes", async () => {
    const { port, watchCalls } = scriptedPort(
      [{ items: [obj("a", "5")], resourceVersion: "10" }],
      [
        async (emit) => {
          emit({ type: "ADDED", object: obj("b", "11") });
          emit({ type: "BOOKMARK", object: { metadata: { resourceVersion: "15" } } });
        },
        async (emit) => emit({ type: "DELETED", object: obj("a", "16") }),
      ],
    );
    const informer = new Informer({ port, resource: Resources.pods, clock: new FakeClock() });
    const keys: string[] = [];
    informer.onChange((o) => `${o.metadata.namespace}/${o.metadata.name}`, { add: (k) => keys.push(k) });
    const controller = new AbortController();
    const running = informer.run(controller.signal);
    assert.equal(await informer.waitForSync(controller.signal), true);
    await settle();
    assert.deepEqual(
      watchCalls.map((w) => w.resourceVersion),
      ["10", "15", "16"],
    );
    assert.deepEqual(keys, ["ns/a", "ns/b", "ns/a"]);
    assert.deepEqual(informer.store.keys(), ["ns/b"]);
    controller.abort();
    await running;
  });

  it("caches listed and watched objects through the transform", async () => {
    const fat = (name: string, rv: string): KubeObject => ({
      metadata: {
        namespace: "ns",
        name,
        resourceVersion: rv,
        managedFields: [{ manager: "x" }],
      } as KubeObject["metadata"],
    });
    const { port } = scriptedPort(
      [{ items: [fat("a", "5")], resourceVersion: "10" }],
      [async (emit) => emit({ type: "ADDED", object: fat("b", "11") })],
    );
    const slim = (o: KubeObject): KubeObject => {
      const { managedFields: _m, ...metadata } = o.metadata as KubeObject["metadata"] & { managedFields?: unknown };
      return { ...o, metadata };
    };
    const informer = new Informer({ port, resource: Resources.pods, clock: new FakeClock(), transform: slim });
    const controller = new AbortController();
    const running = informer.run(controller.signal);
    await informer.waitForSync(controller.signal);
    await settle();
    assert.deepEqual(
      informer.store.list().map((o) => o.metadata),
      [
        { namespace: "ns", name: "a", resourceVersion: "5" },
        { namespace: "ns", name: "b", resourceVersion: "11" },
      ],
    );
    controller.abort();
    await running;
  });

  it("re-lists on 410 Gone and reports the objects deleted while it was away", async () => {
    const { port, listCalls } = scriptedPort(
      [
        { items: [obj("a", "1"), obj("b", "1")], resourceVersion: "1" },
        { items: [obj("b", "1"), obj("c", "30")], resourceVersion: "30" },
      ],
      [async () => Promise.reject(gone)],
    );
    const changes: string[] = [];
    const informer = new Informer({ port, resource: Resources.pods, clock: new FakeClock() });
    informer.addHandler((c) => changes.push(`${c.type} ${c.object.metadata.name}`));
    const controller = new AbortController();
    const running = informer.run(controller.signal);
    await settle();
    await settle();
    assert.equal(listCalls.length, 2);
    assert.deepEqual(changes, ["added a", "added b", "deleted a", "added c"]);
    assert.equal(informer.resourceVersion, "30");
    controller.abort();
    await running;
  });

  it("waits the injected backoff after failures, growing it, and reports each error", async () => {
    const delays: number[] = [];
    const errors: unknown[] = [];
    const { port, listCalls } = scriptedPort(
      [unavailable, unavailable, { items: [], resourceVersion: "7" }],
      [async () => Promise.reject(unavailable)],
    );
    const informer = new Informer({
      port,
      resource: Resources.jobs,
      random: () => 0.5,
      delay: async (ms) => {
        delays.push(ms);
        return true;
      },
      onError: (e) => errors.push(e),
    });
    const controller = new AbortController();
    const running = informer.run(controller.signal);
    await informer.waitForSync(controller.signal);
    await settle();
    assert.equal(listCalls.length, 3);
    assert.deepEqual(delays, [500, 1000, 500], "two failed lists, then a failed watch after a success");
    assert.equal(errors.length, 3);
    controller.abort();
    await running;
  });

  it("pages through a long list with continue tokens before it watches", async () => {
    const { port, listCalls, watchCalls } = scriptedPort(
      [
        { items: [obj("a", "1")], resourceVersion: "9", continue: "page2" },
        { items: [obj("b", "2")], resourceVersion: "9" },
      ],
      [],
    );
    const informer = new Informer({ port, resource: Resources.pods, pageSize: 1, clock: new FakeClock() });
    const controller = new AbortController();
    const running = informer.run(controller.signal);
    await informer.waitForSync();
    await settle();
    assert.deepEqual(listCalls, [
      { namespace: undefined, limit: 1 },
      { namespace: undefined, limit: 1, continue: "page2" },
    ]);
    assert.equal(informer.store.size, 2);
    assert.equal(watchCalls[0]?.resourceVersion, "9");
    controller.abort();
    await running;
  });

  it("keeps running when a handler throws", async () => {
    const { port } = scriptedPort([{ items: [obj("a", "1"), obj("b", "1")], resourceVersion: "1" }], []);
    const errors: unknown[] = [];
    const informer = new Informer({
      port,
      resource: Resources.pods,
      onError: (e) => errors.push(e),
      clock: new FakeClock(),
    });
    const seen: string[] = [];
    informer.addHandler(() => {
      throw new Error("bad handler");
    });
    informer.addHandler((c) => seen.push(c.object.metadata.name ?? ""));
    const controller = new AbortController();
    const running = informer.run(controller.signal);
    await informer.waitForSync();
    assert.deepEqual(seen, ["a", "b"]);
    assert.equal(errors.length, 2);
    controller.abort();
    await running;
  });

  describe("over several namespaces", () => {
    /** A port that lists and watches per namespace from scripted lists, with watches the test feeds. */
    function namespacedPort(lists: Record<string, Array<ListResult | Error>>) {
      const calls: string[] = [];
      const feeds = new Map<string, (e: WatchEvent) => void>();
      const ends = new Map<string, (err?: Error) => void>();
      const port: Pick<KubePort, "list" | "watch"> = {
        async list<T extends KubeObject>(_r: unknown, options?: { namespace?: string }) {
          const ns = options?.namespace ?? "*";
          calls.push(`list ${ns}`);
          const next = lists[ns]?.shift();
          if (!next) throw new Error(`unexpected list of ${ns}`);
          if (next instanceof Error) throw next;
          return next as ListResult<T>;
        },
        watch<T extends KubeObject>(
          _r: unknown,
          options: WatchOptions,
          onEvent: (e: WatchEvent<T>) => void,
          signal: AbortSignal,
        ) {
          const ns = options.namespace ?? "*";
          calls.push(`watch ${ns}@${options.resourceVersion}`);
          feeds.set(ns, onEvent as (e: WatchEvent) => void);
          return new Promise<void>((resolve, reject) => {
            ends.set(ns, (err) => (err ? reject(err) : resolve()));
            signal.addEventListener("abort", () => resolve(), { once: true });
          });
        },
      };
      return { port, calls, feeds, ends };
    }
    const inNs = (ns: string, name: string, rv: string): KubeObject => ({
      metadata: { namespace: ns, name, resourceVersion: rv },
    });

    it("lists and watches each namespace on its own, never the whole cluster, into one cache", async () => {
      const { port, calls, feeds } = namespacedPort({
        "team-a": [{ items: [inNs("team-a", "a", "3")], resourceVersion: "10" }],
        "team-b": [{ items: [inNs("team-b", "b", "4")], resourceVersion: "20" }],
      });
      const informer = new Informer({
        port,
        resource: Resources.jobs,
        namespaces: ["team-a", "team-b", "team-a"],
        clock: new FakeClock(),
      });
      const controller = new AbortController();
      const running = informer.run(controller.signal);
      assert.equal(await informer.waitForSync(controller.signal), true);
      await settle();
      feeds.get("team-b")?.({ type: "ADDED", object: inNs("team-b", "c", "21") });
      assert.deepEqual(calls.sort(), ["list team-a", "list team-b", "watch team-a@10", "watch team-b@20"]);
      assert.deepEqual(informer.store.keys().sort(), ["team-a/a", "team-b/b", "team-b/c"]);
      controller.abort();
      await running;
    });

    it("has synced only when every namespace has listed once", async () => {
      const { port } = namespacedPort({
        "team-a": [{ items: [], resourceVersion: "1" }],
        "team-b": [unavailable, { items: [], resourceVersion: "2" }],
      });
      let release: () => void = () => undefined;
      const informer = new Informer({
        port,
        resource: Resources.jobs,
        namespaces: ["team-a", "team-b"],
        delay: () => new Promise<boolean>((resolve) => (release = () => resolve(true))),
        onError: () => undefined,
      });
      const controller = new AbortController();
      const running = informer.run(controller.signal);
      await settle();
      assert.equal(informer.hasSynced(), false, "team-b's list failed; its retry waits");
      release();
      assert.equal(await informer.waitForSync(controller.signal), true);
      controller.abort();
      await running;
    });

    it("re-lists one namespace after 410 Gone and keeps the other namespace's objects", async () => {
      const { port, calls, ends } = namespacedPort({
        "team-a": [
          { items: [inNs("team-a", "a1", "1"), inNs("team-a", "a2", "1")], resourceVersion: "5" },
          { items: [inNs("team-a", "a2", "1")], resourceVersion: "9" },
        ],
        "team-b": [{ items: [inNs("team-b", "b", "1")], resourceVersion: "6" }],
      });
      const changes: string[] = [];
      const informer = new Informer({
        port,
        resource: Resources.pods,
        namespaces: ["team-a", "team-b"],
        clock: new FakeClock(),
      });
      informer.addHandler((c) => changes.push(`${c.type} ${c.object.metadata.namespace}/${c.object.metadata.name}`));
      const controller = new AbortController();
      const running = informer.run(controller.signal);
      await informer.waitForSync(controller.signal);
      await settle();
      ends.get("team-a")?.(gone);
      await settle();
      await settle();
      assert.deepEqual(changes.slice(-1), ["deleted team-a/a1"]);
      assert.deepEqual(informer.store.keys().sort(), ["team-a/a2", "team-b/b"]);
      assert.equal(calls.filter((c) => c === "list team-b").length, 1, "team-b was not listed again");
      assert.ok(calls.includes("watch team-a@9"));
      controller.abort();
      await running;
    });

    it("refuses namespaces on a cluster-scoped resource, and namespace together with namespaces", () => {
      const { port } = namespacedPort({});
      assert.throws(() => new Informer({ port, resource: Resources.nodes, namespaces: ["team-a"] }), /cluster-scoped/);
      assert.throws(
        () => new Informer({ port, resource: Resources.jobs, namespace: "x", namespaces: ["team-a"] }),
        /not both/,
      );
    });

    it("watches the whole cluster with one watch when the list of namespaces is empty", async () => {
      const { port, calls } = namespacedPort({ "*": [{ items: [], resourceVersion: "1" }] });
      const informer = new Informer({ port, resource: Resources.jobs, namespaces: [], clock: new FakeClock() });
      const controller = new AbortController();
      const running = informer.run(controller.signal);
      await informer.waitForSync(controller.signal);
      await settle();
      assert.deepEqual(calls, ["list *", "watch *@1"]);
      controller.abort();
      await running;
    });
  });
});
