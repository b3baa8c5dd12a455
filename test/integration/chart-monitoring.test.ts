import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { stringify } from "yaml";
import { METRICS, type MetricSpec, STOP_POLICIES } from "@nnunet-operator/api";
import { analyseExpr } from "../chart/promql.js";
import { chartDir, find, type K8sObject, renderChart, repoRoot } from "../chart/render.js";

// The PrometheusRule through promtool, and every metric the rules and the dashboard use held
// against the catalogue in packages/api/src/metrics.ts. (That the services really serve
// these on a live /metrics is checked where the services run, not here.)

const objects = renderChart({ valuesFiles: ["charts/nnunet-operator/ci/monitoring-values.yaml"] });
type RuleGroup = {
  name: string;
  rules: { alert?: string; expr: string; for?: string; labels?: Record<string, string> }[];
};
const groups = (find(objects, "PrometheusRule", "nnunet-operator").spec as { groups: RuleGroup[] }).groups;
const dashboard = JSON.parse(readFileSync(join(chartDir, "dashboards/nnunet-operator.json"), "utf8")) as Dashboard;
type Target = { expr: string };
type Panel = { title: string; type: string; targets?: Target[]; panels?: Panel[] };
type Dashboard = {
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: string | { query: string } }[] };
};

/** Catalogue entry of a series name, histogram suffixes included. */
const specs = Object.values(METRICS) as MetricSpec[];
function specOf(series: string): { spec: MetricSpec; suffix: string } | undefined {
  for (const spec of specs) {
    if (spec.name === series) return { spec, suffix: "" };
    if (spec.type === "histogram")
      for (const suffix of ["_bucket", "_sum", "_count"]) if (series === spec.name + suffix) return { spec, suffix };
  }
  return undefined;
}

/** Labels Prometheus adds to every scraped series (the ServiceMonitor's target labels). */
const TARGET_LABELS = ["job", "instance", "pod", "service", "endpoint", "container", "namespace"];

function problems(where: string, expr: string): string[] {
  const use = analyseExpr(expr);
  const out: string[] = [];
  const labelsInExpr = new Set<string>(TARGET_LABELS);
  for (const metric of use.metrics) {
    if (metric === "up") continue;
    const found = specOf(metric);
    if (!found) {
      out.push(`${where}: ${metric} is not in the metrics catalogue`);
      continue;
    }
    for (const l of found.spec.labels) labelsInExpr.add(l);
    if (found.suffix === "_bucket") labelsInExpr.add("le");
  }
  for (const s of use.selectors) {
    const found = specOf(s.metric);
    const allowed = new Set([
      ...TARGET_LABELS,
      ...(found?.spec.labels ?? []),
      ...(found?.suffix === "_bucket" ? ["le"] : []),
    ]);
    for (const l of s.labels) {
      if (!allowed.has(l.name)) out.push(`${where}: ${s.metric} has no label ${l.name}`);
      if (l.name === "policy" && l.op === "=" && !(STOP_POLICIES as readonly string[]).includes(l.value))
        out.push(`${where}: policy ${l.value} is not a stop policy`);
    }
  }
  for (const l of use.groupingLabels)
    if (!labelsInExpr.has(l)) out.push(`${where}: grouping by ${l}, which no metric of the expression has`);
  return out;
}

const allPanels = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);

