import { ApiError } from "./errors.js";
import {
  appliedErrors,
  isObject,
  itemKey,
  mergeApplied,
  pathString,
  removeAt,
  SEP,
  schemaAt,
  valueAt,
} from "./field-paths.js";
import { deepEqual } from "./patch.js";
import { child, type MergeSchema } from "./patch-schema.js";
import type { KubeObject, ManagedFieldsEntry } from "./resources.js";

// Field ownership for server-side apply, after structured-merge-diff: a field set is the
// set of paths of an object's leaves, list-map items (by their keys, defaulted keys
// filled in), set values, atomic lists and maps as one leaf, and the entries of
// string-keyed maps and of schemaless (deduced) objects; encoded as FieldsV1. Apply
// conflicts when it would change a leaf another manager owns; Updates take ownership
// without conflict. test/fixtures/upstream/server-side-apply.json holds upstream's cases.

type Obj = Record<string, unknown>;
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
    entry(schema, k, v, [], out);
  }
  return out;
}

/** A map's key: an entry of a string-keyed or schemaless map is a field of its own, a struct field only its leaves. */
function entry(schema: MergeSchema | undefined, k: string, v: unknown, path: string[], out: FieldSet): void {
  const p = [...path, `f:${k}`];
  if (schema?.fields?.[k] === undefined && (schema?.values || schema?.deduced)) out.add(p.join(SEP));
  walk(v, child(schema, k), p, out);
}

