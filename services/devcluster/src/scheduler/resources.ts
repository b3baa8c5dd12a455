// Resource quantities and a pod's effective requests, as the scheduler computes them.
// Quantities are held in milli-units (integers), so "100m" cpu is 100 and "1Gi" is
// 1073741824000: sums stay exact and comparisons never round the wrong way.

export type ResourceList = Map<string, number>;

const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

export class QuantityError extends Error {
  override readonly name = "QuantityError";
}

/** A Kubernetes quantity in milli-units, rounded up like the API's MilliValue. */
export function parseQuantity(q: unknown): number {
  if (typeof q === "number") return Math.ceil(q * 1000);
  if (typeof q !== "string") throw new QuantityError(`quantities must be strings or numbers, got ${JSON.stringify(q)}`);
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:[eE]([+-]?\d+))?(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$/.exec(q.trim());
  if (!m)
    throw new QuantityError(
      `quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$', got "${q}"`,
    );
  const base = Number(m[1]) * (m[2] ? 10 ** Number(m[2]) : 1);
  return Math.ceil(base * (SUFFIX[m[3] ?? ""] ?? 1) * 1000 - 1e-9);
}

export function resourceList(obj: unknown): ResourceList {
  const out: ResourceList = new Map();
  if (typeof obj !== "object" || obj === null) return out;
  for (const [k, v] of Object.entries(obj)) out.set(k, parseQuantity(v));
  return out;
}

function add(into: ResourceList, r: ResourceList): void {
  for (const [k, v] of r) into.set(k, (into.get(k) ?? 0) + v);
}

function maxInto(into: ResourceList, r: ResourceList): void {
  for (const [k, v] of r) if (v > (into.get(k) ?? 0)) into.set(k, v);
}

interface ContainerLike {
  restartPolicy?: string;
  resources?: { requests?: unknown; limits?: unknown };
}

function containerRequests(c: ContainerLike): ResourceList {
  // Extended resources and unset requests default to the limits (API defaulting does it
  // for regular containers; init containers get the same here).
  const req = resourceList(c.resources?.requests);
  for (const [k, v] of resourceList(c.resources?.limits)) if (!req.has(k)) req.set(k, v);
  return req;
}

/**
 * The pod's effective request (KEP-753, native sidecars): the larger of
 * (a) the regular containers plus every restartable init container, and
 * (b) for each init container in order, itself plus the sidecars started before it.
 * Plus pod overhead.
 */
export function podRequests(spec: {
  containers?: ContainerLike[];
  initContainers?: ContainerLike[];
  overhead?: unknown;
}): ResourceList {
  const sidecars: ResourceList = new Map();
  const initPeak: ResourceList = new Map();
  for (const c of spec.initContainers ?? []) {
    const r = containerRequests(c);
    if (c.restartPolicy === "Always") {
      add(sidecars, r);
      maxInto(initPeak, sidecars);
    } else {
      const during = new Map(sidecars);
      add(during, r);
      maxInto(initPeak, during);
    }
  }
  const total: ResourceList = new Map();
  for (const c of spec.containers ?? []) add(total, containerRequests(c));
  add(total, sidecars);
  maxInto(total, initPeak);
  add(total, resourceList(spec.overhead));
  for (const [k, v] of total) if (v === 0) total.delete(k);
  return total;
}
