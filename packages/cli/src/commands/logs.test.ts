import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type PodLike, pickContainer, pickTrainingPod } from "./logs.js";

const pod = (
  name: string,
  created: string,
  extra: Partial<PodLike["metadata"]> = {},
  containers = ["nnunet", "reporter"],
): PodLike => ({
  metadata: { name, creationTimestamp: created, ...extra },
  spec: { containers: containers.map((c) => ({ name: c })) },
});

describe("pickTrainingPod", () => {
  const cases = [
    { name: "no pods: none", pods: [], want: undefined },
    {
      name: "the newest attempt's pod",
      pods: [pod("a0", "2026-01-01T00:00:00Z"), pod("a1", "2026-01-01T01:00:00Z")],
      want: "a1",
    },
    {
      name: "a pod being deleted yields to the live one",
      pods: [
        pod("a0", "2026-01-01T00:00:00Z"),
        pod("a1", "2026-01-01T01:00:00Z", { deletionTimestamp: "2026-01-01T02:00:00Z" }),
      ],
      want: "a0",
    },
    {
      name: "only deleting pods: the newest of them",
      pods: [
        pod("a0", "2026-01-01T00:00:00Z", { deletionTimestamp: "x" }),
        pod("a1", "2026-01-01T01:00:00Z", { deletionTimestamp: "x" }),
      ],
      want: "a1",
    },
  ];
  for (const c of cases) it(c.name, () => assert.equal(pickTrainingPod(c.pods)?.metadata.name, c.want));
});

describe("pickContainer", () => {
  const cases = [
    {
      name: "nnunet by default, not the reporter sidecar",
      pod: pod("p", "t", {}, ["reporter", "nnunet"]),
      requested: undefined,
      want: { container: "nnunet" },
    },
    { name: "-c names another container", pod: pod("p", "t"), requested: "reporter", want: { container: "reporter" } },
    {
      name: "the default-container annotation",
      pod: pod("p", "t", { annotations: { "kubectl.kubernetes.io/default-container": "reporter" } }),
      requested: undefined,
      want: { container: "reporter" },
    },
    {
      name: "the first container of a pod without nnunet",
      pod: pod("p", "t", {}, ["main"]),
      requested: undefined,
      want: { container: "main" },
    },
    {
      name: "a container the pod lacks, listing those it has",
      pod: pod("p", "t"),
      requested: "sidecar",
      want: { error: 'container "sidecar" is not in pod p (containers: nnunet, reporter): pick one with -c' },
    },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(pickContainer(c.pod, c.requested), c.want));
});
