import { z } from "zod";
import { DNS_SUBDOMAIN_PATTERN, dnsLabel, dnsSubdomain, quantity } from "./v1alpha1/shared.js";
import { LABEL_KEY, LABEL_VALUE } from "./v1alpha1/spec.js";

// The Helm chart's values (charts/nnunet-operator/values.yaml). Its JSON Schema,
// charts/nnunet-operator/values.schema.json, is generated from this file, so that `helm
// install` and `helm template` refuse a wrong value with a message naming the key. Every
// key is required: values.yaml holds the defaults, and Helm validates the merged values.
// The `config`-like sections (queues, gpu, images, calibration, nats) become the
// operator's config.yaml; see the chart README for the mapping.

const NATS_URL_PATTERN = "^(nats|tls)://[^\\s,]+(,(nats|tls)://[^\\s,]+)*$";
const DURATION_PATTERN = "^([0-9]+(ms|s|m|h|d|w|y))+$";

const described = <T extends z.ZodType>(schema: T, description: string): T => schema.meta({ description });
const strictObject = <S extends z.ZodRawShape>(shape: S, description: string) =>
  z.object(shape).strict().meta({ description });

/** Seconds up to a week, as the operator's config.ts (StartTimeouts) takes them. */
const startTimeout = (description: string) =>
  described(
    z
      .number()
      .min(0, { error: "must be 0 (off) or a positive number of seconds" })
      .max(604800, { error: "must be at most 604800 seconds (a week)" }),
    `${description} 0 turns it off.`,
  );
const stringMap = (description: string) => described(z.record(z.string(), z.string()), description);
const freeForm = (description: string) => described(z.record(z.string(), z.unknown()), description);
const duration = (description: string) =>
  described(
    z.string().regex(new RegExp(DURATION_PATTERN), { error: "must be a Prometheus duration such as 30s, 5m or 1h" }),
    description,
  );

const Image = strictObject(
  {
    repository: described(
      z.string().min(1).regex(/^\S+$/, { error: "must be an image repository without spaces" }),
      "Image repository.",
    ),
    tag: described(
      z.string().regex(/^([\w][\w.-]{0,127})?$/, { error: "must be an image tag" }),
      "Image tag; empty means the chart's appVersion.",
    ),
  },
  "A container image.",
);

const Resources = strictObject(
  {
    requests: described(z.record(z.string(), quantity("A resource quantity.")), "Resource requests."),
    limits: described(z.record(z.string(), quantity("A resource quantity.")), "Resource limits."),
  },
  "Container resources.",
);

// Probe timing only: the handler (path, port) is the chart's, the timing is the cluster's
// business (the devcluster's values probe every second; a loaded node may want slower).
const ProbeTiming = (description: string) =>
  strictObject(
    {
      initialDelaySeconds: described(
        z.int().min(0).max(3600),
        "Seconds after the start before the first probe.",
      ).optional(),
      periodSeconds: described(z.int().min(1).max(3600), "Seconds between probes.").optional(),
      timeoutSeconds: described(z.int().min(1).max(3600), "Seconds a probe may take.").optional(),
      failureThreshold: described(z.int().min(1).max(1000), "Failures in a row that count as failed.").optional(),
    },
    description,
  );

function component(name: string, extra: Record<string, z.ZodType> = {}) {
  return strictObject(
    {
      ...extra,
      replicas: described(
        z.int().min(1).max(10),
        `Replicas of the ${name}; they elect a leader through a Lease, so more than one is safe.`,
      ),
      logLevel: described(z.enum(["fatal", "error", "warn", "info", "debug", "trace"]), "pino log level."),
      resources: Resources,
      probes: strictObject(
        {
          liveness: ProbeTiming("Timing of the liveness probe (GET /healthz on the metrics port)."),
          readiness: ProbeTiming("Timing of the readiness probe (GET /readyz on the metrics port)."),
        },
        "Probe timing of the container.",
      ),
      nodeSelector: stringMap("Node selector of the pods."),
      tolerations: described(z.array(z.record(z.string(), z.unknown())), "Tolerations of the pods."),
      affinity: freeForm("Affinity of the pods; empty spreads replicas over nodes (preferred anti-affinity)."),
      priorityClassName: described(z.string(), "Priority class of the pods; empty for none."),
      podAnnotations: stringMap("Extra annotations on the pods."),
      podLabels: stringMap("Extra labels on the pods."),
      extraEnv: described(
        z.array(
          strictObject(
            { name: described(z.string().min(1), "Variable name."), value: described(z.string(), "Value.") },
            "An environment variable.",
          ),
        ),
        'Extra environment variables of the container, e.g. [{name: STATUS_MIN_INTERVAL_SECONDS, value: "2"}].',
      ),
    },
    `The ${name} Deployment.`,
  );
}

