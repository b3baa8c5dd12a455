import { readFileSync } from "node:fs";
import { Cluster } from "../src/cluster.js";
import type { KubeObject } from "../src/api/resources.js";
import { buildNodes, parseNodeSpec } from "../src/nodes/node-spec.js";
import { Scheduler } from "../src/scheduler/scheduler.js";
import { podRequests } from "../src/scheduler/resources.js";
import { startDevCluster } from "../src/server.js";

// Benchmark of the simulation (npm run bench:devcluster-sim):
// 1. scheduling: 500 nodes x 4 GPUs (two products), 2,000 one-GPU pods with required node
//    affinity to a product, then 200 more that cannot fit: pods bound per second, and a
//    recount from the store that no node is over-committed;
// 2. 100 simulated nnU-Net trainers at 20 epochs/s each, run by the kubelet as local
//    processes: CPU used by the kubelet's process and the trainers over a steady window.

const NODES = 500;
const PODS = 2000;
const EXTRA = 200;
const TRAINERS = Number(process.env["BENCH_TRAINERS"] ?? 100);
const EPOCHS_PER_SECOND = 20;
const WINDOW_MS = 10_000;

const rows: [string, string, string, string][] = [];
const row = (metric: string, value: string, target: string, ok: boolean | undefined) =>
  rows.push([metric, value, target, ok === undefined ? "" : ok ? "ok" : "MISSED"]);

function gpuPod(i: number): KubeObject {
  const product = i % 2 === 0 ? "NVIDIA-L40S" : "NVIDIA-A100-SXM4-80GB";
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: `p-${i}`, namespace: "default" },
    spec: {
      restartPolicy: "Never",
      tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [
              { matchExpressions: [{ key: "nvidia.com/gpu.product", operator: "In", values: [product] }] },
            ],
          },
        },
      },
      containers: [
        {
          name: "c",
          image: "example.com/idle",
          resources: { limits: { "nvidia.com/gpu": "1", cpu: "4", memory: "16Gi" } },
        },
      ],
    },
  };
}

async function benchScheduling(): Promise<void> {
  const cluster = new Cluster({ podTermination: "external", historySize: 20_000 });
  await cluster.start();
  const nodeDef = cluster.resource("", "v1", "nodes");
  for (const n of buildNodes(parseNodeSpec(`${NODES / 2}xL40S:4,${NODES / 2}xA100-80GB:4`)))
    await cluster.registry.create(nodeDef, undefined, n);
  const scheduler = new Scheduler(cluster);
  const stop = scheduler.start();
  const bound = () => [...cluster.store.scan("pods")].filter((e) => e.fields["spec.nodeName"]).length;
  const t0 = performance.now();
  for (let i = 0; i < PODS; i++) await cluster.create(gpuPod(i));
  const created = performance.now();
  while (bound() < PODS) {
    await scheduler.idle();
    await new Promise((r) => setImmediate(r));
  }
  const t1 = performance.now();
  for (let i = PODS; i < PODS + EXTRA; i++) await cluster.create(gpuPod(i));
  await scheduler.idle();
  await scheduler.idle();
  const unschedulable = [...cluster.store.scan("pods")].filter((e) =>
    ((e.object["status"] as { conditions?: { type: string; status: string }[] }).conditions ?? []).some(
      (c) => c.type === "PodScheduled" && c.status === "False",
    ),
  ).length;
  // Recount from the store, not from the scheduler's cache.
  const used = new Map<string, number>();
  for (const e of cluster.store.scan("pods")) {
    const node = e.fields["spec.nodeName"];
    if (node)
      used.set(
        node,
        (used.get(node) ?? 0) + (podRequests(e.object["spec"] as never).get("nvidia.com/gpu") ?? 0) / 1000,
      );
  }
  const over = [...used].filter(
    ([name, n]) =>
      n >
      Number(
        (cluster.store.get("nodes", undefined, name)!["status"] as { allocatable: Record<string, string> }).allocatable[
          "nvidia.com/gpu"
        ],
      ),
  ).length;
  stop();
  cluster.stop();
  const rate = PODS / ((t1 - t0) / 1000);
  row(
    `scheduling: ${PODS} pods on ${NODES} nodes x 4 GPUs (create + bind)`,
    `${rate.toFixed(0)} pods/s`,
    ">= 500 pods/s",
    rate >= 500,
  );
  row("  of which binding after the creates", `${(PODS / ((t1 - created) / 1000)).toFixed(0)} pods/s`, "", undefined);
  row(
    `scheduling: ${EXTRA} pods that cannot fit`,
    `${unschedulable} Unschedulable`,
    `${EXTRA}`,
    unschedulable === EXTRA,
  );
  row("over-committed nodes (recount from the store)", String(over), "0", over === 0);
}

