import type { FieldError } from "../api/errors.js";
import type { KubeObject, ResourceDef } from "../api/resources.js";
import { fromLabelSelectorObject, matchesLabels } from "../api/selectors.js";

// Validation of the workload and networking kinds the chart installs, with the real
// server's field paths and messages for the mistakes a chart author makes: a selector
// that does not match the template, a Service port without a number, a PodDisruptionBudget
// with both minAvailable and maxUnavailable, a NetworkPolicy with an unknown policy type or
// a malformed CIDR. The pod template itself goes through the pod checks (validatePodSpec).

type Obj = Record<string, unknown>;
const asObj = (v: unknown): Obj => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const asList = (v: unknown): Obj[] => (Array.isArray(v) ? v.map(asObj) : []);
type Selector = {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
};

const IPV4_CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const INT_OR_PERCENT = /^\d+%$/;

function validateSelectorMatches(spec: Obj, errs: FieldError[]): void {
  const selector = spec["selector"] as Selector | undefined;
  if (!selector || (!selector.matchLabels && !selector.matchExpressions)) {
    errs.push({ type: "FieldValueRequired", field: "spec.selector" });
    return;
  }
  if (Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0) {
    errs.push({
      type: "FieldValueInvalid",
      field: "spec.selector",
      value: selector,
      detail: "empty selector is invalid for deployment",
    });
  }
  const labels = asObj(asObj(asObj(spec["template"])["metadata"])["labels"]) as Record<string, string>;
  if (!matchesLabels(fromLabelSelectorObject(selector), labels)) {
    errs.push({
      type: "FieldValueInvalid",
      field: "spec.template.metadata.labels",
      value: labels,
      detail: "`selector` does not match template `labels`",
    });
  }
}

function validateIntOrPercent(v: unknown, field: string, errs: FieldError[]): void {
  if (v === undefined) return;
  if (typeof v === "number" ? !Number.isInteger(v) || v < 0 : typeof v !== "string" || !INT_OR_PERCENT.test(v)) {
    errs.push({
      type: "FieldValueInvalid",
      field,
      value: v,
      detail: "must be an integer or percentage (e.g '5%'), and must be greater than or equal to 0",
    });
  }
}

function validateReplicated(
  kind: string,
  obj: KubeObject,
  validatePod: (spec: Obj, at: string) => FieldError[],
): FieldError[] {
  const spec = asObj(obj["spec"]);
  const errs: FieldError[] = [];
  validateSelectorMatches(spec, errs);
  const replicas = spec["replicas"];
  if (replicas !== undefined && (!Number.isInteger(replicas) || (replicas as number) < 0))
    errs.push({
      type: "FieldValueInvalid",
      field: "spec.replicas",
      value: replicas,
      detail: "must be greater than or equal to 0",
    });
  const tpl = asObj(spec["template"]);
  errs.push(...validatePod(asObj(tpl["spec"]), "spec.template.spec"));
  const rp = asObj(tpl["spec"])["restartPolicy"];
  if (rp !== undefined && rp !== "Always")
    errs.push({
      type: "FieldValueNotSupported",
      field: "spec.template.spec.restartPolicy",
      value: rp,
      detail: 'supported values: "Always"',
    });
  if (kind === "Deployment") {
    const strategy = asObj(spec["strategy"]);
    const type = strategy["type"];
    if (type !== undefined && type !== "RollingUpdate" && type !== "Recreate")
      errs.push({
        type: "FieldValueNotSupported",
        field: "spec.strategy.type",
        value: type,
        detail: 'supported values: "Recreate", "RollingUpdate"',
      });
    const ru = asObj(strategy["rollingUpdate"]);
    validateIntOrPercent(ru["maxSurge"], "spec.strategy.rollingUpdate.maxSurge", errs);
    validateIntOrPercent(ru["maxUnavailable"], "spec.strategy.rollingUpdate.maxUnavailable", errs);
    const zero = (v: unknown) => v === 0 || v === "0%";
    if (zero(ru["maxSurge"]) && zero(ru["maxUnavailable"]))
      errs.push({
        type: "FieldValueInvalid",
        field: "spec.strategy.rollingUpdate.maxUnavailable",
        value: ru["maxUnavailable"],
        detail: "may not be 0 when `maxSurge` is 0",
      });
    if (type === "Recreate" && strategy["rollingUpdate"] !== undefined)
      errs.push({
        type: "FieldValueForbidden",
        field: "spec.strategy.rollingUpdate",
        detail: "may not be specified when strategy `type` is 'Recreate'",
      });
  }
  if (kind === "StatefulSet") {
    const policy = spec["podManagementPolicy"];
    if (policy !== undefined && policy !== "OrderedReady" && policy !== "Parallel")
      errs.push({
        type: "FieldValueNotSupported",
        field: "spec.podManagementPolicy",
        value: policy,
        detail: 'supported values: "OrderedReady", "Parallel"',
      });
    asList(spec["volumeClaimTemplates"]).forEach((t, i) => {
      if (!asObj(t["metadata"])["name"])
        errs.push({ type: "FieldValueRequired", field: `spec.volumeClaimTemplates[${i}].metadata.name` });
    });
  }
  return errs;
}