const Queue = strictObject(
  {
    name: dnsLabel("Queue name, as TrainingRuns name it in spec.queue."),
    gpuQuota: described(
      z.int().min(0),
      "GPUs the queue's runs may hold at once; leave the key out for no quota.",
    ).optional(),
  },
  "An admission queue.",
);

const Toleration = strictObject(
  {
    key: described(z.string(), "Taint key.").optional(),
    operator: described(z.enum(["Exists", "Equal"]), "Toleration operator."),
    value: described(z.string(), "Taint value.").optional(),
    effect: described(z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]), "Taint effect.").optional(),
  },
  "A toleration that training pods get besides the nvidia.com/gpu one.",
);

const Nats = strictObject(
  {
    embedded: strictObject(
      {
        enabled: described(
          z.boolean(),
          "Run a single-node NATS server with JetStream (file storage on a PVC) in the release.",
        ),
        image: Image,
        storage: strictObject(
          {
            size: quantity("Size of the JetStream PersistentVolumeClaim."),
            storageClassName: described(z.string(), "Storage class of the PVC; empty for the cluster default."),
          },
          "JetStream storage.",
        ),
        maxFileStore: quantity("JetStream max_file_store; keep it below storage.size."),
        maxMemoryStore: quantity("JetStream max_memory_store."),
        resources: Resources,
        probes: strictObject(
          {
            startup: ProbeTiming("Timing of the startup probe (/healthz with monitoring on, else the client port)."),
            liveness: ProbeTiming("Timing of the liveness probe."),
            readiness: ProbeTiming("Timing of the readiness probe."),
          },
          "Probe timing of the NATS container.",
        ),
        monitoring: strictObject(
          {
            enabled: described(
              z.boolean(),
              "Open the NATS monitoring port 8222 (connz, varz: every connection's user and subjects); closed by default.",
            ),
          },
          "The NATS monitoring endpoint.",
        ),
      },
      "The in-chart NATS server (the official NATS chart cannot be vendored offline; see the README).",
    ),
    url: described(
      z
        .string()
        .regex(new RegExp(`${NATS_URL_PATTERN}|^$`), { error: "must be a NATS URL such as nats://nats.example:4222" }),
      "URL of an external NATS server with JetStream; required when nats.embedded.enabled is false, ignored otherwise.",
    ),
    auth: strictObject(
      {
        enabled: described(
          z.boolean(),
          "Decentralized JWT auth: a NATS user per service and per fold attempt, each limited to its own subjects.",
        ),
        existingSecret: described(
          z
            .string()
            .max(253)
            .regex(new RegExp(`^(${DNS_SUBDOMAIN_PATTERN.slice(1, -1)})?$`), {
              error: "must be a Secret name (a DNS-1123 subdomain) or empty",
            }),
          "Secret in the release namespace with the NATS auth material (auth.conf, operator.creds, early-stop.creds, export.creds: the read-only user for kubectl nnunet curves export, account-signing.nk, account.pub); empty: a pre-install hook Job generates it once and keeps it across upgrades.",
        ),
      },
      "NATS authentication (see the README's threat model).",
    ),
    tls: strictObject(
      {
        enabled: described(
          z.boolean(),
          "NATS speaks TLS: the in-chart server serves the Secret's certificate, and every client verifies it with the Secret's ca.crt.",
        ),
        secretName: described(
          z
            .string()
            .max(253)
            .regex(new RegExp(`^(${DNS_SUBDOMAIN_PATTERN.slice(1, -1)})?$`), {
              error: "must be a Secret name (a DNS-1123 subdomain) or empty",
            }),
          "A kubernetes.io/tls Secret in the release namespace with tls.crt, tls.key and ca.crt (e.g. from cert-manager).",
        ),
      },
      "TLS between NATS and its clients.",
    ),
    credsSecret: strictObject(
      {
        name: described(
          z
            .string()
            .max(253)
            .regex(new RegExp(`^(${DNS_SUBDOMAIN_PATTERN.slice(1, -1)})?$`), {
              error: "must be a Secret name (a DNS-1123 subdomain) or empty",
            }),
          "Secret with a NATS credentials file; empty for none. It must exist in the release namespace (early-stop) and in every namespace that runs TrainingRuns (reporter).",
        ),
        key: described(z.string().min(1), "Key of the credentials file in the Secret."),
      },
      "NATS credentials, mounted as a Secret volume (the services get no Secrets API access).",
    ),
  },
  "NATS with JetStream, which carries per-epoch metrics from the reporter to early-stop.",
)
  .superRefine((nats, ctx) => {
    if (!nats.embedded.enabled && nats.url === "")
      ctx.addIssue({ code: "custom", path: ["url"], message: "is required when nats.embedded.enabled is false" });
    if (nats.auth.enabled && nats.credsSecret.name !== "")
      ctx.addIssue({
        code: "custom",
        path: ["credsSecret", "name"],
        message:
          "must be empty when nats.auth.enabled is true (each fold gets its own credential); set nats.auth.enabled false to use one shared credential",
      });
    if (nats.tls.enabled && nats.tls.secretName === "")
      ctx.addIssue({
        code: "custom",
        path: ["tls", "secretName"],
        message: "is required when nats.tls.enabled is true",
      });
  })
  // The same rule for Helm: JSON Schema's if/then, written through meta since zod has no such node.
  .meta({
    if: { properties: { embedded: { properties: { enabled: { const: false } } } } },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then
    then: { properties: { url: { minLength: 1, pattern: NATS_URL_PATTERN } } },
  });

