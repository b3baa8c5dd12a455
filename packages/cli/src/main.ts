import { runCli } from "./cli.js";

// Composition root of kubectl-nnunet: the only place that touches the process.

const controller = new AbortController();
let interrupted = 0;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    // A second Ctrl-C leaves at once, in case something hangs on the way out.
    if (++interrupted > 1) process.exit(130);
    controller.abort();
  });
}
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  // `kubectl nnunet logs ... | head` closes the pipe early: that is not an error.
  if (err.code === "EPIPE") controller.abort();
});

const code = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  signal: controller.signal,
});
process.exitCode = code;
