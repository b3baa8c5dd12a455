// `npm run demo` as CI runs it: no TTY (stdio pipes, CI=true). It completes and prints the
// summary; and Ctrl-C (SIGINT) in the middle stops every process it started.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, it } from "node:test";
import { repoRoot } from "../../scripts/demo/stack.js";

interface Demo {
  output(): string;
  exited: Promise<number | string>;
  pid: number;
}

const started: Demo[] = [];

function startDemo(args: string[]): Demo {
  const child = spawn("bash", [join(repoRoot, "scripts/demo.sh"), ...args], {
    cwd: repoRoot,
    env: { ...process.env, CI: "true" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "?")),
  );
  const demo = { output: () => out, exited, pid: child.pid! };
  started.push(demo);
  return demo;
}

async function waitFor(demo: Demo, pattern: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(demo.output())) {
    if (Date.now() > deadline)
      throw new Error(`demo did not print ${pattern} in ${timeoutMs} ms:\n${demo.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** pid -> [parent pid, start time] of every process, from /proc. */
function processTable(): Map<number, [number, string]> {
  const table = new Map<number, [number, string]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Fields after the command (which may hold spaces) in parentheses: state, ppid, ..., starttime (22nd).
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      table.set(Number(entry), [Number(fields[1]), fields[19] ?? ""]);
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

/** Every descendant of `root` with its start time (so that a reused pid is not mistaken for it). */
function descendants(root: number): Map<number, string> {
  const table = processTable();
  const found = new Map<number, string>();
  let frontier = [root];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const [pid, [ppid, start]] of table)
      if (frontier.includes(ppid) && !found.has(pid)) found.set(pid, start), next.push(pid);
    frontier = next;
  }
  return found;
}

function stillAlive(processes: Map<number, string>): number[] {
  const table = processTable();
  return [...processes]
    .filter(
      ([pid, start]) => table.get(pid)?.[1] === start && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z "),
    )
    .map(([pid]) => pid);
}

describe("npm run demo without a TTY", { timeout: 420_000 }, () => {
  afterEach(() => {
    // The demo keeps its work folder (kubeconfig, helm's folders) for a look afterwards; the test has looked.
    for (const d of started.splice(0)) {
      const dir = /work folder (\S+)/.exec(d.output())?.[1];
      if (dir?.startsWith(join(tmpdir(), "nnunet-demo-"))) rmSync(dir, { recursive: true, force: true });
    }
  });

  it("runs both sample runs to the end and prints the summary and how to keep exploring", async () => {
    const demo = startDemo(["--time-scale", "2400"]);
    const code = await demo.exited;
    const out = demo.output();
    assert.equal(code, 0, out.slice(-4000));
    assert.doesNotMatch(out, /\x1b\[/, "no terminal control sequences without a TTY");
    assert.match(out, /topcow-ctamra fold 0: Training, epoch \d+\/\d+, ema 0\.\d+/);
    assert.match(out, /topcow-mra: queued #1 \(NoGpuCapacity/);
    assert.match(out, /topcow-ctamra: calibration batch \d+ \(Calibrated\)/);
    assert.match(out, /^Summary \(\d+ s wall clock\)$/m);
    assert.match(out, /^ {2}GPU-hours [\d.]+ used of [\d.]+ for the full schedule, saved [\d.]+ \([\d.]+%\)$/m);
    assert.match(out, /^All runs: GPU-hours [\d.]+ used of [\d.]+ for the full schedules, saved [\d.]+ \([\d.]+%\)$/m);
    // One figure per run: the live lines' last word on a run is the summary's.
    const summary = out.slice(out.indexOf("Summary ("));
    for (const name of ["topcow-ctamra", "topcow-mra"]) {
      const live = [...out.matchAll(new RegExp(`^\\d\\d:\\d\\d:\\d\\d ${name} summary: (GPU-hours .*)$`, "gm"))].map(
        (m) => m[1],
      );
      const final = /^ {2}(GPU-hours .*)$/m.exec(summary.slice(summary.indexOf(`\n${name}: `)))?.[1];
      assert.ok(live.length > 0, `${name}: no live summary line`);
      assert.equal(final, live.at(-1), `${name}: the last live summary line and the summary print the same figure`);
      // A run that finished well never looked Failed on the way (a validation Job seen
      // complete before its pod's result once failed a fold for a moment).
      assert.doesNotMatch(out, new RegExp(`^\\d\\d:\\d\\d:\\d\\d ${name}(?: fold \\d)?: Failed`, "m"));
    }
    assert.match(out, /npm run demo -- --keep/);
  });

  it("stops every process it started on SIGINT", async () => {
    const demo = startDemo(["--time-scale", "2400"]);
    await waitFor(demo, /topcow-ctamra fold \d: Training, epoch \d+/, 90_000);
    const started = descendants(demo.pid);
    // The pods' processes (nats-server, the operator and early-stop replicas, the training pods).
    assert.ok(started.size >= 8, `processes under the demo: ${started.size}`);
    process.kill(demo.pid, "SIGINT");
    const code = await demo.exited;
    assert.equal(code, 130, demo.output().slice(-2000));
    assert.match(demo.output(), /SIGINT: stopping everything the demo started/);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(stillAlive(started), [], "processes left behind");
  });
});
