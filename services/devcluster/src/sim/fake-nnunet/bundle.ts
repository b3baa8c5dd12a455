import { buildSync } from "esbuild";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

// The simulated nnU-Net bundled into one plain JavaScript file, run by `node` without the
// tsx loader: a hundred concurrent trainers then start faster and idle cheaper (tsx's
// module-hooks thread costs about as much CPU as the trainer itself).

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));

export function bundleFakeNnunet(outDir: string): string {
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, "fake-nnunet.mjs");
  buildSync({
    entryPoints: [MAIN],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile,
    logLevel: "silent",
  });
  return outfile;
}
