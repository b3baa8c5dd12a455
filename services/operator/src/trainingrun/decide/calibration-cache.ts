import { createHash } from "node:crypto";
import { z } from "zod";
import { CalibrationResult, type TrainingRun } from "@nnunet-operator/api";

// The calibration cache: one ConfigMap per namespace whose data maps a cache key to the
// CalibrationResult of an earlier identical calibration, so a repeat run skips the pre-job.

export interface CalibrationCacheKeyParts {
  readonly dataset: string;
  readonly plans: string;
  readonly configuration: string;
  readonly gpuProduct: string;
  readonly image: string;
  /** Settings that change which size wins: a cached result is only reused under the same ones. */
  readonly headroom: number;
  readonly maxBatchSize: number;
  readonly objective: string;
  readonly precision: string;
}

const KEY_CHARS = /[^-._a-zA-Z0-9]/g;

/**
 * A ConfigMap data key (`[-._a-zA-Z0-9]+`, at most 253 characters): a readable prefix of
 * dataset, configuration, plans and GPU product, then a digest of every part, so that
 * images (which contain '/', ':' and '@') and the selection settings tell keys apart
 * without making them unreadable or too long.
 */
export function calibrationCacheKey(p: CalibrationCacheKeyParts): string {
  const canonical = JSON.stringify([
    p.dataset,
    p.plans,
    p.configuration,
    p.gpuProduct,
    p.image,
    p.headroom,
    p.maxBatchSize,
    p.objective,
    p.precision,
  ]);
  const digest = createHash("sha256").update(canonical).digest("hex").slice(0, 16);
  const readable = [p.dataset, p.configuration, p.plans, p.gpuProduct].join(".").replace(KEY_CHARS, "_").slice(0, 200);
  return `${readable}.${digest}`;
}

export function cacheKeyForRun(run: TrainingRun, image: string, gpuProduct: string): string {
  const s = run.spec;
  return calibrationCacheKey({
    dataset: s.dataset,
    plans: s.plans,
    configuration: s.configuration,
    gpuProduct,
    image,
    headroom: s.batchSize.memoryHeadroom,
    maxBatchSize: s.batchSize.maxBatchSize,
    objective: s.batchSize.objective,
    precision: s.precision,
  });
}

export const CalibrationCacheEntry = z
  .object({
    result: CalibrationResult,
    gpuProduct: z.string().min(1),
    image: z.string().min(1),
    /** namespace/name of the run whose pre-job measured it. */
    source: z.string().min(1),
    cachedAt: z.iso.datetime({ offset: true }),
  })
  .strict();
export type CalibrationCacheEntry = z.infer<typeof CalibrationCacheEntry>;

/** A damaged entry is a miss, never an error: the run calibrates again and overwrites it. */
export function readCacheEntry(
  data: Readonly<Record<string, string>> | undefined,
  key: string,
): CalibrationCacheEntry | undefined {
  const text = data?.[key];
  if (text === undefined) return undefined;
  try {
    const parsed = CalibrationCacheEntry.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The first product of the run's list that has a cached calibration. */
export function lookupCache(
  run: TrainingRun,
  image: string,
  data: Readonly<Record<string, string>> | undefined,
): { key: string; entry: CalibrationCacheEntry } | undefined {
  for (const product of run.spec.gpu.products) {
    const key = cacheKeyForRun(run, image, product);
    const entry = readCacheEntry(data, key);
    if (entry) return { key, entry };
  }
  return undefined;
}
