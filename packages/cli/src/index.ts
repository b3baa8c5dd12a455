// Public surface of @nnunet-operator/cli: the live view for the demo, and the plugin itself.
export { renderRunView, foldNote, type RenderOptions } from "./view/render.js";
export { plainUpdates, EMPTY_PLAIN_STATE, type PlainState } from "./view/plain.js";
export { watchRuns, redrawSequence, selectRuns, type WatchViewOptions, type WatchEnd } from "./commands/watch.js";
export { formatRunList, formatFoldTable } from "./commands/status.js";
export { gpuFigures } from "./view/format.js";
export { decideManualStop, FIELD_MANAGER, type StopPlan } from "./commands/stop.js";
export { pickTrainingPod, pickContainer, type LogStreamer } from "./commands/logs.js";
export { parseArgs, USAGE, type Invocation, type Command } from "./args.js";
export { runCli, type CliDeps } from "./cli.js";
export { CliError, UsageError, NotFoundError, RefusedError } from "./errors.js";
