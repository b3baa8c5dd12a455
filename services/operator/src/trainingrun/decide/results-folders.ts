import { runResultsSubPath, type TrainingRun } from "@nnunet-operator/api";
import { STEP_ITEMS, type Steps } from "./steps.js";

// Which run's results folder a run would collide with (admission's checkResultsFolder), for
// every run of a pass at once. Asked run by run against every other run this is quadratic:
// 10,000 runs x 5 demands x 10,000 runs made one admission cycle take seconds. A folder
// overlaps another when one is the other or lies inside it, i.e. when one normalised path
// is a prefix of the other ending at a "/": each run's own prefixes, looked up in a map of
// every run's folder on the same claim, find every overlapping pair in O(runs x depth).

/** A folder as foldersOverlap compares it: single slashes, one trailing slash. */
const normalise = (p: string): string => `${p.replace(/\/+/g, "/").replace(/\/+$/, "")}/`;

const keyOf = (r: TrainingRun): string => `${r.metadata.namespace ?? "default"}/${r.metadata.name}`;

/** Whether `a` was created before `b` (the key breaks a tie). */
function olderThan(a: TrainingRun, b: TrainingRun): boolean {
  return (
    String(a.metadata.creationTimestamp ?? "").localeCompare(String(b.metadata.creationTimestamp ?? "")) < 0 ||
    (a.metadata.creationTimestamp === b.metadata.creationTimestamp && keyOf(a) < keyOf(b))
  );
}

/**
 * For each run (by index), the first run in `runs` (another uid, created before it, in its
 * namespace and on its claim) whose results folder overlaps its own; absent when none.
 * Only the younger of two overlapping runs is held: the older one keeps its folder. In steps
 * (steps.ts).
 */
export function* olderOverlappingRunSteps(runs: readonly TrainingRun[]): Steps<Map<number, TrainingRun>> {
  const claimOf = (r: TrainingRun) => JSON.stringify([r.metadata.namespace ?? null, r.spec.storage.claimName]);
  const claims: string[] = [];
  const paths: string[] = [];
  const byFolder = new Map<string, number[]>();
  for (let i = 0; i < runs.length; i++) {
    if (i > 0 && i % STEP_ITEMS === 0) yield;
    const r = runs[i]!;
    claims.push(claimOf(r));
    paths.push(normalise(runResultsSubPath(r)));
    const k = `${claims[i]}\n${paths[i]}`;
    const at = byFolder.get(k);
    if (at) at.push(i);
    else byFolder.set(k, [i]);
  }
  const overlapping = new Map<number, Set<number>>();
  const pair = (a: number, b: number) => {
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      const s = overlapping.get(x);
      if (s) s.add(y);
      else overlapping.set(x, new Set([y]));
    }
  };
  for (let i = 0; i < runs.length; i++) {
    if (i > 0 && i % STEP_ITEMS === 0) yield;
    const path = paths[i]!;
    const claim = claims[i]!;
    for (let j = path.indexOf("/"); j >= 0; j = path.indexOf("/", j + 1))
      for (const o of byFolder.get(`${claim}\n${path.slice(0, j + 1)}`) ?? []) if (o !== i) pair(i, o);
  }
  const out = new Map<number, TrainingRun>();
  for (const [i, others] of overlapping) {
    const run = runs[i]!;
    const first = [...others]
      .sort((a, b) => a - b)
      .find((o) => runs[o]!.metadata.uid !== run.metadata.uid && olderThan(runs[o]!, run));
    if (first !== undefined) out.set(i, runs[first]!);
  }
  return out;
}
