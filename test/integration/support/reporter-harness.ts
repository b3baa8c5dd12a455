import { type ChildProcess, spawn } from "node:child_process";
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { after, before } from "node:test";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { EpochMetrics } from "@nnunet-operator/api";
import {
  EPOCH_STREAM,
  type FoldAddress,
  connectBus,
  ensureEpochStream,
  epochSubject,
  replayEpochs,
} from "@nnunet-operator/bus";
import {
  type NatsAuthFixture,
  type NatsServerHandle,
  makeNatsAuthFixture,
  startNatsServer,
} from "@nnunet-operator/bus/testing";

// Helpers of the reporter's integration tests: the real main.ts as a child process (run by
// tsx, configured by environment exactly as the training Job does), a trainer stand-in that
// writes a real nnU-Net log into the fold folder a few lines at a time (cutting lines in
// half on purpose), and readers of what reached the stream.

export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const LOGS = join(REPO_ROOT, "test/fixtures/nnunet-logs/raw");
export const CHASEDB1_LOG = join(
  LOGS,
  "chasedb1-xray/nnunetv2/nnUNet_results/Dataset100_CHASEDB1/nnUNetTrainer__nnUNetPlans__2d/fold_0/training_log_2023_11_29_19_18_29.txt",
);
export const MIZ_LUCY_LOG = join(LOGS, "miz-lucy/fold_0/training_log_2023_9_11_17_34_21.txt");
export const CRF_FOLD2_LOGS = [
  join(LOGS, "crf-effunet/fold_2/training_log_2021_6_19_09_40_34.txt"),
  join(LOGS, "crf-effunet/fold_2/training_log_2021_6_20_11_10_06.txt"),
] as const;
export const CRF_FOLD2_CSV = join(
  REPO_ROOT,
  "test/fixtures/nnunet-logs/curves/crf-effunet__Task008_Refuge__2d__fold2.csv",
);

export interface Identity extends FoldAddress {
  runUid: string;
  attempt: number;
}

export function reporterEnv(
  identity: Identity,
  foldDir: string,
  natsUrl: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    NNUNET_NAMESPACE: identity.namespace,
    NNUNET_RUN: identity.run,
    NNUNET_RUN_UID: identity.runUid,
    NNUNET_FOLD: identity.fold,
    NNUNET_ATTEMPT: String(identity.attempt),
    NNUNET_FOLD_DIR: foldDir,
    NATS_URL: natsUrl,
    REPORTER_POLL_MS: "50",
    REPORTER_HEARTBEAT_SECONDS: "1",
    REPORTER_STATS_SECONDS: "3600",
    LOG_LEVEL: "info",
    ...extra,
  };
}

export interface LogRecord {
  msg?: string;
  level?: number;
  [key: string]: unknown;
}

/** The reporter's main.ts in a child process, its pino lines parsed. */
export class ReporterProcess {
  readonly records: LogRecord[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #output = "";

  private constructor(readonly child: ChildProcess) {
    let partial = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        this.#output = `${this.#output + line}\n`.slice(-20_000);
        try {
          this.records.push(JSON.parse(line) as LogRecord);
        } catch {
          // not a pino line (tsx or node output)
        }
      }
    });
    child.stderr?.on("data", (chunk: Buffer) => (this.#output = (this.#output + chunk.toString()).slice(-20_000)));
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  }

  static start(env: Record<string, string>): ReporterProcess {
    const child = spawn(process.execPath, ["--import", "tsx", "services/reporter/src/main.ts"], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const p = new ReporterProcess(child);
    live.add(p);
    void p.exited.then(() => live.delete(p));
    return p;
  }

  output(): string {
    return this.#output;
  }

  async waitForLog(what: string, predicate: (r: LogRecord) => boolean, timeoutMs = 20_000): Promise<LogRecord> {
    await waitFor(
      what,
      () => this.records.some(predicate),
      timeoutMs,
      () => this.output(),
    );
    return this.records.find(predicate) as LogRecord;
  }

  /** Sends `signal` and waits for the exit; rejects if it takes longer than `timeoutMs`. */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 15_000): Promise<{ code: number | null; ms: number }> {
    const started = Date.now();
    this.child.kill(signal);
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`reporter did not exit within ${timeoutMs} ms after ${signal}:\n${this.output()}`)),
        timeoutMs,
      ).unref(),
    );
    const { code } = await Promise.race([this.exited, timeout]);
    return { code, ms: Date.now() - started };
  }
}

const live = new Set<ReporterProcess>();
process.on("exit", () => killReporters());

/** Kills every reporter still running (a failed test must not leave one holding the runner open). */
export function killReporters(): void {
  for (const p of live) p.child.kill("SIGKILL");
}

