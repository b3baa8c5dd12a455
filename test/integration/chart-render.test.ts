import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { type K8sObject, objectKey, renderChart, repoRoot, run } from "../chart/render.js";
import { validateObject } from "../chart/validate.js";
import { VALUES_SETS } from "../chart/values-sets.js";

type Container = {
  name: string;
  image: string;
  securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[]; add?: string[] } };
  resources?: { requests?: Record<string, unknown> };
};
type PodSpec = { securityContext?: Record<string, unknown>; containers: Container[]; initContainers?: Container[] };

const podSpecOf = (o: K8sObject): PodSpec | undefined =>
  (o.spec as { template?: { spec?: PodSpec } } | undefined)?.template?.spec;

/** Violations of the Pod Security Standards "restricted" profile, and of our own habits. */
function podSecurityViolations(o: K8sObject): string[] {
  const spec = podSpecOf(o);
  if (!spec) return [];
  const where = `${o.kind} ${o.metadata.name}`;
  const out: string[] = [];
  const pod = spec.securityContext ?? {};
  if (pod.runAsNonRoot !== true) out.push(`${where}: pod runAsNonRoot is not true`);
  if ((pod.seccompProfile as { type?: string } | undefined)?.type !== "RuntimeDefault")
    out.push(`${where}: pod seccomp is not RuntimeDefault`);
  for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
    const sc = c.securityContext ?? {};
    const at = `${where} container ${c.name}`;
    if (sc.allowPrivilegeEscalation !== false) out.push(`${at}: allowPrivilegeEscalation is not false`);
    if (sc.readOnlyRootFilesystem !== true) out.push(`${at}: readOnlyRootFilesystem is not true`);
    if (sc.runAsNonRoot !== true) out.push(`${at}: runAsNonRoot is not true`);
    if (sc.privileged === true) out.push(`${at}: privileged`);
    if (!sc.capabilities?.drop?.includes("ALL")) out.push(`${at}: capabilities do not drop ALL`);
    if ((sc.capabilities?.add ?? []).length > 0) out.push(`${at}: adds capabilities`);
    if (/:latest$/.test(c.image) || !/:[\w][\w.-]*$/.test(c.image))
      out.push(`${at}: image ${c.image} is not pinned to a tag`);
    if (!c.resources?.requests) out.push(`${at}: no resource requests`);
  }
  return out;
}

const CLUSTER_SCOPED = new Set([
  "ClusterRole",
  "ClusterRoleBinding",
  "ValidatingWebhookConfiguration",
  "CustomResourceDefinition",
  "Namespace",
]);

