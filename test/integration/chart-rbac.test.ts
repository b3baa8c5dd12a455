import { isDeepStrictEqual } from "node:util";
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { type K8sObject, renderChart } from "../chart/render.js";
import { VALUES_SETS } from "../chart/values-sets.js";

// The RBAC the chart renders, expanded to one "scope group/resource verb" line per
// permission of each ServiceAccount and compared with the exact list the services need:
// a missing or an excess permission fails. (That the services run with exactly this set is
// proved by their integration tests on the devcluster in RBAC mode, not here.)

type Rule = {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
};
type Binding = K8sObject & {
  roleRef: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
};

function permissions(objects: readonly K8sObject[], serviceAccount: string, namespace: string): string[] {
  const roles = new Map(
    objects
      .filter((o) => o.kind === "Role" || o.kind === "ClusterRole")
      .map((o) => [`${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`, o]),
  );
  const out = new Set<string>();
  for (const b of objects.filter((o): o is Binding => o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding")) {
    if (!b.subjects?.some((s) => s.kind === "ServiceAccount" && s.name === serviceAccount && s.namespace === namespace))
      continue;
    const roleNamespace = b.roleRef.kind === "Role" ? (b.metadata.namespace ?? "") : "";
    const role = roles.get(`${b.roleRef.kind}/${roleNamespace}/${b.roleRef.name}`);
    assert.ok(role, `${b.kind} ${b.metadata.name} refers to a missing ${b.roleRef.kind} ${b.roleRef.name}`);
    const scope = b.kind === "RoleBinding" ? `namespace ${b.metadata.namespace}` : "cluster";
    for (const rule of (role.rules as Rule[] | undefined) ?? [])
      for (const group of rule.apiGroups ?? [])
        for (const resource of rule.resources ?? [])
          for (const verb of rule.verbs)
            out.add(
              `${scope} ${group === "" ? "core" : group}/${resource}${rule.resourceNames ? `/${rule.resourceNames.join(",")}` : ""} ${verb}`,
            );
  }
  return [...out].sort();
}

const expand = (scope: string, resource: string, verbs: string) =>
  verbs.split(" ").map((v) => `${scope} ${resource} ${v}`);

/** What the operator needs where a run lives: the whole cluster, or each watched namespace. */
const operatorRunPermissions = (scope: string, natsAuth = true) => [
  ...expand(scope, "nnunet-operator.io/trainingruns", "get list watch update patch"),
  ...expand(scope, "nnunet-operator.io/trainingruns/status", "get update patch"),
  ...expand(scope, "nnunet-operator.io/trainingruns/finalizers", "update"),
  ...expand(scope, "batch/jobs", "get list watch create delete patch"),
  // Each fold attempt's NATS credential; create only, never read.
  ...(natsAuth ? expand(scope, "core/secrets", "create") : []),
  ...expand(scope, "core/persistentvolumeclaims", "get list watch"),
  ...expand(scope, "core/configmaps", "get list watch create update patch"),
  ...expand(scope, "core/events", "create patch"),
  ...expand(scope, "events.k8s.io/events", "create patch"),
];
const earlyStopRunPermissions = (scope: string) => [
  ...expand(scope, "nnunet-operator.io/trainingruns", "get list watch"),
  ...expand(scope, "batch/jobs", "get list watch patch"),
  ...expand(scope, "core/events", "create patch"),
  ...expand(scope, "events.k8s.io/events", "create patch"),
];
const LEASE = expand("namespace nnunet-system", "coordination.k8s.io/leases", "get create patch");

/**
 * Per values: the exact permissions of each ServiceAccount. Cluster-wide, or with
 * watchNamespaces a Role per watched namespace, and cluster-wide only the reading of nodes
 * and pods (GPU capacity counts every pod) for the operator and nothing for early-stop.
 */
const CASES: Array<{ name: string; set?: Record<string, string>; operator: string[]; earlyStop: string[] }> = [
  {
    name: "every namespace (default)",
    operator: [
      ...operatorRunPermissions("cluster"),
      ...expand("cluster", "core/pods", "get list watch delete"),
      ...expand("cluster", "core/nodes", "get list watch"),
      ...LEASE,
    ],
    earlyStop: [...earlyStopRunPermissions("cluster"), ...LEASE],
  },
  {
    name: "watchNamespaces [team-a, team-b]",
    set: { watchNamespaces: "{team-a,team-b}" },
    operator: [
      ...["team-a", "team-b"].flatMap((ns) => [
        ...operatorRunPermissions(`namespace ${ns}`),
        ...expand(`namespace ${ns}`, "core/pods", "delete"),
      ]),
      ...expand("cluster", "core/pods", "get list watch"),
      ...expand("cluster", "core/nodes", "get list watch"),
      ...LEASE,
    ],
    earlyStop: [
      ...earlyStopRunPermissions("namespace team-a"),
      ...earlyStopRunPermissions("namespace team-b"),
      ...LEASE,
    ],
  },
  {
    name: "watchNamespaces naming the release namespace, beside the Lease's Role there",
    set: { watchNamespaces: "{nnunet-system}" },
    operator: [
      ...operatorRunPermissions("namespace nnunet-system"),
      ...expand("namespace nnunet-system", "core/pods", "delete"),
      ...expand("cluster", "core/pods", "get list watch"),
      ...expand("cluster", "core/nodes", "get list watch"),
      ...LEASE,
    ],
    earlyStop: [...earlyStopRunPermissions("namespace nnunet-system"), ...LEASE],
  },
  {
    name: "watchNamespaces [team-a] with NATS auth off: no Secrets at all",
    set: { watchNamespaces: "{team-a}", "nats.auth.enabled": "false" },
    operator: [
      ...operatorRunPermissions("namespace team-a", false),
      ...expand("namespace team-a", "core/pods", "delete"),
      ...expand("cluster", "core/pods", "get list watch"),
      ...expand("cluster", "core/nodes", "get list watch"),
      ...LEASE,
    ],
    earlyStop: [...earlyStopRunPermissions("namespace team-a"), ...LEASE],
  },
];

describe("RBAC", () => {
  const objects = renderChart();

  for (const c of CASES) {
    describe(c.name, () => {
      const rendered = c.set ? renderChart({ set: c.set }) : objects;
      it("grants the operator exactly what it needs", () => {
        assert.deepEqual(permissions(rendered, "nnunet-operator", "nnunet-system"), [...c.operator].sort());
      });
      it("grants early-stop exactly what it needs: no status writes, no pod deletion", () => {
        assert.deepEqual(permissions(rendered, "nnunet-operator-early-stop", "nnunet-system"), [...c.earlyStop].sort());
      });
    });
  }

  it("grants the NATS bootstrap hook the creation of Secrets in the release namespace, and reading and patching its own one", () => {
    assert.deepEqual(permissions(objects, "nnunet-operator-nats-bootstrap", "nnunet-system"), [
      "namespace nnunet-system core/secrets create",
      "namespace nnunet-system core/secrets/nnunet-operator-nats-auth get",
      "namespace nnunet-system core/secrets/nnunet-operator-nats-auth patch",
    ]);
  });

  it("grants NATS nothing, and mounts no API token into it", () => {
    assert.deepEqual(permissions(objects, "nnunet-operator-nats", "nnunet-system"), []);
    const sa = objects.find((o) => o.kind === "ServiceAccount" && o.metadata.name === "nnunet-operator-nats");
    assert.equal(sa?.automountServiceAccountToken, false);
  });

  for (const set of VALUES_SETS) {
    it(`has no wildcard, no reading of Secrets, no non-resource URLs and no escalation verbs with ${set.name}`, () => {
      const rules = renderChart({ valuesFiles: set.valuesFiles })
        .filter((o) => o.kind === "Role" || o.kind === "ClusterRole")
        .flatMap((o) => ((o.rules as Rule[] | undefined) ?? []).map((r) => ({ role: o.metadata.name, ...r })));
      assert.ok(rules.length > 0);
      for (const r of rules) {
        const all = [...(r.apiGroups ?? []), ...(r.resources ?? []), ...r.verbs, ...(r.resourceNames ?? [])];
        assert.ok(!all.some((x) => x.includes("*")), `${r.role} has a wildcard: ${JSON.stringify(r)}`);
        // Secrets: create (fold credentials, the NATS auth bootstrap); nobody reads one, except
        // the bootstrap hook its own NATS auth Secret, by name (to mint stale service credentials again).
        if ((r.resources ?? []).some((x) => x === "secrets" || x.startsWith("secrets/")))
          assert.ok(
            isDeepStrictEqual([r.resources, r.verbs, r.resourceNames], [["secrets"], ["create"], undefined]) ||
              isDeepStrictEqual(
                [r.role, r.resources, r.verbs, r.resourceNames?.length],
                ["nnunet-operator-nats-bootstrap", ["secrets"], ["get", "patch"], 1],
              ),
            `${r.role} grants more than creating Secrets: ${JSON.stringify(r)}`,
          );
        assert.equal(r.nonResourceURLs, undefined, `${r.role} grants non-resource URLs`);
        assert.ok(!r.verbs.some((v) => ["escalate", "bind", "impersonate"].includes(v)), `${r.role} can escalate`);
      }
    });
  }
});
