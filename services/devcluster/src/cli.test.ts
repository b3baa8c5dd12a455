import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";

// `devcluster serve` starts the emulator, writes the kubeconfig it names, serves the API
// and stops cleanly on SIGTERM; bad flags exit 2 with a message.

const bin = resolve(import.meta.dirname, "../bin/devcluster.js");

describe("devcluster serve", () => {
  it("serves until SIGTERM and writes a kubeconfig that points at it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "devcluster-cli-"));
    const kubeconfig = join(dir, "kubeconfig");
    const child = spawn(process.execPath, [bin, "serve", "--port", "0", "--kubeconfig", kubeconfig, "--http"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    const deadline = Date.now() + 20_000;
    while (!out.includes("export KUBECONFIG=") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.match(out, new RegExp(`export KUBECONFIG=${kubeconfig}`));
    const config = parse(readFileSync(kubeconfig, "utf8")) as {
      clusters: { cluster: { server: string } }[];
      users: { user: { token: string } }[];
    };
    const server = config.clusters[0]!.cluster.server;
    const res = await fetch(`${server}/api/v1/namespaces`, {
      headers: { authorization: `Bearer ${config.users[0]!.user.token}` },
    });
    const list = (await res.json()) as { items: { metadata: { name: string } }[] };
    assert.ok(list.items.some((n) => n.metadata.name === "default"));
    const exited = new Promise<number | null>((r) => child.once("exit", r));
    child.kill("SIGTERM");
    assert.equal(await exited, 0);
  });

  it("refuses a bad port with exit code 2", async () => {
    const child = spawn(process.execPath, [bin, "serve", "--port", "http"], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((r) => child.once("exit", r));
    assert.equal(code, 2);
    assert.match(err, /--port must be an integer/);
  });
});
