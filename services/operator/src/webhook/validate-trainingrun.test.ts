import { strict as assert } from "node:assert";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { AdmissionReviewResponse, BadAdmissionReviewError } from "./admission-review.js";
import { validateTrainingRunReview } from "./validate-trainingrun.js";
import { parseOperatorConfig } from "../config.js";
import { admissionReview } from "../testing/builders.js";

const fixtures = resolve(import.meta.dirname, "../../../../test/fixtures/trainingruns");
const load = (dir: string) =>
  readdirSync(join(fixtures, dir))
    .filter((f) => f.endsWith(".yaml"))
    .map((file) => {
      const text = readFileSync(join(fixtures, dir, file), "utf8");
      return { file, object: parse(text) as Record<string, unknown>, expect: /^# expect: (\S+)/m.exec(text)?.[1] };
    });

const run = (over: Record<string, unknown> = {}, spec: Record<string, unknown> = {}) => ({
  apiVersion: "nnunet-operator.io/v1alpha1",
  kind: "TrainingRun",
  metadata: { name: "liver", namespace: "team-a" },
  spec: { dataset: "Dataset003_Liver", configuration: "3d_fullres", storage: { claimName: "nnunet-data" }, ...spec },
  ...over,
});

const review = admissionReview;

function check(body: unknown, options = {}) {
  const out = validateTrainingRunReview(body, options);
  AdmissionReviewResponse.parse(out);
  assert.equal(out.response.uid, "705ab4f5-6393-11e8-b7cc-42010a800002", "the response echoes the request uid");
  return out.response;
}

describe("validating webhook for TrainingRuns", () => {
  it("refuses an image and a priority class the operator's configuration does not allow, naming both fields", () => {
    const config = parseOperatorConfig("images: {training: registry.example/nnunet:2.5}");
    const out = check(review("CREATE", run({}, { image: "busybox", priorityClassName: "system-cluster-critical" })), {
      config,
    });
    assert.equal(out.allowed, false);
    assert.deepEqual(
      out.status?.details?.causes?.map((c) => c.field),
      ["spec.image", "spec.priorityClassName"],
    );
    assert.equal(check(review("CREATE", run({}, { image: "registry.example/nnunet:2.5" })), { config }).allowed, true);
  });

  for (const { file, object } of load("valid")) {
    it(`allows the valid sample ${file}`, () => assert.equal(check(review("CREATE", object)).allowed, true));
  }
  for (const { file, object, expect } of load("invalid")) {
    it(`denies ${file} naming ${expect}`, () => {
      const r = check(review("CREATE", object));
      assert.equal(r.allowed, false);
      assert.equal(r.status?.code, 422);
      assert.ok(
        r.status?.details?.causes.some((c) => c.field.replace(/\[(\d+)\]/g, ".$1").startsWith(expect!)),
        JSON.stringify(r.status?.details?.causes),
      );
      assert.match(
        r.status!.message,
        new RegExp(`^TrainingRun\\.nnunet-operator\\.io ".*" is invalid: .*${expect!.replace(/\./g, "\\.")}`),
      );
    });
  }

  it("denies changing the dataset of an existing run, naming spec.dataset", () => {
    const r = check(review("UPDATE", run({}, { dataset: "Dataset004_Hippocampus" }), run()));
    assert.equal(r.allowed, false);
    assert.deepEqual(
      r.status?.details?.causes.map((c) => c.field),
      ["spec.dataset"],
    );
    assert.match(r.status!.message, /immutable after creation/);
  });

  it("allows other updates of an existing run, such as suspending it", () => {
    assert.equal(check(review("UPDATE", run({}, { suspend: true }), run())).allowed, true);
  });

  it("allows an update of a run being deleted (finalizer removal), even one that would not validate", () => {
    const leaving = run(
      { metadata: { name: "liver", deletionTimestamp: "2026-01-01T00:00:00Z", finalizers: [] } },
      { dataset: "bad" },
    );
    assert.equal(check(review("UPDATE", leaving, run())).allowed, true);
  });

  it("allows deletes and status subresource writes without looking", () => {
    assert.equal(check(review("DELETE", null, run())).allowed, true);
    assert.equal(check(review("UPDATE", { nonsense: true }, run(), { subResource: "status" })).allowed, true);
  });

  it("denies a generateName too long to leave room for the API server's suffix", () => {
    const r = check(review("CREATE", run({ metadata: { generateName: `${"r".repeat(40)}-` } })));
    assert.equal(r.allowed, false);
    assert.deepEqual(
      r.status?.details?.causes.map((c) => c.field),
      ["metadata.generateName"],
    );
  });

  it("denies objects of another kind sent by a misconfigured webhook", () => {
    const body = review("CREATE", run());
    body.request.kind = { group: "", version: "v1", kind: "Pod" };
    const r = check(body);
    assert.equal(r.allowed, false);
    assert.match(r.status!.message, /validates TrainingRun\.nnunet-operator\.io only/);
  });

  const warnings: Array<[string, Record<string, unknown>, RegExp]> = [
    ["a queue the configuration does not define", { queue: "ghost" }, /^spec\.queue: queue ghost is not defined/],
    [
      "a custom trainer with keepSamplesConstant",
      { trainer: "nnUNetTrainerDA5" },
      /^spec\.trainer: nnUNetTrainerDA5 is not the stock/,
    ],
    [
      "a fixed batch above maxBatchSize",
      { batchSize: { mode: "Fixed", value: 128, maxBatchSize: 64 } },
      /^spec\.batchSize\.value: 128 is above maxBatchSize 64/,
    ],
  ];
  for (const [what, spec, message] of warnings) {
    it(`allows ${what} with a warning naming the field`, () => {
      const r = check(review("CREATE", run({}, spec)), { queues: ["default"] });
      assert.equal(r.allowed, true);
      assert.match(r.warnings?.[0] ?? "", message);
    });
  }

  it("answers a body that is not an AdmissionReview with a typed error for a 400", () => {
    assert.throws(
      () => validateTrainingRunReview({ kind: "AdmissionReview" }),
      (e: unknown) => e instanceof BadAdmissionReviewError && /apiVersion/.test(e.message),
    );
    assert.throws(() => validateTrainingRunReview(null), BadAdmissionReviewError);
  });
});
