import { spawn } from "node:child_process";
import type { Recorder } from "../sim/recorder.js";
import type { KubeObject } from "../api/resources.js";
import { startProbe, type Probe, type ProbeTarget } from "./probes.js";

// A running container's probes wired to its state: startup first, then liveness and
// readiness. Readiness decides `ready` (no readiness probe: ready once started); a failed
// startup or liveness probe kills the container so that its restart policy restarts it
// (with the kubelet's back-off), as the real kubelet does.

export interface ProbedContainer {
  name: string;
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  ports?: { name?: string; containerPort: number }[];
}

export interface ProbeState {
  started: boolean;
  ready: boolean;
}

export interface ProbeHooks {
  pod: KubeObject;
  podIp: string;
  recorder: Recorder;
  /** The container's argv and env for an exec probe's command (image map resolution), or why it cannot run. */
  execArgv(command: string[]): { argv: string[]; env: Record<string, string>; cwd: string } | { error: string };
  changed(): void;
  /** Kill the container for a restart (liveness or startup failed). */
  kill(reason: string): void;
  sleep(ms: number): Promise<void>;
}

export function execIn(
  argv: string[],
  env: Record<string, string>,
  cwd: string,
  timeoutMs: number,
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    let output = "";
    const p = spawn(argv[0]!, argv.slice(1), { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.stdout.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-1024)));
    p.stderr.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-1024)));
    p.once("error", (e) => {
      clearTimeout(timer);
      resolve({ code: 126, output: e.message });
    });
    p.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 137 : 1), output });
    });
  });
}

/** Starts the container's probes; returns the state the pod status reads and a stop function. */
export function probeContainer(c: ProbedContainer, hooks: ProbeHooks): { state: ProbeState; stop: () => void } {
  const state: ProbeState = { started: !c.startupProbe, ready: !c.startupProbe && !c.readinessProbe };
  const stops: (() => void)[] = [];
  const target: ProbeTarget = {
    podIp: hooks.podIp,
    ports: c.ports ?? [],
    exec: async (command, timeoutMs) => {
      const r = hooks.execArgv(command);
      return "error" in r ? { code: 126, output: r.error } : execIn(r.argv, r.env, r.cwd, timeoutMs);
    },
  };
  const failed = (kind: string, message: string) =>
    hooks.recorder.event(hooks.pod, "Warning", "Unhealthy", `${kind} probe failed: ${message}`);
  const startMain = () => {
    if (c.livenessProbe) {
      stops.push(
        startProbe(
          "Liveness",
          c.livenessProbe,
          target,
          {
            failed,
            changed: (_k, passing) => {
              if (!passing) hooks.kill(`Container ${c.name} failed liveness probe, will be restarted`);
            },
          },
          hooks.sleep,
        ),
      );
    }
    if (c.readinessProbe) {
      stops.push(
        startProbe(
          "Readiness",
          c.readinessProbe,
          target,
          {
            failed,
            changed: (_k, passing) => {
              state.ready = passing;
              hooks.changed();
            },
          },
          hooks.sleep,
        ),
      );
    } else {
      state.ready = true;
      hooks.changed();
    }
  };
  if (c.startupProbe) {
    stops.push(
      startProbe(
        "Startup",
        c.startupProbe,
        target,
        {
          failed,
          changed: (_k, passing) => {
            if (!passing) return hooks.kill(`Container ${c.name} failed startup probe, will be restarted`);
            state.started = true;
            hooks.changed();
            startMain();
          },
        },
        hooks.sleep,
      ),
    );
  } else startMain();
  return { state, stop: () => stops.forEach((s) => s()) };
}
