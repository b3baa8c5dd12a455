import { z } from "zod";
import { checkAddress, epochMessageId } from "@nnunet-operator/bus";
import type { ReporterIdentity } from "./epoch-message.js";

// The reporter's configuration: environment variables only, set by the operator's training
// Job builder (DESIGN.md, "Reporter environment") plus optional tuning knobs. This is the only
// module that reads process.env (habit 4). A bad value is the one reason the reporter exits
// non-zero, so every message names the variable and says how to fix it.

const HINT = "the operator sets it on the reporter sidecar; set it by hand outside a training pod";

const required = (what: string) =>
  z
    .string({ error: `is not set: it holds ${what}; ${HINT}` })
    .trim()
    .min(1, { error: `is empty: it must hold ${what}; ${HINT}` });

const intFrom = (min: number, max: number, what: string) =>
  z
    .string({ error: `is not set: it holds ${what}; ${HINT}` })
    .trim()
    .regex(/^\d+$/, { error: `must be a whole number (${what})` })
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(min, { error: `must be at least ${min} (${what})` })
        .max(max, { error: `must be at most ${max} (${what})` }),
    );

export const ReporterEnv = z.object({
  NNUNET_NAMESPACE: required("the TrainingRun's namespace"),
  NNUNET_RUN: required("the TrainingRun's name"),
  NNUNET_RUN_UID: required("the TrainingRun's metadata.uid"),
  NNUNET_FOLD: required("the fold, 0 to 4 or all"),
  NNUNET_ATTEMPT: intFrom(0, Number.MAX_SAFE_INTEGER, "the fold's attempt, 0 for its first pod"),
  NNUNET_FOLD_DIR: required(
    "nnU-Net's output folder of the fold, e.g. /nnunet/results/<Dataset>/<Trainer>__<Plans>__<config>/fold_0",
  ).refine((p) => p.startsWith("/"), {
    error: "must be an absolute path (the fold's output folder as mounted in the pod)",
  }),
  NATS_URL: required("the NATS server URL").regex(/^(nats|tls|wss?):\/\/\S+(,\s*(nats|tls|wss?):\/\/\S+)*$/, {
    error: "must be a NATS URL such as nats://nats.nnunet-system:4222 (comma-separated for a cluster)",
  }),
  NATS_CREDS_FILE: z.string().trim().min(1).optional(),
  /** A CA bundle to verify the NATS server's certificate with (NATS over TLS). */
  NATS_TLS_CA_FILE: z.string().trim().min(1).optional(),
  /** Epoch messages kept while NATS is unreachable; past it the newest are dropped. */
  REPORTER_BUFFER_MAX: intFrom(1, 1_000_000, "epoch messages buffered while NATS is unreachable").default(5000),
  REPORTER_HEARTBEAT_SECONDS: intFrom(1, 3600, "seconds between heartbeats").default(30),
  /** The fallback when fs.watch sees nothing (network volumes): a stat and a readdir per poll. */
  REPORTER_POLL_MS: intFrom(50, 60_000, "milliseconds between looks at the log").default(250),
  /** How often the counters are logged. */
  REPORTER_STATS_SECONDS: intFrom(1, 86_400, "seconds between counter logs").default(300),
  /** On SIGTERM: how long to keep publishing what is buffered before draining NATS. */
  REPORTER_SHUTDOWN_MS: intFrom(0, 300_000, "milliseconds to flush on shutdown").default(5000),
  /** Serves Prometheus /metrics on this port when set (training pods have no Service by default). */
  REPORTER_METRICS_PORT: intFrom(1, 65_535, "a TCP port").optional(),
  /** UTC offset of the trainer's clock, for the log's timestamps ("Z" for UTC pods). */
  NNUNET_LOG_UTC_OFFSET: z
    .string()
    .trim()
    .regex(/^(Z|[+-]\d{2}:\d{2})$/, { error: 'must be "Z" or an offset such as +02:00' })
    .default("Z"),
  LOG_LEVEL: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], {
      error: "must be one of fatal, error, warn, info, debug, trace, silent",
    })
    .default("info"),
});
export type ReporterEnv = z.infer<typeof ReporterEnv>;

