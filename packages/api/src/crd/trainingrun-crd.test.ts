import { strict as assert } from "node:assert";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { CustomResourceDefinition } from "kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition";
import { parseTrainingRun, type TrainingRun } from "../v1alpha1/trainingrun.js";
import { generatedFiles } from "../generated-files.js";
import { buildOpenApiSchema, buildTrainingRunCrd } from "./trainingrun-crd.js";
import { type JSONSchemaProps, walkSchema } from "./openapi.js";
import { structuralViolations } from "./structural.js";
import { createCrdValidator } from "../testing/crd-validator.js";

const repo = resolve(import.meta.dirname, "../../../..");
const fixtures = join(repo, "test/fixtures/trainingruns");
const schema = buildOpenApiSchema();
const validator = createCrdValidator(schema);

function load(dir: string) {
  return readdirSync(join(fixtures, dir))
    .filter((f) => f.endsWith(".yaml"))
    .map((file) => {
      const text = readFileSync(join(fixtures, dir, file), "utf8");
      const expect = /^# expect: (\S+)/m.exec(text)?.[1];
      return { file, object: parse(text) as unknown, expect };
    });
}

/** `spec.folds[1]` and zod's `spec.folds.1` name the same field. */
const normalise = (field: string) => field.replace(/\[(\d+)\]/g, ".$1");

describe("TrainingRun samples", () => {
  const samples = [
    ...load("valid"),
    {
      file: "deploy/samples/trainingrun.yaml",
      object: parse(readFileSync(join(repo, "deploy/samples/trainingrun.yaml"), "utf8")),
      expect: undefined,
    },
  ];
  for (const { file, object } of samples) {
    it(`${file} is accepted by zod and by the CRD schema`, () => {
      const parsed = parseTrainingRun(object);
      assert.ok(parsed.ok, parsed.ok ? "" : JSON.stringify(parsed.errors));
      const { causes } = validator.validate(object);
      assert.deepEqual(causes, []);
    });
  }

  for (const { file, object, expect } of load("invalid")) {
    it(`${file} is rejected by zod and by the CRD schema, naming ${expect}`, () => {
      assert.ok(expect, `${file} must say which field it breaks in a '# expect: <field>' line`);
      const parsed = parseTrainingRun(object);
      assert.equal(parsed.ok, false, "zod accepted it");
      if (parsed.ok) return;
      assert.ok(
        parsed.errors.some((e) => normalise(e.field).startsWith(expect) && e.message.length > 0),
        `zod errors do not name ${expect}: ${JSON.stringify(parsed.errors)}`,
      );
      const { causes } = validator.validate(object);
      assert.ok(causes.length > 0, "the CRD schema accepted it");
      assert.ok(
        causes.some((c) => normalise(c.field).startsWith(expect) || c.message.startsWith(expect)),
        `CRD schema causes do not name ${expect}: ${JSON.stringify(causes)}`,
      );
    });
  }

  it("there is one invalid sample per cross-field rule and per kind of field check", () => {
    assert.ok(load("invalid").length >= 12);
  });
});

describe("defaults", () => {
  it("zod and the CRD schema fill the same defaults into a minimal run", () => {
    const [minimal] = load("valid").filter((s) => s.file === "minimal.yaml");
    const parsed = parseTrainingRun(minimal!.object);
    assert.ok(parsed.ok);
    const { object } = validator.validate(minimal!.object);
    assert.deepEqual((object as TrainingRun).spec, parsed.run.spec);
    assert.equal(parsed.run.spec.batchSize.mode, "Auto");
    assert.deepEqual(parsed.run.spec.gpu.products, ["NVIDIA-L40S"]);
    assert.equal(parsed.run.spec.schedule.earlyStop.policy, "Forecast");
    assert.deepEqual(parsed.run.spec.folds, [0, 1, 2, 3, 4]);
  });
});

