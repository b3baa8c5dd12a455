import { ApiError } from "./errors.js";
import { deepEqual } from "./patch.js";
import { child, type MergeSchema } from "./patch-schema.js";
import type { KubeObject, ManagedFieldsEntry } from "./resources.js";

// Field ownership for server-side apply, simplified from structured-merge-diff: a field
// set is the set of leaf paths of an object (list-map items by their keys, set items by
// value, atomic lists as one leaf), encoded as FieldsV1. Apply conflicts when it would
// change a field another manager owns; Updates take ownership without conflict.

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const SEP = "\u0001";
/** Metadata fields that are owned like data; the rest is server-managed. */
const OWNED_METADATA = ["labels", "annotations", "finalizers", "ownerReferences"];

export type FieldSet = Set<string>;

export function fieldSet(obj: unknown, schema: MergeSchema | undefined, scope: "main" | "status" = "main"): FieldSet {
  const out: FieldSet = new Set();
  if (!isObject(obj)) return out;
  for (const [k, v] of Object.entries(obj)) {
    if (k === "apiVersion" || k === "kind") continue;
    if (scope === "status" ? k !== "status" : k === "status") continue;
    if (k === "metadata") {
      if (!isObject(v)) continue;
      for (const m of OWNED_METADATA)
        if (v[m] !== undefined) walk(v[m], child(child(schema, "metadata"), m), [`f:metadata`, `f:${m}`], out);
      continue;
    }
    walk(v, child(schema, k), [`f:${k}`], out);
  }
  return out;
}

function itemKey(item: unknown, keys: string[]): string {
  const o: Obj = {};
  for (const k of keys) if (isObject(item) && item[k] !== undefined) o[k] = item[k];
  return `k:${JSON.stringify(o)}`;
}

function walk(v: unknown, schema: MergeSchema | undefined, path: string[], out: FieldSet): void {
  if (isObject(v)) {
    const keys = Object.keys(v);
    if (keys.length === 0) out.add(path.join(SEP));
    for (const k of keys) walk(v[k], child(schema, k), [...path, `f:${k}`], out);
    return;
  }
  if (Array.isArray(v)) {
    const list = schema?.list;
    if (list?.kind === "map" && list.keys?.length) {
      for (const item of v) {
        const p = [...path, itemKey(item, list.keys)];
        out.add([...p, "."].join(SEP));
        if (isObject(item))
          for (const k of Object.keys(item)) walk(item[k], child(schema?.items, k), [...p, `f:${k}`], out);
      }
      return;
    }
    if (list?.kind === "set") {
      for (const item of v) out.add([...path, `v:${JSON.stringify(item)}`].join(SEP));
      return;
    }
  }
  out.add(path.join(SEP));
}

export function toFieldsV1(set: FieldSet): Obj {
  const root: Obj = {};
  for (const p of set) {
    let cur = root;
    let start = 0;
    for (;;) {
      const end = p.indexOf(SEP, start);
      const el = end < 0 ? p.slice(start) : p.slice(start, end);
      cur = (cur[el] ??= {}) as Obj;
      if (end < 0) break;
      start = end + 1;
    }
  }
  return root;
}

export function fromFieldsV1(tree: unknown, prefix: string[] = [], out: FieldSet = new Set()): FieldSet {
  if (!isObject(tree)) return out;
  const keys = Object.keys(tree);
  if (keys.length === 0 && prefix.length > 0) out.add(prefix.join(SEP));
  for (const k of keys) {
    if (k === ".") out.add([...prefix, "."].join(SEP));
    else fromFieldsV1(tree[k], [...prefix, k], out);
  }
  return out;
}

/** Locates the value at a path; `found` is false when any step is missing. */
export function valueAt(obj: unknown, path: string): { found: boolean; value?: unknown } {
  let cur: unknown = obj;
  for (const el of path.split(SEP)) {
    if (el === ".") break;
    if (el.startsWith("f:")) {
      const k = el.slice(2);
      if (!isObject(cur) || !(k in cur)) return { found: false };
      cur = cur[k];
    } else if (el.startsWith("k:")) {
      const want = JSON.parse(el.slice(2)) as Obj;
      if (!Array.isArray(cur)) return { found: false };
      cur = cur.find((item) => isObject(item) && Object.entries(want).every(([k, v]) => deepEqual(item[k], v)));
      if (cur === undefined) return { found: false };
    } else if (el.startsWith("v:")) {
      const want = JSON.parse(el.slice(2)) as unknown;
      if (!Array.isArray(cur) || !cur.some((x) => deepEqual(x, want))) return { found: false };
      cur = want;
    }
  }
  return { found: true, value: cur };
}

