import { createHash } from "node:crypto";
import type { ResourceCatalog, ResourceDef } from "../api/resources.js";

// Discovery documents (legacy, unaggregated: clients fall back to them) and the OpenAPI v3
// documents kubectl reads. kubectl 1.32 checks in OpenAPI v3 whether a PATCH operation of
// the kind accepts the fieldValidation query parameter; when it does, it leaves field
// validation to the server instead of validating against a client-side schema. Custom
// resources also carry their schema under components for `kubectl explain`.

export const SERVER_VERSION = {
  major: "1",
  minor: "32",
  gitVersion: "v1.32.0-devcluster",
  gitCommit: "0000000000000000000000000000000000000000",
  gitTreeState: "clean",
  buildDate: "2026-01-01T00:00:00Z",
  goVersion: "go1.23.0",
  compiler: "gc",
  platform: "linux/amd64",
};

/** Kubernetes version priority: GA > beta > alpha, higher numbers first. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return [0, 0, 0, v] as const;
    return [1, m[2] === undefined ? 3 : m[2] === "beta" ? 2 : 1, Number(m[1]) * 1000 + Number(m[3] ?? 0), v] as const;
  };
  const pa = parse(a);
  const pb = parse(b);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return (pb[i] as number) - (pa[i] as number);
  return a.localeCompare(b);
}

function apiResources(defs: ResourceDef[]): object[] {
  const out: object[] = [];
  for (const d of defs.sort((a, b) => a.resource.localeCompare(b.resource))) {
    const hash = createHash("sha256").update(`${d.group}/${d.version}/${d.kind}`).digest("base64").slice(0, 11);
    const r: Record<string, unknown> = {
      name: d.resource,
      singularName: d.singular,
      namespaced: d.namespaced,
      kind: d.kind,
      verbs: d.verbs,
    };
    if (d.shortNames.length) r["shortNames"] = d.shortNames;
    if (d.categories.length) r["categories"] = d.categories;
    if (!d.virtual) r["storageVersionHash"] = hash;
    out.push(r);
    if (d.statusSubresource)
      out.push({
        name: `${d.resource}/status`,
        singularName: "",
        namespaced: d.namespaced,
        kind: d.kind,
        verbs: ["get", "patch", "update"],
      });
    if (d.resource === "serviceaccounts" && !d.custom)
      out.push({
        name: "serviceaccounts/token",
        singularName: "",
        namespaced: true,
        group: "authentication.k8s.io",
        version: "v1",
        kind: "TokenRequest",
        verbs: ["create"],
      });
    if (d.resource === "pods" && !d.custom) {
      out.push({ name: "pods/binding", singularName: "", namespaced: true, kind: "Binding", verbs: ["create"] });
      out.push({
        name: "pods/eviction",
        singularName: "",
        namespaced: true,
        group: "policy",
        version: "v1",
        kind: "Eviction",
        verbs: ["create"],
      });
    }
  }
  return out;
}

export function apiVersions(host: string): object {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: host }],
  };
}

export function resourceList(catalog: ResourceCatalog, group: string, version: string): object | undefined {
  const defs = catalog.all().filter((d) => d.group === group && d.version === version);
  if (defs.length === 0) return undefined;
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: group ? `${group}/${version}` : version,
    resources: apiResources(defs),
  };
}

function groupOf(catalog: ResourceCatalog, name: string): object | undefined {
  const versions = [
    ...new Set(
      catalog
        .all()
        .filter((d) => d.group === name)
        .map((d) => d.version),
    ),
  ].sort(compareVersions);
  if (versions.length === 0) return undefined;
  const gv = (v: string) => ({ groupVersion: `${name}/${v}`, version: v });
  return { name, versions: versions.map(gv), preferredVersion: gv(versions[0]!) };
}

export function apiGroup(catalog: ResourceCatalog, name: string): object | undefined {
  const g = groupOf(catalog, name);
  return g ? { kind: "APIGroup", apiVersion: "v1", ...g } : undefined;
}

export function apiGroupList(catalog: ResourceCatalog): object {
  const names = [
    ...new Set(
      catalog
        .all()
        .filter((d) => d.group !== "")
        .map((d) => d.group),
    ),
  ];
  return { kind: "APIGroupList", apiVersion: "v1", groups: names.map((n) => groupOf(catalog, n)) };
}
