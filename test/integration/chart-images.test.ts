import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, describe, it } from "node:test";
import { parse } from "yaml";
import { chartDir, repoRoot } from "../chart/render.js";

// The images cannot be built here (no image registry is reachable), so these tests check
// what can be checked: the bundling step the service images run, and the Dockerfiles'
// shape against the chart (names, ports, non-root, pinned bases).

const SERVICES = [
  { dir: "operator", valuesKey: "operator", ports: ["8080", "9443"] },
  { dir: "early-stop", valuesKey: "earlyStop", ports: ["8080"] },
  { dir: "reporter", valuesKey: "reporter", ports: [] },
] as const;
const values = parse(readFileSync(join(chartDir, "values.yaml"), "utf8")) as {
  images: Record<string, { repository: string }>;
};
const dockerfile = (dir: string) => readFileSync(join(repoRoot, "images", dir, "Dockerfile"), "utf8");
const stages = (text: string) =>
  text
    .split(/^FROM /m)
    .slice(1)
    .map((s) => ({ from: s.split(/\s/)[0] ?? "", body: s }));

describe("the bundling step of the service images", () => {
  const dir = mkdtempSync(join(tmpdir(), "bundle-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("turns a workspace package with CommonJS dependencies into one ESM file that runs on its own", async () => {
    const out = join(dir, "api.mjs");
    const result = spawnSync(
      "sh",
      [join(repoRoot, "images/bundle.sh"), join(repoRoot, "packages/api/src/index.ts"), out],
      { encoding: "utf8" },
    );
    assert.equal(result.status, 0, result.stdout + result.stderr);
    const api = (await import(pathToFileURL(out).href)) as typeof import("@nnunet-operator/api");
    const testingOut = join(dir, "api-testing.mjs");
    const bundled = spawnSync(
      "sh",
      [join(repoRoot, "images/bundle.sh"), join(repoRoot, "packages/api/src/testing/index.ts"), testingOut],
      { encoding: "utf8" },
    );
    assert.equal(bundled.status, 0, bundled.stdout + bundled.stderr);
    const testing = (await import(pathToFileURL(testingOut).href)) as typeof import("@nnunet-operator/api/testing");
    const sample = parse(readFileSync(join(repoRoot, "deploy/samples/trainingrun.yaml"), "utf8")) as unknown;
    const parsed = api.parseTrainingRun(sample);
    assert.ok(parsed.ok, "the bundled API rejects the sample");
    assert.equal(
      testing.createCrdValidator(api.buildOpenApiSchema()).validate(sample).causes.length,
      0,
      "the bundled CEL/ajv validator fails",
    );
  });
});

describe("Dockerfiles", () => {
  for (const svc of SERVICES) {
    it(`images/${svc.dir}: multi-stage, bundles services/${svc.dir}, runs non-root on distroless as ${values.images[svc.valuesKey]?.repository}`, () => {
      const text = dockerfile(svc.dir);
      const [build, runtime, ...rest] = stages(text);
      assert.ok(build && runtime && rest.length === 0, "expected a build and a run stage");
      assert.match(build.from, /^node:20\.\d+\.\d+-bookworm-slim$/);
      assert.match(runtime.from, /^gcr\.io\/distroless\/nodejs20-debian12:nonroot$/);
      assert.ok(
        build.body.includes(`images/bundle.sh services/${svc.dir}/src/main.ts`),
        "does not bundle the service's main.ts",
      );
      assert.match(runtime.body, /^USER 65532:65532$/m);
      assert.deepEqual(/^EXPOSE (.*)$/m.exec(runtime.body)?.[1]?.split(" ") ?? [], svc.ports);
      assert.ok(
        text.includes(`-t ${values.images[svc.valuesKey]?.repository}:`),
        "build command names another image than values.yaml",
      );
    });
  }

  it("images/nnunet: a pinned PyTorch base, a pinned nnunetv2, the calibrator, non-root", () => {
    const text = dockerfile("nnunet");
    assert.match(stages(text)[0]?.from ?? "", /^pytorch\/pytorch:\d+\.\d+\.\d+-cuda[\d.]+-cudnn\d+-runtime$/);
    assert.match(text, /^ARG NNUNETV2_VERSION=\d+\.\d+\.\d+$/m);
    assert.match(text, /pip install --no-cache-dir "nnunetv2==\$\{NNUNETV2_VERSION\}"/);
    assert.match(text, /COPY services\/calibrator\/nnunet_calibrate /);
    assert.match(text, /^USER 1000:1000$/m);
    for (const v of ["nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"])
      assert.ok(text.includes(`${v}=`), `${v} unset`);
    assert.ok(text.includes(`-t ${values.images.training?.repository}:`));
  });

  it("the devcluster runs the service images as their Dockerfiles do: the same CMD and NODE_OPTIONS", () => {
    const map = parse(readFileSync(join(repoRoot, "services/devcluster/images.yaml"), "utf8")) as {
      images: Array<{ image: string; cmd?: string[]; commands?: Record<string, { env?: Record<string, string> }> }>;
    };
    for (const svc of SERVICES.filter((s) => s.dir !== "reporter")) {
      const runtime = stages(dockerfile(svc.dir))[1]?.body ?? "";
      const entry = map.images.find((i) => i.image === `*nnunet-operator/${svc.dir}`);
      assert.ok(entry, `images.yaml has no entry for nnunet-operator/${svc.dir}`);
      assert.deepEqual(entry.cmd, JSON.parse(/^CMD (.*)$/m.exec(runtime)?.[1] ?? "null"), `${svc.dir}: CMD`);
      assert.equal(
        entry.commands?.node?.env?.NODE_OPTIONS,
        /^ENV NODE_OPTIONS="([^"]*)"$/m.exec(runtime)?.[1],
        `${svc.dir}: NODE_OPTIONS`,
      );
    }
  });

  it("no image is pulled by a floating tag", () => {
    for (const dir of ["operator", "early-stop", "reporter", "nnunet"])
      for (const { from } of stages(dockerfile(dir)))
        assert.ok(/:[\w.-]+$/.test(from) && !from.endsWith(":latest"), `${dir}: ${from}`);
  });
});