const Alerts = strictObject(
  {
    foldStalledFor: duration("How long nnunet_fold_stalled must stay 1 before NnunetFoldStalled fires."),
    componentDownFor: duration(
      "How long no operator (or early-stop) target may be up before NnunetOperatorDown (NnunetEarlyStopDown) fires.",
    ),
    reconcileErrorRatio: described(
      z.number().gt(0).max(1),
      "Fraction of reconcile passes ending in an error above which NnunetReconcileErrorsHigh fires.",
    ),
    reconcileErrorsFor: duration("How long the error ratio must stay high."),
    queueWaitSeconds: described(
      z.number().positive(),
      "90th percentile of the queue wait (seconds) above which NnunetQueueWaitHigh fires.",
    ),
    queueStuckFor: duration("How long folds may wait in a queue that admits nothing before NnunetQueueStuck fires."),
    auditLossBudget: described(
      z.number().gt(0).max(1),
      "Mean best EMA pseudo Dice the recent audited stops may give up before NnunetAuditedLossAboveBudget fires (the policies' budget: 0.002).",
    ),
    auditWindow: duration("How far back the audits NnunetAuditedLossAboveBudget averages over reach."),
    auditMinFolds: described(
      z.int().min(1),
      "Audited folds the window must hold before NnunetAuditedLossAboveBudget may fire (one fold's loss says little).",
    ),
  },
  "Alert thresholds.",
);

