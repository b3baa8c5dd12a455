import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { rewritePaths, type MountEntry } from "./paths.js";

// A program that reads its paths from a configuration file (nats-server's pid_file and
// store_dir) gets a copy of that file with its container paths rewritten like its
// arguments: the image map names the flags that take such a file (`configFlags`).

export function rewriteConfigFiles(
  argv: string[],
  flags: readonly string[],
  table: readonly MountEntry[],
  dir: string,
): void {
  for (let i = 0; i < argv.length - 1; i++) {
    if (!flags.includes(argv[i]!)) continue;
    const file = argv[i + 1]!;
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue; // the program reports the missing file itself
    }
    // Beside the original, so that relative `include`s (nats-server's) still resolve; in the
    // given folder only when the original's folder cannot be written.
    let copy = `${file}.devcluster`;
    try {
      writeFileSync(copy, rewritePaths(text, table));
    } catch {
      mkdirSync(dir, { recursive: true });
      copy = join(dir, basename(file));
      writeFileSync(copy, rewritePaths(text, table));
    }
    argv[i + 1] = copy;
  }
}
