import { ApiError, badRequest } from "./errors.js";
import { child, type MergeSchema } from "./patch-schema.js";

// The three classic patch types of the API server: JSON patch (RFC 6902), JSON merge
// patch (RFC 7386) and strategic merge patch (k8s.io/apimachinery strategicpatch) with
// merge keys, $patch directives, $setElementOrder, $retainKeys and
// $deleteFromPrimitiveList. All are pure functions of (document, patch).

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };
const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => structuredClone(v);

/** JSON patch failures are 422 with the server's generic wording and the cause. */
function patchFailed(message: string): ApiError {
  return new ApiError(422, "Invalid", "the server rejected our request due to an error in our request", {
    causes: [{ reason: "UnexpectedServerResponse", message }],
  });
}

function decodePointer(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw patchFailed(`invalid JSON pointer: ${pointer}`);
  return pointer
    .slice(1)
    .split("/")
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function parentOf(doc: Json, parts: string[], op: string, path: string): { parent: JsonObject | Json[]; key: string } {
  let cur: Json = doc;
  for (const p of parts.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(p)] as Json;
    else if (isObject(cur)) cur = cur[p] as Json;
    else cur = undefined as unknown as Json;
    if (cur === undefined || cur === null || typeof cur !== "object")
      throw patchFailed(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
  }
  return { parent: cur as JsonObject | Json[], key: parts[parts.length - 1]! };
}

function getAt(doc: Json, parts: string[], path: string, op: string): Json {
  let cur: Json = doc;
  for (const p of parts) {
    if (Array.isArray(cur) && /^\d+$/.test(p) && Number(p) < cur.length) cur = cur[Number(p)]!;
    else if (isObject(cur) && p in cur) cur = cur[p]!;
    else throw patchFailed(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
  }
  return cur;
}

export function applyJsonPatch(document: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) throw badRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
  let doc = clone(document) as Json;
  for (const raw of patch) {
    if (!isObject(raw) || typeof raw["op"] !== "string") throw badRequest("Unexpected kind: missing op");
    const op = raw["op"];
    const path = typeof raw["path"] === "string" ? raw["path"] : undefined;
    if (path === undefined) throw patchFailed(`${op} operation does not apply: missing path`);
    const parts = decodePointer(path);
    // kube-apiserver's json-patch (evanphx v4) adds or sets a missing value as null.
    const value = raw["value"] as Json;
    const remove = (p: string[], at: string): Json => {
      const { parent, key } = parentOf(doc, p, "remove", at);
      if (Array.isArray(parent)) {
        const i = Number(key);
        if (!/^\d+$/.test(key) || i >= parent.length)
          throw patchFailed(`remove operation does not apply: doc is missing path: "${at}": missing value`);
        return parent.splice(i, 1)[0]!;
      }
      if (!(key in parent))
        throw patchFailed(`remove operation does not apply: doc is missing path: "${at}": missing value`);
      const old = parent[key]!;
      delete parent[key];
      return old;
    };
    const add = (p: string[], v: Json, at: string, opName: string) => {
      if (p.length === 0) {
        doc = v;
        return;
      }
      const { parent, key } = parentOf(doc, p, opName, at);
      if (Array.isArray(parent)) {
        const i = key === "-" ? parent.length : Number(key);
        if (!(key === "-" || /^\d+$/.test(key)) || i > parent.length)
          throw patchFailed(`${opName} operation does not apply: doc is missing path: "${at}": missing value`);
        parent.splice(i, 0, v);
      } else parent[key] = v;
    };
    switch (op) {
      case "add":
        add(parts, clone(value ?? null), path, "add");
        break;
      case "remove":
        remove(parts, path);
        break;
      case "replace": {
        getAt(doc, parts, path, "replace");
        if (parts.length === 0) doc = clone(value ?? null);
        else {
          const { parent, key } = parentOf(doc, parts, "replace", path);
          if (Array.isArray(parent)) parent[Number(key)] = clone(value ?? null);
          else parent[key] = clone(value ?? null);
        }
        break;
      }
      case "move":
      case "copy": {
        if (typeof raw["from"] !== "string")
          throw patchFailed(`${op} operation does not apply: operation, missing from field: missing value`);
        const from = raw["from"];
        const fromParts = decodePointer(from);
        const v = op === "move" ? remove(fromParts, from) : clone(getAt(doc, fromParts, from, "copy"));
        add(parts, v, path, op);
        break;
      }
      case "test": {
        const actual = getAt(doc, parts, path, "test");
        if (!deepEqual(actual, value)) throw patchFailed(`testing value ${path} failed: test failed`);
        break;
      }
      default:
        throw patchFailed(`Unexpected kind: ${op}`);
    }
  }
  return doc;
}

export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v) as Json;
  }
  return out;
}

/** Strategic merge patch. Unknown directives in the patch are rejected as the server does. */
export function applyStrategicMergePatch(original: unknown, patch: unknown, schema: MergeSchema | undefined): unknown {
  if (!isObject(patch))
    throw badRequest("unable to find api field in struct for strategic merge patch: patch is not an object");
  return mergeMap(isObject(original) ? clone(original) : {}, patch, schema);
}

