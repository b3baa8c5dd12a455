import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { INode } from "kubernetes-models/v1/Node";
import type { IPod } from "kubernetes-models/v1/Pod";
import type { IToleration } from "kubernetes-models/v1/Toleration";
import { runResultsSubPath, type TrainingRun, type WaitReason } from "@nnunet-operator/api";
import type { QueueConfig } from "../../config.js";
import { withDefaultProductLabel } from "./defaults.js";
import { FreeGpuIndex, type GpuNode, gpuNodeSteps, gpusByRunSteps, nodeMatches, reservationSteps } from "./capacity.js";
import { GPU_RESOURCE } from "./objects.js";
import { formatBytes, parseQuantity } from "./quantity.js";
import { olderOverlappingRunSteps } from "./results-folders.js";
import { drain, STEP_ITEMS, type Steps } from "./steps.js";

// Cluster-wide admission of fold-work. Every pass sees the whole queue: the work every run
// wants to start now, ordered by spec.priority, then creation time, then name; each piece
// goes through a chain of named checks and is admitted onto one node's free GPUs, or waits
// with the first check that stopped it. Best-effort FIFO (as kueue's default): a piece
// that cannot fit does not block smaller ones behind it, which keeps GPUs busy; the price
// is that a fold needing many GPUs on one node may wait while single-GPU work passes.

export type DemandKind = "calibrate" | "train" | "validate";
export interface Demand {
  readonly kind: DemandKind;
  readonly fold?: string;
  readonly gpus: number;
}
export const demandKey = (d: { kind: DemandKind; fold?: string | undefined }): string =>
  d.fold === undefined ? d.kind : `${d.kind}/${d.fold}`;

export interface AdmissionRun {
  readonly run: TrainingRun;
  /** Whether the run's PersistentVolumeClaim exists. */
  readonly claimExists: boolean;
  readonly wants: readonly Demand[];
}

export interface AdmissionInput {
  readonly nodes: readonly INode[];
  /** Every pod in the cluster: GPUs held by other workloads count too. */
  readonly pods: readonly IPod[];
  /** Our Jobs in every namespace, for GPUs promised to pods not yet bound. */
  readonly jobs: readonly IJob[];
  readonly runs: readonly AdmissionRun[];
  readonly queues: readonly QueueConfig[];
  readonly acceptedProducts: readonly string[];
  readonly tolerations: readonly IToleration[];
  /** The cluster's GPU product label, where runs kept the API default (see defaults.ts). */
  readonly defaultProductLabel?: string;
  /**
   * GPUs granted by an earlier pass whose Jobs the caches do not show yet (the scheduler's
   * assumptions, as kueue's cache assumes a workload): counted on their node and queue.
   */
  readonly assumed?: readonly AssumedGrant[];
}

export interface AssumedGrant {
  readonly runKey: string;
  readonly queue: string;
  readonly node: string;
  readonly gpus: number;
}

export interface RunWait {
  readonly reason: WaitReason;
  readonly message: string;
  /** 1-based among runs waiting for GPUs; absent for holds (suspended, missing claim). */
  readonly position?: number;
}
export interface RunAdmission {
  readonly admitted: ReadonlySet<string>;
  /** Nodes the admitted work was counted against (the scheduler still picks the node). */
  readonly nodes: ReadonlyMap<string, string>;
  readonly wait?: RunWait;
}
export interface AdmissionDecision {
  readonly runs: ReadonlyMap<string, RunAdmission>;
  /** Runs waiting for GPUs (the queue length metric). */
  readonly waiting: number;
  readonly admittedGpus: number;
}

export const runKey = (run: TrainingRun): string => `${run.metadata.namespace ?? "default"}/${run.metadata.name}`;

interface Ctx {
  readonly run: TrainingRun;
  readonly claimExists: boolean;
  readonly demand: Demand;
  readonly nodes: readonly GpuNode[];
  /** bestFit over `nodes` (capacity.ts), through the pass's index. */
  readonly bestFit: FreeGpuIndex["bestFit"];
  readonly queue: QueueConfig | undefined;
  readonly queueUsed: number;
  readonly acceptedProducts: readonly string[];
  /** Every node as the API has it (allocatable CPU and memory, for checkFitsLargestNode). */
  readonly allNodes: readonly INode[];
  /** The older run of the pass whose results folder overlaps this run's (results-folders.ts). */
  readonly resultsFolderHolder: TrainingRun | undefined;
}
/** A named check, cert-manager style: matched means it stops the work, with reason and message. */
export interface CheckResult {
  readonly reason: WaitReason;
  readonly message: string;
  readonly matched: boolean;
}
type Check = (ctx: Ctx) => CheckResult;
const pass = (reason: WaitReason): CheckResult => ({ reason, message: "", matched: false });

