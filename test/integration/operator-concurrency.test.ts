// Admission is one loop while reconciles run concurrently (services/operator scheduler.ts):
// eight reconcile workers over 60 runs x 5 folds on 10 nodes x 4 L40S, against the
// devcluster's API, with admission cycles that yield to the event loop between their steps. Every change the API server stores is checked: the GPUs our Jobs hold
// (every Job that is neither finished nor suspended; no pod is ever bound here, so each one
// is a reservation) never exceed the cluster's 40. Training Jobs are then finished in
// rounds, which frees GPUs for validation and for waiting runs while the workers race; the
// cluster fills up again each time and is never over-committed.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { Registry } from "prom-client";
import { isJobFinished, LABEL_ROLE, LABEL_RUN } from "@nnunet-operator/api";
import {
  assertNoUnexpectedFailures,
  type DevCluster,
  type KubeObject,
  startDevCluster,
} from "@nnunet-operator/devcluster";
import { ClientPort, Resources } from "@nnunet-operator/kube";
import { Operator, parseOperatorConfig, podGpuRequest } from "@nnunet-operator/operator/runtime";
import { CRD, eventually } from "./operator-harness.js";

const NS = "team-a";
const RUNS = 60;
const NODES = 10;
const GPUS = NODES * 4;

let dc: DevCluster;
let admin: ClientPort;
let stopOperator: () => Promise<void>;
let operator: Operator;
let peak = 0;
let events = 0;
let created = 0;
let slicedCycles = 0;
const overcommits: string[] = [];

type Job = KubeObject & {
  spec?: { suspend?: boolean; template?: { spec?: never } };
  status?: { conditions?: Array<{ type: string; status: string }> };
};
const jobsDef = () => dc.cluster.resource("batch", "v1", "jobs");
const ourJobs = (): Job[] =>
  [...dc.cluster.store.scan(jobsDef().storage, NS)]
    .map((e) => e.object as Job)
    .filter((j) => j.metadata.labels?.[LABEL_RUN] !== undefined);
const holding = (j: Job) => !j.spec?.suspend && !isJobFinished(j as never) && !j.metadata.deletionTimestamp;
const heldGpus = () =>
  ourJobs()
    .filter(holding)
    .reduce((s, j) => s + podGpuRequest(j.spec?.template?.spec), 0);
const role = (r: string) => ourJobs().filter((j) => j.metadata.labels?.[LABEL_ROLE] === r);

before(async () => {
  dc = await startDevCluster({ manifests: [CRD] });
  const kc = new KubeConfig();
  kc.loadFromFile(dc.kubeconfigPath);
  admin = new ClientPort(kc, { fieldManager: "test" });
  for (const name of [NS, "nnunet-system"])
    await admin.create(Resources.namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
  await admin.create(Resources.persistentVolumeClaims, {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: "data", namespace: NS },
    spec: { accessModes: ["ReadWriteMany"], resources: { requests: { storage: "1Ti" } } },
  });
  for (let i = 0; i < NODES; i++) {
    await admin.create(Resources.nodes, {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: `l40s-${i}`, labels: { "nvidia.com/gpu.product": "NVIDIA-L40S" } },
      spec: { taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }] },
      status: { allocatable: { "nvidia.com/gpu": "4" }, conditions: [{ type: "Ready", status: "True" }] },
    } as KubeObject);
  }
  // Every stored change of a Job is an event at which the invariant must hold.
  dc.cluster.store.watchAll((e) => {
    if (e.storage !== jobsDef().storage) return;
    events += 1;
    if (e.type === "ADDED") created += 1;
    const held = heldGpus();
    peak = Math.max(peak, held);
    if (held > GPUS)
      overcommits.push(
        `${held} GPUs held after ${e.type} of ${(e as unknown as { object?: KubeObject }).object?.metadata.name}: ${ourJobs()
          .filter(holding)
          .map((j) => j.metadata.name)
          .sort()
          .join(" ")}`,
      );
  });
  for (let i = 0; i < RUNS; i++) {
    await admin.create(Resources.trainingRuns, {
      apiVersion: "nnunet-operator.io/v1alpha1",
      kind: "TrainingRun",
      metadata: { name: `run-${String(i).padStart(2, "0")}`, namespace: NS },
      spec: {
        dataset: "Dataset003_Liver",
        configuration: "3d_fullres",
        storage: { claimName: "data" },
        batchSize: { mode: "Fixed", value: 4 },
      },
    } as KubeObject);
  }
  operator = new Operator({
    port: new ClientPort(kc, { fieldManager: "nnunet-operator" }),
    config: parseOperatorConfig("namespace: nnunet-system"),
    logger: pino({ level: process.env.OPERATOR_TEST_LOG ?? "silent" }),
    registry: new Registry(),
    identity: "concurrency-0",
    concurrency: 8,
    // Every cycle yields between its steps (the default does so above 2,000 runs only), so
    // that reconciles run while admission is half done.
    admissionSliceAboveObjects: 0,
    leaderElection: { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 200 },
    statusMinIntervalSeconds: 1,
    waitingResyncSeconds: 2,
  });
  operator.scheduler.onCycleEnd = (c) => {
    slicedCycles += c.slices > 1 ? 1 : 0;
  };
  const abort = new AbortController();
  const done = operator.run(abort.signal);
  stopOperator = async () => {
    abort.abort();
    await done;
  };
});

