import Fastify, { type FastifyInstance } from "fastify";
import type { Registry } from "prom-client";

// The HTTP surface of the controller: /metrics for Prometheus, /healthz (the process
// answers) and /readyz (NATS connected and the TrainingRun cache synced; a follower that
// does not lead is ready too, so a rollout never waits on leadership). buildServer is kept
// apart from listen so that tests use inject().

export interface ReadinessCheck {
  readonly name: string;
  readonly ok: () => boolean;
}

export interface ServerDeps {
  readonly registry: Registry;
  readonly readiness: readonly ReadinessCheck[];
  /** Extra facts for /readyz (leader or not). */
  readonly describe?: () => Record<string, unknown>;
}

export function buildServer(deps: ServerDeps): FastifyInstance {
  const app = Fastify({ logger: false });

  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async (_request, reply) => {
    const checks = Object.fromEntries(deps.readiness.map((c) => [c.name, safe(c.ok)]));
    const ready = Object.values(checks).every(Boolean);
    return reply.code(ready ? 200 : 503).send({ status: ready ? "ok" : "not ready", checks, ...deps.describe?.() });
  });

  app.get("/metrics", async (_request, reply) => {
    const body = await deps.registry.metrics();
    return reply.header("content-type", deps.registry.contentType).send(body);
  });

  app.setNotFoundHandler(async (request, reply) =>
    reply.code(404).send({ code: "NotFound", message: `no route ${request.method} ${request.url}` }),
  );

  return app;
}

function safe(check: () => boolean): boolean {
  try {
    return check();
  } catch {
    return false;
  }
}
