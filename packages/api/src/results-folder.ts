// Where a run's nnU-Net results live inside its claim (DESIGN.md: each run's results are its
// own). nnU-Net names a fold folder after dataset, trainer, plans and configuration only, so
// two runs with the same four wrote into one folder and one resumed from the other's
// checkpoint. Every run therefore gets its own nnUNet_results below the user's
// resultsSubPath: <resultsSubPath>/<namespace>/<name>/<uid>. A new run of the same name has
// a new uid and starts clean; `--c` and validation only ever see this run's checkpoints.

export interface ResultsOwner {
  readonly metadata: {
    readonly name?: string | undefined;
    readonly namespace?: string | undefined;
    readonly uid?: string | undefined;
  };
  readonly spec: { readonly storage: { readonly resultsSubPath: string } };
}

/** The run's results folder inside its claim (the subPath mounted as nnUNet_results). Pure. */
export function runResultsSubPath(run: ResultsOwner): string {
  const base = run.spec.storage.resultsSubPath.replace(/\/+$/, "");
  return `${base}/${run.metadata.namespace ?? "default"}/${run.metadata.name ?? ""}/${run.metadata.uid ?? ""}`;
}

/** Whether one folder is the other or lies inside it. Pure. */
export function foldersOverlap(a: string, b: string): boolean {
  const norm = (p: string) => `${p.replace(/\/+/g, "/").replace(/\/+$/, "")}/`;
  return norm(a).startsWith(norm(b)) || norm(b).startsWith(norm(a));
}
