// Codec and JetStream throughput of the bus, printed as a table. Starts its own nats-server.
// Run: npm run bench:bus
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { EpochMetrics } from "@nnunet-operator/api";
import { decodeEpochMessage, encodeEpochMetrics } from "../src/messages.js";
import { connectBus, consumeEpochs, ensureEpochConsumer, ensureEpochStream, publishEpoch } from "../src/nats.js";
import { epochSubject } from "../src/subjects.js";
import { startNatsServer } from "../src/testing/nats-server.js";

const N = Number(process.env.BENCH_MESSAGES ?? 20_000);

function epoch(n: number): EpochMetrics {
  return {
    schemaVersion: 1,
    namespace: "bench",
    run: "liver",
    runUid: "uid-bench",
    fold: String(n % 5),
    attempt: 0,
    epoch: Math.floor(n / 5),
    trainLoss: -0.71,
    valLoss: -0.64,
    pseudoDice: Array.from({ length: 14 }, (_, i) => 0.6 + i / 100),
    pseudoDiceMean: 0.66,
    emaPseudoDice: 0.65,
    newBest: n % 7 === 0,
    epochTimeSeconds: 41.3,
    learningRate: 0.0091,
    observedAt: "2026-01-01T00:00:00.000Z",
  };
}

const rows: Array<{ case: string; n: number; seconds: number }> = [];
const time = async (name: string, n: number, fn: () => unknown): Promise<void> => {
  const t = performance.now();
  await fn();
  rows.push({ case: name, n, seconds: (performance.now() - t) / 1000 });
};

const messages = Array.from({ length: N }, (_, i) => epoch(i));
const encoded = messages.map((m) => ({ subject: epochSubject(m), data: encodeEpochMetrics(m) }));
await time("encodeEpochMetrics (zod-checked, 14 classes)", N, () => messages.forEach((m) => encodeEpochMetrics(m)));
await time("decodeEpochMessage (zod + subject check)", N, () =>
  encoded.forEach((e) => decodeEpochMessage(e.subject, e.data)),
);

const server = await startNatsServer();
try {
  const nc = await connectBus({ servers: server.url, name: "bench" });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  await ensureEpochStream(jsm, { maxAgeMs: 3600_000, maxBytes: 1 << 30, duplicateWindowMs: 120_000 });
  const sequential = Math.min(N, 2000);
  await time("publishEpoch, one at a time (await each ack)", sequential, async () => {
    for (let i = 0; i < sequential; i++) await publishEpoch(js, messages[i]!);
  });
  await time("publishEpoch, 256 in flight", N - sequential, async () => {
    for (let i = sequential; i < N; i += 256)
      await Promise.all(messages.slice(i, i + 256).map((m) => publishEpoch(js, m)));
  });
  await ensureEpochConsumer(jsm, "bench", { maxAckPending: 10_000 });
  await time("consumeEpochs, durable pull, explicit ack, no-op handler", N, async () => {
    const controller = new AbortController();
    let seen = 0;
    await consumeEpochs(
      js,
      "bench",
      () => {
        seen += 1;
        if (seen === N) controller.abort();
      },
      controller.signal,
      { batch: 1000 },
    );
  });
  await nc.drain();
} finally {
  await server.stop();
}

console.log("| case | messages | seconds | messages/s |");
console.log("|---|---:|---:|---:|");
for (const r of rows) console.log(`| ${r.case} | ${r.n} | ${r.seconds.toFixed(3)} | ${Math.round(r.n / r.seconds)} |`);
