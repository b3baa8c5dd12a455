#!/usr/bin/env node
// Runs the TypeScript CLI through tsx (the repository has no build step), forwarding
// SIGINT and SIGTERM so that `devcluster serve` shuts down cleanly.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
// tsx resolved from here, not from the caller's working directory.
const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), cli, ...process.argv.slice(2)], {
  stdio: "inherit",
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
