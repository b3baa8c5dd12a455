import type { KubeObject, PrinterColumn, ResourceDef } from "../api/resources.js";
import { WORKLOAD_PRINTERS } from "./table-workloads.js";

// meta.k8s.io/v1 Table responses, so `kubectl get` prints what it prints against a real
// cluster: a CRD's additionalPrinterColumns (Name first, dates as ages), and the usual
// columns of the built-in types we serve.

type Obj = Record<string, unknown>;

export interface TableColumn {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

export interface Table {
  kind: "Table";
  apiVersion: "meta.k8s.io/v1";
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  columnDefinitions: TableColumn[];
  rows: { cells: unknown[]; object: unknown }[];
}

/** duration.HumanDuration from k8s.io/apimachinery. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.floor(hours / 24) % 365;
    return dy === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${dy}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

/** A small JSONPath: `.a.b`, `.a[0]`, `.a[*].b`, `.a[?(@.type=="Ready")].status`. */
export function jsonPath(obj: unknown, path: string): unknown[] {
  const expr = path.trim().replace(/^\{/, "").replace(/\}$/, "").replace(/^\$/, "");
  const tokens = expr.match(/\.[^.[\]]+|\[[^\]]*\]/g) ?? [];
  let cur: unknown[] = [obj];
  for (const t of tokens) {
    const next: unknown[] = [];
    for (const v of cur) {
      if (t.startsWith(".")) {
        if (v && typeof v === "object" && !Array.isArray(v)) next.push((v as Obj)[t.slice(1)]);
        continue;
      }
      const inner = t.slice(1, -1);
      if (!Array.isArray(v)) continue;
      if (inner === "*") next.push(...v);
      else if (/^-?\d+$/.test(inner)) next.push(v.at(Number(inner)));
      else {
        const m = /^\?\(@\.([\w.-]+)\s*==\s*["']?([^"']*)["']?\)$/.exec(inner);
        if (m) next.push(...v.filter((x) => String(jsonPath(x, `.${m[1]}`)[0]) === m[2]));
      }
    }
    cur = next.filter((x) => x !== undefined);
  }
  return cur;
}

const age = (o: KubeObject, now: number) =>
  o.metadata.creationTimestamp ? humanDuration(now - Date.parse(o.metadata.creationTimestamp)) : "<unknown>";
const col = (name: string, type = "string", description = "", priority = 0, format = ""): TableColumn => ({
  name,
  type,
  format,
  description,
  priority,
});
const NAME = col("Name", "string", "Name must be unique within a namespace.", 0, "name");
const AGE = col(
  "Age",
  "string",
  "CreationTimestamp is a timestamp representing the server time when this object was created.",
);

interface Printer {
  columns: TableColumn[];
  cells(o: KubeObject, now: number): unknown[];
}

function podCells(o: KubeObject, now: number): unknown[] {
  const spec = (o["spec"] ?? {}) as { containers?: unknown[]; nodeName?: string };
  const status = (o["status"] ?? {}) as {
    phase?: string;
    reason?: string;
    podIP?: string;
    containerStatuses?: {
      ready?: boolean;
      restartCount?: number;
      state?: { waiting?: { reason?: string }; terminated?: { reason?: string } };
    }[];
  };
  const statuses = status.containerStatuses ?? [];
  const ready = statuses.filter((c) => c.ready).length;
  const restarts = statuses.reduce((n, c) => n + (c.restartCount ?? 0), 0);
  let reason = status.reason ?? status.phase ?? "Unknown";
  for (const c of statuses) {
    const r = c.state?.waiting?.reason ?? c.state?.terminated?.reason;
    if (r && !c.ready) reason = r;
  }
  if (o.metadata.deletionTimestamp) reason = "Terminating";
  return [
    o.metadata.name,
    `${ready}/${spec.containers?.length ?? 0}`,
    reason,
    restarts,
    age(o, now),
    status.podIP ?? "<none>",
    spec.nodeName ?? "<none>",
    "<none>",
    "<none>",
  ];
}

function jobCells(o: KubeObject, now: number): unknown[] {
  const spec = (o["spec"] ?? {}) as { completions?: number; suspend?: boolean };
  const status = (o["status"] ?? {}) as {
    succeeded?: number;
    startTime?: string;
    completionTime?: string;
    conditions?: { type: string; status: string }[];
  };
  const cond = (t: string) => status.conditions?.some((c) => c.type === t && c.status === "True");
  const state = cond("Complete")
    ? "Complete"
    : cond("Failed")
      ? "Failed"
      : spec.suspend
        ? "Suspended"
        : cond("FailureTarget")
          ? "FailureTarget"
          : "Running";
  const end = status.completionTime ? Date.parse(status.completionTime) : now;
  const duration = status.startTime ? humanDuration(end - Date.parse(status.startTime)) : "";
  return [o.metadata.name, state, `${status.succeeded ?? 0}/${spec.completions ?? 1}`, duration, age(o, now)];
}

