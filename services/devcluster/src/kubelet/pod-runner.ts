import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { KubeObject } from "../api/resources.js";
import type { Recorder } from "../sim/recorder.js";
import { resolveCommand, type ImageMap, type Placeholders } from "./image-map.js";
import { podDir, prepareVolumes, type Lookups, type MountEntry, type VolumeMount } from "./paths.js";
import { probeContainer, type ProbedContainer } from "./container-probes.js";
import {
  prepareContainer,
  terminationMessage,
  usesVolumeSource,
  type PreparedContainer,
  type ResolvedCommand,
} from "./container-start.js";
import type { ContainerRole, ContainerView, PodView } from "./pod-status.js";

// One pod's containers as local processes: volumes, then init containers in order (native
// sidecars started and left running), then the main containers together; when they are
// done the sidecars get SIGTERM in reverse order. Deletion sends SIGTERM and SIGKILL at the
// end of the grace period. Each process has its own process group (so a shell's children
// die with it) and writes stdout and stderr straight into its log file (no piping through
// the kubelet). Exit codes and termination messages become container states.

export interface RunnerDeps {
  dataRoot: string;
  imageMap: ImageMap;
  placeholders: Placeholders;
  lookups: Lookups;
  baseEnv: Record<string, string>;
  recorder: Recorder;
  /** The pod's IP (probes dial it; the pod shim binds it). */
  podIp: string;
  /** Mounts every container gets besides its volumeMounts (the ServiceAccount token folder). */
  extraMounts: MountEntry[];
  /** The node's allocatable resources (resourceFieldRef without a limit). */
  allocatable: Record<string, string>;
  now(): string;
  /** Called whenever the view changed (the kubelet coalesces status writes). */
  changed(): void;
}

interface ContainerSpec extends ProbedContainer {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: [];
  envFrom?: [];
  workingDir?: string;
  volumeMounts?: VolumeMount[];
  restartPolicy?: string;
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
  terminationMessagePath?: string;
  terminationMessagePolicy?: string;
}

interface Slot extends ContainerView {
  spec: ContainerSpec;
  proc: ChildProcess | undefined;
  exited: Promise<number> | undefined;
  stopProbes?: () => void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());
const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

export class PodRunner {
  readonly view: PodView;
  private readonly slots: Slot[];
  private volumes = new Map<string, string>();
  private terminating = false;
  private lost = false;
  private readonly dir: string;
  private readonly spec: { restartPolicy?: string; terminationGracePeriodSeconds?: number };
  readonly done: Promise<void>;

  constructor(
    private readonly pod: KubeObject,
    private readonly deps: RunnerDeps,
  ) {
    this.spec = pod["spec"] as typeof this.spec;
    this.dir = podDir(deps.dataRoot, pod.metadata.uid!);
    const spec = pod["spec"] as { initContainers?: ContainerSpec[]; containers?: ContainerSpec[] };
    const slot = (c: ContainerSpec, role: ContainerRole): Slot => ({
      name: c.name,
      image: c.image,
      role,
      spec: c,
      state: { waiting: { reason: "PodInitializing" } },
      lastState: undefined,
      restartCount: 0,
      pid: undefined,
      proc: undefined,
      exited: undefined,
    });
    this.slots = [
      ...(spec.initContainers ?? []).map((c) => slot(c, c.restartPolicy === "Always" ? "sidecar" : "init")),
      ...(spec.containers ?? []).map((c) => slot(c, "main")),
    ];
    for (const s of this.slots)
      if (s.role === "main" || !spec.initContainers?.length)
        s.state = { waiting: { reason: spec.initContainers?.length ? "PodInitializing" : "ContainerCreating" } };
    this.view = {
      containers: this.slots,
      volumesReady: false,
      initialized: false,
      finished: false,
      startTime: deps.now(),
      podIp: deps.podIp,
    };
    this.done = this.run();
  }

  logPath(container: string, restart: number): string {
    return join(this.dir, "logs", container, `${restart}.log`);
  }

  containerNames(): { init: string[]; main: string[] } {
    return {
      init: this.slots.filter((s) => s.role !== "main").map((s) => s.name),
      main: this.slots.filter((s) => s.role === "main").map((s) => s.name),
    };
  }

  slot(name: string): ContainerView | undefined {
    return this.slots.find((s) => s.name === name);
  }

  /** Graceful stop: SIGTERM now, SIGKILL when the grace period ends. */
  terminate(graceSeconds: number): void {
    if (this.terminating) return;
    this.terminating = true;
    const deadline = Date.now() + graceSeconds * 1000;
    void (async () => {
      const workers = this.slots.filter((s) => s.role !== "sidecar" && s.proc);
      for (const s of workers) {
        this.deps.recorder.event(this.pod, "Normal", "Killing", `Stopping container ${s.name}`);
        this.signal(s, "SIGTERM");
      }
      await Promise.race([Promise.all(workers.map((s) => s.exited)), sleep(Math.max(0, deadline - Date.now()))]);
      await this.stopSidecars(deadline);
      for (const s of this.slots) if (s.proc) this.signal(s, "SIGKILL");
    })();
  }