export const checkSuspended: Check = ({ run }) =>
  run.spec.suspend
    ? {
        reason: "Suspended",
        message: "spec.suspend is true: nothing new starts; set it to false to resume",
        matched: true,
      }
    : pass("Suspended");

export const checkClaim: Check = ({ run, claimExists }) =>
  claimExists
    ? pass("ClaimNotFound")
    : {
        reason: "ClaimNotFound",
        message: `PersistentVolumeClaim ${run.spec.storage.claimName} not found in namespace ${run.metadata.namespace}; create it with the nnU-Net folders or fix spec.storage.claimName`,
        matched: true,
      };

export const checkProductsAccepted: Check = ({ run, acceptedProducts }) => {
  const refused = run.spec.gpu.products.filter((p) => !acceptedProducts.includes(p));
  return refused.length < run.spec.gpu.products.length
    ? pass("NoMatchingNodes")
    : {
        reason: "NoMatchingNodes",
        message: `GPU product(s) ${refused.join(", ")} are not accepted by the operator (accepted: ${acceptedProducts.join(", ")}); change spec.gpu.products or the operator's gpu.acceptedProducts`,
        matched: true,
      };
};

export const checkMatchingNodes: Check = ({ run, demand, nodes }) => {
  const { productLabel, products } = run.spec.gpu;
  const matching = nodes.filter((n) => nodeMatches(n, productLabel, products));
  const usable = matching.filter((n) => n.blockers.length === 0 && n.allocatable >= demand.gpus);
  if (usable.length > 0) return pass("NoMatchingNodes");
  const seen = [...new Set(nodes.map((n) => n.labels[productLabel]).filter((v): v is string => !!v))];
  const why =
    matching.length === 0
      ? `no node has ${productLabel} in [${products.join(", ")}]${seen.length ? ` (nodes offer ${seen.join(", ")})` : ""}`
      : `the ${matching.length} matching node(s) cannot take it: ${matching.map((n) => `${n.name} ${n.blockers.length ? n.blockers.join(", ") : `has ${n.allocatable} GPU(s)`}`).join("; ")}`;
  return {
    reason: "NoMatchingNodes",
    message: `no Ready, schedulable node with ${demand.gpus} ${products.join("/")} GPU(s): ${why}; add or uncordon such nodes, or change spec.gpu.products or spec.gpu.perFold`,
    matched: true,
  };
};

export const checkQuota: Check = ({ run, demand, queue, queueUsed }) => {
  if (!queue) {
    return {
      reason: "QuotaExceeded",
      message: `queue ${run.spec.queue} is not defined in the operator configuration; set spec.queue to a defined queue or add it to queues`,
      matched: true,
    };
  }
  if (queue.gpuQuota === undefined || queueUsed + demand.gpus <= queue.gpuQuota) return pass("QuotaExceeded");
  const never =
    demand.gpus > queue.gpuQuota ? ` (the quota is smaller than the ${demand.gpus} GPUs one fold needs)` : "";
  return {
    reason: "QuotaExceeded",
    message: `queue ${queue.name} uses ${queueUsed} of its ${queue.gpuQuota} GPU quota and this needs ${demand.gpus} more${never}; wait for the queue's runs to finish or raise gpuQuota of queue ${queue.name}`,
    matched: true,
  };
};

export const checkCapacity: Check = ({ run, demand, nodes, bestFit }) => {
  const { productLabel, products } = run.spec.gpu;
  if (bestFit(demand.gpus, productLabel, products)) return pass("NoGpuCapacity");
  const usable = nodes.filter((n) => n.blockers.length === 0 && nodeMatches(n, productLabel, products));
  const free = usable.reduce((s, n) => s + n.free, 0);
  const total = usable.reduce((s, n) => s + n.allocatable, 0);
  const largest = usable.reduce((m, n) => Math.max(m, n.free), 0);
  return {
    reason: "NoGpuCapacity",
    message: `all matching GPUs are in use: ${free} of ${total} free on ${usable.length} node(s), at most ${largest} on one node, and this needs ${demand.gpus} on one node; it starts when GPUs free up (or add nodes)`,
    matched: true,
  };
};

