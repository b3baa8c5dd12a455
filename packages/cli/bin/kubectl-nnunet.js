#!/usr/bin/env node
// kubectl finds this file on PATH as the plugin `kubectl nnunet`. The repository has no
// build step, so it runs src/main.ts through tsx. Both paths are resolved from this file,
// not from the working directory, because kubectl runs plugins from wherever the user is.
// Signals are forwarded so that Ctrl-C ends `watch` and `logs -f` cleanly.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const tsx = import.meta.resolve("tsx");
const child = spawn(process.execPath, ["--import", tsx, main, ...process.argv.slice(2)], { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal === "SIGINT" ? 130 : 1)));