function validateService(obj: KubeObject): FieldError[] {
  const spec = asObj(obj["spec"]);
  const errs: FieldError[] = [];
  const type = spec["type"] ?? "ClusterIP";
  if (!["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].includes(type as string))
    errs.push({
      type: "FieldValueNotSupported",
      field: "spec.type",
      value: type,
      detail: 'supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
    });
  const ports = asList(spec["ports"]);
  if (ports.length === 0 && type !== "ExternalName" && spec["clusterIP"] !== "None")
    errs.push({ type: "FieldValueRequired", field: "spec.ports" });
  const names = new Set<string>();
  ports.forEach((p, i) => {
    const port = p["port"];
    if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535)
      errs.push({
        type: "FieldValueInvalid",
        field: `spec.ports[${i}].port`,
        value: port ?? 0,
        detail: "must be between 1 and 65535, inclusive",
      });
    const name = p["name"];
    if (ports.length > 1 && !name) errs.push({ type: "FieldValueRequired", field: `spec.ports[${i}].name` });
    if (typeof name === "string" && name) {
      if (names.has(name)) errs.push({ type: "FieldValueDuplicate", field: `spec.ports[${i}].name`, value: name });
      names.add(name);
    }
    const proto = p["protocol"];
    if (proto !== undefined && !["TCP", "UDP", "SCTP"].includes(proto as string))
      errs.push({
        type: "FieldValueNotSupported",
        field: `spec.ports[${i}].protocol`,
        value: proto,
        detail: 'supported values: "SCTP", "TCP", "UDP"',
      });
    const target = p["targetPort"];
    if (typeof target === "string" && !PORT_NAME.test(target))
      errs.push({
        type: "FieldValueInvalid",
        field: `spec.ports[${i}].targetPort`,
        value: target,
        detail: "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
      });
  });
  return errs;
}

function validatePdb(obj: KubeObject): FieldError[] {
  const spec = asObj(obj["spec"]);
  const errs: FieldError[] = [];
  if (spec["minAvailable"] !== undefined && spec["maxUnavailable"] !== undefined)
    errs.push({
      type: "FieldValueInvalid",
      field: "spec",
      value: spec,
      detail: "minAvailable and maxUnavailable cannot be both set",
    });
  validateIntOrPercent(spec["minAvailable"], "spec.minAvailable", errs);
  validateIntOrPercent(spec["maxUnavailable"], "spec.maxUnavailable", errs);
  const policy = spec["unhealthyPodEvictionPolicy"];
  if (policy !== undefined && policy !== "IfHealthyBudget" && policy !== "AlwaysAllow")
    errs.push({
      type: "FieldValueNotSupported",
      field: "spec.unhealthyPodEvictionPolicy",
      value: policy,
      detail: 'supported values: "AlwaysAllow", "IfHealthyBudget"',
    });
  return errs;
}

function validateCidr(v: unknown, field: string, errs: FieldError[]): void {
  const m = typeof v === "string" ? IPV4_CIDR.exec(v) : null;
  const ok = m?.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) <= 32;
  if (!ok && !(typeof v === "string" && v.includes(":") && v.includes("/")))
    errs.push({
      type: "FieldValueInvalid",
      field,
      value: v ?? "",
      detail: "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
    });
}

