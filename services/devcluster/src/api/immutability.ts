import type { FieldError } from "./errors.js";
import { deepEqual } from "./patch.js";
import type { KubeObject, ResourceDef } from "./resources.js";

// Update rules of the built-in types whose spec is (mostly) immutable, with the real
// server's messages: a pod may only change container images, activeDeadlineSeconds,
// added tolerations, terminationGracePeriodSeconds and removed scheduling gates (binding
// goes through pods/binding); a Job's selector and completions are immutable, and its
// template too, except for scheduling directives while it is suspended and never started.

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : {});

const POD_FORBIDDEN =
  "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

function maskPodSpec(spec: Obj, old: Obj): Obj {
  const out = structuredClone(spec);
  for (const list of ["containers", "initContainers"]) {
    const items = out[list];
    const before = old[list];
    if (Array.isArray(items) && Array.isArray(before)) {
      items.forEach((c: Obj, i) => {
        if (before[i] && typeof c === "object") c["image"] = (before[i] as Obj)["image"];
      });
    }
  }
  for (const k of ["activeDeadlineSeconds", "terminationGracePeriodSeconds"]) {
    if (old[k] === undefined) delete out[k];
    else out[k] = old[k];
  }
  const oldTolerations = (old["tolerations"] as unknown[] | undefined) ?? [];
  const newTolerations = (out["tolerations"] as unknown[] | undefined) ?? [];
  if (oldTolerations.every((t) => newTolerations.some((n) => deepEqual(n, t)))) {
    if (old["tolerations"] === undefined) delete out["tolerations"];
    else out["tolerations"] = old["tolerations"];
  }
  const gates = (out["schedulingGates"] as unknown[] | undefined) ?? [];
  const oldGates = (old["schedulingGates"] as unknown[] | undefined) ?? [];
  if (gates.every((g) => oldGates.some((o) => deepEqual(o, g)))) {
    if (old["schedulingGates"] === undefined) delete out["schedulingGates"];
    else out["schedulingGates"] = old["schedulingGates"];
  }
  return out;
}

const SCHEDULING_DIRECTIVES = ["nodeSelector", "tolerations", "affinity", "schedulingGates"];

export function validateImmutable(def: ResourceDef, old: KubeObject, next: KubeObject): FieldError[] {
  if (def.custom || def.group !== (def.resource === "jobs" ? "batch" : "")) return [];
  if (def.resource === "pods") {
    const oldSpec = obj(old["spec"]);
    if (!deepEqual(maskPodSpec(obj(next["spec"]), oldSpec), oldSpec))
      return [{ type: "FieldValueForbidden", field: "spec", detail: POD_FORBIDDEN }];
    return [];
  }
  if (def.resource !== "jobs") return [];
  const errs: FieldError[] = [];
  const a = obj(old["spec"]);
  const b = obj(next["spec"]);
  if (!deepEqual(a["selector"], b["selector"]))
    errs.push({
      type: "FieldValueInvalid",
      field: "spec.selector",
      value: b["selector"],
      detail: "field is immutable",
    });
  if (!deepEqual(a["completions"], b["completions"]))
    errs.push({
      type: "FieldValueInvalid",
      field: "spec.completions",
      value: b["completions"],
      detail: "field is immutable",
    });
  const ta = obj(a["template"]);
  const tb = obj(b["template"]);
  if (!deepEqual(ta, tb)) {
    const neverStarted = a["suspend"] === true && obj(old["status"])["startTime"] === undefined;
    const strip = (t: Obj) => {
      const c = structuredClone(t);
      const meta = obj(c["metadata"]);
      delete meta["labels"];
      delete meta["annotations"];
      for (const k of SCHEDULING_DIRECTIVES) delete obj(c["spec"])[k];
      return c;
    };
    if (!neverStarted || !deepEqual(strip(ta), strip(tb)))
      errs.push({ type: "FieldValueInvalid", field: "spec.template", value: tb, detail: "field is immutable" });
  }
  return errs;
}
