import { parseQuantity } from "../scheduler/resources.js";

// resourceFieldRef as the kubelet's downward API computes it: limits.* or requests.* of
// the container (a limit not set is the node's allocatable), divided by the divisor and
// rounded up (cpu "1" by default, so 250m reports 1; memory in bytes).

export interface ContainerResources {
  limits?: Record<string, string>;
  requests?: Record<string, string>;
}

export function resourceFieldValue(
  resources: ContainerResources | undefined,
  ref: { resource: string; divisor?: string },
  allocatable: Record<string, string>,
): string {
  const [kind, name] = ref.resource.split(".", 2) as [string, string];
  const own = kind === "limits" ? resources?.limits?.[name] : resources?.requests?.[name];
  const raw = own ?? (kind === "limits" ? allocatable[name] : (resources?.limits?.[name] ?? "0"));
  const value = parseQuantity(String(raw ?? "0"));
  const divisor = parseQuantity(ref.divisor ?? "1");
  if (!(divisor > 0)) return "0";
  return String(Math.ceil(value / divisor - 1e-9));
}
