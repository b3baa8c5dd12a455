import { strict as assert } from "node:assert";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { ChartValues, chartValuesJsonSchema } from "@nnunet-operator/api";
import { chartDir, repoRoot, run, templateArgs } from "../chart/render.js";
import { VALUES_SETS } from "../chart/values-sets.js";

// values.schema.json (generated from ChartValues) and the chart's own `fail` checks refuse
// bad values with a message naming the key; zod refuses the same values at the same key.

const invalidDir = join(repoRoot, "test/fixtures/chart-values/invalid");
const defaults = parse(readFileSync(join(chartDir, "values.yaml"), "utf8")) as Record<string, unknown>;

/** Helm's merge: maps merge key by key, everything else (lists included) replaces. */
function merge(base: unknown, override: unknown): unknown {
  if (typeof base !== "object" || base === null || Array.isArray(base)) return override;
  if (typeof override !== "object" || override === null || Array.isArray(override)) return override;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(override)) out[k] = k in out ? merge(out[k], v) : v;
  return out;
}

const invalid = readdirSync(invalidDir)
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .map((file) => {
    const text = readFileSync(join(invalidDir, file), "utf8");
    return { file, expect: /^# expect: (\S+)/m.exec(text)?.[1], values: parse(text) as Record<string, unknown> };
  });

describe("bad values are refused, naming the key", () => {
  for (const { file, expect, values } of invalid) {
    it(`${file}: helm template and zod both refuse it at ${expect}`, () => {
      assert.ok(expect, `${file} must name the key it breaks in a '# expect: <key>' line`);
      const result = run("helm", templateArgs({ valuesFiles: [`test/fixtures/chart-values/invalid/${file}`] }));
      assert.notEqual(result.status, 0, "helm rendered it");
      assert.ok(
        result.stderr.includes(`- ${expect}:`) || result.stderr.includes(`): ${expect}:`),
        `helm's message does not name ${expect}:\n${result.stderr}`,
      );
      const parsed = ChartValues.safeParse(merge(defaults, values));
      assert.equal(parsed.success, false, "zod accepted it");
      const paths = parsed.error?.issues.map((i) => i.path.join(".")) ?? [];
      assert.ok(
        paths.some((p) => p === expect || p.startsWith(`${expect}.`)),
        `zod names ${paths.join(", ")}, not ${expect}`,
      );
    });
  }

  it("covers the cases the issue names: negative replicas, a bad GPU product, external NATS without a URL", () => {
    const keys = invalid.map((i) => i.expect);
    for (const key of ["operator.replicas", "gpu.acceptedProducts.1", "nats.url"]) assert.ok(keys.includes(key), key);
  });
});

describe("good values are accepted", () => {
  for (const set of VALUES_SETS) {
    it(`zod accepts ${set.name} merged over values.yaml`, () => {
      const merged = set.valuesFiles.reduce<unknown>(
        (acc, f) => merge(acc, parse(readFileSync(join(repoRoot, f), "utf8"))),
        defaults,
      );
      const parsed = ChartValues.safeParse(merged);
      assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
    });
  }
});

describe("values.schema.json", () => {
  const schema = JSON.parse(readFileSync(join(chartDir, "values.schema.json"), "utf8")) as Record<string, unknown>;

  it("is the JSON Schema of ChartValues, as generated (npm test's stale check writes it)", () => {
    assert.deepEqual(schema, chartValuesJsonSchema());
  });

  it("describes every property and refuses unknown keys in every object", () => {
    const undocumented: string[] = [];
    const open: string[] = [];
    const walk = (node: Record<string, unknown>, path: string) => {
      const props = node.properties as Record<string, Record<string, unknown>> | undefined;
      if (props) {
        if (node.additionalProperties !== false) open.push(path || "(root)");
        for (const [key, child] of Object.entries(props)) {
          const childPath = path ? `${path}.${key}` : key;
          if (typeof child.description !== "string") undocumented.push(childPath);
          walk(child, childPath);
        }
      }
      if (node.items && typeof node.items === "object") walk(node.items as Record<string, unknown>, `${path}[]`);
    };
    walk(schema, "");
    assert.deepEqual(undocumented, []);
    assert.deepEqual(open, []);
  });

  it("documents every top-level key of values.yaml with a comment", () => {
    const lines = readFileSync(join(chartDir, "values.yaml"), "utf8").split("\n");
    const missing = lines
      .map((line, i) => ({ line, above: lines[i - 1] ?? "" }))
      .filter(({ line }) => /^[A-Za-z]\w*:/.test(line))
      .filter(({ above }) => !above.startsWith("#"))
      .map(({ line }) => line);
    assert.deepEqual(missing, []);
  });
});
