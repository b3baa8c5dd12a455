import { z } from "zod";
import { parse as parseYaml, YAMLParseError } from "yaml";

// The operator's configuration: a YAML file the chart renders into a ConfigMap, plus a
// few environment variables set by the Deployment. This is the only module that reads
// process.env (habit 4); everything downstream receives the parsed object.

const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsLabel = z
  .string()
  .max(63)
  .regex(DNS_LABEL, { error: "must be a DNS-1123 label (lower-case letters, digits, '-')" });
const image = z.string().min(1).regex(/^\S+$/, { error: "must be a container image reference without spaces" });

export const QueueConfig = z
  .object({
    name: dnsLabel,
    /** GPUs the queue's runs may hold at once; absent means no quota beyond the cluster's capacity. */
    gpuQuota: z.int().min(0).optional(),
  })
  .strict();
export type QueueConfig = z.infer<typeof QueueConfig>;

export const TolerationConfig = z
  .object({
    key: z.string().optional(),
    operator: z.enum(["Exists", "Equal"]).default("Equal"),
    value: z.string().optional(),
    effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional(),
  })
  .strict();
export type TolerationConfig = z.infer<typeof TolerationConfig>;

/**
 * The longest a limit may be: a week. Requeue delays become timers, and a timer past 2^31 ms
 * (24.8 days) fires at once; a week also catches milliseconds written where seconds belong.
 */
const MAX_START_TIMEOUT_SECONDS = 7 * 24 * 3600;
const startTimeout = (fallback: number) =>
  z
    .number({ error: "must be a number of seconds (0 turns this limit off)" })
    .min(0, { error: "must be 0 (off) or a positive number of seconds" })
    .max(MAX_START_TIMEOUT_SECONDS, { error: `must be at most ${MAX_START_TIMEOUT_SECONDS} seconds (a week)` })
    .default(fallback);

/**
 * How long an operator-built pod may fail to get going before its attempt fails and its Job
 * is deleted, so that it gives its GPUs back (issue 17, decide/start-timeouts.ts). 0 turns a
 * limit off.
 */
export const StartTimeouts = z
  .object({
    /** A pod the scheduler cannot place (PodScheduled False, Unschedulable), since it first said so. */
    unschedulableSeconds: startTimeout(600),
    /** A container in ErrImagePull/ImagePullBackOff, since the pod started on its node. */
    imagePullSeconds: startTimeout(300),
    /** A container in CreateContainerConfigError, since the pod started on its node. */
    containerConfigSeconds: startTimeout(120),
    /** A training attempt without its first epoch, since its pod started. */
    firstEpochSeconds: startTimeout(1800),
  })
  .strict();
export type StartTimeouts = z.infer<typeof StartTimeouts>;

export const OperatorConfig = z
  .object({
    /** Namespace the operator runs in (its Lease lives here). */
    namespace: dnsLabel.default("nnunet-system"),
    /**
     * Namespaces whose TrainingRuns the operator serves (chart: watchNamespaces, with Roles
     * there instead of ClusterRoles): runs, Jobs, claims and the calibration cache are watched
     * there only, one watch each. Empty: every namespace.
     */
    watchNamespaces: z.array(dnsLabel).default([]),
    queues: z
      .array(QueueConfig)
      .min(1)
      .default([{ name: "default" }]),
    gpu: z
      .object({
        /** Products the cluster offers to TrainingRuns; a run asking for another is refused admission. */
        acceptedProducts: z.array(z.string().regex(LABEL_VALUE)).min(1).default(["NVIDIA-L40S"]),
        defaultProductLabel: z.string().min(1).default("nvidia.com/gpu.product"),
        /** Taints (besides nvidia.com/gpu) that GPU pods tolerate; counted when finding schedulable nodes. */
        extraTolerations: z.array(TolerationConfig).default([]),
      })
      .strict()
      .prefault({}),
    images: z
      .object({
        /** nnU-Net image with nnunetv2 and the calibrator, used when spec.image is unset. */
        training: image.default("nnunet-operator/nnunet:latest"),
        reporter: image.default("nnunet-operator/reporter:latest"),
        pullPolicy: z.enum(["Always", "IfNotPresent", "Never"]).default("IfNotPresent"),
      })
      .strict()
      .prefault({}),
    nats: z
      .object({
        url: z
          .string()
          .regex(/^(nats|tls):\/\/\S+$/, { error: "must be a NATS URL such as nats://nats:4222" })
          .default("nats://nats:4222"),
        /** Secret in the run's namespace holding a NATS credentials file for the reporter. */
        credsSecret: z
          .object({ name: dnsLabel, key: z.string().min(1).default("nats.creds") })
          .strict()
          .optional(),
        /**
         * Decentralized JWT auth (chart: nats.auth): the operator's own .creds file and the
         * account signing key it mints each fold attempt's credential with. Files the chart
         * mounts from the nats-auth Secret; read once at start.
         */
        auth: z
          .object({
            credsFile: z.string().min(1),
            signingKeyFile: z.string().min(1),
            accountPublicKeyFile: z.string().min(1),
          })
          .strict()
          .optional(),
        /** A CA bundle to verify the NATS server's certificate (chart: nats.tls). */
        tlsCaFile: z.string().min(1).optional(),
      })
      .strict()
      .refine((n) => !(n.auth && n.credsSecret), {
        error: "set either nats.auth (a credential per fold) or nats.credsSecret (one shared credential), not both",
        path: ["credsSecret"],
      })
      .prefault({}),
    /**
     * What a TrainingRun author may choose for the pods the operator builds (issue 17: a user
     * who may only create TrainingRuns got busybox at system-cluster-critical). The default
     * training image is always allowed.
     */
    policy: z
      .object({
        /** Images spec.image may name besides images.training: exact references, or a prefix ending in "*" (registry.example/nnunet:*). */
        allowedImages: z
          .array(z.string().min(1).regex(/^\S+$/, { error: "must be an image reference or a prefix ending in *" }))
          .default([]),
        /** PriorityClasses spec.priorityClassName may name; empty: none (the pods get the cluster's default). */
        allowedPriorityClasses: z.array(dnsLabel).default([]),
      })
      .strict()
      .prefault({}),
    calibration: z
      .object({
        /** Pod retries of a calibration Job (its backoffLimit) before the run falls back to the plans. */
        retryLimit: z.int().min(0).max(10).default(2),
        backend: z.enum(["torch", "simulated"]).default("torch"),
        /** ConfigMap, in each run's namespace, that caches calibration results. */
        cacheConfigMap: dnsLabel.default("nnunet-calibration-cache"),
      })
      .strict()
      .prefault({}),
    restartBackoff: z
      .object({
        initialSeconds: z.number().min(0).default(10),
        maxSeconds: z.number().min(0).default(600),
      })
      .strict()
      .refine((b) => b.maxSeconds >= b.initialSeconds, {
        error: "maxSeconds must be at least initialSeconds",
        path: ["maxSeconds"],
      })
      .prefault({}),
    startTimeouts: StartTimeouts.prefault({}),
  })
  .strict()
  .superRefine((config, ctx) => {
    const watched = new Set<string>();
    config.watchNamespaces.forEach((ns, i) => {
      if (watched.has(ns))
        ctx.addIssue({ code: "custom", path: ["watchNamespaces", i], message: `namespace "${ns}" is listed twice` });
      watched.add(ns);
    });
    const seen = new Set<string>();
    config.queues.forEach((q, i) => {
      if (seen.has(q.name))
        ctx.addIssue({ code: "custom", path: ["queues", i, "name"], message: `queue "${q.name}" is listed twice` });
      seen.add(q.name);
    });
  });