/**
 * A fold's CPU, memory and GPUs must fit the allocatable of one matching node, or its pods
 * stay Pending while admission counts their GPUs as reserved and other runs queue behind
 * GPUs that are free (issue 17: 600Gi on 512Gi nodes; 1e100).
 */
export const checkFitsLargestNode: Check = ({ run, demand, allNodes }) => {
  const { productLabel, products } = run.spec.gpu;
  const matching = allNodes.filter((n) => products.includes(n.metadata?.labels?.[productLabel] ?? ""));
  if (matching.length === 0) return pass("ExceedsLargestNode");
  const want = {
    cpu: parseQuantity(run.spec.resources.cpu),
    memory: parseQuantity(run.spec.resources.memory),
    gpus: demand.gpus,
  };
  // A node that does not say what it can allocate is not held against the fold.
  const known = (q: string | number | undefined) => (q === undefined ? Number.POSITIVE_INFINITY : parseQuantity(q));
  const sizes = matching.map((n) => ({
    name: n.metadata?.name ?? "",
    cpu: known(n.status?.allocatable?.cpu),
    memory: known(n.status?.allocatable?.memory),
    gpus: parseQuantity(n.status?.allocatable?.[GPU_RESOURCE] ?? "0"),
  }));
  // Too few GPUs on every node is checkMatchingNodes' to say (it names spec.gpu.perFold).
  if (!sizes.some((s) => s.gpus >= want.gpus)) return pass("ExceedsLargestNode");
  if (sizes.some((s) => s.cpu >= want.cpu && s.memory >= want.memory && s.gpus >= want.gpus))
    return pass("ExceedsLargestNode");
  const largest = [...sizes].sort((a, b) => b.memory - a.memory || b.cpu - a.cpu || b.gpus - a.gpus)[0]!;
  const over = [
    ...(!(Math.max(...sizes.map((s) => s.cpu)) >= want.cpu) ? [`spec.resources.cpu ${run.spec.resources.cpu}`] : []),
    ...(!(Math.max(...sizes.map((s) => s.memory)) >= want.memory)
      ? [`spec.resources.memory ${run.spec.resources.memory}`]
      : []),
  ];
  const what =
    over.length > 0
      ? over.join(" and ")
      : `spec.resources (cpu ${run.spec.resources.cpu}, memory ${run.spec.resources.memory}) with ${want.gpus} GPU(s) together`;
  return {
    reason: "ExceedsLargestNode",
    message: `${what} fit no matching node: the largest, ${largest.name}, can allocate ${largest.cpu} CPUs, ${formatBytes(largest.memory)} memory and ${largest.gpus} GPU(s); lower the request (create a new TrainingRun) or add a larger node`,
    matched: true,
  };
};

/**
 * Two runs never share a results folder: each writes below its own
 * <resultsSubPath>/<namespace>/<name>/<uid>, so only a resultsSubPath that points into
 * another run's folder (or one that holds it) on the same claim can collide.
 */
export const checkResultsFolder: Check = ({ run, resultsFolderHolder: other }) => {
  if (other === undefined) return pass("ResultsFolderInUse");
  const mine = runResultsSubPath(run);
  return {
    reason: "ResultsFolderInUse",
    message: `its results folder ${mine} on claim ${run.spec.storage.claimName} overlaps ${runResultsSubPath(other)} of TrainingRun ${other.metadata.name}; a run may neither write nor resume into another run's folder: choose another spec.storage.resultsSubPath (create a new TrainingRun)`,
    matched: true,
  };
};

/** In order: holds first (no position), then what a cluster change or a quota change fixes. */
export const HOLD_CHECKS: readonly Check[] = [checkSuspended, checkClaim, checkResultsFolder, checkFitsLargestNode];
export const CAPACITY_CHECKS: readonly Check[] = [checkProductsAccepted, checkMatchingNodes, checkQuota, checkCapacity];

