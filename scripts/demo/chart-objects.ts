import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse as parseYaml, parseAllDocuments, stringify } from "yaml";
import type { KubeObject } from "@nnunet-operator/devcluster";

// Pieces of the rendered chart (deploy/manifests) for integration tests that run the
// operator as a process against the devcluster rather than installing the chart.

const repoRoot = resolve(import.meta.dirname, "../..");
const RBAC_KINDS = new Set(["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]);

/** The chart's RBAC objects and namespace, as deploy/manifests renders them. */
export function chartRbac(): KubeObject[] {
  const dir = join(repoRoot, "deploy/manifests");
  return readdirSync(dir)
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), "utf8")).map((d) => d.toJS() as KubeObject))
    .filter((o) => o && RBAC_KINDS.has(o.kind ?? ""));
}

/**
 * The operator's config.yaml from the chart, pointed at this machine's NATS (started without
 * auth, so the chart's nats.auth files are dropped) and the simulated backend.
 */
export function operatorConfig(natsUrl: string): string {
  const cm = parseYaml(
    readFileSync(join(repoRoot, "deploy/manifests/configmap-nnunet-operator-config.yaml"), "utf8"),
  ) as { data: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: the operator's config is edited as plain YAML data
  const config = parseYaml(cm.data["config.yaml"] ?? "") as Record<string, any>;
  const { auth: _auth, ...nats } = config["nats"] ?? {};
  config["nats"] = { ...nats, url: natsUrl };
  config["calibration"] = { ...config["calibration"], backend: "simulated" };
  // Restarts in seconds rather than minutes: the simulated epochs are seconds long.
  config["restartBackoff"] = { initialSeconds: 1, maxSeconds: 10 };
  return stringify(config);
}
