import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { INode } from "kubernetes-models/v1/Node";
import type { IPod } from "kubernetes-models/v1/Pod";
import {
  CalibrationResult,
  ANNOTATION_STOP_DECISION,
  LABEL_FOLD,
  LABEL_ROLE,
  LABEL_RUN,
  parseTrainingRun,
  type Role,
  type StopDecision,
  type TrainingRun,
  type TrainingRunSpecInput,
  type TrainingRunStatus,
} from "@nnunet-operator/api";

// Fluent test builders: each starts from a sensible object and each method changes one
// thing, so a test names only what matters to it.

export const T0 = new Date("2026-01-01T00:00:00Z");
export const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);
export const iso = (seconds: number): string => at(seconds).toISOString();

export class FakeClock {
  constructor(private t: Date = T0) {}
  now(): Date {
    return new Date(this.t);
  }
  advance(seconds: number): Date {
    this.t = new Date(this.t.getTime() + seconds * 1000);
    return this.now();
  }
}

type DeepPartialSpec = Partial<TrainingRunSpecInput>;

export class RunBuilder {
  private meta: Record<string, unknown> = {
    name: "liver",
    namespace: "team-a",
    uid: "uid-liver",
    generation: 1,
    creationTimestamp: iso(0),
  };
  private spec: DeepPartialSpec = {
    dataset: "Dataset003_Liver",
    configuration: "3d_fullres",
    storage: { claimName: "nnunet-data" },
  };
  private statusValue: TrainingRunStatus | undefined;

  named(name: string, namespace = "team-a"): this {
    this.meta = { ...this.meta, name, namespace, uid: `uid-${name}` };
    return this;
  }
  createdAt(seconds: number): this {
    this.meta.creationTimestamp = iso(seconds);
    return this;
  }
  generation(g: number): this {
    this.meta.generation = g;
    return this;
  }
  deleting(): this {
    this.meta.deletionTimestamp = iso(0);
    return this;
  }
  with(spec: DeepPartialSpec): this {
    this.spec = { ...this.spec, ...spec };
    return this;
  }
  folds(...folds: Array<number | "all">): this {
    return this.with({ folds });
  }
  priority(priority: number): this {
    return this.with({ priority });
  }
  queue(queue: string): this {
    return this.with({ queue });
  }
  suspended(): this {
    return this.with({ suspend: true });
  }
  gpus(perFold: number, products = ["NVIDIA-L40S"]): this {
    return this.with({ gpu: { perFold, products } });
  }
  batch(batchSize: TrainingRunSpecInput["batchSize"]): this {
    return this.with({ batchSize });
  }
  status(status: TrainingRunStatus): this {
    this.statusValue = status;
    return this;
  }
  build(): TrainingRun {
    const parsed = parseTrainingRun({
      apiVersion: "nnunet-operator.io/v1alpha1",
      kind: "TrainingRun",
      metadata: this.meta,
      spec: this.spec,
      ...(this.statusValue ? { status: this.statusValue } : {}),
    });
    if (!parsed.ok) throw new Error(`makeRun built an invalid run: ${JSON.stringify(parsed.errors)}`);
    return parsed.run;
  }
}
export const makeRun = (): RunBuilder => new RunBuilder();

export class NodeBuilder {
  private node: INode;
  constructor(name: string) {
    this.node = {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name, labels: { "nvidia.com/gpu.product": "NVIDIA-L40S" } },
      spec: { taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }] },
      status: {
        allocatable: { "nvidia.com/gpu": "4", cpu: "64", memory: "512Gi" },
        conditions: [{ type: "Ready", status: "True" }],
      },
    };
  }
  product(product: string, label = "nvidia.com/gpu.product"): this {
    this.node.metadata = { ...this.node.metadata, labels: { [label]: product } };
    return this;
  }
  gpus(n: number): this {
    this.node.status!.allocatable = { ...this.node.status!.allocatable, "nvidia.com/gpu": String(n) };
    return this;
  }
  notReady(): this {
    this.node.status!.conditions = [{ type: "Ready", status: "False" }];
    return this;
  }
  cordoned(): this {
    this.node.spec = { ...this.node.spec, unschedulable: true };
    return this;
  }
  taint(key: string, effect: "NoSchedule" | "NoExecute" | "PreferNoSchedule", value?: string): this {
    this.node.spec = {
      ...this.node.spec,
      taints: [...(this.node.spec?.taints ?? []), { key, effect, ...(value ? { value } : {}) }],
    };
    return this;
  }
  build(): INode {
    return structuredClone(this.node);
  }
}
export const makeNode = (name = "gpu-1"): NodeBuilder => new NodeBuilder(name);

