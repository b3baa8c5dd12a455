import { type Result, fail, ok } from "./result.js";

// The only place NATS subjects and message ids are built and parsed (DESIGN.md, NATS).
//   nnunet.epochs.<namespace>.<run>.<fold>      JetStream stream NNUNET_EPOCHS
//   nnunet.heartbeat.<namespace>.<run>.<fold>   core NATS
//   message id <runUid>/<fold>/<attempt>/<epoch>  (JetStream de-duplication)
// A token must not contain ".", "*", ">" or whitespace, or the subject would mean something
// else; namespaces and run names are therefore DNS labels (a run name with dots, legal
// for a Kubernetes object, cannot travel on a subject and is rejected here).

export const EPOCH_STREAM = "NNUNET_EPOCHS";
export const EPOCH_PREFIX = "nnunet.epochs";
export const HEARTBEAT_PREFIX = "nnunet.heartbeat";
/** Every epoch subject: the stream's subject and the controller's consumer filter. */
export const ALL_EPOCHS = `${EPOCH_PREFIX}.>`;
/** Core-NATS requests from early-stop to one fold's reporter: keep checkpoint_best as it stands (an audit's would-be stop). */
export const DECISION_PREFIX = "nnunet.decisions";
export const ALL_HEARTBEATS = `${HEARTBEAT_PREFIX}.>`;
/** early-stop's durable consumer on the stream (shared by its replicas); no other user may create or alter it. */
export const EARLY_STOP_DURABLE = "nnunet-early-stop";

export interface FoldAddress {
  namespace: string;
  run: string;
  fold: string;
}

export interface EpochMessageId {
  runUid: string;
  fold: string;
  attempt: number;
  epoch: number;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const FOLD = /^([0-4]|all)$/;
// A uid is a UUID in Kubernetes; accept any token free of the id separator and subject syntax.
const UID = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;

export type SubjectError = "namespace" | "run" | "fold" | "subject" | "uid" | "attempt" | "epoch" | "id";

export class InvalidSubjectError extends Error {
  override readonly name = "InvalidSubjectError";
  readonly retryable = false;
  constructor(
    readonly field: SubjectError,
    message: string,
  ) {
    super(message);
  }
}

/** Why a fold address cannot be put on a subject, or undefined when it can. Pure. */
export function checkAddress(address: FoldAddress): { field: SubjectError; detail: string } | undefined {
  if (!DNS_LABEL.test(address.namespace))
    return { field: "namespace", detail: `namespace ${JSON.stringify(address.namespace)} is not a DNS label` };
  if (!DNS_LABEL.test(address.run))
    return {
      field: "run",
      detail: `run ${JSON.stringify(address.run)} is not a DNS label (no dots, at most 63 lowercase characters)`,
    };
  if (!FOLD.test(address.fold))
    return { field: "fold", detail: `fold ${JSON.stringify(address.fold)} is not 0-4 or all` };
  return undefined;
}

function build(prefix: string, address: FoldAddress): string {
  const problem = checkAddress(address);
  if (problem) throw new InvalidSubjectError(problem.field, problem.detail);
  return `${prefix}.${address.namespace}.${address.run}.${address.fold}`;
}

export function epochSubject(address: FoldAddress): string {
  return build(EPOCH_PREFIX, address);
}

export function decisionSubject(address: FoldAddress): string {
  return build(DECISION_PREFIX, address);
}

export function heartbeatSubject(address: FoldAddress): string {
  return build(HEARTBEAT_PREFIX, address);
}

/**
 * Where a fold's replies (JetStream publish acks) arrive: its user may subscribe only
 * below this prefix, so it cannot read the replies of anyone else on the bus.
 */
export function foldInboxPrefix(address: FoldAddress): string {
  return build("_INBOX_FOLD", address);
}

/** All folds of one run: the filter early-stop purges a deleted run's epochs with. */
export function runEpochsFilter(namespace: string, run: string): string {
  const problem = checkAddress({ namespace, run, fold: "0" });
  if (problem) throw new InvalidSubjectError(problem.field, problem.detail);
  return `${EPOCH_PREFIX}.${namespace}.${run}.*`;
}

/** All runs of one namespace (kubectl nnunet curves export without a RUN). */
export function namespaceEpochsFilter(namespace: string): string {
  const problem = checkAddress({ namespace, run: "x", fold: "0" });
  if (problem) throw new InvalidSubjectError(problem.field, problem.detail);
  return `${EPOCH_PREFIX}.${namespace}.>`;
}

export function runHeartbeatsFilter(namespace: string, run: string): string {
  const problem = checkAddress({ namespace, run, fold: "0" });
  if (problem) throw new InvalidSubjectError(problem.field, problem.detail);
  return `${HEARTBEAT_PREFIX}.${namespace}.${run}.*`;
}

function parse(prefix: string, subject: string): Result<FoldAddress, SubjectError> {
  const head = `${prefix}.`;
  if (!subject.startsWith(head)) return fail("subject", `subject ${JSON.stringify(subject)} is not under ${prefix}`);
  const tokens = subject.slice(head.length).split(".");
  if (tokens.length !== 3) return fail("subject", `subject ${JSON.stringify(subject)} needs <namespace>.<run>.<fold>`);
  const [namespace, run, fold] = tokens as [string, string, string];
  const address = { namespace, run, fold };
  const problem = checkAddress(address);
  return problem ? fail(problem.field, problem.detail) : ok(address);
}

export function parseEpochSubject(subject: string): Result<FoldAddress, SubjectError> {
  return parse(EPOCH_PREFIX, subject);
}

export function parseHeartbeatSubject(subject: string): Result<FoldAddress, SubjectError> {
  return parse(HEARTBEAT_PREFIX, subject);
}

export function epochMessageId(id: EpochMessageId): string {
  if (!UID.test(id.runUid)) throw new InvalidSubjectError("uid", `run uid ${JSON.stringify(id.runUid)} is not a uid`);
  if (!FOLD.test(id.fold)) throw new InvalidSubjectError("fold", `fold ${JSON.stringify(id.fold)} is not 0-4 or all`);
  if (!Number.isSafeInteger(id.attempt) || id.attempt < 0)
    throw new InvalidSubjectError("attempt", `attempt ${id.attempt} is not a non-negative integer`);
  if (!Number.isSafeInteger(id.epoch) || id.epoch < 0)
    throw new InvalidSubjectError("epoch", `epoch ${id.epoch} is not a non-negative integer`);
  return `${id.runUid}/${id.fold}/${id.attempt}/${id.epoch}`;
}

export function parseEpochMessageId(value: string): Result<EpochMessageId, SubjectError> {
  const parts = value.split("/");
  if (parts.length !== 4)
    return fail("id", `message id ${JSON.stringify(value)} needs <runUid>/<fold>/<attempt>/<epoch>`);
  const [runUid, fold, attempt, epoch] = parts as [string, string, string, string];
  if (!UID.test(runUid)) return fail("uid", `run uid ${JSON.stringify(runUid)} is not a uid`);
  if (!FOLD.test(fold)) return fail("fold", `fold ${JSON.stringify(fold)} is not 0-4 or all`);
  if (!/^\d{1,15}$/.test(attempt))
    return fail("attempt", `attempt ${JSON.stringify(attempt)} is not a non-negative integer`);
  if (!/^\d{1,15}$/.test(epoch)) return fail("epoch", `epoch ${JSON.stringify(epoch)} is not a non-negative integer`);
  return ok({ runUid, fold, attempt: Number(attempt), epoch: Number(epoch) });
}
