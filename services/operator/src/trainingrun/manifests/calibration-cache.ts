import type { IConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { CalibrationCacheEntry } from "../decide/calibration-cache.js";

// The calibration cache ConfigMap. It belongs to the namespace, not to a run: it must
// outlive the run that filled it, so it has no owner reference (the one child that has
// none, on purpose). Entries are small (a CalibrationResult is under 4 KiB), so the 1 MiB
// ConfigMap limit holds a few hundred distinct calibrations.

export function buildCalibrationCacheConfigMap(
  namespace: string,
  name: string,
  entries: Readonly<Record<string, CalibrationCacheEntry>> = {},
): IConfigMap {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name,
      namespace,
      labels: { "app.kubernetes.io/managed-by": "nnunet-operator", "app.kubernetes.io/component": "calibration-cache" },
    },
    data: Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, serialiseCacheEntry(v)])),
  };
}

export function serialiseCacheEntry(entry: CalibrationCacheEntry): string {
  return JSON.stringify(entry);
}

/** A JSON merge patch adding one entry: concurrent writers of different keys do not clash. */
export function cacheEntryPatch(key: string, entry: CalibrationCacheEntry): { data: Record<string, string> } {
  return { data: { [key]: serialiseCacheEntry(entry) } };
}
