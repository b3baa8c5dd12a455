import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { KubeObject } from "../api/resources.js";
import { decideDeployment, type RsView } from "./deployment-decide.js";

// The Deployment controller's scaling decisions, table-driven: one pass at a time, with the
// ReplicaSets' status as the previous pass left it.

const NOW = new Date("2026-01-01T00:00:00Z");
const tpl = (image: string) => ({ metadata: { labels: { app: "op" } }, spec: { containers: [{ name: "c", image }] } });
const deploy = (image: string, spec: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "op", namespace: "ns", generation: 2 },
  spec: {
    replicas: 2,
    template: tpl(image),
    strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
    ...spec,
  },
});
const rs = (name: string, image: string, revision: number, specReplicas: number, available: number): RsView => ({
  name,
  revision,
  specReplicas,
  replicas: specReplicas,
  ready: available,
  available,
  template: { ...tpl(image), metadata: { labels: { app: "op", "pod-template-hash": name } } },
  creationTimestamp: `2026-01-01T00:00:0${revision}Z`,
});

const cases: {
  name: string;
  d: KubeObject;
  rs: RsView[];
  create?: number;
  scale: Record<string, number>;
  revise?: number;
}[] = [
  { name: "a first rollout creates the ReplicaSet with every replica", d: deploy("v1"), rs: [], create: 2, scale: {} },
  {
    name: "a new template creates its ReplicaSet with one surge pod and keeps the old one whole",
    d: deploy("v2"),
    rs: [rs("a", "v1", 1, 2, 2)],
    create: 1,
    scale: {},
  },
  {
    name: "while the surge pod is not available nothing is scaled down (maxUnavailable 0)",
    d: deploy("v2"),
    rs: [rs("a", "v1", 1, 2, 2), { ...rs("b", "v2", 2, 1, 0) }],
    scale: {},
  },
  {
    name: "once the surge pod is available one old pod goes",
    d: deploy("v2"),
    rs: [rs("a", "v1", 1, 2, 2), rs("b", "v2", 2, 1, 1)],
    scale: { a: 1 },
  },
  {
    name: "with room again the new ReplicaSet grows, and that pass scales nothing down",
    d: deploy("v2"),
    rs: [rs("a", "v1", 1, 1, 1), rs("b", "v2", 2, 1, 1)],
    scale: { b: 2 },
  },
  {
    name: "maxUnavailable 1 and no surge takes an old pod down first",
    d: deploy("v2", { strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } } }),
    rs: [rs("a", "v1", 1, 2, 2), rs("b", "v2", 2, 0, 0)],
    scale: { a: 1 },
  },
  {
    name: "Recreate stops every old pod before the new ReplicaSet gets any",
    d: deploy("v2", { strategy: { type: "Recreate" } }),
    rs: [rs("a", "v1", 1, 2, 2)],
    create: 0,
    scale: { a: 0 },
  },
  {
    name: "rolling back to an old template reuses its ReplicaSet under a new revision",
    d: deploy("v1"),
    rs: [rs("a", "v1", 1, 0, 0), rs("b", "v2", 2, 2, 2)],
    scale: { a: 1 },
    revise: 3,
  },
  {
    name: "a paused Deployment is not scaled",
    d: deploy("v2", { paused: true }),
    rs: [rs("a", "v1", 1, 2, 2)],
    create: 0,
    scale: {},
  },
];

describe("decideDeployment", () => {
  for (const c of cases) {
    it(c.name, () => {
      const d = decideDeployment(c.d, c.rs, NOW);
      assert.equal(d.create?.replicas, c.create);
      assert.deepEqual(Object.fromEntries(d.scale), c.scale);
      assert.equal(d.reviseNew?.revision, c.revise);
    });
  }

  it("old empty ReplicaSets beyond revisionHistoryLimit go, oldest first", () => {
    const d = decideDeployment(
      deploy("v4", { revisionHistoryLimit: 1 }),
      [rs("a", "v1", 1, 0, 0), rs("b", "v2", 2, 0, 0), rs("c", "v3", 3, 0, 0), rs("d", "v4", 4, 2, 2)],
      NOW,
    );
    assert.deepEqual(d.deleteOld, ["a", "b"]);
  });

  it("reports the rollout complete only when every replica is updated and available", () => {
    const done = decideDeployment(deploy("v2"), [rs("a", "v1", 1, 0, 0), rs("b", "v2", 2, 2, 2)], NOW).status as {
      conditions: { type: string; reason: string }[];
    };
    assert.equal(done.conditions.find((c) => c.type === "Progressing")?.reason, "NewReplicaSetAvailable");
    const midway = decideDeployment(deploy("v2"), [rs("a", "v1", 1, 1, 1), rs("b", "v2", 2, 1, 1)], NOW).status as {
      conditions: { type: string; reason: string }[];
    };
    assert.equal(midway.conditions.find((c) => c.type === "Progressing")?.reason, "ReplicaSetUpdated");
  });
});
