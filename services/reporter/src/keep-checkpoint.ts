import { copyFile, rename, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { type CheckpointKept, KEPT_CHECKPOINT_FILE, StopDecision } from "@nnunet-operator/api";

// An audited fold trains on past the stop its policy would have made; to measure that stop
// in real Dice, the checkpoint it would have left must survive until validation. When the
// would-be decision lands, early-stop asks this fold's reporter (core NATS request on the
// fold's own decision subject) to copy checkpoint_best.pth as it stands then; nnU-Net
// overwrites the original at every later new best. The copy is written under a temporary
// name and renamed, so a reader never sees half of it; a second request (a retry, a new
// early-stop term) finds the copy and answers kept without copying again.
//
// Why NATS rather than the Job annotation through a downward API file: the annotation is on
// the Job, not the pod, so early-stop would also have to patch the pod (rights over pods of
// hostile workloads), and the kubelet refreshes downward API files only on its sync period
// (up to a minute or two), by which time a new best may have replaced checkpoint_best.pth.
// The reporter already holds a NATS connection, and a request gets an answer: early-stop
// knows the copy was taken and asks again until it was.

export async function keepCheckpointAtDecision(foldDir: string, request: Uint8Array): Promise<CheckpointKept> {
  let decision: StopDecision;
  try {
    decision = StopDecision.parse(JSON.parse(new TextDecoder().decode(request)));
  } catch (err) {
    return { schemaVersion: 1, kept: false, error: `not a stop decision: ${(err as Error).message.slice(0, 300)}` };
  }
  if (decision.mode !== "Audit")
    return { schemaVersion: 1, kept: false, error: "not an audit: an enforced stop keeps checkpoint_best.pth itself" };
  const target = join(foldDir, KEPT_CHECKPOINT_FILE);
  if (await exists(target)) return { schemaVersion: 1, kept: true, file: KEPT_CHECKPOINT_FILE };
  const source = join(foldDir, "checkpoint_best.pth");
  const tmp = join(foldDir, `.${KEPT_CHECKPOINT_FILE}.tmp`);
  try {
    await copyFile(source, tmp);
    await rename(tmp, target);
    return { schemaVersion: 1, kept: true, file: KEPT_CHECKPOINT_FILE };
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    return { schemaVersion: 1, kept: false, error: `cannot copy ${source}: ${(err as Error).message.slice(0, 300)}` };
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
