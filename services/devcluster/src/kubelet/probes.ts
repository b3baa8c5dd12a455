import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";

// Container probes as the kubelet runs them: startup first (liveness and readiness wait
// for it), then liveness and readiness every periodSeconds after initialDelaySeconds, with
// timeoutSeconds, successThreshold and failureThreshold. httpGet (2xx/3xx succeed; HTTPS
// without verification, as the kubelet does), tcpSocket and exec. The probe targets the
// pod's own IP; a named port is looked up in the container's ports.

export interface Probe {
  httpGet?: {
    path?: string;
    port: number | string;
    host?: string;
    scheme?: string;
    httpHeaders?: { name: string; value: string }[];
  };
  tcpSocket?: { port: number | string; host?: string };
  exec?: { command?: string[] };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

export type ProbeKind = "Startup" | "Liveness" | "Readiness";
export type ProbeResult = { ok: true } | { ok: false; message: string };

export interface ProbeTarget {
  podIp: string;
  ports: { name?: string; containerPort: number }[];
  /** Runs an exec probe's command in the container; resolves with its exit code and output. */
  exec(command: string[], timeoutMs: number): Promise<{ code: number; output: string }>;
}

export function resolvePort(port: number | string, ports: ProbeTarget["ports"]): number | undefined {
  if (typeof port === "number") return port;
  if (/^\d+$/.test(port)) return Number(port);
  return ports.find((p) => p.name === port)?.containerPort;
}

export async function runProbe(p: Probe, t: ProbeTarget): Promise<ProbeResult> {
  const timeoutMs = (p.timeoutSeconds ?? 1) * 1000;
  if (p.exec) {
    const r = await t.exec(p.exec.command ?? [], timeoutMs);
    return r.code === 0
      ? { ok: true }
      : { ok: false, message: r.output.trim() || `command ${JSON.stringify(p.exec.command)} exited with ${r.code}` };
  }
  const spec = p.httpGet ?? p.tcpSocket;
  if (!spec) return { ok: false, message: "probe has no handler" };
  const port = resolvePort(spec.port, t.ports);
  if (port === undefined)
    return { ok: false, message: `couldn't find port ${String(spec.port)} in the container's ports` };
  const host = spec.host ?? t.podIp;
  if (p.tcpSocket) {
    return new Promise((resolve) => {
      const s = connect({ host, port, timeout: timeoutMs });
      s.once("connect", () => {
        s.destroy();
        resolve({ ok: true });
      });
      s.once("timeout", () => {
        s.destroy();
        resolve({ ok: false, message: `dial tcp ${host}:${port}: i/o timeout` });
      });
      s.once("error", (e) =>
        resolve({
          ok: false,
          message: `dial tcp ${host}:${port}: connect: ${(e as NodeJS.ErrnoException).code === "ECONNREFUSED" ? "connection refused" : e.message}`,
        }),
      );
    });
  }
  const g = p.httpGet!;
  const https = (g.scheme ?? "HTTP").toUpperCase() === "HTTPS";
  const url = `${https ? "https" : "http"}://${host}:${port}${g.path ?? "/"}`;
  return new Promise((resolve) => {
    const headers = Object.fromEntries((g.httpHeaders ?? []).map((h) => [h.name, h.value]));
    const req = (https ? httpsRequest : httpRequest)(
      url,
      {
        method: "GET",
        headers: { "user-agent": "kube-probe/1.32", ...headers },
        timeout: timeoutMs,
        ...(https ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(
          code >= 200 && code < 400
            ? { ok: true }
            : { ok: false, message: `HTTP probe failed with statuscode: ${code}` },
        );
      },
    );
    req.on("timeout", () =>
      req.destroy(
        new Error(`Get "${url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`),
      ),
    );
    req.on("error", (e: NodeJS.ErrnoException) =>
      resolve({
        ok: false,
        message:
          e.code === "ECONNREFUSED" ? `Get "${url}": dial tcp ${host}:${port}: connect: connection refused` : e.message,
      }),
    );
    req.end();
  });
}

export interface ProbeCallbacks {
  /** The probe's verdict changed (after its thresholds). */
  changed(kind: ProbeKind, passing: boolean): void;
  /** A single failed attempt (an Unhealthy event). */
  failed(kind: ProbeKind, message: string): void;
}

/**
 * Runs one probe until stopped: calls back when it crosses successThreshold or
 * failureThreshold. `sleep` is injected so tests can drive it.
 */
export function startProbe(
  kind: ProbeKind,
  p: Probe,
  t: ProbeTarget,
  cb: ProbeCallbacks,
  sleep: (ms: number) => Promise<void>,
): () => void {
  let stopped = false;
  void (async () => {
    await sleep((p.initialDelaySeconds ?? 0) * 1000);
    let successes = 0;
    let failures = 0;
    let passing: boolean | undefined;
    while (!stopped) {
      const r = await runProbe(p, t);
      if (stopped) return;
      if (r.ok) {
        failures = 0;
        successes++;
        if (passing !== true && successes >= (kind === "Readiness" ? (p.successThreshold ?? 1) : 1)) {
          passing = true;
          cb.changed(kind, true);
        }
      } else {
        successes = 0;
        failures++;
        cb.failed(kind, r.message);
        if (passing !== false && failures >= (p.failureThreshold ?? 3)) {
          passing = false;
          cb.changed(kind, false);
          failures = 0;
        }
      }
      // Startup stops probing once it passed; the others go on.
      if (kind === "Startup" && passing) return;
      await sleep((p.periodSeconds ?? 10) * 1000);
    }
  })();
  return () => {
    stopped = true;
  };
}