function cpuOfPid(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime in clock ticks (100 Hz)
  } catch {
    return 0;
  }
}

async function benchTrainers(): Promise<void> {
  const dc = await startDevCluster({
    nodes: `${Math.ceil(TRAINERS / 8)}xL40S:8`,
    seedClaims: [{ name: "data" }],
    epochsPerSecond: EPOCHS_PER_SECOND,
    tls: false,
  });
  const c = dc.cluster;
  for (let i = 0; i < TRAINERS; i++) {
    await c.create({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: `trainer-${i}`, namespace: "default" },
      spec: {
        restartPolicy: "Never",
        tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
        containers: [
          {
            name: "nnunet",
            image: "nnunet-operator/nnunet:latest",
            command: ["nnUNetv2_train"],
            // Five recorded folds of 1000 epochs: each trainer replays its fold's own curve.
            args: [
              "Dataset705_TopCoWDetCTAextendedMaskCTAMRA",
              "3d_fullres_spacing_ps",
              String(i % 5),
              "-tr",
              `Trainer${i}`,
              "-p",
              "nnUNetPlans",
            ],
            env: [
              { name: "nnUNet_preprocessed", value: "/data/nnUNet_preprocessed" },
              { name: "nnUNet_results", value: "/data/nnUNet_results" },
            ],
            volumeMounts: [{ name: "data", mountPath: "/data" }],
            resources: { limits: { "nvidia.com/gpu": "1" } },
          },
        ],
        volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data" } }],
      },
    });
  }
  const running = () =>
    [...c.store.scan("pods")].filter(
      (e) =>
        (e.object["status"] as { containerStatuses?: { state: { running?: unknown } }[] }).containerStatuses?.[0]?.state
          .running,
    );
  const startWait = performance.now();
  while (running().length < TRAINERS && performance.now() - startWait < 180_000)
    await new Promise((r) => setTimeout(r, 250));
  // Let every trainer finish starting up (tsx, the plans, the GPU model) before measuring.
  await new Promise((r) => setTimeout(r, 8000));
  const pids = running().map((e) =>
    Number(
      /\d+$/.exec(
        (e.object["status"] as { containerStatuses: { containerID: string }[] }).containerStatuses[0]!.containerID,
      )![0],
    ),
  );
  const self0 = process.cpuUsage();
  const kids0 = pids.map(cpuOfPid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, WINDOW_MS));
  const seconds = (performance.now() - t0) / 1000;
  const self = process.cpuUsage(self0);
  const kids = pids.map(cpuOfPid).reduce((sum, v, i) => sum + (v - kids0[i]!), 0);
  const selfCores = (self.user + self.system) / 1e6 / seconds;
  const kidCores = kids / seconds;
  row(
    `trainers running at ${EPOCHS_PER_SECOND} epochs/s each`,
    `${pids.length}`,
    `${TRAINERS}`,
    pids.length === TRAINERS,
  );
  row(
    "CPU: kubelet's process (API, scheduler, Job controller, kubelet)",
    `${selfCores.toFixed(3)} cores`,
    "",
    undefined,
  );
  row("CPU: simulated trainers together", `${kidCores.toFixed(3)} cores`, "", undefined);
  row(
    "CPU: kubelet + simulators",
    `${(selfCores + kidCores).toFixed(3)} cores`,
    "< 0.5 cores",
    selfCores + kidCores < 0.5,
  );
  await dc.stop();
}

await benchScheduling();
await benchTrainers();
const widths = [0, 1, 2, 3].map((i) =>
  Math.max(...[["metric", "value", "target", ""], ...rows].map((r) => r[i]!.length)),
);
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
console.log(line(["metric", "value", "target", ""]));
console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
for (const r of rows) console.log(line(r));
process.exit(0);