describe("alert rules", () => {
  const dir = mkdtempSync(join(tmpdir(), "promtool-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "rules.yaml"), stringify({ groups }));
  copyFileSync(join(repoRoot, "test/fixtures/promtool/alerts.test.yaml"), join(dir, "alerts.test.yaml"));
  const promtool = (...args: string[]) => spawnSync("promtool", args, { cwd: dir, encoding: "utf8" });

  it("has the alerts the issue asks for", () => {
    const names = groups.flatMap((g) => g.rules.map((r) => r.alert));
    for (const name of [
      "NnunetFoldStalled",
      "NnunetFoldDiverged",
      "NnunetOperatorDown",
      "NnunetEarlyStopDown",
      "NnunetReconcileErrorsHigh",
      "NnunetQueueWaitHigh",
    ])
      assert.ok(names.includes(name), `${name} missing`);
    for (const rule of groups.flatMap((g) => g.rules))
      assert.ok(rule.labels?.severity, `${rule.alert} has no severity`);
  });

  it("pass promtool check rules", () => {
    const result = promtool("check", "rules", "rules.yaml");
    assert.equal(result.error, undefined, String(result.error));
    assert.equal(result.status, 0, result.stdout + result.stderr);
  });

  it("fire on synthetic failing series and stay quiet on healthy ones (promtool test rules)", () => {
    const result = promtool("test", "rules", "alerts.test.yaml");
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /SUCCESS/);
  });

  it("test every alert in the promtool file, firing and quiet", () => {
    const test = readFileSync(join(repoRoot, "test/fixtures/promtool/alerts.test.yaml"), "utf8");
    for (const alert of groups.flatMap((g) => g.rules.map((r) => r.alert ?? ""))) {
      const blocks = test
        .split(/alertname: /)
        .slice(1)
        .filter((b) => b.startsWith(`${alert}\n`));
      assert.ok(
        blocks.some((b) => /^\s*exp_alerts: \[\]/m.test(b)),
        `${alert} is never checked quiet`,
      );
      assert.ok(
        blocks.some((b) => /exp_labels:/.test(b) || /exp_alerts: \*/.test(b)),
        `${alert} is never checked firing`,
      );
    }
  });

  it("use only metrics from the catalogue (and up), with their own labels", () => {
    assert.deepEqual(
      groups.flatMap((g) => g.rules.flatMap((r) => problems(r.alert ?? "", r.expr))),
      [],
    );
  });

  it("watch the jobs the ServiceMonitor produces: one per metrics Service", () => {
    const monitor = find(objects, "ServiceMonitor", "nnunet-operator").spec as {
      selector: { matchLabels: Record<string, string> };
      endpoints: { port: string; honorLabels?: boolean }[];
    };
    const selected = objects.filter(
      (o: K8sObject) =>
        o.kind === "Service" &&
        Object.entries(monitor.selector.matchLabels).every(([k, v]) => o.metadata.labels?.[k] === v),
    );
    assert.deepEqual(selected.map((s) => s.metadata.name).sort(), [
      "nnunet-operator-early-stop-metrics",
      "nnunet-operator-metrics",
    ]);
    assert.equal(monitor.endpoints[0]?.port, "metrics");
    assert.equal(
      monitor.endpoints[0]?.honorLabels,
      true,
      "without honorLabels the runs' namespace label becomes exported_namespace",
    );
    const exprs = groups.flatMap((g) => g.rules.map((r) => r.expr)).join("\n");
    for (const s of selected)
      assert.ok(exprs.includes(`up{job="${s.metadata.name}"}`), `no down alert for ${s.metadata.name}`);
  });
});

describe("Grafana dashboard", () => {
  const panels = allPanels(dashboard.panels).filter((p) => p.type !== "row");
  const exprsOf = (p: Panel) => (p.targets ?? []).map((t) => t.expr);

  it("is shipped as a ConfigMap with the grafana_dashboard label, holding the chart's file", () => {
    const cm = find(renderChart(), "ConfigMap", "nnunet-operator-dashboard");
    assert.equal(cm.metadata.labels?.grafana_dashboard, "1");
    assert.deepEqual(JSON.parse((cm.data as Record<string, string>)["nnunet-operator.json"]!), dashboard);
  });

  it("uses only metrics from the catalogue, with their own labels, in panels and variables", () => {
    const fromPanels = panels.flatMap((p) => exprsOf(p).flatMap((e) => problems(p.title, e)));
    const fromVariables = dashboard.templating.list
      .filter((v) => v.type === "query")
      .flatMap((v) => problems(`$${v.name}`, typeof v.query === "string" ? v.query : (v.query?.query ?? "")));
    assert.deepEqual([...fromPanels, ...fromVariables], []);
    assert.ok(
      panels.every((p) => exprsOf(p).length > 0),
      "a panel without a query",
    );
  });

  const needs: { what: string; title: RegExp; metrics: string[]; type?: string }[] = [
    { what: "runs by phase", title: /runs by phase/i, metrics: ["nnunet_trainingruns"] },
    { what: "queue length", title: /queue length/i, metrics: ["nnunet_queue_length"] },
    { what: "queue wait", title: /queue wait/i, metrics: ["nnunet_queue_wait_seconds_bucket"] },
    { what: "GPUs in use by run", title: /gpus in use/i, metrics: ["nnunet_gpus_in_use"] },
    {
      what: "per-fold EMA pseudo Dice against epoch",
      title: /against epoch/i,
      metrics: ["nnunet_fold_ema_pseudo_dice", "nnunet_fold_epoch"],
      type: "xychart",
    },
    { what: "epochs saved", title: /epochs saved/i, metrics: ["nnunet_earlystop_epochs_saved_total"] },
    { what: "GPU-hours saved", title: /gpu-hours saved/i, metrics: ["nnunet_run_gpu_seconds_saved"] },
    { what: "calibrated batch sizes", title: /batch size/i, metrics: ["nnunet_calibration_batch_size"] },
    { what: "early-stop decisions", title: /early-stop decisions/i, metrics: ["nnunet_earlystop_decisions_total"] },
    { what: "reconcile latency", title: /reconcile latency/i, metrics: ["nnunet_reconcile_duration_seconds_bucket"] },
    { what: "reconcile errors", title: /reconcile errors/i, metrics: ["nnunet_reconcile_errors_total"] },
    {
      what: "predicted finish and estimated start",
      title: /predicted finish and estimated start/i,
      metrics: ["nnunet_fold_predicted_finish_timestamp_seconds", "nnunet_run_estimated_start_timestamp_seconds"],
    },
    {
      what: "Dice given up against GPU-hours saved by audited folds",
      title: /dice given up vs gpu-hours saved, audited folds/i,
      metrics: [
        "nnunet_audit_best_ema_lost_sum",
        "nnunet_audit_best_ema_lost_count",
        "nnunet_audit_gpu_seconds_saved_sum",
      ],
    },
  ];
  for (const need of needs) {
    it(`has a panel for ${need.what}`, () => {
      const panel = panels.find((p) => need.title.test(p.title));
      assert.ok(panel, `no panel titled ${need.title}`);
      if (need.type) assert.equal(panel.type, need.type);
      const used = new Set(exprsOf(panel).flatMap((e) => analyseExpr(e).metrics));
      for (const metric of need.metrics) assert.ok(used.has(metric), `${panel.title} does not query ${metric}`);
    });
  }
});

describe("the PromQL scanner the checks above rely on", () => {
  const cases: { expr: string; metrics: string[] }[] = [
    {
      expr: 'sum by (queue, le) (rate(nnunet_queue_wait_seconds_bucket{queue="a"}[5m])) > 1e3',
      metrics: ["nnunet_queue_wait_seconds_bucket"],
    },
    { expr: 'absent(up{job="x"} == 1)', metrics: ["up"] },
    { expr: "a_total unless on (q) b offset 30m or c", metrics: ["a_total", "b", "c"] },
    { expr: 'label_values(nnunet_fold_epoch{namespace=~"$namespace"}, run)', metrics: ["nnunet_fold_epoch"] },
    { expr: "histogram_quantile(0.9, sum by (le) (rate(x_bucket[$__rate_interval])))", metrics: ["x_bucket"] },
  ];
  for (const c of cases)
    it(`finds ${c.metrics.join(", ")} in ${c.expr}`, () => assert.deepEqual(analyseExpr(c.expr).metrics, c.metrics));

  it("reports a metric outside the catalogue and a label the metric lacks", () => {
    assert.deepEqual(problems("t", 'nnunet_made_up_total + nnunet_queue_length{phase="x"}'), [
      "t: nnunet_made_up_total is not in the metrics catalogue",
      "t: nnunet_queue_length has no label phase",
    ]);
  });
});