/** Removes the field, list item or set value a path names; parents left empty are kept. */
export function removeAt(obj: unknown, path: string): void {
  const els = path.split(SEP).filter((e) => e !== ".");
  let cur: unknown = obj;
  for (let i = 0; i < els.length; i++) {
    const el = els[i]!;
    const last = i === els.length - 1;
    if (el.startsWith("f:")) {
      const k = el.slice(2);
      if (!isObject(cur)) return;
      if (last) delete cur[k];
      else cur = cur[k];
    } else if (Array.isArray(cur)) {
      const want = JSON.parse(el.slice(2)) as unknown;
      const idx = el.startsWith("k:")
        ? cur.findIndex(
            (item) => isObject(item) && Object.entries(want as Obj).every(([k, v]) => deepEqual(item[k], v)),
          )
        : cur.findIndex((x) => deepEqual(x, want));
      if (idx < 0) return;
      if (last) cur.splice(idx, 1);
      else cur = cur[idx];
    } else return;
  }
}

/** Merges an applied configuration into the live object (list maps by key, sets by value). */
export function mergeApplied(live: unknown, applied: unknown, schema: MergeSchema | undefined): unknown {
  if (isObject(applied)) {
    const out: Obj = isObject(live) ? { ...live } : {};
    for (const [k, v] of Object.entries(applied))
      out[k] = v === null ? null : mergeApplied(out[k], v, child(schema, k));
    return out;
  }
  if (Array.isArray(applied)) {
    const list = schema?.list;
    if (list?.kind === "map" && list.keys?.length && Array.isArray(live)) {
      const out = [...live];
      for (const item of applied) {
        const key = itemKey(item, list.keys);
        const i = out.findIndex((o) => itemKey(o, list.keys!) === key);
        if (i >= 0) out[i] = mergeApplied(out[i], item, schema?.items);
        else out.push(structuredClone(item));
      }
      return out;
    }
    if (list?.kind === "set" && Array.isArray(live)) {
      const out = [...live];
      for (const item of applied) if (!out.some((o) => deepEqual(o, item))) out.push(item);
      return out;
    }
  }
  return structuredClone(applied);
}

interface Decoded {
  entry: ManagedFieldsEntry;
  set: FieldSet;
}

const decode = (entries: ManagedFieldsEntry[] | undefined): Decoded[] =>
  (entries ?? []).map((entry) => ({ entry, set: fromFieldsV1(entry.fieldsV1) }));

function encode(decoded: Decoded[]): ManagedFieldsEntry[] {
  return decoded.filter((d) => d.set.size > 0).map((d) => ({ ...d.entry, fieldsV1: toFieldsV1(d.set) }));
}

export interface ApplyInput {
  live: KubeObject | undefined;
  applied: KubeObject;
  manager: string;
  force: boolean;
  schema: MergeSchema | undefined;
  subresource: "status" | undefined;
  now: string;
}

const readable = (path: string) =>
  `.${path
    .split(SEP)
    .filter((e) => e !== ".")
    .map((e) => (e.startsWith("f:") ? e.slice(2) : `[${e.slice(2)}]`))
    .join(".")
    .replace(/\.\[/g, "[")}`;

