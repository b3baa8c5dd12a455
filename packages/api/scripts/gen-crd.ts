// Writes the CRD and the JSON Schemas generated from the zod API. With --check, writes
// nothing and exits 1 when a file on disk is stale (run by `npm test`).
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { generatedFiles } from "../src/generated-files.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const checkOnly = process.argv.includes("--check");
const stale: string[] = [];
for (const [path, content] of Object.entries(generatedFiles())) {
  const file = join(root, path);
  const current = await readFile(file, "utf8").catch(() => undefined);
  if (current === content) continue;
  if (checkOnly) stale.push(path);
  else {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, content);
    console.log(`wrote ${path}`);
  }
}
if (stale.length > 0) {
  console.error(`stale generated files (run \`npm run gen\` and commit them):\n  ${stale.join("\n  ")}`);
  process.exitCode = 1;
} else if (checkOnly) console.log("generated files are up to date");
