import { AsyncLocalStorage } from "node:async_hooks";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { writeHeapSnapshot } from "node:v8";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { Registry } from "prom-client";
import { LABEL_RUN } from "@nnunet-operator/api";
import { ClientPort, type KubeObject, type KubePort, Resources } from "@nnunet-operator/kube";
import { Operator, parseOperatorConfig } from "../src/runtime.js";

// The operator process of the API benchmark (operator-api.ts): bundled with
// images/bundle.sh and run with plain node, as the operator image runs, so its resident
// memory is what production would see. Talks to the parent over IPC: "mark" snapshots the
// reconcile latencies so far, "report" answers with every figure, "heap" writes a heap
// snapshot to BENCH_HEAP_SNAPSHOT, "stop" shuts down.

/** Per reconcile pass: milliseconds its awaited API calls took (wall; concurrent calls overlap). */
const pass = new AsyncLocalStorage<{ apiMs: number }>();
function timed<T>(p: Promise<T>): Promise<T> {
  const store = pass.getStore();
  if (!store) return p;
  const t = performance.now();
  return p.finally(() => (store.apiMs += performance.now() - t));
}

/** Counts the operator's writes per run (Jobs, run status and metadata, events). */
function countingPort(inner: KubePort, perRun: Map<string, number>, verbs: Map<string, number>): KubePort {
  const bump = (verb: string, run: string | undefined) => {
    verbs.set(verb, (verbs.get(verb) ?? 0) + 1);
    if (run) perRun.set(run, (perRun.get(run) ?? 0) + 1);
  };
  const runOf = (o: KubeObject): string | undefined =>
    o.metadata.labels?.[LABEL_RUN] ?? (o as { regarding?: { name?: string } }).regarding?.name;
  return {
    get: (r, k) => inner.get(r, k),
    list: (r, o) => inner.list(r, o),
    watch: (r, o, e, s) => inner.watch(r, o, e, s),
    replace: (r, o, opts) => (bump(`update ${r.plural}`, undefined), timed(inner.replace!(r, o, opts))),
    create: (r, o, opts) => (
      bump(`create ${r.plural}`, runOf(o)),
      // Events are not awaited by the pass (a bounded background queue sends them).
      r.plural === "events" ? inner.create(r, o, opts) : timed(inner.create(r, o, opts))
    ),
    patch: (r, k, p, o) => (
      bump(
        `patch ${r.plural}`,
        r === Resources.trainingRuns ? k.name : r.plural === "events" ? k.name.split(".")[0] : undefined,
      ),
      timed(inner.patch(r, k, p, o))
    ),
    patchStatus: (r, k, p, o) => (bump(`patchStatus ${r.plural}`, k.name), timed(inner.patchStatus(r, k, p, o))),
    delete: (r, k, o) => (
      bump(`delete ${r.plural}`, k.name.replace(/-(fold|validate)-[^-]+$|-calibrate$/, "")),
      timed(inner.delete(r, k, o))
    ),
  };
}

const kc = new KubeConfig();
kc.loadFromFile(process.env.KUBECONFIG ?? "");
const perRun = new Map<string, number>();
const verbs = new Map<string, number>();
const operator = new Operator({
  port: countingPort(new ClientPort(kc), perRun, verbs),
  config: parseOperatorConfig("namespace: nnunet-system"),
  logger: pino({ level: process.env.BENCH_LOG ?? "silent" }),
  registry: new Registry(),
  identity: "bench",
  statusMinIntervalSeconds: 30,
});
const latencies: number[] = [];
const cpu: number[] = [];
const apiMs: number[] = [];
let marked = 0;
const reconcile = operator.reconciler.reconcile.bind(operator.reconciler);
operator.reconciler.reconcile = async (key) => {
  const t = performance.now();
  const c = process.cpuUsage();
  const store = { apiMs: 0 };
  try {
    return await pass.run(store, () => reconcile(key));
  } finally {
    latencies.push(performance.now() - t);
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1000);
    apiMs.push(store.apiMs);
  }
};
// Admission cycles are O(runs); a cycle over many runs yields between its steps, and while
// a slice of it runs every pass waiting on an API answer waits too. Their work, their longest
// slices, and the event loop's delay say how much of a pass's latency is the operator's own.
const cycles: number[] = [];
const slices: number[] = [];
const inputs: number[] = [];
const applies: number[] = [];
operator.scheduler.onCycleEnd = (c) => {
  cycles.push(c.busyMs);
  slices.push(c.longestSliceMs);
  inputs.push(c.inputsMs);
  applies.push(c.applyMs);
};
let markedCycles = 0;
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
let fillLoopDelay = { p50: 0, p99: 0, max: 0 };
let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
const startRss = process.memoryUsage().rss;
const controller = new AbortController();
const running = operator.run(controller.signal);

process.on("message", (m: { type: string }) => {
  if (m.type === "mark") {
    marked = latencies.length;
    markedCycles = cycles.length;
    // The histogram records the time between its timer's ticks: the delay is what exceeds the
    // 10 ms resolution (on shared cores, time the OS gave the process none is in it too).
    const ms = (ns: number) => Math.max(0, ns / 1e6 - 10);
    fillLoopDelay = {
      p50: ms(loopDelay.percentile(50)),
      p99: ms(loopDelay.percentile(99)),
      max: ms(loopDelay.max),
    };
    process.send!({ type: "marked", rss: process.memoryUsage().rss });
  } else if (m.type === "report") {
    global.gc?.();
    process.send!({
      type: "report",
      latencies,
      cpu,
      apiMs,
      marked,
      cycles,
      slices,
      inputs,
      applies,
      markedCycles,
      fillLoopDelay,
      perRun: [...perRun],
      verbs: [...verbs],
      peakRss,
      startRss,
      afterGc: process.memoryUsage(),
    });
  } else if (m.type === "heap") {
    // BENCH_HEAP_SNAPSHOT: where the heap went, for Chrome DevTools' Memory tab.
    process.send!({ type: "heap", path: writeHeapSnapshot(process.env.BENCH_HEAP_SNAPSHOT) });
  } else if (m.type === "stop") {
    clearInterval(sampler);
    controller.abort();
    void running.then(() => process.exit(0));
  }
});
// The bench gone (it failed): so is its operator.
process.on("disconnect", () => {
  controller.abort();
  void running.then(() => process.exit(1));
  setTimeout(() => process.exit(1), 5000).unref();
});
process.send!({ type: "started" });