  usesVolumeSource(kind: "configMap" | "secret", namespace: string, name: string): boolean {
    return usesVolumeSource(this.pod, kind, namespace, name);
  }

  /** A ConfigMap or Secret changed: its files are written again (what the kubelet's periodic volume sync does). */
  refreshVolumes(): void {
    if (!this.view.volumesReady || this.terminating) return;
    try {
      prepareVolumes(this.pod, this.deps.dataRoot, this.deps.lookups);
    } catch {
      // A volume whose source is gone keeps its last files, as on a real node.
    }
  }

  /** The node is gone: processes die with it and nothing more is reported. */
  kill(): void {
    this.lost = true;
    this.terminating = true;
    for (const s of this.slots) if (s.proc) this.signal(s, "SIGKILL");
  }

  /** SIGTERM goes to the container's main process only (PID 1 in a real container); SIGKILL to its whole process group. */
  private signal(s: Slot, sig: NodeJS.Signals): void {
    const pid = s.proc?.pid;
    if (!pid) return;
    try {
      process.kill(sig === "SIGKILL" ? -pid : pid, sig);
    } catch {
      // Already gone.
    }
  }

  private set(s: Slot, state: ContainerView["state"]): void {
    s.state = state;
    if (!this.lost) this.deps.changed();
  }

  private async run(): Promise<void> {
    while (!this.terminating) {
      try {
        this.volumes = prepareVolumes(this.pod, this.deps.dataRoot, this.deps.lookups);
        break;
      } catch (error) {
        this.deps.recorder.event(
          this.pod,
          "Warning",
          "FailedMount",
          error instanceof Error ? error.message : String(error),
        );
        await sleep(1000);
      }
    }
    this.view.volumesReady = true;
    this.deps.changed();
    const restartAll = this.spec.restartPolicy === "Always";
    const restartFailed = restartAll || this.spec.restartPolicy === "OnFailure";
    for (const s of this.slots.filter((x) => x.role !== "main")) {
      if (this.terminating) break;
      if (s.role === "sidecar") {
        void this.supervise(s, true, true);
        continue;
      }
      const code = await this.supervise(s, restartFailed, false);
      if (code !== 0) return this.finish();
    }
    if (this.terminating) return this.finish();
    this.view.initialized = true;
    await Promise.all(
      this.slots.filter((s) => s.role === "main").map((s) => this.supervise(s, restartFailed, restartAll)),
    );
    await this.stopSidecars(Date.now() + (this.spec.terminationGracePeriodSeconds ?? 30) * 1000);
    return this.finish();
  }

  private async stopSidecars(deadline: number): Promise<void> {
    this.terminatingSidecars = true;
    for (const s of this.slots.filter((x) => x.role === "sidecar").reverse()) {
      if (!s.proc) continue;
      this.signal(s, "SIGTERM");
      await Promise.race([s.exited, sleep(Math.max(0, deadline - Date.now()))]);
      if (s.proc) this.signal(s, "SIGKILL");
      await s.exited;
    }
  }

  private terminatingSidecars = false;

  private async finish(): Promise<void> {
    for (const s of this.slots) if (s.proc) this.signal(s, "SIGKILL");
    await Promise.all(this.slots.map((s) => s.exited));
    for (const s of this.slots)
      if ("waiting" in s.state)
        s.state = {
          terminated: {
            exitCode: 137,
            reason: "ContainerStatusUnknown",
            message: "The container could not be located when the pod was terminated",
            finishedAt: this.deps.now(),
          },
        };
    this.view.finished = true;
    if (!this.lost) this.deps.changed();
  }

  /** Runs a container until it may not restart again; returns its last exit code. */
  private async supervise(s: Slot, restartOnFailure: boolean, restartOnSuccess: boolean): Promise<number> {
    for (;;) {
      const code = await this.runOnce(s);
      const stop = this.terminating || (s.role === "sidecar" && this.terminatingSidecars);
      if (stop || (code === 0 ? !restartOnSuccess : !restartOnFailure) || code === -1) return code;
      await sleep(Math.min(10_000, 500 * 2 ** Math.min(s.restartCount, 5)));
      if (this.terminating) return code;
      s.lastState = s.state;
      s.restartCount++;
    }
  }

