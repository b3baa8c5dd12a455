import { parseArgs } from "node:util";
import { pino } from "pino";
import { startDevCluster } from "./server.js";

// `devcluster serve`: runs the emulator until SIGINT/SIGTERM and prints where its
// kubeconfig is (HTTPS with a self-signed certificate; --http for plain HTTP). The only
// place that reads argv and exits.

const USAGE = `usage: devcluster serve [--port N] [--host 127.0.0.1] [--kubeconfig PATH] [--rbac] [--http] [-v] [--manifest FILE]... [--token TOKEN=USER]...`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== "serve") {
    process.stderr.write(`${USAGE}\n`);
    return command === undefined || command === "--help" ? 0 : 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      port: { type: "string", default: "0" },
      host: { type: "string", default: "127.0.0.1" },
      kubeconfig: { type: "string" },
      rbac: { type: "boolean", default: false },
      http: { type: "boolean", default: false },
      verbose: { type: "boolean", short: "v", default: false },
      manifest: { type: "string", multiple: true, default: [] },
      token: { type: "string", multiple: true, default: [] },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`devcluster: --port must be an integer between 0 and 65535, got "${values.port}"\n`);
    return 2;
  }
  const tokens: Record<string, string> = {};
  for (const t of values.token) {
    const i = t.indexOf("=");
    if (i <= 0) {
      process.stderr.write(`devcluster: --token must be TOKEN=USER, got "${t}"\n`);
      return 2;
    }
    tokens[t.slice(0, i)] = t.slice(i + 1);
  }
  const log = pino({ name: "devcluster", level: values.verbose ? "debug" : "info" });
  const dc = await startDevCluster({
    logger: log,
    port,
    host: values.host,
    rbac: values.rbac,
    tls: !values.http,
    manifests: values.manifest,
    tokens,
    ...(values.kubeconfig ? { kubeconfigPath: values.kubeconfig } : {}),
  });
  log.info({ url: dc.url, kubeconfig: dc.kubeconfigPath, rbac: values.rbac }, "devcluster serving");
  process.stdout.write(`export KUBECONFIG=${dc.kubeconfigPath}\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await dc.stop();
  log.info("devcluster stopped");
  return 0;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (error: unknown) => {
  process.stderr.write(`devcluster: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
