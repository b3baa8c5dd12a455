// Kubernetes resource quantities as numbers (cores, bytes, counts), for comparing a fold's
// requests with what a node can allocate. Pure; NaN for what is not a quantity.

const SUFFIX: Record<string, number> = {
  "": 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
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

export function parseQuantity(value: string | number | undefined): number {
  if (typeof value === "number") return value;
  if (value === undefined) return Number.NaN;
  const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$/.exec(value.trim());
  if (!m) return Number.NaN;
  const mantissa = Number(m[1]);
  if (m[2]) return Number(`${m[1]}${m[2]}`);
  return mantissa * (SUFFIX[m[3] ?? ""] ?? Number.NaN);
}

/** A byte count as the largest binary unit that keeps it whole-ish: 512Gi, 1.5Ti. */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of [
    ["Ei", 2 ** 60],
    ["Pi", 2 ** 50],
    ["Ti", 2 ** 40],
    ["Gi", 2 ** 30],
    ["Mi", 2 ** 20],
    ["Ki", 2 ** 10],
  ] as const) {
    if (bytes >= size) return `${Math.round((bytes / size) * 10) / 10}${unit}`;
  }
  return String(bytes);
}
