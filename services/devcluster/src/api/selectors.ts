import { badRequest } from "./errors.js";
import type { KubeObject } from "./resources.js";

// Label and field selectors with the grammar of k8s.io/apimachinery/pkg/labels and
// pkg/fields. Parsing errors are 400 BadRequest with the real server's wording.

export type Requirement =
  | { key: string; op: "=" | "!="; value: string }
  | { key: string; op: "in" | "notin"; values: string[] }
  | { key: string; op: "exists" | "!exists" }
  | { key: string; op: "gt" | "lt"; value: number };

export type LabelSelector = Requirement[];

/** Splits at commas that are not inside parentheses. */
function splitTop(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim());
}

const KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function checkKey(key: string, whole: string): string {
  if (!KEY.test(key) || key.length > 316)
    throw badRequest(
      `unable to parse requirement: invalid label key "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (found in "${whole}")`,
    );
  return key;
}
function checkValue(value: string, whole: string): string {
  if (!VALUE.test(value) || value.length > 63)
    throw badRequest(
      `unable to parse requirement: values[0][${whole}]: Invalid value: "${value}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
    );
  return value;
}

export function parseLabelSelector(text: string | null | undefined): LabelSelector {
  if (!text?.trim()) return [];
  return splitTop(text).map((part): Requirement => {
    if (!part) throw badRequest(`unable to parse requirement: found '', expected: identifier`);
    let m = /^!\s*(\S+)$/.exec(part);
    if (m) return { key: checkKey(m[1]!, part), op: "!exists" };
    m = /^(\S+?)\s+(in|notin)\s*\((.*)\)$/.exec(part);
    if (m) {
      const values = m[3]!.split(",").map((v) => checkValue(v.trim(), part));
      return { key: checkKey(m[1]!, part), op: m[2] as "in" | "notin", values };
    }
    m = /^([^=!<>\s]+)\s*(==|=|!=|<|>)\s*(.*)$/.exec(part);
    if (m) {
      const key = checkKey(m[1]!, part);
      const raw = m[3]!.trim();
      if (m[2] === "<" || m[2] === ">") {
        const n = Number(raw);
        if (!/^-?\d+$/.test(raw))
          throw badRequest(`unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer`);
        return { key, op: m[2] === ">" ? "gt" : "lt", value: n };
      }
      return { key, op: m[2] === "!=" ? "!=" : "=", value: checkValue(raw, part) };
    }
    if (/^\S+$/.test(part)) return { key: checkKey(part, part), op: "exists" };
    throw badRequest(`unable to parse requirement: found '${part}', expected: in, notin, =, ==, !=, gt, lt`);
  });
}

/** The metav1.LabelSelector form (matchLabels, matchExpressions) as requirements. */
export function fromLabelSelectorObject(
  sel:
    | {
        matchLabels?: Record<string, string>;
        matchExpressions?: { key: string; operator: string; values?: string[] }[];
      }
    | undefined,
): LabelSelector {
  const out: Requirement[] = [];
  for (const [key, value] of Object.entries(sel?.matchLabels ?? {})) out.push({ key, op: "=", value });
  for (const e of sel?.matchExpressions ?? []) {
    const op = e.operator;
    if (op === "In" || op === "NotIn")
      out.push({ key: e.key, op: op === "In" ? "in" : "notin", values: e.values ?? [] });
    else if (op === "Exists") out.push({ key: e.key, op: "exists" });
    else if (op === "DoesNotExist") out.push({ key: e.key, op: "!exists" });
  }
  return out;
}

export function matchesLabels(selector: LabelSelector, labels: Record<string, string> | undefined): boolean {
  for (const r of selector) {
    const v = labels?.[r.key];
    switch (r.op) {
      case "=":
        if (v !== r.value) return false;
        break;
      case "!=":
        if (v === r.value) return false;
        break;
      case "in":
        if (v === undefined || !r.values.includes(v)) return false;
        break;
      case "notin":
        if (v !== undefined && r.values.includes(v)) return false;
        break;
      case "exists":
        if (v === undefined) return false;
        break;
      case "!exists":
        if (v !== undefined) return false;
        break;
      case "gt":
        if (v === undefined || !(Number(v) > r.value)) return false;
        break;
      case "lt":
        if (v === undefined || !(Number(v) < r.value)) return false;
        break;
    }
  }
  return true;
}

export interface FieldRequirement {
  field: string;
  op: "=" | "!=";
  value: string;
}

/** Field labels each resource supports, beyond metadata.name and metadata.namespace. */
const FIELD_LABELS: Record<string, string[]> = {
  pods: [
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
  ],
  events: [
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
  ],
  nodes: ["spec.unschedulable"],
  secrets: ["type"],
  namespaces: ["status.phase"],
  jobs: ["status.successful"],
};

/**
 * Field selector syntax as apimachinery's fields.ParseSelector reads it: terms split on
 * unescaped commas, each `field=value`, `field==value` or `field!=value` split at the first
 * unescaped operator, values unescaped (`\\`, `\,` and `\=` only; a bare `=` or `,` is an error).
 */
export function parseFieldTerms(text: string): FieldRequirement[] {
  const out: FieldRequirement[] = [];
  for (const term of splitUnescaped(text)) {
    if (term === "") continue;
    let at = -1;
    let op: "!=" | "==" | "=" | undefined;
    for (let i = 0; i < term.length && op === undefined; i++) {
      if (term[i] === "\\") {
        i++;
        continue;
      }
      for (const candidate of ["!=", "==", "="] as const) {
        if (term.startsWith(candidate, i)) {
          at = i;
          op = candidate;
          break;
        }
      }
    }
    if (op === undefined) throw badRequest(`invalid selector: '${text}'; can't understand '${term}'`);
    out.push({
      field: term.slice(0, at),
      op: op === "!=" ? "!=" : "=",
      value: unescapeFieldValue(term.slice(at + op.length)),
    });
  }
  return out;
}