export interface ReporterConfig {
  readonly identity: ReporterIdentity;
  readonly foldDir: string;
  readonly nats: {
    readonly servers: string[];
    readonly credsFile: string | undefined;
    readonly tlsCaFile?: string | undefined;
  };
  readonly bufferMax: number;
  readonly heartbeatMs: number;
  readonly pollMs: number;
  readonly statsMs: number;
  readonly shutdownMs: number;
  readonly metricsPort: number | undefined;
  readonly utcOffset: string;
  readonly logLevel: ReporterEnv["LOG_LEVEL"];
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly retryable = false;
  constructor(
    message: string,
    /** The variables at fault. */
    readonly variables: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

// The identity goes into subjects and message ids: check it here with the bus's own rules,
// so a bad value is a config error at start and not a publish failure on every epoch.
const IDENTITY_FIX: Record<string, { variable: string; fix: string }> = {
  namespace: { variable: "NNUNET_NAMESPACE", fix: "it must be a DNS label (lower-case letters, digits and '-')" },
  run: { variable: "NNUNET_RUN", fix: "it must be a DNS label: no dots, at most 63 lower-case characters" },
  fold: { variable: "NNUNET_FOLD", fix: "it must be 0, 1, 2, 3, 4 or all" },
  uid: { variable: "NNUNET_RUN_UID", fix: "it must be the TrainingRun's uid (letters, digits and '-')" },
};

/** Parses an environment (process.env or a test's record); throws ConfigError naming each bad variable. */
export function parseReporterEnv(env: Readonly<Record<string, string | undefined>>): ReporterConfig {
  const parsed = ReporterEnv.safeParse(env);
  if (!parsed.success) {
    const variables = parsed.error.issues.map((i) => String(i.path[0] ?? "(environment)"));
    const lines = parsed.error.issues.map((i) => `${String(i.path[0] ?? "(environment)")} ${i.message}`);
    throw new ConfigError(`invalid reporter environment: ${lines.join("; ")}`, variables, { cause: parsed.error });
  }
  const e = parsed.data;
  const identity: ReporterIdentity = {
    namespace: e.NNUNET_NAMESPACE,
    run: e.NNUNET_RUN,
    runUid: e.NNUNET_RUN_UID,
    fold: e.NNUNET_FOLD,
    attempt: e.NNUNET_ATTEMPT,
  };
  const problem = checkAddress(identity);
  if (problem) {
    const f = IDENTITY_FIX[problem.field] ?? { variable: problem.field, fix: "" };
    throw new ConfigError(
      `invalid reporter environment: ${f.variable} ${JSON.stringify(identity[problem.field as keyof ReporterIdentity])}: ${f.fix}`,
      [f.variable],
    );
  }
  try {
    epochMessageId({ ...identity, epoch: 0 });
  } catch (cause) {
    const f = IDENTITY_FIX.uid as { variable: string; fix: string };
    throw new ConfigError(
      `invalid reporter environment: ${f.variable} ${JSON.stringify(identity.runUid)}: ${f.fix}`,
      [f.variable],
      { cause },
    );
  }
  return {
    identity,
    foldDir: e.NNUNET_FOLD_DIR,
    nats: {
      servers: e.NATS_URL.split(",").map((s) => s.trim()),
      credsFile: e.NATS_CREDS_FILE,
      ...(e.NATS_TLS_CA_FILE ? { tlsCaFile: e.NATS_TLS_CA_FILE } : {}),
    },
    bufferMax: e.REPORTER_BUFFER_MAX,
    heartbeatMs: e.REPORTER_HEARTBEAT_SECONDS * 1000,
    pollMs: e.REPORTER_POLL_MS,
    statsMs: e.REPORTER_STATS_SECONDS * 1000,
    shutdownMs: e.REPORTER_SHUTDOWN_MS,
    metricsPort: e.REPORTER_METRICS_PORT,
    utcOffset: e.NNUNET_LOG_UTC_OFFSET,
    logLevel: e.LOG_LEVEL,
  };
}

/** Reads process.env: the one place in the reporter that does. */
export function readReporterConfig(): ReporterConfig {
  return parseReporterEnv(process.env);
}
