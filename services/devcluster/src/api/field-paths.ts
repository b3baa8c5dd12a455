import { deepEqual } from "./patch.js";
import { child, type ListMeta, type MergeSchema } from "./patch-schema.js";

// Paths into an object as server-side apply names them (FieldsV1 elements joined by SEP:
// `f:<field>`, `k:<key fields as JSON>` for a list-map item, `v:<JSON>` for a set value,
// `.` for a list-map item itself), and the apply merge itself: list maps and sets merged
// in structured-merge-diff's order, atomic maps replaced whole.

type Obj = Record<string, unknown>;
export const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
export const SEP = "\u0001";

/** A list-map item's key element, its key fields sorted as structured-merge-diff sorts them; a key the item leaves out takes its default. */
export function itemKey(item: unknown, list: ListMeta): string {
  const o: Obj = {};
  for (const k of [...(list.keys ?? [])].sort()) {
    const v = isObject(item) && item[k] !== undefined ? item[k] : list.keyDefaults?.[k];
    if (v !== undefined) o[k] = v;
  }
  return `k:${JSON.stringify(o)}`;
}

const matchesKey = (item: unknown, want: Obj, list: ListMeta | undefined) =>
  isObject(item) && Object.entries(want).every(([k, v]) => deepEqual(item[k] ?? list?.keyDefaults?.[k], v));

/** Locates the value at a path; `found` is false when any step is missing. */
export function valueAt(obj: unknown, path: string, schema?: MergeSchema): { found: boolean; value?: unknown } {
  let cur: unknown = obj;
  let s = schema;
  for (const el of path.split(SEP)) {
    if (el === ".") break;
    if (el.startsWith("f:")) {
      const k = el.slice(2);
      if (!isObject(cur) || !(k in cur)) return { found: false };
      cur = cur[k];
      s = child(s, k);
    } else if (el.startsWith("k:")) {
      const want = JSON.parse(el.slice(2)) as Obj;
      if (!Array.isArray(cur)) return { found: false };
      cur = cur.find((item) => matchesKey(item, want, s?.list));
      if (cur === undefined) return { found: false };
      s = s?.items;
    } else if (el.startsWith("v:")) {
      const want = JSON.parse(el.slice(2)) as unknown;
      if (!Array.isArray(cur) || !cur.some((x) => deepEqual(x, want))) return { found: false };
      cur = want;
    }
  }
  return { found: true, value: cur };
}

/** The merge schema at a path. */
export function schemaAt(schema: MergeSchema | undefined, path: string): MergeSchema | undefined {
  let s = schema;
  for (const el of path.split(SEP)) {
    if (el.startsWith("f:")) s = child(s, el.slice(2));
    else if (el.startsWith("k:")) s = s?.items;
  }
  return s;
}

/** Removes the field, list item or set value a path names; parents left empty are kept. */
export function removeAt(obj: unknown, path: string, schema?: MergeSchema): void {
  const els = path.split(SEP).filter((e) => e !== ".");
  let cur: unknown = obj;
  let s = schema;
  for (let i = 0; i < els.length; i++) {
    const el = els[i]!;
    const last = i === els.length - 1;
    if (el.startsWith("f:")) {
      const k = el.slice(2);
      if (!isObject(cur)) return;
      if (last) delete cur[k];
      else cur = cur[k];
      s = child(s, k);
    } else if (Array.isArray(cur)) {
      const want = JSON.parse(el.slice(2)) as unknown;
      const idx = el.startsWith("k:")
        ? cur.findIndex((item) => matchesKey(item, want as Obj, s?.list))
        : cur.findIndex((x) => deepEqual(x, want));
      if (idx < 0) return;
      if (last) cur.splice(idx, 1);
      else cur = cur[idx];
      s = s?.items;
    } else return;
  }
}

/** fieldpath.Path.String(), as conflicts print it: `.spec.containers[name="main"].image`, `.finalizers[="a"]`. */
export function pathString(path: string): string {
  const value = (v: unknown): string =>
    typeof v === "string"
      ? JSON.stringify(v)
      : Array.isArray(v)
        ? `[${v.map(value).join(",")}]`
        : isObject(v)
          ? Object.entries(v)
              .map(([k, x]) => `${k}=${value(x)}`)
              .join("")
          : String(v);
  return path
    .split(SEP)
    .filter((e) => e !== ".")
    .map((e) => {
      if (e.startsWith("f:")) return `.${e.slice(2)}`;
      if (e.startsWith("v:")) return `[=${value(JSON.parse(e.slice(2)))}]`;
      if (e.startsWith("i:")) return `[${e.slice(2)}]`;
      const key = JSON.parse(e.slice(2)) as Obj;
      return `[${Object.entries(key)
        .map(([k, v]) => `${k}=${value(v)}`)
        .join(",")}]`;
    })
    .join("");
}

