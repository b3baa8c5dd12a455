import { describe, it } from "node:test";
import { fromFieldsV1, recordUpdate, serverSideApply } from "../api/managed-fields.js";
import { deepEqual } from "../api/patch.js";
import { DEDUCED, type ListMeta, type MergeSchema } from "../api/patch-schema.js";
import type { KubeObject } from "../api/resources.js";
import { attempt, checkAll, load, type Outcome, report, throws } from "./upstream-support.js";

// structured-merge-diff's merge tests (test/fixtures/upstream/server-side-apply.json) run
// against the devcluster's field ownership (src/api/managed-fields.ts): each case's
// applies, forced applies and updates in order, then the live object, every manager's
// field set, and the conflicts each apply must meet. Passed/total is reported per table;
// the cases not met are listed in not-emulated.json with the reason.

describe("upstream test vectors: server-side apply", () => {
  it("server-side apply field ownership (structured-merge-diff merge tests): appliers, updaters, conflicts, force", (t) => {
    const checks: (() => void)[] = [];
    type Path = string[];
    type Op = {
      op: "Apply" | "ForceApply" | "Update";
      manager: string;
      apiVersion: string;
      object: Record<string, unknown> | null;
      conflicts?: { manager: string; path: Path }[];
    };
    type Case = {
      ops: Op[];
      object?: unknown;
      managed?: Record<string, { apiVersion: string; applied: boolean; fields: Path[] }>;
    };
    const data = load<{
      schemas: Record<string, { root: string; types: SmdNamed[] }>;
      suites: Record<string, { parser: string; expectError?: boolean; cases: Record<string, Case> }>;
    }>("server-side-apply.json");
    const now = "2026-01-01T00:00:00Z";
    for (const [suite, { parser, expectError, cases }] of Object.entries(data.suites)) {
      const outcomes: Outcome[] = [];
      for (const [name, c] of Object.entries(cases)) {
        const schemaFor = (apiVersion: string) => {
          const def = data.schemas[parser];
          return def ? mergeSchemaOfSmd(def.types, def.root === "<apiVersion>" ? apiVersion : def.root) : DEDUCED;
        };
        const run = (): boolean => {
          let live: KubeObject | undefined;
          for (const op of c.ops) {
            const schema = schemaFor(op.apiVersion);
            const object: KubeObject = { apiVersion: op.apiVersion, kind: "Test", metadata: {}, ...op.object };
            if (op.op === "Update") {
              if (live?.metadata.managedFields)
                object.metadata.managedFields = structuredClone(live.metadata.managedFields);
              recordUpdate(live, object, op.manager, schema, undefined, now);
              live = object;
              continue;
            }
            const force = op.op === "ForceApply";
            try {
              live = serverSideApply({
                live,
                applied: object,
                manager: op.manager,
                force,
                schema,
                subresource: undefined,
                now,
              });
              if (op.conflicts) return false;
            } catch (error) {
              const e = error as { code?: number; details?: { causes?: { message: string; field: string }[] } };
              if (!op.conflicts || e.code !== 409) throw error;
              const got = (e.details?.causes ?? []).map((k) => `${/"([^"]*)"/.exec(k.message)?.[1]} ${k.field}`).sort();
              const want = op.conflicts.map((k) => `${k.manager} ${smdPathString(k.path)}`).sort();
              if (!deepEqual(got, want)) return false;
            }
          }
          if (c.object !== undefined) {
            const { apiVersion: _a, kind: _k, metadata: _m, ...rest } = live ?? ({} as KubeObject);
            if (!deepEqual(rest, c.object ?? {})) return false;
          }
          if (c.managed) {
            const got = new Map<string, { apiVersion: string; paths: Set<string> }>();
            for (const entry of live?.metadata.managedFields ?? []) {
              const g = got.get(entry.manager) ?? { apiVersion: entry.apiVersion ?? "", paths: new Set<string>() };
              for (const p of fromFieldsV1(entry.fieldsV1)) g.paths.add(canonicalPath(p.split("\u0001")));
              got.set(entry.manager, g);
            }
            const want = Object.entries(c.managed);
            if (got.size !== want.length) return false;
            for (const [manager, m] of want) {
              const g = got.get(manager);
              if (!g || g.apiVersion !== m.apiVersion) return false;
              if (!deepEqual([...g.paths].sort(), m.fields.map(canonicalPath).sort())) return false;
            }
          }
          return true;
        };
        const ok = attempt(run);
        outcomes.push({ id: name, ok: expectError ? !ok && throws(run) : ok });
      }
      checks.push(report(t, `server-side apply ${suite}`, outcomes));
    }
    checkAll(checks);
  });
});