export async function waitFor(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  detail: () => string = () => "",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${detail()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Writes `lines` to `path` as a trainer would: a few lines per write, a pause between
 * writes, and every `splitEvery`-th write ending in the middle of a line (the rest comes
 * with the next write). `onLine` runs after each write with the count of complete lines.
 */
export async function writeLog(
  path: string,
  lines: readonly string[],
  options: {
    linesPerWrite?: number;
    delayMs?: number;
    splitEvery?: number;
    from?: number;
    until?: (written: number) => boolean;
  } = {},
): Promise<number> {
  const per = options.linesPerWrite ?? 8;
  const delay = options.delayMs ?? 2;
  const splitEvery = options.splitEvery ?? 3;
  let carry = "";
  let i = options.from ?? 0;
  for (let n = 0; i < lines.length; n++) {
    if (options.until?.(i)) break;
    const chunk = lines
      .slice(i, i + per)
      .map((l) => `${l}\n`)
      .join("");
    i += per;
    let text = carry + chunk;
    carry = "";
    if (splitEvery > 0 && n % splitEvery === splitEvery - 1 && text.length > 4) {
      const cut = text.length - Math.max(2, Math.floor(text.length / 7));
      carry = text.slice(cut);
      text = text.slice(0, cut);
    }
    await appendFile(path, text);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
  }
  if (carry) await appendFile(path, carry);
  return Math.min(i, lines.length);
}

export async function readLines(path: string): Promise<string[]> {
  const text = await readFile(path, "utf8");
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

export async function makeFoldDir(root: string, fold = "0"): Promise<string> {
  const dir = join(root, `fold_${fold}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

export async function touch(path: string): Promise<void> {
  await writeFile(path, "", { flag: "a" });
}

/** Messages stored on one fold's subject (several stored copies of an id would all show). */
export async function storedCount(jsm: JetStreamManager, address: FoldAddress): Promise<number> {
  const subject = epochSubject(address);
  const info = await jsm.streams.info(EPOCH_STREAM, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

export interface StoredEpoch {
  id: string | undefined;
  seq: number;
  metrics: EpochMetrics;
}

/** Every stored message of one fold, in stream order. */
export async function storedEpochs(js: JetStreamClient, address: FoldAddress): Promise<StoredEpoch[]> {
  const out: StoredEpoch[] = [];
  await replayEpochs(
    js,
    epochSubject(address),
    (metrics, meta) => void out.push({ id: meta.msgId, seq: meta.streamSequence, metrics }),
  );
  return out;
}

export const ids = (uid: string, fold: string, attempt: number, epochs: Iterable<number>) =>
  [...epochs].map((e) => `${uid}/${fold}/${attempt}/${e}`);
export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** What a describe block of the reporter tests runs against: filled in by its before hook. */
export interface EpochStreamFixture {
  server: NatsServerHandle;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** A temporary folder for fold folders, removed after the block. */
  root: string;
  auth: NatsAuthFixture;
  /** The reporter's environment for `identity`, with the fold attempt's own NATS credential (as the operator mints it). */
  env(identity: Identity, foldDir: string, extra?: Record<string, string>): Promise<Record<string, string>>;
}

/**
 * Registers the block's before and after hooks: a real nats-server with auth on and the
 * epoch stream (`limits`, created as early-stop does), an observer's connection and a
 * temporary folder; afterwards every reporter started is killed and all of it torn down.
 * Reporters started with `env()` sign in with their fold attempt's own credential.
 */
export function useEpochStream(
  name: string,
  limits: Parameters<typeof ensureEpochStream>[1],
  connect: { reconnectTimeWaitMs?: number } = {},
): EpochStreamFixture {
  const f = {} as EpochStreamFixture;
  before(async () => {
    f.auth = await makeNatsAuthFixture();
    f.server = await startNatsServer({ auth: f.auth.material });
    const manager = await connectBus({
      servers: f.server.url,
      name: "early-stop",
      credsFile: f.auth.earlyStopCredsFile,
    });
    await ensureEpochStream(await jetstreamManager(manager), limits);
    await manager.close();
    f.nc = await connectBus({
      servers: f.server.url,
      name: `${name}-test`,
      credsFile: f.auth.observerCredsFile,
      ...connect,
    });
    f.js = jetstream(f.nc);
    f.jsm = await jetstreamManager(f.nc);
    f.env = async (identity, foldDir, extra = {}) =>
      reporterEnv(identity, foldDir, f.server.url, { NATS_CREDS_FILE: await f.auth.foldCredsFile(identity), ...extra });
    f.root = await mkdtemp(join(tmpdir(), `${name}-`));
  });
  after(async () => {
    killReporters();
    await f.nc?.close();
    await f.server?.stop();
    await f.auth?.cleanup();
    if (f.root) await rm(f.root, { recursive: true, force: true });
  });
  return f;
}
