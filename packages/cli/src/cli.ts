import { ClientPort, KubeApiError, type KubePort } from "@nnunet-operator/kube";
import { type Invocation, USAGE, parseArgs } from "./args.js";
import { logsCommand, type LogStreamer } from "./commands/logs.js";
import { statusCommand } from "./commands/status.js";
import { curvesExportCommand } from "./commands/curves-export.js";
import { explainCommand } from "./commands/explain.js";
import { FIELD_MANAGER, stopCommand } from "./commands/stop.js";
import { watchCommand } from "./commands/watch.js";
import { type CommandContext, type Output, describeApiError } from "./context.js";
import { CliError, EXIT_FAILURE, EXIT_USAGE } from "./errors.js";
import { loadTarget } from "./kubeconfig.js";
import { clientLogStreamer } from "./log-stream.js";

// The plugin without a process: argv, environment, output streams and an abort signal in,
// an exit code out. main.ts wires it to the real process; tests call it directly.

export interface CliDeps {
  env: Readonly<Record<string, string | undefined>>;
  stdout: Output;
  stderr: Output;
  /** Aborted on Ctrl-C: watch and logs -f end cleanly. */
  signal: AbortSignal;
  now?: () => Date;
  /** Tests may swap the cluster access; default: ClientPort and pods/log over client-node. */
  connect?: (invocation: Invocation) => { port: KubePort; logs: LogStreamer; namespace: string | undefined };
}

function defaultConnect(deps: CliDeps) {
  return (invocation: Invocation) => {
    const target = loadTarget(invocation.flags, deps.env);
    const port = new ClientPort(target.kubeConfig, { fieldManager: FIELD_MANAGER });
    return { port, logs: clientLogStreamer(target.kubeConfig), namespace: target.namespace };
  };
}

export async function runCli(argv: readonly string[], deps: CliDeps): Promise<number> {
  try {
    const invocation = parseArgs(argv);
    const { command } = invocation;
    if (command.name === "help") {
      deps.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const { port, logs, namespace } = (deps.connect ?? defaultConnect(deps))(invocation);
    const ctx: CommandContext = {
      port,
      namespace,
      stdout: deps.stdout,
      stderr: deps.stderr,
      now: deps.now ?? (() => new Date()),
      signal: deps.signal,
    };
    switch (command.name) {
      case "status":
        return await statusCommand(ctx, command.run);
      case "watch":
        return await watchCommand(ctx, command.run, command.once);
      case "stop":
        return await stopCommand(ctx, command.run, command.fold, command.reason);
      case "logs":
        return await logsCommand(ctx, logs, command.run, command.fold, command.follow, command.container);
      case "explain":
        return await explainCommand(ctx, deps.env, command.run, command.fold, command.output, command.stream);
      case "curves-export":
        return await curvesExportCommand(ctx, deps.env, command.run, command.dir, command.stream);
    }
  } catch (err) {
    if (err instanceof CliError) {
      deps.stderr.write(`error: ${err.message}\n`);
      if (err.exitCode === EXIT_USAGE) deps.stderr.write("see kubectl nnunet --help\n");
      return err.exitCode;
    }
    if (err instanceof KubeApiError) {
      deps.stderr.write(`error: ${describeApiError(err)}\n`);
      return EXIT_FAILURE;
    }
    deps.stderr.write(`error: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT_FAILURE;
  }
}
