import type { UserInfo } from "../api/registry.js";
import type { Store } from "../api/store.js";

// RBAC authorisation as kube-apiserver's RBAC authorizer evaluates it: ClusterRoleBindings
// grant ClusterRoles everywhere, RoleBindings grant Roles or ClusterRoles in their
// namespace; a rule matches on verbs, API groups, resources (with subresources and "*"),
// resource names and non-resource URLs. system:masters is always allowed.

export interface ResourceAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string | undefined;
  namespace?: string | undefined;
  name?: string | undefined;
}

export interface NonResourceAttributes {
  verb: string;
  path: string;
}

interface PolicyRule {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

interface Subject {
  kind: "User" | "Group" | "ServiceAccount";
  name: string;
  namespace?: string;
}

interface Binding {
  subjects?: Subject[];
  roleRef: { kind: "Role" | "ClusterRole"; name: string };
}

const RBAC = "rbac.authorization.k8s.io";

function subjectMatches(s: Subject, user: UserInfo, bindingNamespace: string | undefined): boolean {
  if (s.kind === "User") return s.name === user.username;
  if (s.kind === "Group") return user.groups.includes(s.name);
  if (s.kind === "ServiceAccount") {
    const ns = s.namespace ?? bindingNamespace;
    return user.username === `system:serviceaccount:${ns}:${s.name}`;
  }
  return false;
}

const has = (list: string[] | undefined, v: string) => (list ?? []).some((x) => x === "*" || x === v);

function resourceMatches(rule: PolicyRule, a: ResourceAttributes): boolean {
  const full = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  return (rule.resources ?? []).some(
    (r) => r === "*" || r === full || (a.subresource !== undefined && r === `*/${a.subresource}`),
  );
}

function ruleAllows(rule: PolicyRule, a: ResourceAttributes | NonResourceAttributes): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if ("path" in a) {
    return (rule.nonResourceURLs ?? []).some(
      (u) => u === "*" || u === a.path || (u.endsWith("*") && a.path.startsWith(u.slice(0, -1))),
    );
  }
  if (!has(rule.apiGroups, a.group) || !resourceMatches(rule, a)) return false;
  if (rule.resourceNames && rule.resourceNames.length > 0)
    return a.name !== undefined && rule.resourceNames.includes(a.name);
  return true;
}

export class RbacAuthorizer {
  constructor(private readonly store: Store) {}

  private rules(kind: "Role" | "ClusterRole", name: string, namespace: string | undefined): PolicyRule[] {
    const obj =
      kind === "ClusterRole"
        ? this.store.get(`clusterroles.${RBAC}`, undefined, name)
        : this.store.get(`roles.${RBAC}`, namespace, name);
    return (obj as { rules?: PolicyRule[] } | undefined)?.rules ?? [];
  }

  rulesFor(user: UserInfo, namespace: string | undefined): SubjectRules {
    if (user.groups.includes("system:masters")) return splitRules(ALL_RULES);
    const rules: PolicyRule[] = [];
    for (const e of this.store.scan(`clusterrolebindings.${RBAC}`)) {
      const b = e.object as unknown as Binding;
      if ((b.subjects ?? []).some((s) => subjectMatches(s, user, undefined)))
        rules.push(...this.rules("ClusterRole", b.roleRef.name, undefined));
    }
    if (namespace) {
      for (const e of this.store.scan(`rolebindings.${RBAC}`, namespace)) {
        const b = e.object as unknown as Binding;
        if ((b.subjects ?? []).some((s) => subjectMatches(s, user, namespace)))
          rules.push(...this.rules(b.roleRef.kind, b.roleRef.name, namespace));
      }
    }
    return splitRules(rules);
  }

  allows(user: UserInfo, a: ResourceAttributes | NonResourceAttributes): boolean {
    if (user.groups.includes("system:masters")) return true;
    for (const e of this.store.scan(`clusterrolebindings.${RBAC}`)) {
      const b = e.object as unknown as Binding;
      if (!(b.subjects ?? []).some((s) => subjectMatches(s, user, undefined))) continue;
      if (this.rules("ClusterRole", b.roleRef.name, undefined).some((r) => ruleAllows(r, a))) return true;
    }
    if ("path" in a || !a.namespace) return false;
    for (const e of this.store.scan(`rolebindings.${RBAC}`, a.namespace)) {
      const b = e.object as unknown as Binding;
      if (!(b.subjects ?? []).some((s) => subjectMatches(s, user, a.namespace))) continue;
      if (this.rules(b.roleRef.kind, b.roleRef.name, a.namespace).some((r) => ruleAllows(r, a))) return true;
    }
    return false;
  }
}

