// Cost of dropping unknown fields from a built-in object on each write (builtin-schema.ts),
// for a pod of the shape our training Jobs create: `npx tsx services/devcluster/bench/prune.bench.ts`.
import { builtinDefinitionName, pruneUnknownFields } from "../src/api/builtin-schema.js";
const pod = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: "p",
    namespace: "default",
    labels: { a: "b" },
    ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: "j", uid: "u", controller: true }],
  },
  spec: {
    restartPolicy: "Never",
    containers: [
      {
        name: "main",
        image: "nnunet",
        command: ["a", "b"],
        env: Array.from({ length: 10 }, (_, i) => ({ name: `E${i}`, value: String(i) })),
        resources: { limits: { "nvidia.com/gpu": "1", cpu: "4" } },
        volumeMounts: [{ name: "d", mountPath: "/d" }],
      },
      { name: "reporter", image: "r" },
    ],
    volumes: [{ name: "d", persistentVolumeClaim: { claimName: "c" } }],
  },
  status: {
    phase: "Running",
    conditions: [{ type: "Ready", status: "True" }],
    containerStatuses: [
      {
        name: "main",
        ready: true,
        restartCount: 0,
        image: "x",
        imageID: "y",
        state: { running: { startedAt: "2026-01-01T00:00:00Z" } },
      },
    ],
  },
};
const name = builtinDefinitionName({ group: "", version: "v1", kind: "Pod" })!;
pruneUnknownFields(name, structuredClone(pod));
const n = 20000;
const t0 = performance.now();
for (let i = 0; i < n; i++) pruneUnknownFields(name, structuredClone(pod));
const t1 = performance.now();
for (let i = 0; i < n; i++) structuredClone(pod);
const t2 = performance.now();
console.log(`prune: ${(((t1 - t0 - (t2 - t1)) / n) * 1000).toFixed(1)} µs per pod write (clone excluded), n=${n}`);
