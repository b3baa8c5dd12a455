import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { createServer } from "node:net";

// Child processes of the demo stack. Each service runs in its own process group
// (detached), so stopping it reaches everything it started, and its output goes to a log
// file rather than the terminal the live view draws on.

export interface Service {
  readonly name: string;
  readonly pid: number;
  /** Resolves with the exit code (or signal) once the process is gone. */
  readonly exited: Promise<number | string>;
  /** The last lines of its log, for failure messages. */
  tail(): string;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnServiceOptions {
  name: string;
  command: string;
  args: readonly string[];
  env: Record<string, string | undefined>;
  cwd: string;
  logFile: string;
}

export function spawnService(o: SpawnServiceOptions): Service {
  const log = createWriteStream(o.logFile, { flags: "a" });
  const child: ChildProcess = spawn(o.command, o.args, {
    cwd: o.cwd,
    env: o.env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let recent = "";
  const collect = (chunk: Buffer): void => {
    log.write(chunk);
    recent = (recent + chunk.toString()).slice(-8_000);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => {
      log.end();
      resolve(code ?? signal ?? "unknown");
    });
    child.once("error", (err) => {
      recent += `\n${String(err)}`;
      resolve("spawn-error");
    });
  });
  const pid = child.pid ?? -1;
  return {
    name: o.name,
    pid,
    exited,
    tail: () => recent.split("\n").slice(-20).join("\n"),
    async stop(graceMs = 5_000) {
      killGroup(pid, "SIGTERM");
      const timer = setTimeout(() => killGroup(pid, "SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
      // The leader is gone; anything it left in its group goes too.
      killGroup(pid, "SIGKILL");
    },
  };
}

/** Signals a whole process group; a group that is already gone is not an error. */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: nothing left in the group.
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls an HTTP URL until it answers 200 or the service exits. */
export async function waitHttpOk(url: string, service: Service, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void service.exited.then(() => (exited = true));
  for (;;) {
    if (exited) throw new Error(`${service.name} exited before it was ready:\n${service.tail()}`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`${service.name} not ready at ${url} after ${timeoutMs} ms:\n${service.tail()}`);
    await sleep(200);
  }
}
