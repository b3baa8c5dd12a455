import { readFileSync } from "node:fs";
import { join } from "node:path";
import { analyseExpr } from "./promql.js";
import { chartDir, find, renderChart } from "./render.js";

// The metric names the chart's alert rules and Grafana dashboard query, with histogram
// suffixes folded into the histogram's own name and Prometheus's `up` left out: what the
// services must really serve on /metrics.

type Panel = { targets?: { expr: string }[]; panels?: Panel[] };

export function usedMetricNames(): Set<string> {
  const rules = find(
    renderChart({ valuesFiles: ["charts/nnunet-operator/ci/monitoring-values.yaml"] }),
    "PrometheusRule",
    "nnunet-operator",
  );
  const groups = (rules.spec as { groups: { rules: { expr: string }[] }[] }).groups;
  const dashboard = JSON.parse(readFileSync(join(chartDir, "dashboards/nnunet-operator.json"), "utf8")) as {
    panels: Panel[];
    templating: { list: { type: string; query?: string | { query: string } }[] };
  };
  const panels = (ps: Panel[]): Panel[] => ps.flatMap((p) => [p, ...panels(p.panels ?? [])]);
  const exprs = [
    ...groups.flatMap((g) => g.rules.map((r) => r.expr)),
    ...panels(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
    ...dashboard.templating.list
      .filter((v) => v.type === "query")
      .map((v) => (typeof v.query === "string" ? v.query : (v.query?.query ?? ""))),
  ];
  const names = new Set<string>();
  for (const expr of exprs) {
    for (const metric of analyseExpr(expr).metrics) {
      if (metric !== "up") names.add(metric.replace(/_(bucket|sum|count)$/, ""));
    }
  }
  return names;
}

/** Names a /metrics text exposition declares with `# TYPE`, samples or not. */
export function exposedMetricNames(text: string): Set<string> {
  return new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
}