/**
 * A check that depends on the nodes as the pass found them (not on free GPUs) and on a part
 * of the run and demand: evaluated once per distinct part and pass. checkFitsLargestNode
 * parses every node's allocatable and checkMatchingNodes filters every node; per demand that
 * was O(demands x nodes).
 */
function oncePerPass(check: Check, keyOf: (run: TrainingRun) => unknown[]): Check {
  const memo = new Map<string, CheckResult>();
  // A run's demands come one after another: its part of the key is built once.
  let last: { run: TrainingRun; key: string } | undefined;
  return (ctx) => {
    if (last?.run !== ctx.run) last = { run: ctx.run, key: JSON.stringify(keyOf(ctx.run)) };
    const key = `${last.key}${ctx.demand.gpus}`;
    let r = memo.get(key);
    if (r === undefined) {
      r = check(ctx);
      memo.set(key, r);
    }
    return r;
  };
}

function firstMatch(checks: readonly Check[], ctx: Ctx): CheckResult | undefined {
  for (const check of checks) {
    const r = check(ctx);
    if (r.matched) return r;
  }
  return undefined;
}
const HOLDS = new Set<WaitReason>(["Suspended", "ClaimNotFound", "ResultsFolderInUse", "ExceedsLargestNode"]);

/** String.prototype.localeCompare without arguments, without building a collator per call. */
const collator = new Intl.Collator();

interface QueueKey {
  readonly priority: number;
  readonly created: string;
  readonly key: string;
}
const queueKeyOf = (run: TrainingRun): QueueKey => ({
  priority: run.spec.priority,
  created: String(run.metadata.creationTimestamp ?? ""),
  key: runKey(run),
});
/** Queue order: higher spec.priority first, then older, then by namespace/name. */
const compareQueueKeys = (a: QueueKey, b: QueueKey): number =>
  b.priority - a.priority || collator.compare(a.created, b.created) || collator.compare(a.key, b.key);

export function compareRuns(a: TrainingRun, b: TrainingRun): number {
  return compareQueueKeys(queueKeyOf(a), queueKeyOf(b));
}

const KIND_ORDER: Record<DemandKind, number> = { validate: 0, calibrate: 1, train: 2 };

/** One admission pass over the whole queue (admissionSteps run to the end). */
export function decideAdmission(input: AdmissionInput): AdmissionDecision {
  return drain(admissionSteps(input));
}

/**
 * decideAdmission in steps (steps.ts): it yields between its phases and within them every
 * STEP_ITEMS pods, Jobs or runs (half as many in its main loop), so that a caller may let
 * other work run during a long pass (at 10,000 runs a pass takes 20-120 ms). Still pure: its state is its own, and the caller must not
 * change the input's arrays or objects until it is done (cached objects are replaced, never
 * changed, so arrays taken from the caches before the first step are a snapshot).
 */
