// `npm run bench:chart`: how long the packaging checks take with the real tools, against
// the budgets that keep `npm test` quick on a shared 2-core machine.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { chartDir, find, renderChart, repoRoot, run, templateArgs } from "../chart/render.js";

const RUNS = 5;

function time(fn: () => void): number[] {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    fn();
    samples.push(performance.now() - start);
  }
  return samples.sort((a, b) => a - b);
}

const dir = mkdtempSync(join(tmpdir(), "bench-chart-"));
try {
  const rule = find(
    renderChart({ valuesFiles: ["charts/nnunet-operator/ci/monitoring-values.yaml"] }),
    "PrometheusRule",
    "nnunet-operator",
  );
  writeFileSync(join(dir, "rules.yaml"), stringify({ groups: (rule.spec as { groups: unknown }).groups }));
  copyFileSync(join(repoRoot, "test/fixtures/promtool/alerts.test.yaml"), join(dir, "alerts.test.yaml"));
  const rows: [string, number[], number][] = [
    ["helm template (defaults, with CRDs)", time(() => run("helm", templateArgs({ includeCrds: true }))), 1000],
    ["helm lint --strict", time(() => run("helm", ["lint", "--strict", chartDir])), 1000],
    ["kubectl kustomize deploy/", time(() => run("kubectl", ["kustomize", join(repoRoot, "deploy")])), 1000],
    [
      "promtool test rules (7 alerts)",
      time(() => spawnSync("promtool", ["test", "rules", "alerts.test.yaml"], { cwd: dir })),
      2000,
    ],
  ];
  console.log(`| step | median ms | max ms | budget ms | ok |`);
  console.log(`|---|---:|---:|---:|---|`);
  for (const [name, samples, budget] of rows) {
    const median = samples[Math.floor(samples.length / 2)] ?? 0;
    const max = samples[samples.length - 1] ?? 0;
    console.log(
      `| ${name} | ${median.toFixed(0)} | ${max.toFixed(0)} | ${budget} | ${median <= budget ? "yes" : "NO"} |`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
