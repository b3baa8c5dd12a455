// Throughput of the work queue and the informer's store, printed as a table.
// Run: npm run bench:kube
import { ObjectStore } from "../src/store.js";
import { WorkQueue } from "../src/workqueue.js";
import type { KubeObject } from "../src/port.js";

interface Row {
  case: string;
  ops: number;
  seconds: number;
  note: string;
}

async function queueBench(adds: number, keys: number, concurrency: number, yieldEvery: number): Promise<Row> {
  const queue = new WorkQueue({ concurrency });
  let processed = 0;
  const controller = new AbortController();
  const started = performance.now();
  const running = queue.run(async () => {
    processed += 1;
    await Promise.resolve();
  }, controller.signal);
  for (let i = 0; i < adds; i++) {
    queue.add(`ns/run-${i % keys}`);
    if (yieldEvery > 0 && i % yieldEvery === yieldEvery - 1) await new Promise((r) => setImmediate(r));
  }
  while (queue.len() > 0) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  const seconds = (performance.now() - started) / 1000;
  controller.abort();
  await running;
  return {
    case: `queue: ${adds} adds over ${keys} keys, ${concurrency} workers, ${yieldEvery ? `yielding every ${yieldEvery}` : "one burst"}`,
    ops: adds,
    seconds,
    note: `${processed} passes (merged ${(100 * (1 - processed / adds)).toFixed(1)}%)`,
  };
}

function storeBench(n: number): Row[] {
  const objects = (rv: number): KubeObject[] =>
    Array.from({ length: n }, (_, i) => ({
      metadata: {
        namespace: `ns-${i % 50}`,
        name: `pod-${i}`,
        resourceVersion: String(rv + (i % 2)),
        labels: { "nnunet-operator.io/run": `run-${i % 1000}`, "nnunet-operator.io/fold": String(i % 5) },
        ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: `job-${i}`, uid: `uid-${i}` }],
      },
    }));
  const store = new ObjectStore();
  const first = objects(1);
  let t = performance.now();
  store.replace(first);
  const listSeconds = (performance.now() - t) / 1000;
  const second = objects(2);
  t = performance.now();
  const changes = store.replace(second);
  const relistSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  let found = 0;
  for (let i = 0; i < 10_000; i++) found += store.byLabel("nnunet-operator.io/run", `run-${i % 1000}`).length;
  const lookupSeconds = (performance.now() - t) / 1000;
  return [
    { case: `store: initial list of ${n} objects`, ops: n, seconds: listSeconds, note: "3 indexes" },
    { case: `store: re-list of ${n} objects`, ops: n, seconds: relistSeconds, note: `${changes.length} changes` },
    { case: "store: 10000 label lookups", ops: 10_000, seconds: lookupSeconds, note: `${found / 10_000} objects each` },
  ];
}

const rows = [
  await queueBench(200_000, 5_000, 4, 0),
  await queueBench(200_000, 5_000, 4, 1000),
  await queueBench(200_000, 200_000, 4, 1000),
  ...storeBench(50_000),
];
console.log("| case | ops | seconds | ops/s | note |");
console.log("|---|---:|---:|---:|---|");
for (const r of rows)
  console.log(`| ${r.case} | ${r.ops} | ${r.seconds.toFixed(3)} | ${Math.round(r.ops / r.seconds)} | ${r.note} |`);
