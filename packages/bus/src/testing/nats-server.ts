import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type NatsAuthMaterial, serverAuthConfig } from "../auth.js";

// Starts a real nats-server with JetStream for integration tests: free ports, a temporary
// store, readiness checked on the monitoring port's /healthz (JetStream included), killed
// on stop() and when the test process exits. restart() keeps the port and the store, so a
// test can take the server away under a connected client and bring it back.

export interface NatsServerOptions {
  /** Path of the binary; default $NATS_SERVER_BIN, Debian's /usr/bin or /usr/sbin, else PATH. */
  binary?: string;
  jetstream?: boolean;
  /** Extra command line arguments. */
  args?: string[];
  /** Turns decentralized JWT auth on with these keys (testing/auth.ts makes them). */
  auth?: NatsAuthMaterial;
  /** How long start()/restart() wait for readiness. */
  readyTimeoutMs?: number;
}

export interface NatsServerHandle {
  url: string;
  port: number;
  monitorUrl: string;
  storeDir: string;
  /** The server's output so far, for failure messages. */
  logs(): string;
  stop(): Promise<void>;
  /** Stops the process (kill -9 when `hard`), then starts it again on the same port and store. */
  restart(options?: { hard?: boolean; downMs?: number }): Promise<void>;
}

export function natsServerBinary(): string {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv) return fromEnv;
  return ["/usr/bin/nats-server", "/usr/sbin/nats-server"].find((p) => existsSync(p)) ?? "nats-server";
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test that fails before stop(), or a runner that kills the test process, must not
  // leave a server behind.
  const killAll = (): void => {
    for (const child of live) child.kill("SIGKILL");
  };
  process.on("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    const onSignal = (): void => {
      killAll();
      // Let the signal do what it would have done without us.
      process.removeListener(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

async function waitReady(
  monitorUrl: string,
  child: ChildProcess,
  timeoutMs: number,
  logs: () => string,
  spawnError: () => Error | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const failed = spawnError();
    if (failed) throw new Error(`nats-server did not start: ${failed.message}`, { cause: failed });
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`nats-server exited (${child.exitCode ?? child.signalCode}):\n${logs()}`);
    try {
      const response = await fetch(`${monitorUrl}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`nats-server not ready after ${timeoutMs} ms:\n${logs()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    child.kill(signal);
  });
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  installExitHook();
  const binary = options.binary ?? natsServerBinary();
  const storeDir = await mkdtemp(join(tmpdir(), "nnunet-nats-"));
  const port = await freePort();
  const monitorPort = await freePort();
  const monitorUrl = `http://127.0.0.1:${monitorPort}`;
  const readyTimeoutMs = options.readyTimeoutMs ?? 15_000;
  let output = "";
  let child: ChildProcess;

  const config = join(storeDir, "nats.conf");
  await writeFile(config, options.auth ? serverAuthConfig(options.auth) : "");
  const launch = async (): Promise<void> => {
    const args = [
      "-c",
      config,
      "-a",
      "127.0.0.1",
      "-p",
      String(port),
      "-m",
      String(monitorPort),
      ...(options.jetstream === false ? [] : ["-js", "-sd", storeDir]),
      ...(options.args ?? []),
    ];
    child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    live.add(child);
    const p = child;
    let spawnError: Error | undefined;
    p.once("error", (err) => (spawnError = err));
    p.once("exit", () => live.delete(p));
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-20_000);
    };
    p.stdout?.on("data", collect);
    p.stderr?.on("data", collect);
    await waitReady(
      monitorUrl,
      p,
      readyTimeoutMs,
      () => output,
      () => spawnError,
    );
  };

  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    monitorUrl,
    storeDir,
    logs: () => output,
    async stop() {
      await stopProcess(child, "SIGTERM");
      await rm(storeDir, { recursive: true, force: true });
    },
    async restart({ hard = false, downMs = 0 } = {}) {
      await stopProcess(child, hard ? "SIGKILL" : "SIGTERM");
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
  };
}