  private async runOnce(s: Slot): Promise<number> {
    const c = s.spec;
    const r = resolveCommand(this.deps.imageMap, c.image, c.command, c.args, this.deps.placeholders);
    if (r.kind === "pull") {
      this.set(s, { waiting: { reason: "ErrImagePull", message: r.message } });
      this.deps.recorder.event(this.pod, "Warning", "Failed", `Failed to pull image "${c.image}": ${r.message}`);
      this.deps.recorder.event(this.pod, "Warning", "Failed", "Error: ErrImagePull");
      await sleep(1000);
      if (!this.terminating) {
        this.set(s, {
          waiting: {
            reason: "ImagePullBackOff",
            message: `Back-off pulling image "${c.image}": ErrImagePull: ${r.message}`,
          },
        });
        this.deps.recorder.event(this.pod, "Normal", "BackOff", `Back-off pulling image "${c.image}"`);
      }
      while (!this.terminating) await sleep(200);
      return -1;
    }
    const started = this.deps.now();
    const msgFile = join(this.dir, "termination", c.name);
    mkdirSync(join(this.dir, "termination"), { recursive: true });
    writeFileSync(msgFile, "");
    const logFile = this.logPath(c.name, s.restartCount);
    mkdirSync(join(logFile, ".."), { recursive: true });
    if (r.kind === "exec") {
      writeFileSync(logFile, "");
      this.set(s, {
        terminated: {
          exitCode: 128,
          reason: "StartError",
          message: r.message,
          startedAt: "1970-01-01T00:00:00Z",
          finishedAt: started,
        },
      });
      this.deps.recorder.event(this.pod, "Warning", "Failed", `Error: ${r.message}`);
      return 128;
    }
    let prepared: { env: Record<string, string>; argv: string[]; cwd: string };
    try {
      prepared = this.prepare(c, r, msgFile);
    } catch (error) {
      // A missing ConfigMap key, an undefined volume: the kubelet keeps retrying, as a real one does.
      const message = error instanceof Error ? error.message : String(error);
      this.set(s, { waiting: { reason: "CreateContainerConfigError", message } });
      this.deps.recorder.event(this.pod, "Warning", "Failed", `Error: ${message}`);
      await sleep(1000);
      return this.terminating ? -1 : this.runOnce(s);
    }
    const { env, argv, cwd } = prepared;
    const fd = openSync(logFile, "a");
    let proc: ChildProcess;
    try {
      proc = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ["ignore", fd, fd], detached: true });
    } finally {
      closeSync(fd);
    }
    s.proc = proc;
    s.pid = proc.pid;
    s.exited = new Promise<number>((resolve) => {
      let settled = false;
      const end = (code: number, reason: string, message?: string) => {
        if (settled) return;
        settled = true;
        s.proc = undefined;
        s.stopProbes?.();
        s.probes = undefined;
        const text = message ?? terminationMessage(c, msgFile, logFile, code);
        this.set(s, {
          terminated: {
            exitCode: code,
            reason,
            ...(text ? { message: text } : {}),
            startedAt: started,
            finishedAt: this.deps.now(),
          },
        });
        resolve(code);
      };
      proc.once("error", (e) => end(128, "StartError", e.message));
      proc.once("exit", (code, signal) => {
        // The container is gone once its main process is: orphans in its group go with it.
        try {
          if (proc.pid) process.kill(-proc.pid, "SIGKILL");
        } catch {
          // No process left in the group.
        }
        const n = code ?? 128 + (signal ? (SIGNALS[signal] ?? 9) : 9);
        end(n, n === 0 ? "Completed" : "Error");
      });
    });
    if (proc.pid !== undefined) {
      const probes = probeContainer(c, {
        pod: this.pod,
        podIp: this.deps.podIp,
        recorder: this.deps.recorder,
        execArgv: (command) => this.execArgv(c, command, msgFile),
        changed: () => this.deps.changed(),
        kill: (reason) => this.restartContainer(s, proc, reason),
        sleep,
      });
      s.probes = probes.state;
      s.stopProbes = probes.stop;
      this.set(s, { running: { startedAt: started } });
      this.deps.recorder.event(this.pod, "Normal", "Created", `Created container: ${c.name}`);
      this.deps.recorder.event(this.pod, "Normal", "Started", `Started container ${c.name}`);
    }
    return s.exited;
  }

  /** Liveness or startup failed: SIGTERM, SIGKILL after the grace period; supervise restarts it. */
  private restartContainer(s: Slot, proc: ChildProcess, reason: string): void {
    if (s.proc !== proc) return;
    this.deps.recorder.event(this.pod, "Normal", "Killing", reason);
    this.signal(s, "SIGTERM");
    const t = setTimeout(
      () => s.proc === proc && this.signal(s, "SIGKILL"),
      (this.spec.terminationGracePeriodSeconds ?? 30) * 1000,
    );
    t.unref();
  }

  /** argv, env and cwd for an exec probe's command, resolved through the image map like the container's own. */
  private execArgv(
    c: ContainerSpec,
    command: string[],
    msgFile: string,
  ): { argv: string[]; env: Record<string, string>; cwd: string } | { error: string } {
    const r = resolveCommand(this.deps.imageMap, c.image, command, undefined, this.deps.placeholders);
    if (r.kind !== "ok") return { error: r.message };
    try {
      return this.prepare(c, r, msgFile);
    } catch (error) {
      return { error: error instanceof Error ? error.message : String(error) };
    }
  }

  private prepare(c: ContainerSpec, r: ResolvedCommand, msgFile: string): PreparedContainer {
    return prepareContainer(this.pod, c, r, msgFile, {
      volumes: this.volumes,
      podFolder: this.dir,
      baseEnv: this.deps.baseEnv,
      extraMounts: this.deps.extraMounts,
      lookups: this.deps.lookups,
      podIp: this.deps.podIp,
      allocatable: this.deps.allocatable,
    });
  }
}
