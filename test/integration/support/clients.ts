import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { assertNoUnexpectedFailures, startDevCluster, type DevCluster } from "@nnunet-operator/devcluster";

// Real clients (kubectl, helm, Debian's python3 with python3-kubernetes) against a started
// devcluster, run asynchronously: the devcluster serves from this same event loop.
// `stop()` stops the devcluster and fails on any unexpected controller failure.

export const repo = resolve(import.meta.dirname, "../../..");
export const kubectlBin = join(repo, ".tools/bin/kubectl");
export const helmBin = join(repo, ".tools/bin/helm");
export const python = "/usr/bin/python3";

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ClientHarness {
  dc: DevCluster;
  home: string;
  run(bin: string, args: string[], opts?: { env?: Record<string, string>; input?: string }): Promise<Result>;
  kubectl(...args: string[]): Promise<Result>;
  helm(...args: string[]): Promise<Result>;
  /** Stops the devcluster, then throws if a controller failed unexpectedly meanwhile. */
  stop(): Promise<void>;
}

export async function startClientHarness(options: Parameters<typeof startDevCluster>[0] = {}): Promise<ClientHarness> {
  const home = mkdtempSync(join(tmpdir(), "devcluster-clients-"));
  const dc = await startDevCluster({ kubeconfigPath: join(home, "kubeconfig"), ...options });
  const run = (bin: string, args: string[], opts: { env?: Record<string, string>; input?: string } = {}) =>
    new Promise<Result>((done) => {
      const child = execFile(
        bin,
        args,
        {
          env: { PATH: process.env["PATH"] ?? "", HOME: home, KUBECONFIG: dc.kubeconfigPath, ...opts.env },
          timeout: 60_000,
          maxBuffer: 1 << 26,
        },
        (error, stdout, stderr) => {
          done({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
        },
      );
      if (opts.input !== undefined) child.stdin?.end(opts.input);
    });
  const stop = async () => {
    await dc.stop();
    assertNoUnexpectedFailures(dc);
  };
  return { dc, home, run, kubectl: (...args) => run(kubectlBin, args), helm: (...args) => run(helmBin, args), stop };
}
