import { fork } from "node:child_process";
import { Agent, request } from "node:http";
import { fileURLToPath } from "node:url";

// Benchmark of the devcluster API (npm run bench:devcluster): 10,000 pod creates with 5
// concurrent watchers (writes/s, write-to-watch delivery latency p50/p99), a list of
// 10,000 pods, and resident memory at 50,000 pods. The server runs in a child process
// over plain HTTP on loopback; the numbers are for this machine and print with targets.

const CREATES = 10_000;
const WATCHERS = 5;
const CONCURRENCY = 16;
const TOTAL_FOR_RSS = 50_000;

interface Child {
  url: string;
  token: string;
  rss(): Promise<number>;
  stop(): void;
}

function startChild(): Promise<Child> {
  const script = fileURLToPath(new URL("./server-child.ts", import.meta.url));
  const child = fork(script, [], {
    execArgv: [
      "--import",
      "tsx",
      "--expose-gc",
      ...(process.env["BENCH_CPU_PROFILE"] ? ["--cpu-prof", `--cpu-prof-dir=${process.env["BENCH_CPU_PROFILE"]}`] : []),
    ],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise((resolve) => {
    child.once("message", (m: { url: string; token: string }) => {
      resolve({
        url: m.url,
        token: m.token,
        rss: () =>
          new Promise((r) => {
            child.once("message", (x: { rss: number }) => r(x.rss));
            child.send({ type: "rss" });
          }),
        stop: () => child.send({ type: "stop" }),
      });
    });
  });
}

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function call(base: string, method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}${path}`,
      {
        method,
        agent,
        headers: body ? { "content-type": "application/json", "content-length": Buffer.byteLength(body) } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const pod = (i: number) =>
  JSON.stringify({
    metadata: {
      name: `pod-${String(i).padStart(6, "0")}`,
      labels: { app: "bench", shard: String(i % 10) },
      annotations: { "bench/sent-at": String(performance.timeOrigin + performance.now()) },
    },
    spec: {
      containers: [
        {
          name: "nnunet",
          image: "nnunet:2.5",
          args: ["nnUNetv2_train", "Dataset501", "3d_fullres", "0"],
          env: [{ name: "nnUNet_results", value: "/data/results" }],
          resources: {
            requests: { cpu: "4", memory: "32Gi", "nvidia.com/gpu": "1" },
            limits: { "nvidia.com/gpu": "1" },
          },
          volumeMounts: [{ name: "data", mountPath: "/data" }],
        },
      ],
      volumes: [{ name: "data", persistentVolumeClaim: { claimName: "nnunet-data" } }],
    },
  });

function watch(base: string, rv: string, latencies: number[], onCount: () => void): () => void {
  const req = request(
    `${base}/api/v1/namespaces/bench/pods?watch=true&resourceVersion=${rv}`,
    { agent: false },
    (res) => {
      let buf = "";
      res.on("data", (c: Buffer) => {
        const now = performance.timeOrigin + performance.now();
        buf += c.toString("utf8");
        let i: number;
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          const m = /"bench\/sent-at":"([0-9.]+)"/.exec(line);
          if (m && line.startsWith('{"type":"ADDED"')) {
            latencies.push(now - Number(m[1]));
            onCount();
          }
        }
      });
    },
  );
  req.on("error", () => undefined);
  req.end();
  return () => req.destroy();
}

async function createRange(base: string, from: number, to: number): Promise<void> {
  let next = from;
  const worker = async () => {
    while (next < to) {
      const i = next++;
      const r = await call(base, "POST", "/api/v1/namespaces/bench/pods", pod(i));
      if (r.status !== 201) throw new Error(`create ${i}: ${r.status} ${r.text.slice(0, 200)}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

const child = await startChild();
const base = child.url;
await call(base, "POST", "/api/v1/namespaces", JSON.stringify({ metadata: { name: "bench" } }));
const rv = (
  JSON.parse((await call(base, "GET", "/api/v1/namespaces/bench/pods")).text) as {
    metadata: { resourceVersion: string };
  }
).metadata.resourceVersion;

const latencies: number[] = [];
let delivered = 0;
let allDelivered: () => void = () => undefined;
const done = new Promise<void>((r) => (allDelivered = r));
const stops = Array.from({ length: WATCHERS }, () =>
  watch(base, rv, latencies, () => {
    if (++delivered === CREATES * WATCHERS) allDelivered();
  }),
);
await new Promise((r) => setTimeout(r, 200));

const t0 = performance.now();
await createRange(base, 0, CREATES);
const writeSeconds = (performance.now() - t0) / 1000;
await Promise.race([done, new Promise((r) => setTimeout(r, 30_000))]);
for (const s of stops) s();

const listTimes: number[] = [];
let listed = 0;
for (let i = 0; i < 5; i++) {
  const t = performance.now();
  const r = await call(base, "GET", "/api/v1/namespaces/bench/pods");
  listTimes.push(performance.now() - t);
  listed = (JSON.parse(r.text) as { items: unknown[] }).items.length;
}

await createRange(base, CREATES, TOTAL_FOR_RSS);
const rss = await child.rss();
child.stop();
agent.destroy();

const writesPerSecond = CREATES / writeSeconds;
const rows: [string, string, string, boolean][] = [
  [
    `create ${CREATES} pods, ${WATCHERS} watchers (writes/s)`,
    writesPerSecond.toFixed(0),
    ">= 2000",
    writesPerSecond >= 2000,
  ],
  [`watch delivery p50 (ms, ${delivered}/${CREATES * WATCHERS} events)`, pct(latencies, 50).toFixed(1), "-", true],
  ["watch delivery p99 (ms)", pct(latencies, 99).toFixed(1), "< 50", pct(latencies, 99) < 50],
  [`list ${listed} pods (ms, median of 5)`, pct(listTimes, 50).toFixed(1), "< 200", pct(listTimes, 50) < 200],
  [`RSS at ${TOTAL_FOR_RSS} pods (MB)`, (rss / 1024 / 1024).toFixed(0), "< 500", rss < 500 * 1024 * 1024],
];
const w = [Math.max(...rows.map((r) => r[0].length)), 8, 8];
console.log(`${"metric".padEnd(w[0]!)}  ${"value".padStart(w[1]!)}  ${"target".padEnd(w[2]!)}  ok`);
for (const [m, v, t, ok] of rows)
  console.log(`${m.padEnd(w[0]!)}  ${v.padStart(w[1]!)}  ${t.padEnd(w[2]!)}  ${ok ? "yes" : "NO"}`);
