import { EARLY_STOP_DURABLE } from "@nnunet-operator/bus";
import { z } from "zod";

// The early-stop controller's configuration, from the environment the chart sets
// (charts/nnunet-operator/templates/early-stop-deployment.yaml). The only module that reads
// process.env (habit 4); everything downstream receives the parsed object.

const intFrom = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * A comma-separated list of namespaces (chart: watchNamespaces), each a DNS label, none
 * twice; empty means every namespace.
 */
const namespaceList = z
  .string()
  .transform((text) =>
    text
      .split(",")
      .map((n) => n.trim())
      .filter((n) => n !== ""),
  )
  .superRefine((names, ctx) => {
    const seen = new Set<string>();
    for (const name of names) {
      if (!DNS_LABEL.test(name))
        ctx.addIssue({ code: "custom", message: `namespace ${JSON.stringify(name)} is not a DNS label` });
      else if (seen.has(name)) ctx.addIssue({ code: "custom", message: `namespace "${name}" is listed twice` });
      seen.add(name);
    }
  });

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export const EarlyStopConfig = z
  .object({
    natsUrl: z
      .string()
      .regex(/^((nats|tls):\/\/\S+)(,(nats|tls):\/\/\S+)*$/, {
        error: "must be one or more comma-separated NATS URLs such as nats://nats:4222",
      })
      .default("nats://nats:4222"),
    natsCredsFile: z.string().min(1).optional(),
    /** A CA bundle to verify the NATS server's certificate with (chart: nats.tls). */
    natsTlsCaFile: z.string().min(1).optional(),
    logLevel: z.enum(LOG_LEVELS).default("info"),
    httpHost: z.string().min(1).default("0.0.0.0"),
    /** 0 picks a free port (tests). */
    httpPort: intFrom(0, 65535).default(8080),
    /** Leader election identity; the pod name (unique per replica). */
    podName: z.string().min(1).optional(),
    /** Namespace of the Lease. */
    podNamespace: z.string().regex(DNS_LABEL, { error: "must be a DNS label" }).default("nnunet-system"),
    leaseName: z.string().regex(DNS_LABEL, { error: "must be a DNS label" }).default("nnunet-operator-early-stop"),
    /** Durable JetStream consumer shared by the replicas (only the leader pulls from it). */
    durable: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, { error: "must be a consumer name: letters, digits, '-' and '_'" })
      .default(EARLY_STOP_DURABLE),
    /** Limits of the NNUNET_EPOCHS stream this controller ensures: a run's epochs must outlive the run. */
    streamMaxAgeHours: intFrom(1, 24 * 365).default(30 * 24),
    streamMaxBytes: intFrom(1024 * 1024, 1024 ** 4).default(1024 ** 3),
    streamDuplicateWindowMinutes: intFrom(1, 24 * 60).default(60),
    /** Unacknowledged epochs in flight at most. */
    maxAckPending: intFrom(1, 100_000).default(1000),
    /** How often pending stop patches are retried. */
    tickSeconds: intFrom(1, 3600).default(15),
    /**
     * Namespaces whose TrainingRuns early-stop reads (one watch each) and whose deleted runs'
     * epochs it purges; empty: every namespace. Its Roles (chart: watchNamespaces) match.
     */
    watchNamespaces: namespaceList.default([]),
    /** How often the leader looks for stored epochs of runs that no longer exist and purges them. */
    purgeSweepMinutes: intFrom(1, 7 * 24 * 60).default(60),
    /** Share of otherwise enforced folds audited (recorded, not stopped); the chart's earlyStop.auditFraction. */
    auditFraction: z.coerce
      .number()
      .min(0, { error: "must be between 0 and 1" })
      .max(1, { error: "must be between 0 and 1" })
      .default(0),
  })
  .strict();
export type EarlyStopConfig = z.infer<typeof EarlyStopConfig>;

/** Environment variable of each field. */
export const CONFIG_ENV: Readonly<Record<keyof EarlyStopConfig, string>> = {
  natsUrl: "NATS_URL",
  natsCredsFile: "NATS_CREDS_FILE",
  natsTlsCaFile: "NATS_TLS_CA_FILE",
  logLevel: "LOG_LEVEL",
  httpHost: "HTTP_HOST",
  httpPort: "HTTP_PORT",
  podName: "POD_NAME",
  podNamespace: "POD_NAMESPACE",
  leaseName: "LEASE_NAME",
  durable: "NATS_DURABLE",
  streamMaxAgeHours: "EPOCH_STREAM_MAX_AGE_HOURS",
  streamMaxBytes: "EPOCH_STREAM_MAX_BYTES",
  streamDuplicateWindowMinutes: "EPOCH_STREAM_DUPLICATE_WINDOW_MINUTES",
  maxAckPending: "NATS_MAX_ACK_PENDING",
  tickSeconds: "TICK_SECONDS",
  auditFraction: "AUDIT_FRACTION",
  watchNamespaces: "WATCH_NAMESPACES",
  purgeSweepMinutes: "PURGE_SWEEP_MINUTES",
};

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly retryable = false;
}

/** Parses the environment (an empty variable counts as unset); throws ConfigError naming the variables. */
export function loadConfig(env: Record<string, string | undefined> = process.env): EarlyStopConfig {
  const raw: Record<string, string> = {};
  for (const [field, name] of Object.entries(CONFIG_ENV)) {
    const value = env[name];
    if (value !== undefined && value.trim() !== "") raw[field] = value.trim();
  }
  const parsed = EarlyStopConfig.safeParse(raw);
  if (parsed.success) {
    if (parsed.data.streamDuplicateWindowMinutes > parsed.data.streamMaxAgeHours * 60) {
      throw new ConfigError("EPOCH_STREAM_DUPLICATE_WINDOW_MINUTES must not exceed EPOCH_STREAM_MAX_AGE_HOURS");
    }
    return parsed.data;
  }
  const problems = parsed.error.issues.map(
    (i) => `${CONFIG_ENV[i.path[0] as keyof EarlyStopConfig] ?? String(i.path[0])}: ${i.message}`,
  );
  throw new ConfigError(`invalid configuration: ${problems.join("; ")}`, { cause: parsed.error });
}

/** The NNUNET_EPOCHS stream limits this configuration asks for (packages/bus EpochStreamLimits). */
export function streamLimits(config: EarlyStopConfig): {
  maxAgeMs: number;
  maxBytes: number;
  duplicateWindowMs: number;
} {
  return {
    maxAgeMs: config.streamMaxAgeHours * 3600_000,
    maxBytes: config.streamMaxBytes,
    duplicateWindowMs: config.streamDuplicateWindowMinutes * 60_000,
  };
}
