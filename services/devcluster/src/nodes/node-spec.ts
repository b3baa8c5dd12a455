import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { KubeObject } from "../api/resources.js";

// Simulated nodes from a compact spec such as `4xL40S:4,2xA100-80GB:8,2xcpu`: a comma-
// separated list of `<count>x<product>[:<gpus>]` groups (`cpu` for nodes without GPUs).
// Labels are the ones NVIDIA GPU feature discovery sets (nvidia.com/gpu.product spelled
// as GFD spells it, gpu.memory in MiB, gpu.count), the device plugin's allocatable
// nvidia.com/gpu, and the taint GPU node pools usually carry. Pure: no cluster access.

export interface GpuProductInfo {
  /** nvidia.com/gpu.product as GPU feature discovery writes it. */
  label: string;
  /** Memory as the driver reports it, MiB (nvidia.com/gpu.memory); matches the calibrator's table. */
  memoryMib: number;
  /** Short name used in node names. */
  short: string;
}

// The simulated GPU models are one table, services/calibrator/nnunet_calibrate/gpu_products.json,
// which the calibrator's simulated backend reads too: a simulated trainer and the simulated
// calibration agree on what fits. Keys are normalised (lower case, letters and digits only,
// no leading nvidia/tesla); aliases map other spellings (H100, A100) onto them.
interface GpuTable {
  products: Record<string, { label: string; memoryMib: number; short: string }>;
  aliases: Record<string, string>;
}
const TABLE = JSON.parse(
  readFileSync(new URL("../../../calibrator/nnunet_calibrate/gpu_products.json", import.meta.url), "utf8"),
) as GpuTable;

export const GPU_PRODUCTS: Readonly<Record<string, GpuProductInfo>> = Object.fromEntries(
  Object.entries(TABLE.products).map(([key, p]) => [key, { label: p.label, memoryMib: p.memoryMib, short: p.short }]),
);

/** The product a spelling names (GFD label, nvidia-smi name, short form), if the table has it. */
export function gpuProduct(spelling: string): GpuProductInfo | undefined {
  const key = normalise(spelling);
  return GPU_PRODUCTS[TABLE.aliases[key] ?? key];
}

export const LABEL_GPU_PRODUCT = "nvidia.com/gpu.product";
export const LABEL_GPU_MEMORY = "nvidia.com/gpu.memory";
export const LABEL_GPU_COUNT = "nvidia.com/gpu.count";
export const GPU_RESOURCE = "nvidia.com/gpu";

export interface NodeGroup {
  count: number;
  /** undefined for CPU-only nodes. */
  gpu: GpuProductInfo | undefined;
  gpusPerNode: number;
}

export interface NodeShape {
  cpu: string;
  memory: string;
  pods: string;
  /** Adds nvidia.com/gpu=present:NoSchedule to GPU nodes. */
  taintGpuNodes: boolean;
}

export const DEFAULT_NODE_SHAPE: NodeShape = { cpu: "32", memory: "256Gi", pods: "110", taintGpuNodes: true };

export class NodeSpecError extends Error {
  override readonly name = "NodeSpecError";
  constructor(
    readonly part: string,
    why: string,
  ) {
    super(`invalid node spec part "${part}": ${why}`);
  }
}

const normalise = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "")
    .replace(/^(nvidia|tesla)(?=.)/, "");

/** Parses the spec; throws NodeSpecError naming the first malformed part. */
export function parseNodeSpec(spec: string): NodeGroup[] {
  const parts = spec.split(",").map((p) => p.trim());
  if (parts.length === 0 || parts.every((p) => p === ""))
    throw new NodeSpecError(spec, "empty; expected e.g. 4xL40S:4,2xcpu");
  return parts.map((part) => {
    const m = /^(\d+)x([A-Za-z0-9][A-Za-z0-9_.-]*)(?::(\d+))?$/.exec(part);
    if (!m)
      throw new NodeSpecError(part, "expected <count>x<product>[:<gpus per node>] such as 4xL40S:4, or <count>xcpu");
    const count = Number(m[1]);
    if (count < 1 || count > 10000) throw new NodeSpecError(part, "the node count must be between 1 and 10000");
    const product = m[2]!;
    if (product.toLowerCase() === "cpu") {
      if (m[3] !== undefined) throw new NodeSpecError(part, "cpu nodes have no GPUs; drop the :<gpus>");
      return { count, gpu: undefined, gpusPerNode: 0 };
    }
    const gpu = gpuProduct(product);
    if (!gpu)
      throw new NodeSpecError(
        part,
        `unknown GPU product "${product}"; known: ${Object.values(GPU_PRODUCTS)
          .map((g) => g.label)
          .join(", ")}`,
      );
    const gpus = m[3] === undefined ? 1 : Number(m[3]);
    if (gpus < 1 || gpus > 16) throw new NodeSpecError(part, "GPUs per node must be between 1 and 16");
    return { count, gpu, gpusPerNode: gpus };
  });
}

