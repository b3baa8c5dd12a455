import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { repoRoot } from "../chart/render.js";

// `npm test -w <workspace>` works for every workspace on Node 20, whose test runner does not
// expand a quoted glob ("Could not find 'src/**/*.test.ts'"): every workspace's test script
// is scripts/test-workspace.sh, which finds the files itself. Each workspace's list is
// checked against the test files on disk, so a test the script would miss fails here.

const workspaces = ["packages", "services"].flatMap((dir) =>
  readdirSync(join(repoRoot, dir))
    .map((name) => `${dir}/${name}`)
    .filter((w) => existsSync(join(repoRoot, w, "package.json"))),
);

function testFilesOnDisk(dir: string, rel = ""): string[] {
  if (!existsSync(join(dir, rel))) return [];
  return readdirSync(join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) return e.name === "node_modules" ? [] : testFilesOnDisk(dir, path);
    return e.name.endsWith(".test.ts") ? [path] : [];
  });
}

describe("workspace test scripts", () => {
  for (const w of workspaces) {
    it(`${w}: npm test runs every *.test.ts of its src/ and scripts/ by name`, () => {
      const pkg = JSON.parse(readFileSync(join(repoRoot, w, "package.json"), "utf8")) as {
        scripts?: Record<string, string>;
      };
      assert.equal(pkg.scripts?.test, "bash ../../scripts/test-workspace.sh");
      const listed = spawnSync("bash", ["../../scripts/test-workspace.sh", "--list"], {
        cwd: join(repoRoot, w),
        encoding: "utf8",
      });
      assert.equal(listed.status, 0, listed.stderr);
      const files = listed.stdout.trim().split("\n");
      const onDisk = [
        ...testFilesOnDisk(join(repoRoot, w), "src"),
        ...testFilesOnDisk(join(repoRoot, w), "scripts"),
      ].sort();
      assert.ok(onDisk.length > 0, `${w} has no tests`);
      assert.deepEqual(files, onDisk);
    });
  }

  it("the script refuses a folder without tests instead of passing with none", () => {
    const r = spawnSync("bash", [join(repoRoot, "scripts/test-workspace.sh"), "--list"], {
      cwd: join(repoRoot, "images"),
      encoding: "utf8",
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no \*\.test\.ts under src\/ or scripts\//);
  });
});
