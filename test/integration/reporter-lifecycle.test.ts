import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort } from "@nnunet-operator/bus/testing";
import {
  CHASEDB1_LOG,
  type Identity,
  REPO_ROOT,
  ReporterProcess,
  makeFoldDir,
  readLines,
  reporterEnv,
  storedCount,
  waitFor,
  writeLog,
  useEpochStream,
} from "./support/reporter-harness.js";

// How the sidecar starts and ends: SIGTERM exits 0 within a bound (with NATS up, and with
// NATS gone and epochs still buffered), a bad environment exits 2 naming the variable, the
// optional /metrics endpoint counts, and the bundle the image runs (no arguments) works.

const LOG_NAME = "training_log_2023_11_29_19_18_29.txt";

describe("reporter: start and shutdown", () => {
  let lines: string[];
  const bus = useEpochStream("reporter-lifecycle", {
    maxAgeMs: 3600_000,
    maxBytes: 64 * 1024 * 1024,
    duplicateWindowMs: 120_000,
  });

  before(async () => {
    lines = await readLines(CHASEDB1_LOG);
  });

  it("SIGTERM mid-run: exits 0 within 3 s, after publishing what it had; /metrics counts while it runs", async () => {
    const who: Identity = { namespace: "team-a", run: "term", runUid: "uid-term", fold: "0", attempt: 0 };
    const foldDir = await makeFoldDir(join(bus.root, "term"));
    const port = await freePort();
    const reporter = ReporterProcess.start(await bus.env(who, foldDir, { REPORTER_METRICS_PORT: String(port) }));
    await reporter.waitForLog("/metrics", (r) => r.msg === "serving /metrics");
    await writeLog(join(foldDir, LOG_NAME), lines.slice(0, 300), { splitEvery: 0 });
    await waitFor(
      "epochs stored",
      async () => (await storedCount(bus.jsm, who)) > 0,
      20_000,
      () => reporter.output(),
    );
    await waitFor("the stored count to settle", async () => (await storedCount(bus.jsm, who)) === 34, 10_000);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^nnunet_reporter_epochs_published_total 34$/m);
    assert.match(metrics, /^nnunet_reporter_epochs_dropped_total 0$/m);
    assert.match(metrics, /^nnunet_reporter_lines_skipped_total 0$/m);
    const { code, ms } = await reporter.stop("SIGTERM");
    assert.equal(code, 0);
    assert.ok(ms < 3000, `took ${ms} ms`);
    assert.ok(reporter.records.some((r) => r.msg === "stopping" && r.signal === "SIGTERM"));
  });

  it("SIGTERM while NATS is gone and epochs are buffered: exits 0 within the shutdown bound and says how many were left", async () => {
    const who: Identity = { namespace: "team-a", run: "term-down", runUid: "uid-term-down", fold: "2", attempt: 0 };
    const foldDir = await makeFoldDir(join(bus.root, "term-down"), "2");
    // Nothing listens on this port: NATS is unreachable for the reporter's whole life.
    const nowhere = `nats://127.0.0.1:${await freePort()}`;
    const reporter = ReporterProcess.start(
      reporterEnv(who, foldDir, nowhere, { REPORTER_SHUTDOWN_MS: "1000", REPORTER_BUFFER_MAX: "10" }),
    );
    await reporter.waitForLog("the reporter to start", (r) => r.msg === "reporter started");
    await writeLog(join(foldDir, LOG_NAME), lines.slice(0, 300), { splitEvery: 0 });
    // 34 epochs in these lines: 10 fit the buffer, 24 are dropped.
    await waitFor(
      "24 dropped epochs",
      () => reporter.records.filter((r) => r.msg === "buffer full: epoch dropped").length === 24,
      20_000,
      () => reporter.output(),
    );
    const { code, ms } = await reporter.stop("SIGTERM");
    assert.equal(code, 0);
    assert.ok(ms < 6000, `took ${ms} ms`);
    const stopped = reporter.records.find((r) => r.msg === "reporter stopped");
    assert.equal(stopped?.buffered, 10);
    assert.equal(stopped?.dropped, 24);
    assert.equal(stopped?.flushed, false);
  });

  const badEnvs: { name: string; patch: Record<string, string>; variable: string }[] = [
    { name: "a fold that is no fold", patch: { NNUNET_FOLD: "9" }, variable: "NNUNET_FOLD" },
    {
      name: "a creds file that is not there",
      patch: { NATS_CREDS_FILE: "/nonexistent/nats.creds" },
      variable: "NATS_CREDS_FILE",
    },
  ];
  for (const bad of badEnvs)
    it(`a bad environment (${bad.name}) exits 2 at once, naming ${bad.variable}`, async () => {
      const who: Identity = { namespace: "team-a", run: "bad", runUid: "uid-bad", fold: "0", attempt: 0 };
      const reporter = ReporterProcess.start(
        reporterEnv(who, join(bus.root, "bad", "fold_0"), bus.server.url, bad.patch),
      );
      const { code } = await reporter.exited;
      assert.equal(code, 2);
      const fatal = reporter.records.find((r) => r.level === 60);
      assert.ok(fatal?.msg?.includes(bad.variable), reporter.output());
    });
});

describe("reporter: the bundle the image runs", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "reporter-bundle-"));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("images/bundle.sh turns main.ts into one file that starts with no arguments and stops on SIGTERM", async () => {
    const out = join(dir, "main.mjs");
    const built = spawnSync(
      "sh",
      [join(REPO_ROOT, "images/bundle.sh"), join(REPO_ROOT, "services/reporter/src/main.ts"), out],
      { encoding: "utf8" },
    );
    assert.equal(built.status, 0, built.stdout + built.stderr);
    const env = reporterEnv(
      { namespace: "team-a", run: "bundle", runUid: "uid-bundle", fold: "0", attempt: 0 },
      join(dir, "fold_0"),
      `nats://127.0.0.1:${await freePort()}`,
    );
    // Run from an empty folder, as /app in the distroless image: nothing but the bundle.
    const child = spawn(process.execPath, [out], {
      cwd: dir,
      env: { ...env, REPORTER_SHUTDOWN_MS: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    await waitFor(
      "the bundle to start",
      () => output.includes('"msg":"reporter started"'),
      15_000,
      () => output,
    );
    child.kill("SIGTERM");
    assert.equal(await exited, 0, output);
    assert.ok(output.includes('"msg":"reporter stopped"'), output);
  });
});