const BUILTIN: Record<string, Printer> = {
  pods: {
    columns: [
      NAME,
      col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
      col("Status", "string", "The aggregate status of the containers in this pod."),
      col("Restarts", "string", "The number of times the containers in this pod have been restarted."),
      AGE,
      col("IP", "string", "", 1),
      col("Node", "string", "", 1),
      col("Nominated Node", "string", "", 1),
      col("Readiness Gates", "string", "", 1),
    ],
    cells: podCells,
  },
  jobs: {
    columns: [
      NAME,
      col("Status"),
      col("Completions", "string", "The desired number of successfully finished pods the job should be run with."),
      col("Duration", "string", "Time required to complete the job."),
      AGE,
    ],
    cells: jobCells,
  },
  namespaces: {
    columns: [NAME, col("Status", "string", "The status of the namespace"), AGE],
    cells: (o, now) => [o.metadata.name, (o["status"] as { phase?: string } | undefined)?.phase ?? "", age(o, now)],
  },
  nodes: {
    columns: [NAME, col("Status"), col("Roles"), AGE, col("Version")],
    cells: (o, now) => {
      const conds = (o["status"] as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? [];
      const ready = conds.find((c) => c.type === "Ready");
      let status = ready?.status === "True" ? "Ready" : ready ? "NotReady" : "Unknown";
      if ((o["spec"] as { unschedulable?: boolean } | undefined)?.unschedulable) status += ",SchedulingDisabled";
      const roles = Object.keys(o.metadata.labels ?? {})
        .filter((k) => k.startsWith("node-role.kubernetes.io/"))
        .map((k) => k.slice(24));
      const version =
        (o["status"] as { nodeInfo?: { kubeletVersion?: string } } | undefined)?.nodeInfo?.kubeletVersion ?? "";
      return [o.metadata.name, status, roles.join(",") || "<none>", age(o, now), version];
    },
  },
  configmaps: {
    columns: [NAME, col("Data", "integer"), AGE],
    cells: (o, now) => [
      o.metadata.name,
      Object.keys((o["data"] ?? {}) as Obj).length + Object.keys((o["binaryData"] ?? {}) as Obj).length,
      age(o, now),
    ],
  },
  secrets: {
    columns: [NAME, col("Type"), col("Data", "integer"), AGE],
    cells: (o, now) => [
      o.metadata.name,
      o["type"] ?? "Opaque",
      Object.keys((o["data"] ?? {}) as Obj).length,
      age(o, now),
    ],
  },
  serviceaccounts: {
    columns: [NAME, col("Secrets", "integer"), AGE],
    cells: (o, now) => [o.metadata.name, ((o["secrets"] as unknown[] | undefined) ?? []).length, age(o, now)],
  },
  leases: {
    columns: [NAME, col("Holder"), AGE],
    cells: (o, now) => [
      o.metadata.name,
      (o["spec"] as { holderIdentity?: string } | undefined)?.holderIdentity ?? "",
      age(o, now),
    ],
  },
  events: {
    columns: [col("Last Seen"), col("Type"), col("Reason"), col("Object"), col("Message")],
    cells: (o, now) => {
      const e = o as Obj & {
        lastTimestamp?: string;
        eventTime?: string;
        type?: string;
        reason?: string;
        message?: string;
        involvedObject?: { kind?: string; name?: string };
      };
      const last = e.lastTimestamp ?? e.eventTime ?? o.metadata.creationTimestamp;
      return [
        last ? humanDuration(now - Date.parse(last)) : "<unknown>",
        e.type ?? "",
        e.reason ?? "",
        `${(e.involvedObject?.kind ?? "").toLowerCase()}/${e.involvedObject?.name ?? ""}`,
        e.message ?? "",
      ];
    },
  },
  customresourcedefinitions: {
    columns: [NAME, col("Created At", "date")],
    cells: (o) => [o.metadata.name, o.metadata.creationTimestamp],
  },
  clusterrolebindings: {
    columns: [NAME, col("Role"), AGE],
    cells: (o, now) => [o.metadata.name, roleRef(o), age(o, now)],
  },
  rolebindings: { columns: [NAME, col("Role"), AGE], cells: (o, now) => [o.metadata.name, roleRef(o), age(o, now)] },
  clusterroles: {
    columns: [NAME, col("Created At", "date")],
    cells: (o) => [o.metadata.name, o.metadata.creationTimestamp],
  },
  roles: { columns: [NAME, col("Created At", "date")], cells: (o) => [o.metadata.name, o.metadata.creationTimestamp] },
};

const roleRef = (o: KubeObject) => {
  const r = o["roleRef"] as { kind?: string; name?: string } | undefined;
  return `${r?.kind ?? ""}/${r?.name ?? ""}`;
};

function customPrinter(columns: PrinterColumn[]): Printer {
  const defs = columns.length > 0 ? columns : [{ name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" }];
  return {
    columns: [NAME, ...defs.map((c) => col(c.name, c.type, c.description ?? "", c.priority ?? 0, c.format ?? ""))],
    cells: (o, now) => [
      o.metadata.name,
      ...defs.map((c) => {
        const values = jsonPath(o, c.jsonPath);
        if (values.length === 0) return null;
        const v = values[0];
        if (c.type === "date" && typeof v === "string") return humanDuration(now - Date.parse(v));
        if (typeof v === "object") return JSON.stringify(v);
        return v;
      }),
    ],
  };
}

function printerFor(def: ResourceDef): Printer {
  if (def.custom) return customPrinter(def.printerColumns ?? []);
  const workload = WORKLOAD_PRINTERS[def.resource];
  if (workload) return { columns: workload.columns, cells: (o, now) => workload.cells(o, now, age) };
  return (
    BUILTIN[def.resource] ?? {
      columns: [NAME, col("Created At", "date")],
      cells: (o) => [o.metadata.name, o.metadata.creationTimestamp],
    }
  );
}

export function partialMetadata(o: KubeObject): Obj {
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata };
}

export function toTable(
  def: ResourceDef,
  objects: KubeObject[],
  meta: Table["metadata"],
  includeObject: string | null,
  now: number,
): Table {
  const printer = printerFor(def);
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: meta,
    columnDefinitions: printer.columns,
    rows: objects.map((o) => ({
      cells: printer.cells(o, now),
      object: includeObject === "None" ? null : includeObject === "Object" ? o : partialMetadata(o),
    })),
  };
}
