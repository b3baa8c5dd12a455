import type { OperatorConfig } from "./config.js";
import Fastify, { type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { BadAdmissionReviewError } from "./webhook/admission-review.js";
import { validateTrainingRunReview } from "./webhook/validate-trainingrun.js";

// The operator's HTTP surface, built separately from listen() so tests drive it with
// inject(): /metrics, /healthz, /readyz (the metrics port, plain HTTP) and the validating
// webhook /validate-trainingrun (the webhook port, TLS in production). main.ts builds one
// server per port from the same function; a test may build one with both.

export interface ServerDeps {
  registry: Registry;
  /** Liveness: the process is not wedged (the event loop answers). */
  live?: () => boolean;
  /** Readiness: every informer has listed once. */
  ready: () => boolean;
  /** Refreshes gauges computed from the caches, before a scrape. */
  beforeScrape?: () => void;
  /** Queues the configuration defines: an unknown queue gets a warning from the webhook. */
  queues?: readonly string[];
  /** The operator's configuration: the webhook refuses images and priority classes it does not allow. */
  config?: OperatorConfig;
  logger?: Logger;
  /** Which routes to serve; both by default. */
  serve?: { metrics?: boolean; webhook?: boolean };
  /** TLS for the webhook port: PEM certificate and key. */
  https?: { cert: string | Buffer; key: string | Buffer };
}

export function buildServer(deps: ServerDeps): FastifyInstance {
  const app = Fastify({
    // Request logs (info) would log every probe and scrape: only warnings and errors.
    ...(deps.logger
      ? { loggerInstance: deps.logger.child({ component: "http" }, { level: "warn" }) }
      : { logger: false }),
    ...(deps.https ? { https: { cert: deps.https.cert, key: deps.https.key } } : {}),
    // AdmissionReviews of a TrainingRun are small; the API server sends at most a few MB.
    bodyLimit: 4 * 1024 * 1024,
  }) as unknown as FastifyInstance;
  const serve = { metrics: deps.serve?.metrics ?? true, webhook: deps.serve?.webhook ?? true };

  if (serve.metrics) {
    app.get("/metrics", async (_req, reply) => {
      deps.beforeScrape?.();
      const body = await deps.registry.metrics();
      return reply.type(deps.registry.contentType).send(body);
    });
    app.get("/healthz", async (_req, reply) =>
      (deps.live?.() ?? true) ? reply.send({ status: "ok" }) : reply.code(503).send({ status: "unhealthy" }),
    );
    app.get("/readyz", async (_req, reply) =>
      deps.ready()
        ? reply.send({ status: "ready" })
        : reply.code(503).send({ status: "not ready", reason: "informer caches not synced" }),
    );
  }

  if (serve.webhook) {
    app.post("/validate-trainingrun", async (req, reply) => {
      try {
        return reply.send(
          validateTrainingRunReview(req.body, {
            ...(deps.queues ? { queues: deps.queues } : {}),
            ...(deps.config ? { config: deps.config } : {}),
          }),
        );
      } catch (err) {
        if (err instanceof BadAdmissionReviewError)
          return reply.code(400).send({ code: err.code, message: err.message });
        throw err;
      }
    });
  }

  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) deps.logger?.error({ err }, "request failed");
    return reply.code(status).send({ code: err.code ?? "INTERNAL", message: err.message });
  });
  return app;
}
