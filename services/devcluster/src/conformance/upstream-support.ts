import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import type { TestContext } from "node:test";

// Shared by the upstream-vector tests: fixtures from test/fixtures/upstream/, and the
// per-suite passed/total report that fails when the cases not met are not exactly the ones
// not-emulated.json lists.

const dir = new URL("../../../../test/fixtures/upstream/", import.meta.url);
export const load = <T>(file: string) => JSON.parse(readFileSync(new URL(file, dir), "utf8")) as T;
const notEmulated = load<Record<string, Record<string, string>>>("not-emulated.json");

export interface Outcome {
  id: string;
  ok: boolean;
}

/** Reports a suite's passed/total; returns a check that its failures are the listed ones (run after every suite is reported). */
export function report(
  t: TestContext,
  suite: string,
  outcomes: Outcome[],
  excluded = 0,
  why = "disabled upstream",
): () => void {
  const failed = outcomes.filter((o) => !o.ok).map((o) => o.id);
  const passed = outcomes.length - failed.length;
  t.diagnostic(`${suite}: ${passed}/${outcomes.length} passed${excluded ? ` (${excluded} ${why}, not counted)` : ""}`);
  return () =>
    assert.deepEqual(
      [...new Set(failed)].sort(),
      Object.keys(notEmulated[suite] ?? {}).sort(),
      `${suite}: failures must be exactly the cases listed in not-emulated.json`,
    );
}
export const checkAll = (checks: (() => void)[]) => {
  for (const check of checks) check();
};

export const attempt = (f: () => boolean) => {
  try {
    return f();
  } catch {
    return false;
  }
};
export const throws = (f: () => unknown) => {
  try {
    f();
    return false;
  } catch {
    return true;
  }
};