after(async () => {
  await stopOperator?.();
  await dc?.stop();
  if (dc) assertNoUnexpectedFailures(dc);
});

describe("eight concurrent reconcile workers and one admission loop", { timeout: 240_000 }, () => {
  it("fill the cluster's 40 GPUs and never hold more, at any stored change", async () => {
    await eventually(
      () => heldGpus() === GPUS && role("train").length === GPUS,
      `the cluster full (held ${heldGpus()})`,
      90_000,
    );
    assert.deepEqual(overcommits, []);
    assert.ok(slicedCycles > 0, `${operator.scheduler.cycles} cycles, none in slices`);
  });

  it("refill the GPUs that finished training frees, for validation and waiting runs alike, in four rounds, never over-committing", async () => {
    for (let round = 0; round < 4; round++) {
      const running = role("train").filter(holding).slice(0, 10);
      const before = created;
      const t = new Date().toISOString();
      await Promise.all(
        running.map((j) =>
          admin.patchStatus(
            Resources.jobs,
            { namespace: NS, name: j.metadata.name ?? "" },
            {
              status: {
                succeeded: 1,
                completionTime: t,
                conditions: [{ type: "Complete", status: "True", lastTransitionTime: t }],
              },
            },
            { type: "merge" },
          ),
        ),
      );
      assert.ok(heldGpus() <= GPUS - running.length + (created - before), "the finished Jobs gave their GPUs back");
      await eventually(
        () => overcommits.length > 0 || (heldGpus() === GPUS && created > before),
        `round ${round}: the freed GPUs handed out again`,
        60_000,
      ).catch((err: Error) => {
        const runsDef = dc.cluster.resource("nnunet-operator.io", "v1alpha1", "trainingruns");
        const statuses = [...dc.cluster.store.scan(runsDef.storage, NS)].map(
          (e) =>
            e.object as KubeObject & {
              status?: {
                phase?: string;
                queue?: unknown;
                folds?: Array<{ fold: string; phase: string; reason?: string }>;
              };
            },
        );
        const detail = statuses
          .slice(0, 12)
          .map(
            (r) =>
              `${r.metadata.name} ${r.status?.phase} ${JSON.stringify(r.status?.queue)} ${r.status?.folds?.map((f) => `${f.fold}:${f.phase}/${f.reason}`).join(",")}`,
          );
        throw new Error(
          `${err.message}: held ${heldGpus()} of ${GPUS}, ${created - before} created, assumed ${operator.scheduler.assumedGrants().join(", ")}\n${detail.join("\n")}`,
        );
      });
      assert.deepEqual(overcommits.slice(0, 1), [], `round ${round}`);
    }
    assert.deepEqual(overcommits, []);
    assert.equal(peak, GPUS);
    assert.ok(role("validate").length > 0, "validation got GPUs too");
    assert.ok(events > 80, `only ${events} Job changes were checked`);
  });
});
