import { describe, it } from "node:test";
import { validateCrd } from "../api/crd.js";
import { fieldErrorBody } from "../api/errors.js";
import { finalizerErrors } from "../api/finalizers.js";
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, deepEqual } from "../api/patch.js";
import type { MergeSchema } from "../api/patch-schema.js";
import { builtinResources, type ResourceDef } from "../api/resources.js";
import { matchesFieldValues, matchesLabels, parseFieldTerms, parseLabelSelector } from "../api/selectors.js";
import { qualifiedNameErrors, validateMetadata } from "../api/validation.js";
import { parseQuantity } from "../scheduler/resources.js";
import { attempt, checkAll, load, type Outcome, report, throws } from "./upstream-support.js";

// Upstream behaviour as data: test vectors of the projects that define what the devcluster
// emulates (test/fixtures/upstream/, each file naming its repository, commit and file),
// run against the devcluster's own code. Each suite reports passed/total; a case the
// devcluster does not meet must be listed in not-emulated.json with the reason (and in the
// README's "not emulated" list), so an unexpected failure, or a listed case that now
// passes, fails the test. Server-side apply's vectors: upstream-apply-vectors.test.ts.

/** Upstream's test CRD, foos.example.com, with the given versions. */
const fooCrd = (versions: object[], names: Record<string, string> = {}) => ({
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "foos.example.com" },
  spec: {
    group: "example.com",
    scope: "Namespaced",
    names: { plural: "foos", singular: "foo", kind: "Foo", ...names },
    versions,
  },
});