function walk(v: unknown, schema: MergeSchema | undefined, path: string[], out: FieldSet): void {
  if (isObject(v) && !schema?.atomic) {
    const keys = Object.keys(v);
    if (keys.length === 0) out.add(path.join(SEP));
    for (const k of keys) entry(schema, k, v[k], path, out);
    return;
  }
  if (Array.isArray(v)) {
    const list = schema?.list;
    if (list?.kind === "map" && list.keys?.length) {
      for (const item of v) {
        const p = [...path, itemKey(item, list)];
        out.add([...p, "."].join(SEP));
        if (isObject(item)) for (const k of Object.keys(item)) entry(schema?.items, k, item[k], p, out);
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
  const members: Obj[] = [];
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
    if (!p.endsWith(".")) members.push(cur);
  }
  // A member with members below it (a map entry holding a map) says so with ".".
  for (const node of members) if (Object.keys(node).length > 0 && !("." in node)) node["."] = {};
  return root;
}

export function fromFieldsV1(tree: unknown, prefix: string[] = [], out: FieldSet = new Set()): FieldSet {
  if (!isObject(tree)) return out;
  const keys = Object.keys(tree);
  if (keys.length === 0 && prefix.length > 0) out.add(prefix.join(SEP));
  for (const k of keys) {
    // "." is the node itself: a list-map item keeps it as its own element, a field is its path.
    if (k === ".") out.add((prefix.at(-1)?.startsWith("k:") ? [...prefix, "."] : prefix).join(SEP));
    else fromFieldsV1(tree[k], [...prefix, k], out);
  }
  return out;
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

/** A leaf whose value is compared: a map (not atomic) or list-map item is compared by its leaves instead. */
const compared = (p: string, applied: unknown, schema: MergeSchema | undefined) =>
  !p.endsWith(".") && (!isObject(applied) || schemaAt(schema, p)?.atomic === true);

/** How a conflict names a manager: `"kubectl"`, `"helm" using apps/v1`, `"x" with subresource "status"`. */
function printManager(e: ManagedFieldsEntry): string {
  let s = JSON.stringify(e.manager);
  if (e.subresource) s += ` with subresource ${JSON.stringify(e.subresource)}`;
  if (e.operation === "Update") s += ` using ${e.apiVersion ?? ""}`;
  return s;
}

/** The manager identifier the API server sorts conflicts by (the entry without time and fields). */
const managerId = (e: ManagedFieldsEntry) =>
  JSON.stringify({
    manager: e.manager,
    operation: e.operation,
    ...(e.operation === "Update" ? { apiVersion: e.apiVersion } : {}),
    ...(e.subresource ? { subresource: e.subresource } : {}),
  });

/** Server-side apply: returns the merged object with updated managedFields, or throws 409. */
export function serverSideApply(input: ApplyInput): KubeObject {
  const { live, applied, manager, force, schema, subresource, now } = input;
  const scope = subresource === "status" ? "status" : "main";
  const invalid = appliedErrors(applied, schema);
  if (invalid.length > 0) {
    const [group, version] = applied.apiVersion.includes("/")
      ? applied.apiVersion.split("/")
      : ["", applied.apiVersion];
    const nn = `${applied.metadata.namespace ?? ""}/${applied.metadata.name ?? ""}`;
    const what = `${nn}; ${group}/${version}, Kind=${applied.kind}`;
    throw new ApiError(500, "", `failed to create typed patch object (${what}): ${invalid.join("\n")}`);
  }
  const newSet = fieldSet(applied, schema, scope);
  const decoded = decode(live?.metadata.managedFields);
  const mine = (d: Decoded) =>
    d.entry.manager === manager && d.entry.operation === "Apply" && (d.entry.subresource ?? "") === (subresource ?? "");
  const result = structuredClone(
    live ?? { apiVersion: applied.apiVersion, kind: applied.kind, metadata: {} },
  ) as KubeObject;
  const previous = decoded.find(mine)?.set ?? new Set<string>();
  for (const p of previous) {
    if (newSet.has(p)) continue;
    if (decoded.some((d) => !mine(d) && d.set.has(p))) continue;
    removeAt(result, p, schema);
  }
  const { metadata: appliedMeta, ...appliedRest } = applied;
  const merged = mergeApplied(result, appliedRest, schema) as KubeObject;
  for (const m of OWNED_METADATA) {
    const v = appliedMeta?.[m];
    if (v !== undefined) merged.metadata[m] = mergeApplied(merged.metadata[m], v, child(child(schema, "metadata"), m));
  }
  // A conflict is a leaf the apply changes (live against merged) that another manager owns.
  const conflicts = new Map<ManagedFieldsEntry, string[]>();
  const changing = new Set<string>();
  for (const p of newSet) {
    const have = valueAt(live, p, schema);
    if (!have.found) continue;
    const now = valueAt(merged, p, schema).value;
    if (!compared(p, now, schema) || deepEqual(have.value, now)) continue;
    changing.add(p);
    for (const d of decoded) {
      if (mine(d) || !d.set.has(p)) continue;
      conflicts.set(d.entry, [...(conflicts.get(d.entry) ?? []), p]);
    }
  }
  if (conflicts.size > 0 && !force) throw applyConflict(conflicts);
  // Others lose what the apply took over and what no longer exists.
  const after = fieldSet(merged, schema, scope);
  const gone = [...fieldSet(live, schema, scope)].filter((p) => !after.has(p));
  for (const d of decoded) {
    if (mine(d)) continue;
    for (const p of changing) d.set.delete(p);
    for (const p of gone) d.set.delete(p);
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

function applyConflict(conflicts: Map<ManagedFieldsEntry, string[]>): ApiError {
  const byManager = [...conflicts.entries()].sort(([a], [b]) => managerId(a).localeCompare(managerId(b)));
  const all = byManager.flatMap(([e, paths]) => paths.map((p) => ({ m: printManager(e), p: pathString(p) })));
  const causes = all.map(({ m, p }) => ({ reason: "FieldManagerConflict", message: `conflict with ${m}`, field: p }));
  let message: string;
  if (all.length === 1) message = `Apply failed with 1 conflict: conflict with ${all[0]!.m}: ${all[0]!.p}`;
  else {
    const parts = byManager.map(
      ([e, paths]) => `conflicts with ${printManager(e)}:\n${paths.map((p) => `- ${pathString(p)}`).join("\n")}`,
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
    else {
      const now = valueAt(next, p, schema).value;
      if (compared(p, now, schema) && !deepEqual(valueAt(old, p, schema).value, now)) changed.add(p);
    }
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
