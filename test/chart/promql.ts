// Finds the metric names and label matchers a PromQL expression (or a Grafana query, with
// its $variables and label_values()) uses, so that tests can hold them against the
// catalogue in packages/api/src/metrics.ts. A small scanner, not a parser: it removes
// strings, ranges, grouping clauses and offsets, then every identifier that is neither a
// function call nor a keyword is a metric name.

const KEYWORDS = new Set([
  "and",
  "or",
  "unless",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "offset",
  "bool",
  "inf",
  "nan",
  "atan2",
]);

export interface Selector {
  metric: string;
  labels: { name: string; op: string; value: string }[];
}

export interface ExprUse {
  metrics: string[];
  selectors: Selector[];
  /** Label names in by/without/on/ignoring clauses. */
  groupingLabels: string[];
}

/** Grafana's label_values(expr, label) and label_values(label) become expr. */
function unwrapGrafana(query: string): string {
  const match = /^\s*label_values\(([\s\S]*)\)\s*$/.exec(query);
  if (!match) return query;
  const inner = match[1] ?? "";
  const comma = inner.lastIndexOf(",");
  return comma < 0 ? "" : inner.slice(0, comma);
}

export function analyseExpr(query: string): ExprUse {
  const expr = unwrapGrafana(query);
  const selectors: Selector[] = [];
  for (const m of expr.matchAll(/([A-Za-z_:][\w:]*)\s*\{([^}]*)\}/g)) {
    const labels = [...(m[2] ?? "").matchAll(/([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map((l) => ({
      name: l[1] ?? "",
      op: l[2] ?? "",
      value: l[3] ?? "",
    }));
    selectors.push({ metric: m[1] ?? "", labels });
  }
  const groupingLabels: string[] = [];
  let rest = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\boffset\s+[-\w$]+/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, _kw: string, names: string) => {
      groupingLabels.push(
        ...names
          .split(",")
          .map((n) => n.trim())
          .filter(Boolean),
      );
      return " ";
    });
  rest = rest.replace(/\$\{?\w+\}?/g, " ");
  const metrics = new Set<string>();
  for (const m of rest.matchAll(/(?<![\w.:$])([A-Za-z_:][\w:]*)(\s*\()?/g)) {
    const name = m[1] ?? "";
    if (m[2] || KEYWORDS.has(name.toLowerCase())) continue;
    metrics.add(name);
  }
  for (const s of selectors) metrics.add(s.metric);
  return { metrics: [...metrics].sort(), selectors, groupingLabels };
}
