import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { parseQuantity, podRequests, QuantityError } from "./resources.js";

describe("quantities", () => {
  const cases: [unknown, number][] = [
    ["100m", 100],
    ["2", 2000],
    ["1.5", 1500],
    ["1Gi", 2 ** 30 * 1000],
    ["64Mi", 64 * 2 ** 20 * 1000],
    ["1k", 1_000_000],
    ["1e3", 1_000_000],
    [4, 4000],
    ["0.1", 100],
  ];
  for (const [q, milli] of cases)
    it(`reads ${JSON.stringify(q)} as ${milli} milli-units`, () => assert.equal(parseQuantity(q), milli));
  it("refuses what the API server refuses", () => assert.throws(() => parseQuantity("1 GB"), QuantityError));
});

describe("a pod's effective requests (init containers and native sidecars)", () => {
  const c = (cpu: string, gpu?: string, restartPolicy?: string) => ({
    ...(restartPolicy ? { restartPolicy } : {}),
    resources: { requests: { cpu, ...(gpu ? { "nvidia.com/gpu": gpu } : {}) } },
  });
  const cases: [string, Parameters<typeof podRequests>[0], Record<string, number>][] = [
    ["sums the regular containers", { containers: [c("1"), c("500m")] }, { cpu: 1500 }],
    ["takes a larger init container as the peak", { initContainers: [c("4")], containers: [c("1")] }, { cpu: 4000 }],
    [
      "adds a sidecar to the main containers",
      { initContainers: [c("500m", undefined, "Always")], containers: [c("1", "2")] },
      { cpu: 1500, "nvidia.com/gpu": 2000 },
    ],
    [
      "counts sidecars started before an init container during it",
      { initContainers: [c("1", undefined, "Always"), c("3")], containers: [c("1")] },
      { cpu: 4000 },
    ],
    [
      "does not count a sidecar started after an init container during it",
      { initContainers: [c("3"), c("1", undefined, "Always")], containers: [c("1")] },
      { cpu: 3000 },
    ],
    [
      "takes extended resources from limits",
      { containers: [{ resources: { limits: { "nvidia.com/gpu": "1" } } }] },
      { "nvidia.com/gpu": 1000 },
    ],
    ["adds pod overhead", { containers: [c("1")], overhead: { cpu: "250m" } }, { cpu: 1250 }],
  ];
  for (const [name, spec, want] of cases) it(name, () => assert.deepEqual(Object.fromEntries(podRequests(spec)), want));
});