function validatePeers(peers: Obj[], at: string, errs: FieldError[]): void {
  peers.forEach((peer, j) => {
    const set = ["podSelector", "namespaceSelector", "ipBlock"].filter((k) => peer[k] !== undefined);
    if (set.length === 0)
      errs.push({ type: "FieldValueRequired", field: `${at}[${j}]`, detail: "must specify a peer" });
    if (peer["ipBlock"] !== undefined) {
      if (set.length > 1)
        errs.push({
          type: "FieldValueForbidden",
          field: `${at}[${j}]`,
          detail: "may not specify both ipBlock and another peer",
        });
      const block = asObj(peer["ipBlock"]);
      validateCidr(block["cidr"], `${at}[${j}].ipBlock.cidr`, errs);
      (Array.isArray(block["except"]) ? block["except"] : []).forEach((e, k) =>
        validateCidr(e, `${at}[${j}].ipBlock.except[${k}]`, errs),
      );
    }
  });
}

function validateNetworkPolicy(obj: KubeObject): FieldError[] {
  const spec = asObj(obj["spec"]);
  const errs: FieldError[] = [];
  if (spec["podSelector"] === undefined) errs.push({ type: "FieldValueRequired", field: "spec.podSelector" });
  const types = Array.isArray(spec["policyTypes"]) ? spec["policyTypes"] : [];
  types.forEach((t, i) => {
    if (t !== "Ingress" && t !== "Egress")
      errs.push({
        type: "FieldValueNotSupported",
        field: `spec.policyTypes[${i}]`,
        value: t,
        detail: 'supported values: "Egress", "Ingress"',
      });
  });
  for (const [dir, peersKey] of [
    ["ingress", "from"],
    ["egress", "to"],
  ] as const) {
    asList(spec[dir]).forEach((rule, i) => {
      asList(rule["ports"]).forEach((p, k) => {
        const proto = p["protocol"];
        if (proto !== undefined && !["TCP", "UDP", "SCTP"].includes(proto as string))
          errs.push({
            type: "FieldValueNotSupported",
            field: `spec.${dir}[${i}].ports[${k}].protocol`,
            value: proto,
            detail: 'supported values: "SCTP", "TCP", "UDP"',
          });
        const port = p["port"];
        if (typeof port === "number" && (port < 1 || port > 65535))
          errs.push({
            type: "FieldValueInvalid",
            field: `spec.${dir}[${i}].ports[${k}].port`,
            value: port,
            detail: "must be between 1 and 65535, inclusive",
          });
      });
      validatePeers(asList(rule[peersKey]), `spec.${dir}[${i}].${peersKey}`, errs);
    });
  }
  return errs;
}

/** Checks of the kinds in this folder; undefined for any other resource. */
export function validateWorkload(
  def: ResourceDef,
  obj: KubeObject,
  validatePod: (spec: Obj, at: string) => FieldError[],
): FieldError[] | undefined {
  if (
    def.group === "apps" &&
    (def.resource === "deployments" || def.resource === "replicasets" || def.resource === "statefulsets")
  )
    return validateReplicated(def.kind, obj, validatePod);
  if (def.group === "" && def.resource === "services") return validateService(obj);
  if (def.group === "policy" && def.resource === "poddisruptionbudgets") return validatePdb(obj);
  if (def.group === "networking.k8s.io" && def.resource === "networkpolicies") return validateNetworkPolicy(obj);
  return undefined;
}