describe("updates", () => {
  const base = parse(readFileSync(join(repo, "deploy/samples/trainingrun.yaml"), "utf8")) as TrainingRun;
  const cases: { name: string; change: (r: TrainingRun) => void; field?: string }[] = [
    {
      name: "changing the dataset is refused",
      change: (r) => void (r.spec.dataset = "Dataset502_Other"),
      field: "spec.dataset",
    },
    {
      name: "changing the configuration is refused",
      change: (r) => void (r.spec.configuration = "2d"),
      field: "spec.configuration",
    },
    {
      name: "changing the claim is refused",
      change: (r) => void (r.spec.storage.claimName = "other-data"),
      field: "spec.storage.claimName",
    },
    {
      name: "changing the trainer is refused",
      change: (r) => void (r.spec.trainer = "nnUNetTrainer_250epochs"),
      field: "spec.trainer",
    },
    {
      name: "changing the plans is refused",
      change: (r) => void (r.spec.plans = "nnUNetResEncUNetMPlans"),
      field: "spec.plans",
    },
    {
      name: "changing the GPUs per fold is refused",
      change: (r) => void (r.spec.gpu = { ...r.spec.gpu, perFold: 2 }),
      field: "spec.gpu.perFold",
    },
    { name: "changing the folds is refused", change: (r) => void (r.spec.folds = [0]), field: "spec.folds" },
    { name: "setting an image is refused", change: (r) => void (r.spec.image = "busybox"), field: "spec.image" },
    { name: "suspending the run is allowed", change: (r) => void (r.spec.suspend = true) },
    { name: "raising the priority is allowed", change: (r) => void (r.spec.priority = 500) },
  ];
  for (const { name, change, field } of cases) {
    it(name, () => {
      const old = parseTrainingRun(base);
      assert.ok(old.ok);
      const next = structuredClone(base);
      change(next);
      const zod = parseTrainingRun(next, old.run);
      const { causes } = validator.validate(next, { old: base });
      if (field) {
        assert.equal(zod.ok, false);
        assert.ok(!zod.ok && zod.errors.some((e) => e.field === field));
        assert.ok(
          causes.some((c) => c.field === field),
          JSON.stringify(causes),
        );
      } else {
        assert.ok(zod.ok);
        assert.deepEqual(causes, []);
      }
    });
  }
});

describe("the generated CRD", () => {
  const crd = buildTrainingRunCrd();

  it("validates as an apiextensions.k8s.io/v1 CustomResourceDefinition (kubernetes-models)", () => {
    new CustomResourceDefinition(crd as never).validate();
  });

  it("has no construct a real API server rejects in a structural schema", () => {
    assert.deepEqual(structuralViolations(schema), []);
  });

  it("the structural checker itself catches what the API server rejects", () => {
    const bad: JSONSchemaProps = {
      type: "object",
      properties: {
        a: { type: "object", properties: { x: { type: "string" } }, additionalProperties: false },
        b: { anyOf: [{ type: "string", description: "no" }] },
        c: { type: "array", uniqueItems: true, items: { type: "string" } },
        d: { $ref: "#/x" } as JSONSchemaProps,
        e: { type: "string", const: "x" } as JSONSchemaProps,
      },
    };
    const found = structuralViolations(bad).join("\n");
    for (const expected of [
      "properties[a].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive",
      "properties[b].type: Required value: must not be empty for specified object fields",
      "properties[b].anyOf[0].type: Forbidden: must be empty to be structural",
      "properties[c].uniqueItems: Forbidden",
      "properties[d].$ref: Forbidden: $ref is not supported",
      "properties[e].const: Forbidden: unknown field const",
    ]) {
      assert.ok(found.includes(expected), `missing ${expected} in:\n${found}`);
    }
  });

  it("describes every property (kubectl explain has text for each field) but metadata, which may not have one", () => {
    const missing: string[] = [];
    walkSchema(schema, (node, path) => {
      const inJunctor = path.some((p) => /^(anyOf|allOf|oneOf)\[/.test(p));
      const metadata = path.length === 1 && path[0] === "metadata";
      if (path.length > 0 && !inJunctor && !metadata && !node.description) missing.push(path.join("."));
    });
    assert.deepEqual(missing, []);
  });

  it("has the names, status subresource and printer columns kubectl shows", () => {
    assert.equal(crd.metadata.name, "trainingruns.nnunet-operator.io");
    assert.deepEqual(crd.spec.names.shortNames, ["tr"]);
    assert.deepEqual(crd.spec.names.categories, ["nnunet"]);
    const version = crd.spec.versions[0]!;
    assert.deepEqual(version.subresources, { status: {} });
    assert.deepEqual(
      version.additionalPrinterColumns.map((c) => c.name),
      ["Phase", "Folds", "Epoch", "GPU-h", "Saved", "Batch", "Best EMA Dice", "Finish", "Age"],
    );
  });

  it("crds/ and the exported JSON Schemas on disk are up to date", () => {
    for (const [path, content] of Object.entries(generatedFiles())) {
      assert.equal(readFileSync(join(repo, path), "utf8"), content, `${path} is stale: run npm run gen`);
    }
  });
});