// structured-merge-diff's schema language (typed.NewParser), as the merge schema the
// devcluster's field ownership reads: associative lists with keys are list maps, without
// keys sets; other lists are atomic; a map's elementType is its values' schema.
interface SmdType {
  namedType?: string;
  scalar?: string;
  list?: { elementType: SmdType; elementRelationship?: string; keys?: string[] };
  map?: {
    fields?: { name: string; type: SmdType; default?: unknown }[];
    elementType?: SmdType;
    elementRelationship?: string;
  };
}
type SmdNamed = SmdType & { name: string };

function mergeSchemaOfSmd(types: SmdNamed[], root: string): MergeSchema | undefined {
  const named = new Map<string, MergeSchema>();
  const convert = (t: SmdType): MergeSchema | undefined => {
    if (t.namedType) {
      const known = named.get(t.namedType);
      if (known) return known;
      const def = types.find((d) => d.name === t.namedType);
      if (!def) return undefined;
      const out: MergeSchema = {};
      named.set(t.namedType, out); // recursive types refer to themselves
      const { name: _, ...body } = def;
      return Object.assign(out, convert(body) ?? {});
    }
    if (t.list) {
      const items = convert(t.list.elementType);
      const kind = t.list.elementRelationship !== "associative" ? "atomic" : t.list.keys?.length ? "map" : "set";
      // Key fields with a default in the item type: an item without them is keyed by the default.
      const itemFields = (t.list.elementType.map ?? types.find((d) => d.name === t.list!.elementType.namedType)?.map)
        ?.fields;
      const keyDefaults = Object.fromEntries(
        (itemFields ?? [])
          .filter((f) => t.list!.keys?.includes(f.name) && f.default !== undefined)
          .map((f) => [f.name, f.default]),
      );
      const list: ListMeta =
        kind === "map"
          ? { kind, keys: t.list.keys!, ...(Object.keys(keyDefaults).length > 0 ? { keyDefaults } : {}) }
          : { kind };
      return { list, ...(items ? { items } : {}) };
    }
    if (t.map) {
      const out: MergeSchema = t.map.elementRelationship === "atomic" ? { atomic: true } : {};
      if (t.map.fields) {
        out.fields = {};
        for (const f of t.map.fields) {
          const s = convert(f.type);
          if (s) out.fields[f.name] = s;
        }
      }
      const values = t.map.elementType && convert(t.map.elementType);
      if (values) out.values = values;
      return out;
    }
    return undefined;
  };
  return convert({ namedType: root });
}

/** A FieldsV1 path element list in one spelling: key and value JSON re-serialised, a list-map item's "." dropped. */
function canonicalPath(path: string[]): string {
  return path
    .filter((e) => e !== ".")
    .map((e) => {
      if (e.startsWith("k:")) {
        const key = JSON.parse(e.slice(2)) as Record<string, unknown>;
        return `k:${JSON.stringify(Object.fromEntries(Object.entries(key).sort(([a], [b]) => a.localeCompare(b))))}`;
      }
      return e.startsWith("v:") ? `v:${JSON.stringify(JSON.parse(e.slice(2)))}` : e;
    })
    .join("/");
}

/** fieldpath.Path.String(): `.list[name="a"].value`, `.set[="x"]`, `.list[0]`. */
function smdPathString(path: string[]): string {
  const value = (v: unknown) => (typeof v === "string" ? JSON.stringify(v) : String(v));
  return path
    .map((e) => {
      if (e.startsWith("f:")) return `.${e.slice(2)}`;
      if (e.startsWith("i:")) return `[${e.slice(2)}]`;
      if (e.startsWith("v:")) return `[=${value(JSON.parse(e.slice(2)))}]`;
      const key = JSON.parse(e.slice(2)) as Record<string, unknown>;
      return `[${Object.keys(key)
        .sort()
        .map((k) => `${k}=${value(key[k])}`)
        .join(",")}]`;
    })
    .join("");
}