/** Server-side apply: returns the merged object with updated managedFields, or throws 409. */
export function serverSideApply(input: ApplyInput): KubeObject {
  const { live, applied, manager, force, schema, subresource, now } = input;
  const scope = subresource === "status" ? "status" : "main";
  const newSet = fieldSet(applied, schema, scope);
  const decoded = decode(live?.metadata.managedFields);
  const mine = (d: Decoded) =>
    d.entry.manager === manager && d.entry.operation === "Apply" && (d.entry.subresource ?? "") === (subresource ?? "");
  const conflicts = new Map<string, string[]>();
  const changing = new Set<string>();
  for (const p of newSet) {
    const have = valueAt(live, p);
    if (!have.found || p.endsWith(".")) continue;
    if (deepEqual(have.value, valueAt(applied, p).value)) continue;
    changing.add(p);
    for (const d of decoded) {
      if (mine(d) || !d.set.has(p)) continue;
      const list = conflicts.get(d.entry.manager) ?? [];
      list.push(p);
      conflicts.set(d.entry.manager, list);
    }
  }
  if (conflicts.size > 0 && !force) throw applyConflict(conflicts);

  const result = structuredClone(
    live ?? { apiVersion: applied.apiVersion, kind: applied.kind, metadata: {} },
  ) as KubeObject;
  const previous = decoded.find(mine)?.set ?? new Set<string>();
  for (const p of previous) {
    if (newSet.has(p)) continue;
    if (decoded.some((d) => !mine(d) && d.set.has(p))) continue;
    removeAt(result, p);
  }
  const { metadata: appliedMeta, ...appliedRest } = applied;
  const merged = mergeApplied(result, appliedRest, schema) as KubeObject;
  for (const m of OWNED_METADATA) {
    const v = appliedMeta?.[m];
    if (v !== undefined) merged.metadata[m] = mergeApplied(merged.metadata[m], v, child(child(schema, "metadata"), m));
  }
  for (const d of decoded) {
    if (mine(d)) continue;
    for (const p of changing) d.set.delete(p);
  }
  const own = decoded.find(mine);
  const entry: ManagedFieldsEntry = {
    manager,
    operation: "Apply",
    apiVersion: applied.apiVersion,
    time: now,
    fieldsType: "FieldsV1",
    fieldsV1: {},
  };
  if (subresource) entry.subresource = subresource;
  if (own) {
    own.set = newSet;
    own.entry = entry;
  } else decoded.push({ entry, set: newSet });
  merged.metadata.managedFields = encode(decoded);
  return merged;
}

function applyConflict(conflicts: Map<string, string[]>): ApiError {
  const all = [...conflicts.entries()].flatMap(([m, paths]) => paths.map((p) => ({ m, p })));
  const causes = all.map(({ m, p }) => ({
    reason: "FieldManagerConflict",
    message: `conflict with "${m}"`,
    field: readable(p),
  }));
  let message: string;
  if (all.length === 1) message = `Apply failed with 1 conflict: conflict with "${all[0]!.m}": ${readable(all[0]!.p)}`;
  else {
    const parts = [...conflicts.entries()].map(
      ([m, paths]) => `conflicts with "${m}":\n${paths.map((p) => `- ${readable(p)}`).join("\n")}`,
    );
    message = `Apply failed with ${all.length} conflicts: ${parts.join("\n")}`;
  }
  return new ApiError(409, "Conflict", message, { causes });
}

/** Records an Update (create, PUT, patch) by `manager`: it takes the fields it changed. */
export function recordUpdate(
  old: KubeObject | undefined,
  next: KubeObject,
  manager: string,
  schema: MergeSchema | undefined,
  subresource: "status" | undefined,
  now: string,
): void {
  const scope = subresource === "status" ? "status" : "main";
  if (!old && !next.metadata.managedFields?.length) {
    // A create owns every field it sets: build FieldsV1 directly, the hot path of bulk creates.
    const fieldsV1 = toFieldsV1(fieldSet(next, schema, scope));
    if (Object.keys(fieldsV1).length === 0) return;
    const entry: ManagedFieldsEntry = {
      manager,
      operation: "Update",
      apiVersion: next.apiVersion,
      time: now,
      fieldsType: "FieldsV1",
      fieldsV1,
    };
    if (subresource) entry.subresource = subresource;
    next.metadata.managedFields = [entry];
    return;
  }
  const newAll = fieldSet(next, schema, scope);
  const oldAll = old ? fieldSet(old, schema, scope) : new Set<string>();
  const changed = new Set<string>();
  for (const p of newAll) {
    if (!oldAll.has(p)) changed.add(p);
    else if (!p.endsWith(".") && !deepEqual(valueAt(old, p).value, valueAt(next, p).value)) changed.add(p);
  }
  const removed = [...oldAll].filter((p) => !newAll.has(p));
  const decoded = decode(next.metadata.managedFields);
  if (changed.size === 0 && removed.length === 0) {
    next.metadata.managedFields = encode(decoded);
    return;
  }
  for (const d of decoded) {
    for (const p of changed) d.set.delete(p);
    for (const p of removed) d.set.delete(p);
  }
  const mine = decoded.find(
    (d) =>
      d.entry.manager === manager &&
      d.entry.operation === "Update" &&
      (d.entry.subresource ?? "") === (subresource ?? ""),
  );
  const entry: ManagedFieldsEntry = {
    manager,
    operation: "Update",
    apiVersion: next.apiVersion,
    time: now,
    fieldsType: "FieldsV1",
    fieldsV1: {},
  };
  if (subresource) entry.subresource = subresource;
  if (mine) {
    for (const p of changed) mine.set.add(p);
    mine.entry = entry;
  } else decoded.push({ entry, set: changed });
  next.metadata.managedFields = encode(decoded);
}