/** Merges an applied configuration into the live object (list maps by key, sets by value, atomic maps whole). */
export function mergeApplied(live: unknown, applied: unknown, schema: MergeSchema | undefined): unknown {
  if (applied === null) {
    // null has no shape of its own: a granular map or list that holds something keeps it.
    const list = schema?.list?.kind;
    if (isObject(live) && Object.keys(live).length > 0 && !schema?.atomic) return live;
    if (Array.isArray(live) && live.length > 0 && (list === "map" || list === "set")) return live;
    return null;
  }
  if (isObject(applied) && !schema?.atomic) {
    const out: Obj = isObject(live) ? { ...live } : {};
    for (const [k, v] of Object.entries(applied)) out[k] = mergeApplied(out[k], v, child(schema, k));
    return out;
  }
  if (Array.isArray(applied) && Array.isArray(live)) {
    const list = schema?.list;
    if (list?.kind === "map" && list.keys?.length)
      return mergeOrdered(
        live,
        applied,
        (x) => itemKey(x, list),
        (l, r) => mergeApplied(l, r, schema?.items),
      );
    if (list?.kind === "set")
      return mergeOrdered(
        live,
        applied,
        (x) => JSON.stringify(x),
        (_l, r) => r,
      );
  }
  return structuredClone(applied);
}

/**
 * structured-merge-diff's list order: applied items keep their order; live items the
 * applied configuration does not name stay where they were relative to the items around
 * them; a live item it names moves to where the configuration puts it.
 */
function mergeOrdered(
  live: unknown[],
  applied: unknown[],
  keyOf: (item: unknown) => string,
  merge: (live: unknown, applied: unknown) => unknown,
): unknown[] {
  const lKeys = live.map(keyOf);
  const rKeys = applied.map(keyOf);
  const lItem = new Map<string, unknown>();
  lKeys.forEach((k, i) => {
    if (!lItem.has(k)) lItem.set(k, live[i]);
  });
  const inR = new Set(rKeys);
  const shared = rKeys.filter((k) => lItem.has(k));
  let si = 0;
  const merged = new Set<string>();
  const out: unknown[] = [];
  let l = 0;
  let r = 0;
  while (l < lKeys.length || r < rKeys.length) {
    const lk = lKeys[l];
    if (l < lKeys.length && r < rKeys.length) {
      if (lk === rKeys[r]) {
        merged.add(lk!);
        out.push(merge(lItem.get(lk!), applied[r]));
        l++;
        r++;
        si++;
        continue;
      }
      // A shared item, but not the next one the configuration orders: it comes later.
      if (inR.has(lk!) && si < shared.length && shared[si] !== lk) {
        l++;
        continue;
      }
    }
    if (l < lKeys.length) {
      if (!inR.has(lk!)) {
        out.push(structuredClone(live[l]));
        l++;
        continue;
      }
      if (merged.has(lk!) || r >= rKeys.length) l++;
    }
    if (r < rKeys.length) {
      const rk = rKeys[r]!;
      merged.add(rk);
      out.push(lItem.has(rk) ? merge(lItem.get(rk), applied[r]) : structuredClone(applied[r]));
      r++;
      if (shared[si] === rk) si++;
    }
  }
  return out;
}

/**
 * What structured-merge-diff refuses in an applied configuration (the API server answers
 * 500 "failed to create typed patch object"): a list-map item that is not an object or
 * names none of the key fields, and two items or set values with the same key.
 */
export function appliedErrors(v: unknown, schema: MergeSchema | undefined, path = ""): string[] {
  if (isObject(v)) {
    if (schema?.atomic) return [];
    return Object.entries(v).flatMap(([k, x]) => appliedErrors(x, child(schema, k), `${path}.${k}`));
  }
  if (!Array.isArray(v)) return [];
  const list = schema?.list;
  if (list?.kind !== "map" && list?.kind !== "set") return [];
  const errors: string[] = [];
  const seen = new Set<string>();
  for (const [i, item] of v.entries()) {
    let key: string;
    if (list.kind === "map") {
      if (!isObject(item)) {
        const what = item === null ? "may not have a null element" : "may not have non-map elements";
        errors.push(`${path}: element ${i}: associative list with keys ${what}`);
        continue;
      }
      key = itemKey(item, list);
      if (key === "k:{}") {
        const keys = (list.keys ?? []).map((k) => JSON.stringify(k)).join(" ");
        errors.push(
          `${path}: element ${i}: associative list with keys has an element that omits all key fields [${keys}] (and doesn't have default values for any key fields)`,
        );
        continue;
      }
      errors.push(...appliedErrors(item, schema?.items, `${path}${pathString(key)}`));
    } else {
      if (isObject(item)) {
        errors.push(`${path}: element ${i}: associative list without keys has an element that's a map type`);
        continue;
      }
      key = `v:${JSON.stringify(item)}`;
    }
    if (seen.has(key)) errors.push(`${path}: duplicate entries for key ${pathString(key)}`);
    seen.add(key);
  }
  return errors;
}