describe("the chart renders valid objects with every values set", () => {
  for (const set of VALUES_SETS) {
    describe(set.name, () => {
      const objects = renderChart({ valuesFiles: set.valuesFiles, includeCrds: true });
      const watched = set.valuesFiles.flatMap(
        (f) => (parse(readFileSync(join(repoRoot, f), "utf8")) as { watchNamespaces?: string[] }).watchNamespaces ?? [],
      );

      it("passes helm lint --strict", () => {
        const args = [
          "lint",
          "--strict",
          join(repoRoot, "charts/nnunet-operator"),
          ...set.valuesFiles.flatMap((f) => ["--values", join(repoRoot, f)]),
        ];
        const result = run("helm", args);
        assert.equal(result.status, 0, result.stdout + result.stderr);
      });

      it("renders the same objects twice, apart from the generated webhook certificate", () => {
        const again = renderChart({ valuesFiles: set.valuesFiles, includeCrds: true });
        const strip = (list: K8sObject[]) =>
          JSON.stringify(
            list.map((o) => (o.kind === "Secret" ? { ...o, data: {} } : o)),
            (key, value: unknown) => (key === "caBundle" ? "" : value),
          );
        assert.equal(strip(again), strip(objects));
      });

      it("validates every object against its kubernetes-models schema", () => {
        assert.deepEqual(objects.flatMap(validateObject), []);
      });

      it("names every object validly and namespaces every namespaced one", () => {
        for (const o of objects) {
          assert.ok(
            o.metadata.name.length <= 63 || o.kind === "CustomResourceDefinition",
            `${objectKey(o)}: name too long`,
          );
          assert.match(o.metadata.name, /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, objectKey(o));
          // With watchNamespaces, the services' Roles and RoleBindings live in those namespaces.
          const inWatched =
            (o.kind === "Role" || o.kind === "RoleBinding") && watched.includes(o.metadata.namespace ?? "");
          if (CLUSTER_SCOPED.has(o.kind)) assert.equal(o.metadata.namespace, undefined, objectKey(o));
          else if (!inWatched) assert.equal(o.metadata.namespace, "nnunet-system", `${objectKey(o)} has no namespace`);
        }
      });

      it("runs every pod under the restricted pod security profile", () => {
        assert.deepEqual(objects.flatMap(podSecurityViolations), []);
      });

      it("installs the CRD that crds/ holds, byte for byte", () => {
        const chartCrd = readFileSync(
          join(repoRoot, "charts/nnunet-operator/crds/trainingruns.nnunet-operator.io.yaml"),
          "utf8",
        );
        assert.equal(chartCrd, readFileSync(join(repoRoot, "crds/trainingruns.nnunet-operator.io.yaml"), "utf8"));
        assert.equal(objects.filter((o) => o.kind === "CustomResourceDefinition").length, 1);
      });
    });
  }
});

describe("what each values set switches on and off", () => {
  const kinds = (valuesFiles: string[]) => new Set(renderChart({ valuesFiles }).map((o) => o.kind));
  const cases: { name: string; file?: string; present: string[]; absent: string[] }[] = [
    {
      name: "defaults: generated TLS, in-chart NATS, PDBs, NetworkPolicies, no Prometheus objects",
      present: ["Secret", "StatefulSet", "PodDisruptionBudget", "NetworkPolicy"],
      absent: ["ServiceMonitor", "PrometheusRule", "Certificate", "Issuer"],
    },
    {
      name: "monitoring on: a ServiceMonitor and a PrometheusRule",
      file: "monitoring-values.yaml",
      present: ["ServiceMonitor", "PrometheusRule"],
      absent: [],
    },
    {
      name: "external NATS: no NATS StatefulSet",
      file: "external-nats-values.yaml",
      present: ["Deployment"],
      absent: ["StatefulSet"],
    },
    {
      name: "cert-manager with an existing issuer: a Certificate, no Issuer, no Secret",
      file: "cert-manager-values.yaml",
      present: ["Certificate"],
      absent: ["Issuer", "Secret"],
    },
    {
      name: "deploy/ values: cert-manager with a self-signed Issuer",
      file: "deploy-values.yaml",
      present: ["Certificate", "Issuer"],
      absent: ["Secret"],
    },
    {
      name: "minimal: no PDB and no NetworkPolicy",
      file: "minimal-values.yaml",
      present: ["Deployment"],
      absent: ["PodDisruptionBudget", "NetworkPolicy"],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const rendered = kinds(c.file ? [`charts/nnunet-operator/ci/${c.file}`] : []);
      for (const kind of c.present) assert.ok(rendered.has(kind), `${kind} missing`);
      for (const kind of c.absent) assert.ok(!rendered.has(kind), `${kind} rendered`);
    });
  }

  it("moves every reference with the release name and namespace", () => {
    const objects = renderChart({ release: "lab", namespace: "ml-platform" });
    const text = JSON.stringify(objects);
    assert.ok(!text.includes("nnunet-system"), "the default namespace leaked into a release elsewhere");
    assert.ok(text.includes("nats://lab-nnunet-operator-nats.ml-platform.svc:4222"));
    assert.ok(objects.every((o) => CLUSTER_SCOPED.has(o.kind) || o.metadata.namespace === "ml-platform"));
  });
});
