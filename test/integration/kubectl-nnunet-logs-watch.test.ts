import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { delimiter, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { watchRuns } from "@nnunet-operator/cli";
import { queuedRun, succeededRun } from "@nnunet-operator/cli/testing";
import { Resources } from "@nnunet-operator/kube";
import { CliWorld, binDir, kubectlDir, sink } from "./kubectl-nnunet-support.js";

// `kubectl nnunet logs` and `watch` against a devcluster (see kubectl-nnunet-support.ts),
// and kubectl finding the plugin on PATH.

let world: CliWorld;
before(async () => {
  world = await CliWorld.start();
});
after(async () => {
  await world?.stop();
});

describe("kubectl nnunet logs", () => {
  it("prints the nnU-Net container's log of the fold's training pod, found by its labels", async () => {
    const r = await world.cli(["logs", "topcow-ctamra", "--fold", "0"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "Epoch 119\nYayy! New best EMA pseudo Dice: 0.815\nEpoch 120\n");
  });

  it("follows a container's log with -f -c until the pod's log ends, through the real plugin", async () => {
    const r = await world.plugin(["logs", "topcow-ctamra", "--fold", "0", "-f", "-c", "reporter"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '{"msg":"published","epoch":120}\n');
  });

  it("says that a fold has no training pod yet; exit code 1", async () => {
    const r = await world.cli(["logs", "topcow-ctamra", "--fold", "2"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no training pod of fold 2 of TrainingRun default\/topcow-ctamra \(the fold is Queued\)/);
  });

  it("names the containers when -c names one the pod lacks", async () => {
    const r = await world.cli(["logs", "topcow-ctamra", "--fold", "0", "-c", "trainer"]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /container "trainer" is not in pod topcow-ctamra-fold-0-a1b2c \(containers: nnunet, reporter\)/,
    );
  });
});

describe("kubectl nnunet watch", () => {
  it("--once prints one plain frame of the run and the queue without a TTY", async () => {
    const r = await world.cli(["watch", "topcow-ctamra", "--once"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^topcow-ctamra {2}Training {2}epochs 120\/250\n/);
    assert.match(r.stdout, /\n {2}fold 0 .*120\/250 {2}ema 0\.8123 .*Training\n/);
    assert.match(r.stdout, /\nqueue\n {2}#1 {2}liver-low/);
    assert.ok(!r.stdout.includes("\x1b"));
  });

  it("follows status changes and ends with the summary when the run succeeds", async () => {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 10_000);
    const watching = world.cli(["watch", "topcow-ctamra"], {}, abort.signal);
    await new Promise((r) => setTimeout(r, 500));
    const done = succeededRun().status;
    await world.port.patchStatus(
      Resources.trainingRuns,
      { namespace: "default", name: "topcow-ctamra" },
      {
        status: {
          ...done,
          folds: [
            ...(done?.folds ?? []),
            {
              fold: "2",
              phase: "Validated",
              attempt: 0,
              maxEpochs: 250,
              epoch: 249,
              validation: { checkpoint: "best", meanDice: 0.81 },
            },
          ],
        },
      },
      { type: "merge" },
    );
    const r = await watching;
    clearTimeout(timer);
    assert.equal(abort.signal.aborted, false, "the watch ended by itself");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /topcow-ctamra: Training\n/);
    assert.match(r.stdout, /topcow-ctamra: Succeeded\n/);
    assert.match(
      r.stdout,
      /topcow-ctamra summary: GPU-hours 9\.6 used of 100\.0 for the full schedule, saved 90\.4 \(90\.4%\)\n/,
    );
    assert.match(r.stdout, /topcow-ctamra summary fold 2: best EMA - @ epoch -, validation Dice 0\.8100/);
  });

  it("on a TTY redraws the frame in place and shows the cursor again when it ends", async () => {
    const abort = new AbortController();
    const out = sink();
    const watching = watchRuns({
      port: world.port,
      namespace: "default",
      run: "liver-low",
      out,
      tty: true,
      width: () => 120,
      height: () => 40,
      now: () => new Date(),
      signal: abort.signal,
      coalesceMs: 10,
    });
    const until = async (text: string): Promise<void> => {
      for (let i = 0; i < 300 && !out.text().includes(text); i++) await new Promise((r) => setTimeout(r, 10));
    };
    try {
      await until("liver-low");
      const first = out.text();
      assert.ok(first.startsWith("\x1b[?25l\x1b[J"), JSON.stringify(first.slice(0, 20)));
      assert.match(first, /\x1b\[1mqueue\x1b\[0m\n {2}#1 {2}liver-low/);
      await world.port.patchStatus(
        Resources.trainingRuns,
        { namespace: "default", name: "liver-low" },
        { status: { phase: "Calibrating", queue: null } },
        { type: "merge" },
      );
      await until("Calibrating");
      abort.abort();
      assert.equal(await watching, "aborted");
      const redraw = out.text().slice(first.length);
      const lines = first.split("\n").length - 1;
      assert.ok(redraw.startsWith(`\x1b[${lines}F\x1b[J`), JSON.stringify(redraw.slice(0, 20)));
      assert.match(redraw, /\x1b\[36mCalibrating\x1b\[0m/);
      assert.ok(redraw.endsWith("\x1b[?25h"));
    } finally {
      abort.abort();
      await watching;
    }
  });

  it("ends, saying so, when the watched run is deleted", async () => {
    await world.createRun(queuedRun("short-lived", 2));
    const watching = world.cli(["watch", "short-lived"]);
    await new Promise((r) => setTimeout(r, 300));
    await world.port.delete(Resources.trainingRuns, { namespace: "default", name: "short-lived" });
    const r = await watching;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /short-lived: queued #2/);
    assert.match(r.stdout, /TrainingRun short-lived was deleted\n$/);
  });

  it("a missing run fails at once with exit code 1", async () => {
    const r = await world.cli(["watch", "nope"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /TrainingRun "nope" not found in namespace "default"/);
  });

  it("Ctrl-C ends the real plugin's watch cleanly with exit code 0", async () => {
    let sent = false;
    const r = await world.plugin(["watch"], {
      onStdout: (text, child) => {
        if (!sent && text.includes("liver-low")) {
          sent = true;
          child.kill("SIGINT");
        }
      },
    });
    assert.ok(sent, r.stderr);
    assert.equal(r.code, 0, r.stderr);
  });
});

describe("kubectl finds the plugin", () => {
  it("kubectl plugin list shows kubectl-nnunet from the bin directory", async () => {
    const child = spawn("kubectl", ["plugin", "list"], {
      env: { ...process.env, PATH: [kubectlDir, binDir, "/usr/bin", "/bin"].join(delimiter) },
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    await new Promise((r) => child.on("close", r));
    assert.ok(out.includes(join(binDir, "kubectl-nnunet")), out);
  });
});