export class PodBuilder {
  private pod: IPod;
  constructor(name: string) {
    this.pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: "team-a", creationTimestamp: iso(0), labels: {} },
      spec: { containers: [{ name: "main", image: "busybox" }] },
      status: { phase: "Pending" },
    };
  }
  namespace(ns: string): this {
    this.pod.metadata!.namespace = ns;
    return this;
  }
  of(run: string, role: Role, fold?: string): this {
    const container = role === "calibrate" ? "calibrate" : "nnunet";
    this.pod.metadata!.labels = {
      [LABEL_RUN]: run,
      [LABEL_ROLE]: role,
      ...(fold !== undefined ? { [LABEL_FOLD]: fold } : {}),
    };
    this.pod.spec!.containers = [{ ...this.pod.spec!.containers[0]!, name: container, image: "nnunet" }];
    const statuses = this.pod.status?.containerStatuses;
    if (statuses)
      this.pod.status = {
        ...this.pod.status,
        containerStatuses: statuses.map((s, i) => (i === 0 ? { ...s, name: container } : s)),
      };
    return this;
  }
  createdAt(seconds: number): this {
    this.pod.metadata!.creationTimestamp = iso(seconds);
    return this;
  }
  gpus(n: number): this {
    this.pod.spec!.containers = this.pod.spec!.containers.map((c, i) =>
      i === 0 ? { ...c, resources: { limits: { "nvidia.com/gpu": String(n) } } } : c,
    );
    return this;
  }
  on(node: string): this {
    this.pod.spec!.nodeName = node;
    return this;
  }
  /** Started on its node at `startSeconds`, its main container running since. */
  running(startSeconds = 0): this {
    const name = this.pod.spec!.containers[0]!.name;
    this.pod.status = {
      ...this.pod.status,
      phase: "Running",
      startTime: iso(startSeconds),
      containerStatuses: [
        {
          name,
          image: "nnunet",
          imageID: "",
          ready: true,
          restartCount: 0,
          started: true,
          state: { running: { startedAt: iso(startSeconds) } },
        },
      ],
    };
    return this;
  }
  private terminate(
    phase: "Succeeded" | "Failed",
    exitCode: number,
    extra: { reason: string; message?: string },
    finishSeconds: number,
  ): this {
    const name = this.pod.spec!.containers[0]!.name;
    this.pod.status = {
      ...this.pod.status,
      phase,
      startTime: this.pod.status?.startTime ?? iso(0),
      containerStatuses: [
        {
          name,
          image: "nnunet",
          imageID: "",
          ready: false,
          restartCount: 0,
          state: { terminated: { ...extra, exitCode, finishedAt: iso(finishSeconds) } },
        },
      ],
    };
    return this;
  }
  succeeded(finishSeconds = 100, message?: string): this {
    return this.terminate(
      "Succeeded",
      0,
      { reason: "Completed", ...(message !== undefined ? { message } : {}) },
      finishSeconds,
    );
  }
  failed(exitCode: number, opts: { reason?: string; message?: string; finishSeconds?: number } = {}): this {
    return this.terminate(
      "Failed",
      exitCode,
      { reason: opts.reason ?? "Error", ...(opts.message !== undefined ? { message: opts.message } : {}) },
      opts.finishSeconds ?? 100,
    );
  }
  disrupted(reason = "DeletionByTaintManager"): this {
    this.pod.status = {
      ...this.pod.status,
      conditions: [...(this.pod.status?.conditions ?? []), { type: "DisruptionTarget", status: "True", reason }],
    };
    return this;
  }
  evicted(): this {
    this.pod.status = {
      ...this.pod.status,
      phase: "Failed",
      reason: "Evicted",
      startTime: this.pod.status?.startTime ?? iso(0),
    };
    return this;
  }
  waiting(reason: string, message = ""): this {
    const name = this.pod.spec!.containers[0]!.name;
    this.pod.status = {
      ...this.pod.status,
      phase: "Pending",
      containerStatuses: [
        { name, image: "nnunet", imageID: "", ready: false, restartCount: 0, state: { waiting: { reason, message } } },
      ],
    };
    return this;
  }
  /** An ownerReference to `owner` (a Job unless its kind says otherwise), as its controller. */
  ownedBy(owner: OwnerRef): this {
    this.pod.metadata!.ownerReferences = [ownerReferenceTo(owner, "Job", true)];
    return this;
  }
  build(): IPod {
    return structuredClone(this.pod);
  }
}
export const makePod = (name = "pod-1"): PodBuilder => new PodBuilder(name);

type OwnerRef = { readonly kind?: string; readonly name: string; readonly uid: string };
function ownerReferenceTo(owner: OwnerRef, kind: string, controller: boolean) {
  const k = owner.kind ?? kind;
  const apiVersion = k === "TrainingRun" ? "nnunet-operator.io/v1alpha1" : k === "Job" ? "batch/v1" : "v1";
  return { apiVersion, kind: k, name: owner.name, uid: owner.uid, controller, blockOwnerDeletion: true };
}

