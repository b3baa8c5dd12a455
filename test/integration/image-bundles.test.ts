import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, describe, it } from "node:test";
import { Registry } from "prom-client";
import { repoRoot } from "../chart/render.js";

// A production image carries no test or emulator code (DESIGN.md, "Learned from reading our
// own code"): each service image's entry point, as its Dockerfile names it, is bundled the
// way the image build bundles it (images/bundle.sh), and esbuild's metafile lists every
// module inside. The CRD validator's ajv and cel-js, the fakes and the testing helpers live
// behind `/testing` entry points or in the devcluster; this fails when one leaks back in.

const IMAGES = ["operator", "early-stop", "reporter"] as const;

/** What must never be inside, by the module's path in the metafile. */
const FORBIDDEN: ReadonlyArray<{ what: string; path: RegExp }> = [
  { what: "ajv (the CRD validator)", path: /node_modules\/ajv(-[a-z]+)?\// },
  { what: "cel-js (the CRD validator)", path: /node_modules\/@marcbachmann\/cel-js\// },
  { what: "a testing module", path: /\/testing\/|test-support|\.test\.ts$|\/fixtures\// },
  { what: "the devcluster", path: /services\/devcluster\// },
  { what: "node:test", path: /^node:test$/ },
];
/** Test doubles by name, in case one moves out of a testing folder. */
const FORBIDDEN_NAMES = ["class FakeClock", "class FakeKubePort", "createCrdValidator"];

function entryOf(image: string): string {
  const dockerfile = readFileSync(join(repoRoot, "images", image, "Dockerfile"), "utf8");
  const entry = /images\/bundle\.sh (\S+\.ts) /.exec(dockerfile)?.[1];
  assert.ok(entry, `images/${image}/Dockerfile does not bundle a .ts entry point with images/bundle.sh`);
  return entry;
}

describe("production image bundles", () => {
  const dir = mkdtempSync(join(tmpdir(), "image-bundles-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const image of IMAGES) {
    it(`nnunet-operator/${image} bundles no validator, fake, testing helper or emulator code`, (t) => {
      const out = join(dir, `${image}.mjs`);
      const meta = join(dir, `${image}.meta.json`);
      const result = spawnSync("sh", [join(repoRoot, "images/bundle.sh"), join(repoRoot, entryOf(image)), out, meta], {
        encoding: "utf8",
      });
      assert.equal(result.status, 0, result.stdout + result.stderr);
      const inputs = Object.keys(
        (JSON.parse(readFileSync(meta, "utf8")) as { inputs: Record<string, unknown> }).inputs,
      );
      assert.ok(inputs.length > 10, "the metafile lists the bundle's modules");
      const leaks = FORBIDDEN.flatMap(({ what, path }) =>
        inputs.filter((i) => path.test(i)).map((i) => `${what}: ${i}`),
      );
      assert.deepEqual(leaks, [], `images/${image} bundles code that is not for production`);
      const text = readFileSync(out, "utf8");
      assert.deepEqual(
        FORBIDDEN_NAMES.filter((n) => text.includes(n)),
        [],
        "a test double by name",
      );
      // V8 keeps a module's source in the heap, two bytes a character if one is not Latin-1.
      assert.deepEqual(text.match(/[^\x00-\xff]/g) ?? [], [], "the bundle is Latin-1");
      t.diagnostic(`${image}: ${statSync(out).size} bytes, ${inputs.length} modules`);
    });
  }

  // bundle.sh swaps fastify's schema compilers (and ajv) for a stub: the bundled servers must
  // still serve their routes, and a route with a schema must fail at registration.
  for (const server of ["services/operator/src/server.ts", "services/early-stop/src/server.ts"]) {
    it(`${server}, bundled as the images bundle it, serves /healthz and /metrics without fastify's schema compilers`, async () => {
      const out = join(dir, `${server.split("/")[1]}-server.mjs`);
      const result = spawnSync("sh", [join(repoRoot, "images/bundle.sh"), join(repoRoot, server), out], {
        encoding: "utf8",
      });
      assert.equal(result.status, 0, result.stdout + result.stderr);
      const { buildServer } = (await import(pathToFileURL(out).href)) as {
        buildServer: (deps: unknown) => import("fastify").FastifyInstance;
      };
      const app = buildServer({ registry: new Registry(), ready: () => true, readiness: [] });
      try {
        assert.equal((await app.inject({ url: "/healthz" })).statusCode, 200);
        assert.equal((await app.inject({ url: "/metrics" })).statusCode, 200);
      } finally {
        await app.close();
      }
      const withSchema = buildServer({ registry: new Registry(), ready: () => true, readiness: [] });
      withSchema.post("/with-schema", { schema: { body: { type: "object" } } }, async () => "");
      await assert.rejects(async () => void (await withSchema.ready()), /route schemas are not compiled in this image/);
      await withSchema.close().catch(() => undefined);
    });
  }

  it("the check itself sees a validator when one is bundled (the api's /testing entry)", () => {
    const meta = join(dir, "api-testing.meta.json");
    const result = spawnSync(
      "sh",
      [
        join(repoRoot, "images/bundle.sh"),
        join(repoRoot, "packages/api/src/testing/index.ts"),
        join(dir, "api-testing.mjs"),
        meta,
      ],
      { encoding: "utf8" },
    );
    assert.equal(result.status, 0, result.stdout + result.stderr);
    const inputs = Object.keys((JSON.parse(readFileSync(meta, "utf8")) as { inputs: Record<string, unknown> }).inputs);
    assert.ok(
      inputs.some((i) => FORBIDDEN[0]!.path.test(i)),
      "ajv not seen",
    );
    assert.ok(
      inputs.some((i) => FORBIDDEN[1]!.path.test(i)),
      "cel-js not seen",
    );
    assert.ok(
      inputs.some((i) => FORBIDDEN[2]!.path.test(i)),
      "the testing module not seen",
    );
  });
});
