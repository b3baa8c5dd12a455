import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { decidePlacement, type SchedNode, type SchedPod } from "./predicates.js";
import { resourceList } from "./resources.js";

// Scheduling decisions: which node a pod lands on, or the FailedScheduling message.

const node = (
  name: string,
  o: {
    labels?: Record<string, string>;
    gpus?: number;
    taint?: boolean;
    unschedulable?: boolean;
    usedGpus?: number;
    cpu?: string;
  } = {},
): SchedNode => ({
  name,
  labels: { "kubernetes.io/hostname": name, ...o.labels },
  taints: o.taint ? [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }] : [],
  unschedulable: o.unschedulable ?? false,
  allocatable: resourceList({
    cpu: o.cpu ?? "8",
    memory: "64Gi",
    pods: "110",
    ...(o.gpus ? { "nvidia.com/gpu": String(o.gpus) } : {}),
  }),
  allocated: resourceList(o.usedGpus ? { "nvidia.com/gpu": String(o.usedGpus) } : {}),
  pods: 0,
});

const pod = (o: Partial<Omit<SchedPod, "requests">> & { requests?: Record<string, string> } = {}): SchedPod => ({
  key: "default/p",
  priority: 0,
  seq: 0,
  nodeSelector: {},
  affinityTerms: undefined,
  tolerations: [],
  ...o,
  requests: resourceList(o.requests ?? {}),
});

const L40S = { "nvidia.com/gpu.product": "NVIDIA-L40S" };
const A100 = { "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB" };
const tolerateGpu = [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }];

const cases: { name: string; pod: SchedPod; nodes: SchedNode[]; want: string }[] = [
  {
    name: "a plain pod goes to the node with the most room",
    pod: pod({ requests: { cpu: "1" } }),
    nodes: [node("a", { cpu: "4" }), node("b", { cpu: "8" })],
    want: "b",
  },
  {
    name: "nodeSelector picks the labelled node",
    pod: pod({ nodeSelector: { "nvidia.com/gpu.product": "NVIDIA-L40S" } }),
    nodes: [node("a", { labels: A100 }), node("b", { labels: L40S })],
    want: "b",
  },
  {
    name: "affinity In matches one of the values",
    pod: pod({
      affinityTerms: [
        [{ key: "nvidia.com/gpu.product", operator: "In", values: ["NVIDIA-L40S", "NVIDIA-H100-80GB-HBM3"] }],
      ],
    }),
    nodes: [node("a", { labels: A100 }), node("b", { labels: L40S })],
    want: "b",
  },
  {
    name: "affinity NotIn avoids a value and accepts unlabelled nodes",
    pod: pod({ affinityTerms: [[{ key: "nvidia.com/gpu.product", operator: "NotIn", values: ["NVIDIA-L40S"] }]] }),
    nodes: [node("a", { labels: L40S }), node("b")],
    want: "b",
  },
  {
    name: "affinity Exists needs the label",
    pod: pod({ affinityTerms: [[{ key: "nvidia.com/gpu.product", operator: "Exists" }]] }),
    nodes: [node("a"), node("b", { labels: L40S })],
    want: "b",
  },
  {
    name: "affinity DoesNotExist needs its absence",
    pod: pod({ affinityTerms: [[{ key: "nvidia.com/gpu.product", operator: "DoesNotExist" }]] }),
    nodes: [node("a", { labels: L40S }), node("b")],
    want: "b",
  },
  {
    name: "affinity terms are ORed",
    pod: pod({
      affinityTerms: [
        [{ key: "zone", operator: "In", values: ["x"] }],
        [{ key: "nvidia.com/gpu.product", operator: "Exists" }],
      ],
    }),
    nodes: [node("a"), node("b", { labels: A100 })],
    want: "b",
  },
  {
    name: "a tolerated taint admits the pod",
    pod: pod({ tolerations: tolerateGpu, requests: { "nvidia.com/gpu": "1" } }),
    nodes: [node("a", { gpus: 4, taint: true, labels: L40S })],
    want: "a",
  },
  {
    name: "GPUs in use are not offered again",
    pod: pod({ tolerations: tolerateGpu, requests: { "nvidia.com/gpu": "2" } }),
    nodes: [node("a", { gpus: 4, usedGpus: 3 }), node("b", { gpus: 4, usedGpus: 2 })],
    want: "b",
  },
  {
    name: "no GPUs left: Insufficient nvidia.com/gpu",
    pod: pod({ tolerations: tolerateGpu, requests: { "nvidia.com/gpu": "2" } }),
    nodes: [node("a", { gpus: 4, usedGpus: 3 }), node("b", { gpus: 1 })],
    want: "0/2 nodes are available: 2 Insufficient nvidia.com/gpu. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
  },
  {
    name: "an untolerated taint is named with its key and value",
    pod: pod({ requests: { "nvidia.com/gpu": "1" } }),
    nodes: [node("a", { gpus: 4, taint: true }), node("b")],
    want: "0/2 nodes are available: 1 Insufficient nvidia.com/gpu, 1 node(s) had untolerated taint {nvidia.com/gpu: present}. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
  },
  {
    name: "affinity misses and cordoned nodes are counted apart",
    pod: pod({ nodeSelector: L40S }),
    nodes: [node("a", { labels: A100 }), node("b", { labels: L40S, unschedulable: true }), node("c")],
    want: "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
  },
  {
    name: "a pod that tolerates the unschedulable taint may use a cordoned node",
    pod: pod({ tolerations: [{ key: "node.kubernetes.io/unschedulable", operator: "Exists", effect: "NoSchedule" }] }),
    nodes: [node("a", { unschedulable: true })],
    want: "a",
  },
  {
    name: "no nodes at all",
    pod: pod(),
    nodes: [],
    want: "0/0 nodes are available: preemption: 0/0 nodes are available: 0 Preemption is not helpful for scheduling.",
  },
];

describe("scheduling decisions", () => {
  for (const c of cases) {
    it(c.name, () => {
      const d = decidePlacement(c.pod, c.nodes);
      assert.equal(d.node ?? ("message" in d ? d.message : ""), c.want);
    });
  }
});
