import { strict as assert } from "node:assert";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";

// The rules of the house: decisions, builders, configuration and the webhook core import
// nothing from client-node, NATS, fs or fastify. The adapters that do are listed here; the
// reconciler and the informers reach the cluster only through packages/kube's port.

const root = import.meta.dirname;
const ADAPTERS = new Set<string>(["main.ts", "server.ts", "controller.ts", "trainingrun/progress-feed.ts"]);
const FORBIDDEN = [
  /^@kubernetes\/client-node/,
  /^@nats-io\//,
  /^(node:)?fs(\/|$)/,
  /^fastify/,
  /^(node:)?(http|https|net|child_process)$/,
];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === "testing" ? [] : sources(path);
    return e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") ? [path] : [];
  });
}

describe("pure core", () => {
  for (const file of sources(root)
    .map((f) => relative(root, f))
    .filter((f) => !ADAPTERS.has(f))) {
    it(`${file} imports no client, transport, file system or server`, () => {
      const text = readFileSync(join(root, file), "utf8");
      const imports = [...text.matchAll(/(?:import|export)[^"']*from\s+["']([^"']+)["']/g)].map((m) => m[1]!);
      const bad = imports.filter((i) => FORBIDDEN.some((f) => f.test(i)));
      assert.deepEqual(bad, []);
    });
  }
});