function splitUnescaped(text: string): string[] {
  const terms: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === ",") {
      terms.push(text.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(text.slice(start));
  return terms;
}

function unescapeFieldValue(v: string): string {
  let out = "";
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === "\\") {
      const next = v[i + 1];
      if (next !== "\\" && next !== "," && next !== "=")
        throw badRequest(`invalid field selector: invalid escape sequence: ${v}`);
      out += next;
      i++;
    } else if (c === "," || c === "=") throw badRequest(`invalid field selector: unescaped ${c} in value: ${v}`);
    else out += c;
  }
  return out;
}

export function parseFieldSelector(text: string | null | undefined, storage: string): FieldRequirement[] {
  if (!text?.trim()) return [];
  const supported = ["metadata.name", "metadata.namespace", ...(FIELD_LABELS[storage.split(".")[0]!] ?? [])];
  return parseFieldTerms(text).map((r) => {
    if (!supported.includes(r.field)) throw badRequest(`field label not supported: ${r.field}`);
    return r;
  });
}

function fieldValue(obj: KubeObject, field: string): string {
  if (field === "source" && obj.kind === "Event") {
    return String((obj["source"] as { component?: string } | undefined)?.component ?? "");
  }
  let v: unknown = obj;
  for (const part of field.split("."))
    v = v && typeof v === "object" ? (v as Record<string, unknown>)[part] : undefined;
  if (v === undefined || v === null) return "";
  return String(v);
}

/** The values of every field label a resource supports, computed once per write. */
export function fieldValues(storage: string, obj: KubeObject): Record<string, string> {
  const out: Record<string, string> = {};
  for (const field of FIELD_LABELS[storage.split(".")[0]!] ?? []) out[field] = fieldValue(obj, field);
  out["metadata.name"] = obj.metadata.name ?? "";
  out["metadata.namespace"] = obj.metadata.namespace ?? "";
  return out;
}

export function matchesFieldValues(
  selector: readonly FieldRequirement[],
  values: Readonly<Record<string, string>>,
): boolean {
  for (const r of selector) {
    const v = values[r.field] ?? "";
    if (r.op === "=" ? v !== r.value : v === r.value) return false;
  }
  return true;
}

export function matchesFields(selector: readonly FieldRequirement[], obj: KubeObject): boolean {
  for (const r of selector) {
    const v = fieldValue(obj, r.field);
    if (r.op === "=" ? v !== r.value : v === r.value) return false;
  }
  return true;
}