function mergeMap(orig: JsonObject, patch: JsonObject, schema: MergeSchema | undefined): JsonObject {
  const directive = patch["$patch"];
  if (directive === "replace") {
    const { $patch: _, ...rest } = patch;
    return stripDirectives(rest) as JsonObject;
  }
  if (directive === "delete") return {};
  const retain = patch["$retainKeys"];
  for (const [key, value] of Object.entries(patch)) {
    if (key === "$patch" || key === "$retainKeys") continue;
    if (key.startsWith("$setElementOrder/")) continue;
    if (key.startsWith("$deleteFromPrimitiveList/")) {
      const field = key.slice("$deleteFromPrimitiveList/".length);
      const list = orig[field];
      if (Array.isArray(list) && Array.isArray(value))
        orig[field] = list.filter((x) => !value.some((d) => deepEqual(d, x)));
      continue;
    }
    if (value === null) {
      delete orig[key];
      continue;
    }
    const s = child(schema, key);
    if (Array.isArray(value)) orig[key] = mergeList(Array.isArray(orig[key]) ? orig[key] : [], value, s);
    else if (isObject(value)) orig[key] = mergeMap(isObject(orig[key]) ? orig[key] : {}, value, s);
    else orig[key] = value;
  }
  for (const key of Object.keys(patch)) {
    if (!key.startsWith("$setElementOrder/")) continue;
    const field = key.slice("$setElementOrder/".length);
    const order = patch[key];
    const list = orig[field];
    const keys = child(schema, field)?.list?.keys;
    if (Array.isArray(order) && Array.isArray(list)) orig[field] = reorder(list, order, keys);
  }
  if (Array.isArray(retain)) for (const k of Object.keys(orig)) if (!retain.includes(k)) delete orig[k];
  return orig;
}

function matchKey(item: Json, keys: string[]): string | undefined {
  if (!isObject(item)) return undefined;
  return JSON.stringify(keys.map((k) => item[k] ?? null));
}

function mergeList(orig: Json[], patch: Json[], schema: MergeSchema | undefined): Json[] {
  const meta = schema?.list;
  // An element that is only {"$patch": "replace"} replaces the whole list with the rest.
  const replaceDirective = (p: Json) => isObject(p) && p["$patch"] === "replace" && Object.keys(p).length === 1;
  if (patch.some(replaceDirective)) return patch.filter((p) => !replaceDirective(p)).map(stripDirectives);
  if (meta?.kind === "set") {
    const patched: Json[] = [];
    for (const v of patch) if (!patched.some((o) => deepEqual(o, v))) patched.push(v);
    const serverIndex = (v: Json) => orig.findIndex((o) => deepEqual(o, v));
    return mergeSorted(
      orig.filter((o) => !patched.some((v) => deepEqual(o, v))),
      patched,
      serverIndex,
    );
  }
  if (meta?.kind !== "map" || !meta.keys?.length)
    return patch.filter((p) => !(isObject(p) && "$patch" in p)).map(stripDirectives);
  const keys = meta.keys;
  const named = new Set<string>();
  const patched: Json[] = [];
  for (const item of patch) {
    if (!isObject(item))
      throw badRequest(`merging an object in json but data type is not struct, instead is: ${typeof item}`);
    if (keys.every((k) => item[k] === undefined))
      throw badRequest(`map: ${JSON.stringify(item)} does not contain declared merge key: ${keys[0]}`);
    const key = matchKey(item, keys)!;
    named.add(key);
    // A delete directive removes every entry with the key (duplicates included).
    if (item["$patch"] === "delete") continue;
    const current = orig.find((o) => matchKey(o, keys) === key);
    patched.push(
      current !== undefined
        ? mergeMap(isObject(current) ? clone(current) : {}, item, schema?.items)
        : stripDirectives(item),
    );
  }
  const serverIndex = (v: Json) => orig.findIndex((o) => matchKey(o, keys) === matchKey(v, keys));
  return mergeSorted(
    orig.filter((o) => !named.has(matchKey(o, keys) ?? "")),
    patched,
    serverIndex,
  );
}

/**
 * Upstream's mergeSortedSlice: the entries only the server has (in its order) and the
 * patched ones (in the patch's order) interleaved, a server entry first only when both are
 * on the server and it comes earlier there.
 */
function mergeSorted(serverOnly: Json[], patched: Json[], serverIndex: (v: Json) => number): Json[] {
  const out: Json[] = [];
  let i = 0;
  let j = 0;
  while (i < serverOnly.length || j < patched.length) {
    if (i >= serverOnly.length) out.push(patched[j++]!);
    else if (j >= patched.length) out.push(serverOnly[i++]!);
    else {
      const li = serverIndex(serverOnly[i]!);
      const ri = serverIndex(patched[j]!);
      out.push(li >= 0 && ri >= 0 && li < ri ? serverOnly[i++]! : patched[j++]!);
    }
  }
  return out;
}

function reorder(list: Json[], order: Json[], keys: string[] | undefined): Json[] {
  const keyOf = (v: Json) => (keys && isObject(v) ? matchKey(v, keys) : JSON.stringify(v));
  const rank = new Map(order.map((o, i) => [keyOf(o), i] as const));
  const ordered = list.filter((v) => rank.has(keyOf(v))).sort((a, b) => rank.get(keyOf(a))! - rank.get(keyOf(b))!);
  return [...ordered, ...list.filter((v) => !rank.has(keyOf(v)))];
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) {
    if (k.startsWith("$")) continue;
    if (x === null) continue;
    out[k] = stripDirectives(x);
  }
  return out;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (Array.isArray(b)) return false;
  const ak = Object.keys(a as object);
  const bk = Object.keys(b as object);
  if (ak.length !== bk.length) return false;
  return ak.every((k) => Object.hasOwn(b as object, k) && deepEqual((a as JsonObject)[k], (b as JsonObject)[k]));
}