export function* admissionSteps(input: AdmissionInput): Steps<AdmissionDecision> {
  const nodes = yield* gpuNodeSteps(input.nodes, input.pods, input.tolerations);
  yield;
  const reservations = yield* reservationSteps(input.jobs, input.pods);
  yield;
  // Assumed grants sit on the node they were counted against; they go first, so that the
  // reservations placed after them see what is left (placed the other way round, a
  // reservation could take an assumed grant's node and the grant would drive it negative
  // while another node still looked free).
  const byName = new Map(nodes.map((n) => [n.name, n]));
  for (const a of input.assumed ?? []) {
    const node = byName.get(a.node);
    if (node) node.free -= a.gpus;
  }
  // From here on free GPUs shrink through the index only.
  const free = new FreeGpuIndex(nodes);
  const bestFit = free.bestFit.bind(free);
  // Promised GPUs are placed next, on the node they would most likely land on.
  let placed = 0;
  for (const r of [...reservations].sort((a, b) => b.gpus - a.gpus)) {
    if (++placed % STEP_ITEMS === 0) yield;
    const node = bestFit(r.gpus, r.productLabel, r.products);
    if (node) free.take(node, r.gpus);
  }
  yield;
  const byRun = yield* gpusByRunSteps(input.pods, reservations);
  yield;
  for (const a of input.assumed ?? []) byRun.set(a.runKey, (byRun.get(a.runKey) ?? 0) + a.gpus);
  // The queue keys once per run (a sort compares each run some log(runs) times).
  const keys = input.runs.map((r) => queueKeyOf(r.run));
  const queueUsed = new Map<string, number>();
  input.runs.forEach(({ run }, i) =>
    queueUsed.set(run.spec.queue, (queueUsed.get(run.spec.queue) ?? 0) + (byRun.get(keys[i]!.key) ?? 0)),
  );

  const result = new Map<string, RunAdmission>();
  // Within a pass free GPUs and quota only shrink, so work of a shape (queue, products,
  // GPUs) that was refused once is refused again: remember the refusal instead of
  // re-running the checks for each of thousands of waiting folds.
  const refused = new Map<string, CheckResult>();
  let position = 0;
  let admittedGpus = 0;
  yield;
  const holders = yield* olderOverlappingRunSteps(input.runs.map((r) => r.run));
  yield;
  const holdChecks = HOLD_CHECKS.map((c) =>
    c === checkFitsLargestNode
      ? oncePerPass(c, ({ spec }) => [
          spec.gpu.productLabel,
          spec.gpu.products,
          spec.resources.cpu,
          spec.resources.memory,
        ])
      : c,
  );
  const capacityChecks = CAPACITY_CHECKS.map((c) =>
    c === checkMatchingNodes ? oncePerPass(c, ({ spec }) => [spec.gpu.productLabel, spec.gpu.products]) : c,
  );
  const order = input.runs.map((_, i) => i).sort((a, b) => compareQueueKeys(keys[a]!, keys[b]!));
  let considered = 0;
  for (const index of order) {
    // A run is up to five demands, each through the check chains: half a step's items.
    if (++considered % (STEP_ITEMS / 2) === 0) yield;
    const entry = input.runs[index]!;
    const run = withDefaultProductLabel(entry.run, input.defaultProductLabel);
    const admitted = new Set<string>();
    const placed = new Map<string, string>();
    let wait: CheckResult | undefined;
    const wants = [...entry.wants].sort(
      (a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || collator.compare(String(a.fold), String(b.fold)),
    );
    const queue = input.queues.find((q) => q.name === run.spec.queue);
    const shapeOfRun = `${run.spec.queue}|${run.spec.gpu.productLabel}|${run.spec.gpu.products.join(",")}|`;
    for (const demand of wants) {
      const ctx: Ctx = {
        run,
        claimExists: entry.claimExists,
        demand,
        nodes,
        bestFit,
        queue,
        queueUsed: queueUsed.get(run.spec.queue) ?? 0,
        acceptedProducts: input.acceptedProducts,
        allNodes: input.nodes,
        resultsFolderHolder: holders.get(index),
      };
      const shape = `${shapeOfRun}${demand.gpus}`;
      const blocked = firstMatch(holdChecks, ctx) ?? refused.get(shape) ?? firstMatch(capacityChecks, ctx);
      if (blocked && !HOLDS.has(blocked.reason)) refused.set(shape, blocked);
      if (blocked) {
        wait ??= blocked;
        continue;
      }
      const node = bestFit(demand.gpus, run.spec.gpu.productLabel, run.spec.gpu.products)!;
      free.take(node, demand.gpus);
      queueUsed.set(run.spec.queue, ctx.queueUsed + demand.gpus);
      admittedGpus += demand.gpus;
      admitted.add(demandKey(demand));
      placed.set(demandKey(demand), node.name);
    }
    let runWait: RunWait | undefined;
    if (wait) {
      const waitingCount = wants.length - admitted.size;
      const prefix = wants.length > 1 ? `${waitingCount} of ${wants.length} piece(s) of work wait: ` : "";
      runWait = {
        reason: wait.reason,
        message: `${prefix}${wait.message}`,
        ...(HOLDS.has(wait.reason) ? {} : { position: ++position }),
      };
    }
    result.set(keys[index]!.key, { admitted, nodes: placed, ...(runWait ? { wait: runWait } : {}) });
  }
  return { runs: result, waiting: position, admittedGpus };
}

/** What a run that asked for nothing, or was not part of the pass, is granted. */
export const NOTHING_ADMITTED: RunAdmission = { admitted: new Set(), nodes: new Map() };