describe("upstream test vectors", () => {
  it("JSON Patch (RFC 6902): json-patch-tests tests.json and spec_tests.json", (t) => {
    const checks: (() => void)[] = [];
    const data = load<{
      suites: Record<
        string,
        { comment?: string; doc?: unknown; patch?: unknown; expected?: unknown; error?: string; disabled?: boolean }[]
      >;
    }>("json-patch-tests.json");
    for (const [file, records] of Object.entries(data.suites)) {
      const runnable = records.filter((r) => r.patch !== undefined && "doc" in r);
      const live = runnable.filter((r) => !r.disabled);
      const outcomes = live.map((r, i) => {
        const id = `${i}: ${r.comment ?? JSON.stringify(r.patch).slice(0, 60)}`;
        if (r.error !== undefined) return { id, ok: throws(() => applyJsonPatch(structuredClone(r.doc), r.patch)) };
        return {
          id,
          ok: attempt(() =>
            deepEqual(applyJsonPatch(structuredClone(r.doc), r.patch), "expected" in r ? r.expected : r.doc),
          ),
        };
      });
      checks.push(report(t, `json-patch ${file}`, outcomes, runnable.length - live.length));
    }
    checkAll(checks);
  });

  it("JSON Merge Patch (RFC 7386): Appendix A and Section 3", (t) => {
    const checks: (() => void)[] = [];
    const data = load<{ cases: { name: string; original: unknown; patch: unknown; result: unknown }[] }>(
      "json-merge-patch-rfc7386.json",
    );
    checks.push(
      report(
        t,
        "json-merge-patch",
        data.cases.map((c) => ({
          id: c.name,
          ok: attempt(() => deepEqual(applyMergePatch(structuredClone(c.original), c.patch), c.result)),
        })),
      ),
    );
    checkAll(checks);
  });

  it("strategic merge patch (apimachinery pkg/util/strategicpatch): directives and merge keys on its MergeItem test type", (t) => {
    const checks: (() => void)[] = [];
    type Case = {
      description: string;
      original?: unknown;
      twoWay?: unknown;
      modified?: unknown;
      current?: unknown;
      threeWay?: unknown;
      result?: unknown;
      twoWayResult?: unknown;
    };
    const data = load<Record<string, Case[]>>("strategic-merge-patch.json");
    // MergeItem and RetainKeysMergeItem of patch_test.go: merge keys and strategies as their struct tags say.
    const mergeItem: MergeSchema = { fields: {} };
    const retainKeysItem: MergeSchema = { fields: {} };
    const mergingList: MergeSchema = { list: { kind: "map", keys: ["name"] }, items: mergeItem };
    Object.assign(mergeItem.fields!, {
      mergingList,
      nonMergingList: { list: { kind: "atomic" }, items: mergeItem },
      mergingIntList: { list: { kind: "set" } },
      nonMergingIntList: { list: { kind: "atomic" } },
      mergeItemPtr: mergeItem,
      retainKeysMap: retainKeysItem,
      retainKeysMergingList: mergingList,
    });
    Object.assign(retainKeysItem.fields!, {
      mergingIntList: { list: { kind: "set" } },
      mergingList,
      nonMergingList: { list: { kind: "atomic" }, items: mergeItem },
    });
    for (const [block, cases] of Object.entries(data).filter(([k]) => k !== "source" && k !== "note")) {
      const outcomes: Outcome[] = [];
      for (const c of cases) {
        if (c.twoWay !== undefined) {
          const want = c.twoWayResult ?? c.modified;
          outcomes.push({
            id: `${cases.indexOf(c)}: ${c.description} (two-way)`,
            ok: attempt(() => deepEqual(applyStrategicMergePatch(c.original ?? {}, c.twoWay, mergeItem), want ?? {})),
          });
        }
        if (c.threeWay !== undefined)
          outcomes.push({
            id: `${cases.indexOf(c)}: ${c.description} (three-way)`,
            ok: attempt(() =>
              deepEqual(applyStrategicMergePatch(c.current ?? {}, c.threeWay, mergeItem), c.result ?? {}),
            ),
          });
      }
      checks.push(report(t, `strategic-merge-patch ${block}`, outcomes));
    }
    checkAll(checks);
  });

  it("label selectors (apimachinery pkg/labels): parsing and matching", (t) => {
    const checks: (() => void)[] = [];
    const data = load<{
      parse: { selector: string; valid: boolean; from: string }[];
      matches: { selector: string; labels: Record<string, string>; match: boolean }[];
    }>("label-selectors.json");
    checks.push(
      report(
        t,
        "label-selector parse",
        data.parse.map((c) => ({
          id: `${c.from} ${JSON.stringify(c.selector)} ${c.valid ? "valid" : "invalid"}`,
          ok: throws(() => parseLabelSelector(c.selector)) !== c.valid,
        })),
      ),
    );
    checks.push(
      report(
        t,
        "label-selector matches",
        data.matches.map((c) => ({
          id: `${JSON.stringify(c.selector)} on ${JSON.stringify(c.labels)}`,
          ok: attempt(() => matchesLabels(parseLabelSelector(c.selector), c.labels) === c.match),
        })),
      ),
    );
    checkAll(checks);
  });

  it("field selectors (apimachinery pkg/fields): parsing with escapes and matching", (t) => {
    const checks: (() => void)[] = [];
    const data = load<{
      parse: { selector: string; valid: boolean }[];
      matches: { selector: string; fields: Record<string, string>; match: boolean }[];
    }>("field-selectors.json");
    checks.push(
      report(
        t,
        "field-selector parse",
        data.parse.map((c) => ({
          id: `${JSON.stringify(c.selector)} ${c.valid ? "valid" : "invalid"}`,
          ok: throws(() => parseFieldTerms(c.selector)) !== c.valid,
        })),
      ),
    );
    checks.push(
      report(
        t,
        "field-selector matches",
        data.matches.map((c) => ({
          id: `${JSON.stringify(c.selector)} on ${JSON.stringify(c.fields)}`,
          ok: attempt(() => matchesFieldValues(parseFieldTerms(c.selector), c.fields) === c.match),
        })),
      ),
    );
    checkAll(checks);
  });

  it("resource quantities (apimachinery pkg/api/resource): parsing, as the scheduler's milli-units", (t) => {
    const checks: (() => void)[] = [];
    const data = load<{ valid: { input: string; value: string }[]; saturated: string[]; invalid: string[] }>(
      "quantities.json",
    );
    // The exact milli-value, rounded up as MilliValue does, from the decimal string.
    const milli = (decimal: string) => {
      const [whole = "0", frac = ""] = decimal.split(".");
      const scaled = BigInt(whole + frac.padEnd(3, "0").slice(0, 3));
      return Number(frac.length > 3 && /[1-9]/.test(frac.slice(3)) ? scaled + 1n : scaled);
    };
    checks.push(
      report(
        t,
        "quantity parse",
        data.valid.map((c) => ({
          id: `${c.input} = ${c.value}`,
          ok: attempt(() => parseQuantity(c.input) === milli(c.value)),
        })),
      ),
    );
    checks.push(
      report(
        t,
        "quantity invalid",
        data.invalid.map((c) => ({ id: JSON.stringify(c), ok: throws(() => parseQuantity(c)) })),
      ),
    );
    checkAll(checks);
  });

  it("qualified names, label values and finalizer names (apimachinery pkg/util/validation)", (t) => {
    const checks: (() => void)[] = [];
    const data = load<{
      qualifiedNames: { value: string; valid: boolean }[];
      labelValues: { value: string; valid: boolean }[];
    }>("names-and-label-values.json");
    const short = (v: string) => (v.length > 40 ? `${v.slice(0, 12)}...(${v.length} chars)` : v);
    const configmaps = builtinResources().find((d) => d.resource === "configmaps")!;
    const custom: ResourceDef = {
      ...configmaps,
      group: "example.com",
      kind: "Widget",
      resource: "widgets",
      custom: true,
    };
    checks.push(
      report(
        t,
        "qualified names",
        data.qualifiedNames.map((c) => ({
          id: JSON.stringify(short(c.value)),
          ok: (qualifiedNameErrors(c.value, "x").length === 0) === c.valid,
        })),
      ),
    );
    checks.push(
      report(
        t,
        "finalizer names on custom resources",
        data.qualifiedNames.map((c) => ({
          id: JSON.stringify(short(c.value)),
          ok: (finalizerErrors(custom, [c.value]).length === 0) === c.valid,
        })),
      ),
    );
    const labelValueErrors = (v: string) =>
      validateMetadata(configmaps, {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "x", namespace: "default", labels: { key: v } },
      });
    checks.push(
      report(
        t,
        "label values",
        data.labelValues.map((c) => ({
          id: JSON.stringify(short(c.value)),
          ok: (labelValueErrors(c.value).length === 0) === c.valid,
        })),
      ),
    );
    checkAll(checks);
  });

  it("structural schemas (apiextensions-apiserver): which CRD schemas a v1 create refuses, and the errors it names", (t) => {
    const checks: (() => void)[] = [];
    type Case = {
      desc: string;
      schema?: unknown;
      schemas?: Record<string, unknown>;
      errors: string[];
      notErrors?: string[];
    };
    const data = load<{ cases: Case[] }>("structural-schemas.json");
    // Upstream's CRD: version v1beta1 (storage), then v1; a global schema applies to both.
    const messages = (c: Case) => {
      const schemaOf = (v: string) => (c.schemas ? c.schemas[v] : c.schema);
      const crd = fooCrd(
        ["v1beta1", "v1"].map((name) => ({
          name,
          served: true,
          storage: name === "v1beta1",
          schema: { openAPIV3Schema: schemaOf(name) },
        })),
        { listKind: "Foolist" },
      );
      return validateCrd(crd).map((e) => `${e.field}: ${fieldErrorBody(e)}`);
    };
    const upstream = (m: string) =>
      m.replace(/^spec\.validation\.openAPIV3Schema/, "spec.versions[0].schema.openAPIV3Schema");
    const verdicts: Outcome[] = [];
    const named: Outcome[] = [];
    for (const [i, c] of data.cases.entries()) {
      const id = `${i}: ${c.desc}`;
      const got = messages(c);
      verdicts.push({ id, ok: got.length > 0 === c.errors.length > 0 });
      if (c.errors.length === 0 && !c.notErrors) continue;
      named.push({
        id,
        ok:
          c.errors.every((m) => got.includes(upstream(m))) &&
          (c.notErrors ?? []).every((m) => !got.some((g) => g.includes(upstream(m)))),
      });
    }
    checks.push(report(t, "structural schema verdicts", verdicts));
    checks.push(report(t, "structural schema errors", named));
    checkAll(checks);
  });

  it("CRD schema validation (apiextensions validation_test.go): list, map and key rules, types, status-subresource roots", (t) => {
    const checks: (() => void)[] = [];
    type Case = {
      name: string;
      schema: unknown;
      statusEnabled?: boolean;
      opts?: string[];
      errors: { type: string; field: string }[];
    };
    const data = load<{ cases: Case[] }>("crd-schema-validation.json");
    const TYPES: Record<string, string> = {
      invalid: "FieldValueInvalid",
      required: "FieldValueRequired",
      forbidden: "FieldValueForbidden",
      unsupported: "FieldValueNotSupported",
    };
    const errorsOf = (c: Case) =>
      validateCrd(
        fooCrd([
          {
            name: "v1",
            served: true,
            storage: true,
            schema: { openAPIV3Schema: c.schema },
            ...(c.statusEnabled ? { subresources: { status: {} } } : {}),
          },
        ]),
      ).map((e) => `${e.type} ${e.field.replace("spec.versions[0].schema.", "spec.validation.")}`);
    const verdicts: Outcome[] = [];
    const named: Outcome[] = [];
    let lenient = 0;
    for (const [i, c] of data.cases.entries()) {
      const opts = c.opts ?? [];
      // What only a legacy option makes right or wrong is not what a v1 create does.
      const legacyDefault =
        !opts.includes("allowDefaults") && c.errors.some((e) => e.field.endsWith(".default") && e.type === "forbidden");
      if ((c.errors.length === 0 && !opts.includes("requireStructuralSchema")) || legacyDefault) {
        lenient++;
        continue;
      }
      const got = errorsOf(c);
      const id = `${i}: ${c.name}`;
      verdicts.push({ id, ok: got.length > 0 === c.errors.length > 0 });
      if (c.errors.length > 0)
        named.push({ id, ok: c.errors.every((e) => got.includes(`${TYPES[e.type]} ${e.field}`)) });
    }
    checks.push(report(t, "crd schema validation verdicts", verdicts, lenient, "run under legacy options"));
    checks.push(report(t, "crd schema validation errors", named));
    checkAll(checks);
  });
});