export class JobBuilder {
  private job: IJob;
  constructor(name: string) {
    this.job = {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name, namespace: "team-a", labels: {}, annotations: {}, creationTimestamp: iso(0) },
      spec: { template: { spec: { containers: [{ name: "nnunet", image: "nnunet" }], restartPolicy: "Never" } } },
      status: {},
    };
  }
  of(run: string, role: Role, fold?: string): this {
    this.job.metadata!.labels = {
      [LABEL_RUN]: run,
      [LABEL_ROLE]: role,
      ...(fold !== undefined ? { [LABEL_FOLD]: fold } : {}),
    };
    return this;
  }
  annotate(key: string, value: string): this {
    this.job.metadata!.annotations = { ...this.job.metadata!.annotations, [key]: value };
    return this;
  }
  stopDecision(decision: Partial<StopDecision> = {}): this {
    const full = {
      schemaVersion: 1,
      epoch: 180,
      policy: "Forecast",
      reason: "predicted gain below 0.002",
      bestEpoch: 172,
      bestEma: 0.91,
      decidedAt: iso(500),
      ...decision,
    };
    this.job.spec = { ...this.job.spec!, suspend: true };
    return this.annotate(ANNOTATION_STOP_DECISION, JSON.stringify(full));
  }
  /** An audit's would-be decision: the annotation with mode Audit, and no suspend. */
  auditDecision(decision: Partial<StopDecision> = {}): this {
    const full = {
      schemaVersion: 1,
      epoch: 180,
      policy: "Forecast",
      reason: "predicted gain below 0.002",
      bestEpoch: 172,
      bestEma: 0.91,
      decidedAt: iso(500),
      mode: "Audit",
      trainedSeconds: 18100,
      ...decision,
    };
    return this.annotate(ANNOTATION_STOP_DECISION, JSON.stringify(full));
  }
  gpus(n: number): this {
    this.job.spec!.template.spec!.containers[0]!.resources = { limits: { "nvidia.com/gpu": String(n) } };
    return this;
  }
  active(): this {
    this.job.status = { active: 1 };
    return this;
  }
  complete(seconds = 100): this {
    this.job.status = {
      succeeded: 1,
      conditions: [{ type: "Complete", status: "True", lastTransitionTime: iso(seconds) }],
    };
    return this;
  }
  failed(seconds = 100, reason = "BackoffLimitExceeded", failedPods = 1): this {
    this.job.status = {
      failed: failedPods,
      conditions: [{ type: "Failed", status: "True", reason, lastTransitionTime: iso(seconds) }],
    };
    return this;
  }
  deleting(): this {
    this.job.metadata!.deletionTimestamp = iso(0);
    return this;
  }
  uid(uid: string): this {
    this.job.metadata!.uid = uid;
    return this;
  }
  /** An ownerReference to `owner` (a TrainingRun unless its kind says otherwise), as its controller by default. */
  ownedBy(owner: OwnerRef, controller = true): this {
    this.job.metadata!.ownerReferences = [ownerReferenceTo(owner, "TrainingRun", controller)];
    return this;
  }
  build(): IJob {
    return structuredClone(this.job);
  }
}
export const makeJob = (name: string): JobBuilder => new JobBuilder(name);

/** A calibrator result as the calibrator writes it: 2 in the plans, 8 chosen. */
export function makeCalibrationResult(overrides: Partial<CalibrationResult> = {}): CalibrationResult {
  return CalibrationResult.parse({
    schemaVersion: 1,
    chosenBatchSize: 8,
    plansBatchSize: 2,
    plans: "nnUNetPlans",
    derivedPlans: "nnUNetPlans_bs8",
    configuration: "3d_fullres",
    objective: "throughput",
    precision: "mixed",
    headroom: 0.1,
    backend: "simulated",
    builder: "simulated",
    gpu: { name: "NVIDIA L40S", memoryMiB: 46068 },
    probes: [
      { batchSize: 2, fits: true, peakMemoryMiB: 11000, samplesPerSecond: 9.1, withinHeadroom: true },
      { batchSize: 4, fits: true, peakMemoryMiB: 20500, samplesPerSecond: 15.8, withinHeadroom: true },
      { batchSize: 6, fits: true, peakMemoryMiB: 30000, samplesPerSecond: 18.9, withinHeadroom: true },
      { batchSize: 8, fits: true, peakMemoryMiB: 39800, samplesPerSecond: 20.2, withinHeadroom: true },
      { batchSize: 12, fits: false },
    ],
    ...overrides,
  });
}

/** An AdmissionReview request for a TrainingRun, as the API server sends it to the validating webhook. */
export function admissionReview(
  operation: string,
  object: unknown,
  oldObject?: unknown,
  extra: Record<string, unknown> = {},
) {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "705ab4f5-6393-11e8-b7cc-42010a800002",
      kind: { group: "nnunet-operator.io", version: "v1alpha1", kind: "TrainingRun" },
      resource: { group: "nnunet-operator.io", version: "v1alpha1", resource: "trainingruns" },
      namespace: "team-a",
      operation,
      userInfo: { username: "alice" },
      object,
      ...(oldObject !== undefined ? { oldObject } : {}),
      ...extra,
    },
  };
}
