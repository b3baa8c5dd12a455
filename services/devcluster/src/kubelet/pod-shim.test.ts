import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, describe, it } from "node:test";

// The pod shim maps the paths a program hard-codes to the pod's host folders
// (DEVCLUSTER_MOUNTS), but never the program's own files: a checkout cloned under a path a
// pod mounts (/tmp, the pods' emptyDir) must still find its sources and node_modules.

const shim = join(import.meta.dirname, "pod-shim.ts");
const repo = resolve(import.meta.dirname, "../../../..");
const work = mkdtempSync(join(tmpdir(), "pod-shim-"));
after(() => rmSync(work, { recursive: true, force: true }));

/** What a program under the shim reads at `path`, with `mounts` as [containerPath, hostPath]. */
function readUnderShim(path: string, mounts: [string, string][]): string {
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "--import",
      shim,
      "-e",
      `process.stdout.write(require("node:fs").readFileSync(${JSON.stringify(path)}, "utf8"))`,
    ],
    { cwd: repo, env: { ...process.env, DEVCLUSTER_MOUNTS: JSON.stringify(mounts) }, encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

describe("the pod shim's path mapping", () => {
  const host = join(work, "volume");
  mkdirSync(host, { recursive: true });
  writeFileSync(join(host, "marker"), "from the pod's volume");
  const cases: { name: string; path: string; mounts: [string, string][]; reads: string | RegExp }[] = [
    {
      name: "a container path under a mount reads the pod's host folder",
      path: "/pod-data/marker",
      mounts: [["/pod-data", host]],
      reads: "from the pod's volume",
    },
    {
      name: "the program's own checkout is never mapped, even under a mounted path",
      path: join(repo, "package.json"),
      mounts: [[dirname(repo), host]],
      reads: /"name": "nnunet-operator"/,
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const out = readUnderShim(c.path, c.mounts);
      if (typeof c.reads === "string") assert.equal(out, c.reads);
      else assert.match(out, c.reads);
    });
});