export const ChartValues = strictObject(
  {
    nameOverride: described(z.string().max(40), "Replaces the chart name in object names."),
    fullnameOverride: described(z.string().max(40), "Replaces the release-derived prefix of object names."),
    commonLabels: stringMap("Labels added to every object."),
    imagePullSecrets: described(
      z.array(strictObject({ name: dnsSubdomain("Secret name.") }, "A pull secret.")),
      "Pull secrets of the operator, early-stop and NATS pods.",
    ),
    images: strictObject(
      {
        operator: Image,
        earlyStop: Image,
        reporter: Image,
        training: Image,
        pullPolicy: described(
          z.enum(["Always", "IfNotPresent", "Never"]),
          "Pull policy of every image, training pods included.",
        ),
      },
      "Images: the two Deployments', and the defaults the operator puts into training pods (a TrainingRun may override the training image).",
    ),
    operator: component("operator"),
    earlyStop: component("early-stop controller", {
      auditFraction: described(
        z.number().min(0).max(1),
        "Share of otherwise enforced folds audited: the would-be stop is recorded on the fold's Job and the fold trains its full schedule, so its status shows what the stop would have cost. A deterministic sample (a hash of the run's uid and the fold). 0 audits none; runs can ask for Audit themselves (spec.schedule.earlyStop.mode).",
      ),
      purgeSweepMinutes: described(
        z.int().min(1).max(10080),
        "How often the leader looks for stored epochs of TrainingRuns that no longer exist and purges them (a deletion it saw is purged at once).",
      ),
    }),
    queues: described(z.array(Queue).min(1), "Admission queues with optional GPU quotas."),
    gpu: strictObject(
      {
        productLabel: described(
          z.string().max(316).regex(LABEL_KEY, { error: "must be a label key such as nvidia.com/gpu.product" }),
          "Node label naming the GPU product (GPU feature discovery).",
        ),
        acceptedProducts: described(
          z.array(z.string().max(63).regex(LABEL_VALUE, { error: "must be a label value such as NVIDIA-L40S" })).min(1),
          "GPU products offered to TrainingRuns; a run asking for another waits with a condition.",
        ),
        extraTolerations: described(
          z.array(Toleration),
          "Taints, besides nvidia.com/gpu, that training pods tolerate.",
        ),
      },
      "GPU nodes.",
    ),
    calibration: strictObject(
      {
        retryLimit: described(
          z.int().min(0).max(10),
          "Pod retries of a calibration Job before the run falls back to the plans' batch size.",
        ),
        backend: described(
          z.enum(["torch", "simulated"]),
          "Calibrator backend; simulated is for clusters without GPUs (tests, demos).",
        ),
        cacheConfigMap: dnsLabel("ConfigMap, in each run's namespace, that caches calibration results."),
      },
      "The batch-size calibration pre-job.",
    ),
    restartBackoff: strictObject(
      {
        initialSeconds: described(z.number().min(0), "First wait before a failed fold is restarted."),
        maxSeconds: described(z.number().min(0), "Longest wait between restarts."),
      },
      "Backoff between restarts of a failed fold.",
    ),
    startTimeouts: strictObject(
      {
        unschedulableSeconds: startTimeout(
          "A pod the scheduler cannot place fails its attempt after this many seconds (retried as a restart).",
        ),
        imagePullSeconds: startTimeout(
          "A pod whose image cannot be pulled fails its attempt after this many seconds; an image that does not exist or may not be pulled fails the run.",
        ),
        containerConfigSeconds: startTimeout(
          "A pod in CreateContainerConfigError fails its attempt after this many seconds (retried as a restart).",
        ),
        firstEpochSeconds: startTimeout(
          "A training attempt without its first epoch this many seconds after its pod started is restarted as a stalled one.",
        ),
      },
      "How long an operator-built pod may fail to start before its attempt fails and its GPUs are freed; 0 turns a limit off.",
    ),
    webhook: strictObject(
      {
        failurePolicy: described(
          z.enum(["Fail", "Ignore"]),
          "What the API server does when the webhook cannot be reached.",
        ),
        timeoutSeconds: described(z.int().min(1).max(30), "Webhook call timeout."),
        certManager: strictObject(
          {
            enabled: described(
              z.boolean(),
              "Use cert-manager for the webhook's serving certificate (CA injected by cainjector).",
            ),
            issuerRef: strictObject(
              {
                name: described(
                  z.string(),
                  "Existing issuer; empty creates a self-signed Issuer in the release namespace.",
                ),
                kind: described(z.enum(["Issuer", "ClusterIssuer"]), "Kind of the existing issuer."),
                group: described(z.string(), "API group of the existing issuer."),
              },
              "Issuer of the serving certificate.",
            ),
          },
          "cert-manager integration.",
        ),
        generatedCertValidityDays: described(
          z.int().min(1).max(36500),
          "Validity of the CA and certificate the chart generates when cert-manager is off; kept across upgrades.",
        ),
      },
      "The validating admission webhook for TrainingRuns.",
    ),
    nats: Nats,
    monitoring: strictObject(
      {
        enabled: described(
          z.boolean(),
          "Render a ServiceMonitor and a PrometheusRule (needs the prometheus-operator CRDs).",
        ),
        labels: stringMap("Labels on the ServiceMonitor and PrometheusRule, for the Prometheus selectors."),
        interval: duration("Scrape interval."),
        alerts: Alerts,
      },
      "Prometheus Operator objects.",
    ),
    grafanaDashboard: strictObject(
      {
        enabled: described(z.boolean(), "Render the Grafana dashboard as a ConfigMap for Grafana's sidecar."),
        labels: stringMap("Labels the Grafana sidecar selects on."),
        annotations: stringMap("Annotations on the ConfigMap, such as grafana_folder."),
      },
      "The Grafana dashboard.",
    ),
    podDisruptionBudget: strictObject(
      { enabled: described(z.boolean(), "PodDisruptionBudgets (maxUnavailable 1) for the operator and early-stop.") },
      "PodDisruptionBudgets.",
    ),
    policy: strictObject(
      {
        allowedImages: described(
          z.array(z.string().min(1).regex(/^\S+$/, { error: "must be an image reference or a prefix ending in *" })),
          "Images a TrainingRun's spec.image may name besides images.training: exact references or prefixes ending in *.",
        ),
        allowedPriorityClasses: described(
          z.array(z.string().min(1).max(253)),
          "PriorityClasses a TrainingRun's spec.priorityClassName may name; empty: none.",
        ),
      },
      "What TrainingRun authors may choose for the pods the operator builds (the webhook refuses anything else).",
    ),
    watchNamespaces: described(
      z.array(dnsLabel("A namespace whose TrainingRuns the operator and early-stop serve.")),
      "Namespaces the operator and early-stop serve: Roles and RoleBindings there instead of ClusterRoles for what a run owns, their informers, the webhook and the NATS NetworkPolicy limited to them. Each must exist. Empty: every namespace.",
    ),
    networkPolicy: strictObject(
      {
        enabled: described(z.boolean(), "NetworkPolicies limiting ingress to the operator, early-stop and NATS pods."),
        metricsFrom: described(
          z.array(z.record(z.string(), z.unknown())),
          "NetworkPolicy peers allowed to scrape the metrics ports (default: pods in the namespace named monitoring); empty allows all.",
        ),
      },
      "NetworkPolicies.",
    ),
  },
  "Values of the nnunet-operator Helm chart.",
).superRefine((values, ctx) => {
  const seen = new Set<string>();
  values.queues.forEach((queue, i) => {
    if (seen.has(queue.name))
      ctx.addIssue({ code: "custom", path: ["queues", i, "name"], message: `queue "${queue.name}" is listed twice` });
    seen.add(queue.name);
  });
  const watched = new Set<string>();
  values.watchNamespaces.forEach((ns, i) => {
    if (watched.has(ns))
      ctx.addIssue({ code: "custom", path: ["watchNamespaces", i], message: `namespace "${ns}" is listed twice` });
    watched.add(ns);
  });
  if (values.restartBackoff.maxSeconds < values.restartBackoff.initialSeconds)
    ctx.addIssue({
      code: "custom",
      path: ["restartBackoff", "maxSeconds"],
      message: "must be at least restartBackoff.initialSeconds",
    });
});
export type ChartValues = z.infer<typeof ChartValues>;

/** values.schema.json: draft-07, which every Helm 3 release understands. */
export function chartValuesJsonSchema(): Record<string, unknown> {
  const json = z.toJSONSchema(ChartValues, {
    target: "draft-7",
    io: "input",
    reused: "inline",
    unrepresentable: "throw",
  }) as Record<string, unknown>;
  return {
    $comment: "Generated by packages/api/scripts/gen-crd.ts from packages/api/src/chart-values.ts. Do not edit.",
    title: "nnunet-operator chart values",
    ...json,
  };
}
