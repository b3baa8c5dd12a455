import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

// Which source (GitHub repository) each curve comes from, for leave-one-source-out: the
// SOURCES.md table beside the curves folder (test/fixtures/nnunet-logs, ../shared/nnunet-logs)
// names the repository of every CSV. Two slugs of one repository (tbone-exp01, tbone-exp02)
// are one source: their runs share an author, data and code.

export type SourceOf = (curveName: string) => string;

/** The file name up to the first "__": the slug, when no table names the repository. */
export function slugOf(name: string): string {
  return name.replace(/\.csv$/, "").split("__")[0] ?? name;
}

/** The repository column of a SOURCES.md table, by CSV name. */
export function parseSourcesTable(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("| ")) continue;
    const cells = line.split("|").map((c) => c.trim());
    const csv = cells[1] ?? "";
    const repository = cells[2] ?? "";
    if (csv.endsWith(".csv") && repository.includes("/")) out.set(csv, repository);
  }
  return out;
}

/** Sources for the curves of a folder: SOURCES.md of its parent folder when there is one, else the slug. */
export function sourcesFor(curvesDir: string): SourceOf {
  const file = join(dirname(curvesDir.replace(/\/+$/, "")), "SOURCES.md");
  const table = existsSync(file) ? parseSourcesTable(readFileSync(file, "utf8")) : new Map<string, string>();
  return (name) => table.get(name) ?? slugOf(name);
}
