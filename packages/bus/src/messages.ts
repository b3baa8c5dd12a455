import { EpochMetrics, type EpochMetricsInput, Heartbeat, encodeLoss } from "@nnunet-operator/api";
import type { z } from "zod";
import { type Result, fail, ok } from "./result.js";
import { type FoldAddress, parseEpochSubject, parseHeartbeatSubject } from "./subjects.js";

// Wire format of the bus: UTF-8 JSON of the @nnunet-operator/api schemas, validated with zod
// on both sides. Losses may be NaN or infinite (a diverging run) and travel as "NaN",
// "Infinity", "-Infinity" (encodeLoss); after decoding they are numbers again. Decoding
// returns a Result: callers count the reason and skip the message, never crash on it.

/** Larger payloads are refused before parsing (1,024 classes of pseudo Dice fit well below). */
export const MAX_MESSAGE_BYTES = 256 * 1024;

export type DecodeReason = "too-large" | "encoding" | "json" | "schema" | "subject";
export type Decoded<T> = Result<T, DecodeReason>;

export class InvalidMessageError extends Error {
  override readonly name = "InvalidMessageError";
  readonly retryable = false;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

function summarize(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
    .join("; ");
}

type LossIn = number | "NaN" | "Infinity" | "-Infinity" | undefined;

function wireLoss(value: LossIn): LossIn {
  return typeof value === "number" ? encodeLoss(value) : value;
}

/**
 * JSON bytes of one epoch. Accepts the parsed form (losses as numbers, NaN included) or the
 * wire form; throws InvalidMessageError for a message that would not decode on the other side.
 */
export function encodeEpochMetrics(metrics: EpochMetrics | EpochMetricsInput): Uint8Array {
  const wire: Record<string, unknown> = { ...metrics };
  if (metrics.trainLoss !== undefined) wire.trainLoss = wireLoss(metrics.trainLoss as LossIn);
  if (metrics.valLoss !== undefined) wire.valLoss = wireLoss(metrics.valLoss as LossIn);
  const checked = EpochMetrics.safeParse(wire);
  if (!checked.success)
    throw new InvalidMessageError(`EpochMetrics: ${summarize(checked.error)}`, { cause: checked.error });
  return encoder.encode(JSON.stringify(wire));
}

export function encodeHeartbeat(heartbeat: Heartbeat): Uint8Array {
  const checked = Heartbeat.safeParse(heartbeat);
  if (!checked.success)
    throw new InvalidMessageError(`Heartbeat: ${summarize(checked.error)}`, { cause: checked.error });
  return encoder.encode(JSON.stringify(heartbeat));
}

function decodeJson<S extends z.ZodType>(schema: S, data: Uint8Array | string): Decoded<z.output<S>> {
  const size = typeof data === "string" ? data.length : data.byteLength;
  if (size > MAX_MESSAGE_BYTES) return fail("too-large", `${size} bytes is over ${MAX_MESSAGE_BYTES}`);
  let text: string;
  try {
    text = typeof data === "string" ? data : decoder.decode(data);
  } catch {
    return fail("encoding", "payload is not UTF-8");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return fail("json", err instanceof Error ? err.message : "not JSON");
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? ok(parsed.data) : fail("schema", summarize(parsed.error));
}

export function decodeEpochMetrics(data: Uint8Array | string): Decoded<EpochMetrics> {
  return decodeJson(EpochMetrics, data);
}

export function decodeHeartbeat(data: Uint8Array | string): Decoded<Heartbeat> {
  return decodeJson(Heartbeat, data);
}

function sameFold(a: FoldAddress, b: FoldAddress): boolean {
  return a.namespace === b.namespace && a.run === b.run && a.fold === b.fold;
}

/** Decodes and checks that the payload belongs on the subject it arrived on. */
export function decodeEpochMessage(subject: string, data: Uint8Array | string): Decoded<EpochMetrics> {
  const address = parseEpochSubject(subject);
  if (!address.ok) return fail("subject", address.detail);
  const decoded = decodeEpochMetrics(data);
  if (decoded.ok && !sameFold(address.value, decoded.value))
    return fail(
      "subject",
      `payload of ${decoded.value.namespace}/${decoded.value.run} fold ${decoded.value.fold} arrived on ${subject}`,
    );
  return decoded;
}

export function decodeHeartbeatMessage(subject: string, data: Uint8Array | string): Decoded<Heartbeat> {
  const address = parseHeartbeatSubject(subject);
  if (!address.ok) return fail("subject", address.detail);
  const decoded = decodeHeartbeat(data);
  if (decoded.ok && !sameFold(address.value, decoded.value))
    return fail(
      "subject",
      `payload of ${decoded.value.namespace}/${decoded.value.run} fold ${decoded.value.fold} arrived on ${subject}`,
    );
  return decoded;
}