export type OperatorConfig = z.infer<typeof OperatorConfig>;
export type OperatorConfigInput = z.input<typeof OperatorConfig>;

/** The environment the Deployment sets; names are the contract with the chart. */
/** Progress-only status writes at most this often, unless the environment or the caller says otherwise. */
export const DEFAULT_STATUS_MIN_INTERVAL_SECONDS = 30;

export const OperatorEnv = z.object({
  NNUNET_OPERATOR_CONFIG: z.string().min(1).default("/etc/nnunet-operator/config.yaml"),
  POD_NAMESPACE: dnsLabel.optional(),
  POD_NAME: z.string().min(1).optional(),
  NATS_URL: z.string().min(1).optional(),
  /** `nats-bootstrap` mode (the chart's hook Job): the Secret to create in POD_NAMESPACE. */
  NATS_AUTH_SECRET: z.string().min(1).max(253).optional(),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info"),
  HTTP_PORT: z.coerce.number().int().min(1).max(65535).default(8080),
  WEBHOOK_PORT: z.coerce.number().int().min(1).max(65535).default(9443),
  WEBHOOK_CERT_DIR: z.string().min(1).default("/tmp/k8s-webhook-server/serving-certs"),
  /** Progress-only status writes (epochs, EMA) at most this often; the demo's live view wants a few seconds, a large cluster the default 30. */
  STATUS_MIN_INTERVAL_SECONDS: z.coerce.number().min(0).max(3600).default(DEFAULT_STATUS_MIN_INTERVAL_SECONDS),
});
export type OperatorEnv = z.infer<typeof OperatorEnv>;

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    message: string,
    readonly keys: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function issuesToError(source: string, error: z.ZodError): ConfigError {
  const lines = error.issues.map((issue) => {
    const key = issue.path.map(String).join(".") || "(root)";
    if (issue.code === "unrecognized_keys") return `${key ? `${key}: ` : ""}unknown key(s) ${issue.keys.join(", ")}`;
    return `${key}: ${issue.message}`;
  });
  const keys = error.issues.map((i) => i.path.map(String).join("."));
  return new ConfigError(`invalid ${source}: ${lines.join("; ")}`, keys, { cause: error });
}

/** Parses the YAML configuration file. An empty file means all defaults. */
export function parseOperatorConfig(text: string, source = "operator configuration"): OperatorConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (cause) {
    const where = cause instanceof YAMLParseError ? ` at line ${cause.linePos?.[0]?.line ?? "?"}` : "";
    throw new ConfigError(`invalid ${source}: not YAML${where}: ${(cause as Error).message}`, [], { cause });
  }
  const parsed = OperatorConfig.safeParse(raw);
  if (!parsed.success) throw issuesToError(source, parsed.error);
  return parsed.data;
}

export function parseOperatorEnv(env: Readonly<Record<string, string | undefined>>): OperatorEnv {
  const parsed = OperatorEnv.safeParse(env);
  if (!parsed.success) throw issuesToError("environment", parsed.error);
  return parsed.data;
}

/** Environment values that override the file: the Deployment knows its namespace and NATS best. */
export function applyEnvOverrides(config: OperatorConfig, env: OperatorEnv): OperatorConfig {
  return {
    ...config,
    namespace: env.POD_NAMESPACE ?? config.namespace,
    nats: { ...config.nats, url: env.NATS_URL ?? config.nats.url },
  };
}

/** Reads process.env: the one place in the operator that does. */
export function readProcessEnv(): OperatorEnv {
  return parseOperatorEnv(process.env);
}

export function queueQuota(config: OperatorConfig, queue: string): { defined: boolean; quota: number | undefined } {
  const q = config.queues.find((c) => c.name === queue);
  return { defined: q !== undefined, quota: q?.gpuQuota };
}
