import type { FieldError } from "./errors.js";
import type { KubeObject, ResourceDef } from "./resources.js";
import { qualifiedNameErrors } from "./validation.js";

// Finalizer names as kube-apiserver checks them, by who serves the kind:
// - every kind: a qualified name (apimachinery ValidateFinalizerName), and not both
//   "orphan" and "foregroundDeletion";
// - built-in kinds validated by pkg/apis/core (all but the apiextensions kinds): a name
//   without a "/" must be a standard one, else "neither a standard finalizer name nor is it
//   fully qualified" (so `example.com-cleanup` is refused on a ConfigMap);
// - CustomResourceDefinitions: the qualified-name rule only, so the server's own
//   customresourcecleanup.apiextensions.k8s.io passes;
// - custom resources: each newly added name without a "/" is accepted with a warning
//   (apiextensions-apiserver's WarningsOnCreate/WarningsOnUpdate).

const STANDARD = new Set(["kubernetes", "orphan", "foregroundDeletion"]);
const FIELD = "metadata.finalizers";

export function finalizerErrors(def: ResourceDef, finalizers: unknown[]): FieldError[] {
  const errs: FieldError[] = [];
  const coreRules = !def.custom && def.group !== "apiextensions.k8s.io";
  for (const [i, f] of finalizers.entries()) {
    if (typeof f !== "string") {
      errs.push({ type: "FieldValueInvalid", field: `${FIELD}[${i}]`, value: f, detail: "must be a string" });
      continue;
    }
    // Upstream reports the qualified-name errors against the list, the core rule against the item.
    for (const e of qualifiedNameErrors(f, FIELD)) errs.push(e);
    if (coreRules && !f.includes("/") && !STANDARD.has(f)) {
      errs.push({
        type: "FieldValueInvalid",
        field: `${FIELD}[${i}]`,
        value: f,
        detail: "name is neither a standard finalizer name nor is it fully qualified",
      });
    }
  }
  if (finalizers.includes("orphan") && finalizers.includes("foregroundDeletion")) {
    errs.push({
      type: "FieldValueInvalid",
      field: FIELD,
      value: finalizers,
      detail: "finalizer orphan and foregroundDeletion cannot be both set",
    });
  }
  return errs;
}

/** Warnings for custom resources: names added by this write that carry no "/". */
export function finalizerWarnings(def: ResourceDef, obj: KubeObject, old: KubeObject | undefined): string[] {
  if (!def.custom) return [];
  const before = new Set(old?.metadata.finalizers ?? []);
  const added = [...new Set(obj.metadata.finalizers ?? [])]
    .filter((f) => typeof f === "string" && !before.has(f))
    .sort();
  return added
    .filter((f) => !f.includes("/"))
    .map(
      (f) =>
        `${FIELD}: ${JSON.stringify(f)}: prefer a domain-qualified finalizer name including a path (/) to avoid accidental conflicts with other finalizer writers`,
    );
}