export interface SubjectRules {
  resourceRules: { verbs: string[]; apiGroups?: string[]; resources?: string[]; resourceNames?: string[] }[];
  nonResourceRules: { verbs: string[]; nonResourceURLs?: string[] }[];
}

const ALL_RULES: PolicyRule[] = [
  { verbs: ["*"], apiGroups: ["*"], resources: ["*"] },
  { verbs: ["*"], nonResourceURLs: ["*"] },
];

/** The rules a user holds in a namespace (cluster-wide ones included), split as a SelfSubjectRulesReview reports them. */
export function splitRules(rules: PolicyRule[]): SubjectRules {
  const out: SubjectRules = { resourceRules: [], nonResourceRules: [] };
  for (const r of rules) {
    if (r.nonResourceURLs?.length)
      out.nonResourceRules.push({ verbs: r.verbs ?? [], nonResourceURLs: r.nonResourceURLs });
    if (r.resources?.length)
      out.resourceRules.push({
        verbs: r.verbs ?? [],
        apiGroups: r.apiGroups ?? [],
        resources: r.resources,
        ...(r.resourceNames?.length ? { resourceNames: r.resourceNames } : {}),
      });
  }
  return out;
}

/** The message of the real 403: `User "x" cannot list resource "pods" in API group "" in the namespace "default"`. */
export function denialReason(user: UserInfo, a: ResourceAttributes | NonResourceAttributes): string {
  if ("path" in a) return `User "${user.username}" cannot ${a.verb} path "${a.path}"`;
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const where = a.namespace ? `in the namespace "${a.namespace}"` : "at the cluster scope";
  return `User "${user.username}" cannot ${a.verb} resource "${res}" in API group "${a.group}" ${where}`;
}

/** Bootstrap policy of a real cluster that every authenticated client relies on. */
export function bootstrapPolicy(): { clusterRoles: object[]; clusterRoleBindings: object[] } {
  const role = (name: string, rules: PolicyRule[]) => ({
    apiVersion: `${RBAC}/v1`,
    kind: "ClusterRole",
    metadata: {
      name,
      labels: { "kubernetes.io/bootstrapping": "rbac-defaults" },
      annotations: { "rbac.authorization.kubernetes.io/autoupdate": "true" },
    },
    rules,
  });
  const bind = (name: string, group: string) => ({
    apiVersion: `${RBAC}/v1`,
    kind: "ClusterRoleBinding",
    metadata: {
      name,
      labels: { "kubernetes.io/bootstrapping": "rbac-defaults" },
      annotations: { "rbac.authorization.kubernetes.io/autoupdate": "true" },
    },
    roleRef: { apiGroup: RBAC, kind: "ClusterRole", name },
    subjects: [{ apiGroup: RBAC, kind: "Group", name: group }],
  });
  return {
    clusterRoles: [
      role("cluster-admin", [
        { apiGroups: ["*"], resources: ["*"], verbs: ["*"] },
        { nonResourceURLs: ["*"], verbs: ["*"] },
      ]),
      role("system:discovery", [
        {
          nonResourceURLs: [
            "/api",
            "/api/*",
            "/apis",
            "/apis/*",
            "/healthz",
            "/livez",
            "/openapi",
            "/openapi/*",
            "/readyz",
            "/version",
            "/version/",
          ],
          verbs: ["get"],
        },
      ]),
      role("system:public-info-viewer", [
        { nonResourceURLs: ["/healthz", "/livez", "/readyz", "/version", "/version/"], verbs: ["get"] },
      ]),
      role("system:basic-user", [
        {
          apiGroups: ["authorization.k8s.io"],
          resources: ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
          verbs: ["create"],
        },
        { apiGroups: ["authentication.k8s.io"], resources: ["selfsubjectreviews"], verbs: ["create"] },
      ]),
    ],
    clusterRoleBindings: [
      { ...bind("cluster-admin", "system:masters") },
      bind("system:discovery", "system:authenticated"),
      bind("system:public-info-viewer", "system:authenticated"),
      bind("system:basic-user", "system:authenticated"),
    ],
  };
}