/** Node objects for the groups, named `<product>-<i>` (`cpu-<i>` without GPUs), numbered per product from 0. */
export function buildNodes(
  groups: readonly NodeGroup[],
  shape: NodeShape = DEFAULT_NODE_SHAPE,
  now = new Date(),
): KubeObject[] {
  const seen = new Map<string, number>();
  const out: KubeObject[] = [];
  const time = now.toISOString().replace(/\.\d{3}Z$/, "Z");
  for (const g of groups) {
    const prefix = g.gpu?.short ?? "cpu";
    for (let i = 0; i < g.count; i++) {
      const n = seen.get(prefix) ?? 0;
      seen.set(prefix, n + 1);
      const name = `${prefix}-${n}`;
      const labels: Record<string, string> = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": g.gpu ? `sim-${prefix}x${g.gpusPerNode}` : "sim-cpu",
      };
      const capacity: Record<string, string> = {
        cpu: shape.cpu,
        memory: shape.memory,
        pods: shape.pods,
        "ephemeral-storage": "1Ti",
      };
      if (g.gpu) {
        labels[LABEL_GPU_PRODUCT] = g.gpu.label;
        labels[LABEL_GPU_MEMORY] = String(g.gpu.memoryMib);
        labels[LABEL_GPU_COUNT] = String(g.gpusPerNode);
        labels["nvidia.com/gpu.present"] = "true";
        capacity[GPU_RESOURCE] = String(g.gpusPerNode);
      }
      out.push({
        apiVersion: "v1",
        kind: "Node",
        metadata: { name, labels },
        spec:
          g.gpu && shape.taintGpuNodes
            ? { taints: [{ key: GPU_RESOURCE, value: "present", effect: "NoSchedule" }] }
            : {},
        status: {
          capacity,
          allocatable: { ...capacity },
          conditions: [readyCondition(true, time)],
          nodeInfo: nodeInfo(name, time),
          addresses: [
            { type: "InternalIP", address: "127.0.0.1" },
            { type: "Hostname", address: name },
          ],
        },
      });
    }
  }
  return out;
}

const hex = (seed: string) => createHash("sha256").update(seed).digest("hex");
const uuid = (h: string) =>
  `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;

/**
 * Every NodeSystemInfo field a kubelet reports (clients such as the Python client refuse a
 * Node without them). IDs are derived from the node's name, the boot ID also from its boot
 * time, so a node keeps its machine ID across restarts of the devcluster and not its boot ID.
 */
export function nodeInfo(name: string, bootTime: string) {
  return {
    machineID: hex(`machine:${name}`).slice(0, 32),
    systemUUID: uuid(hex(`system:${name}`)),
    bootID: uuid(hex(`boot:${name}:${bootTime}`)),
    kernelVersion: "6.1.0-devcluster",
    osImage: "Debian GNU/Linux 12 (bookworm) (devcluster simulated node)",
    containerRuntimeVersion: "devcluster://process",
    kubeletVersion: "v1.32.0-devcluster",
    kubeProxyVersion: "v1.32.0-devcluster",
    operatingSystem: "linux",
    architecture: "amd64",
  };
}

export function readyCondition(ready: boolean, time: string) {
  return ready
    ? {
        type: "Ready",
        status: "True",
        reason: "KubeletReady",
        message: "kubelet is posting ready status",
        lastHeartbeatTime: time,
        lastTransitionTime: time,
      }
    : {
        type: "Ready",
        status: "Unknown",
        reason: "NodeStatusUnknown",
        message: "Kubelet stopped posting node status.",
        lastHeartbeatTime: time,
        lastTransitionTime: time,
      };
}
