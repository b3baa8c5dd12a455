// Typed errors of the Kubernetes port. Every failure of a request becomes a KubeApiError
// carrying the HTTP code, the Status reason and whether retrying can help, so controllers
// never retry what cannot succeed and never give up on what is transient.

/** The parts of a metav1.Status the classification reads. */
export interface KubeStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: {
    name?: string;
    kind?: string;
    group?: string;
    retryAfterSeconds?: number;
    causes?: Array<{ field?: string; message?: string; reason?: string }>;
  };
}

export interface KubeApiErrorInit {
  code: number;
  reason: string;
  retryable: boolean;
  status?: KubeStatus | undefined;
  retryAfterMs?: number | undefined;
  verb?: string | undefined;
  resource?: string | undefined;
  cause?: unknown;
}

export class KubeApiError extends Error {
  override readonly name = "KubeApiError";
  /** HTTP status code; 0 when no response arrived (network error, timeout). */
  readonly code: number;
  /** metav1.Status reason (NotFound, Conflict, AlreadyExists, Invalid, ...) or NetworkError/Timeout. */
  readonly reason: string;
  readonly retryable: boolean;
  readonly status: KubeStatus | undefined;
  /** Server's hint from Retry-After or details.retryAfterSeconds. */
  readonly retryAfterMs: number | undefined;
  readonly verb: string | undefined;
  readonly resource: string | undefined;

  constructor(message: string, init: KubeApiErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.reason = init.reason;
    this.retryable = init.retryable;
    this.status = init.status;
    this.retryAfterMs = init.retryAfterMs;
    this.verb = init.verb;
    this.resource = init.resource;
  }
}

const REASON_BY_CODE: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  406: "NotAcceptable",
  408: "Timeout",
  409: "Conflict",
  410: "Expired",
  413: "RequestEntityTooLarge",
  415: "UnsupportedMediaType",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

/**
 * Whether a response with this code and Status can succeed when sent again. Pure.
 * - 429, 408, every 5xx: the server is busy or broken for now.
 * - 409 Conflict: a stale resourceVersion; re-read and retry. 409 AlreadyExists is not
 *   retryable: the same create fails forever (callers treat it as success).
 * - 401: credentials rotate (projected service account tokens), so a retry may pass.
 * - 404 for a named object is terminal; a 404 without details names no object: the whole
 *   resource is not served yet (a CRD not yet established), which resolves by itself.
 * - 400, 403, 405, 410, 413, 415, 422: the request itself is wrong or forbidden.
 */
export function classifyStatus(code: number, status?: KubeStatus): { reason: string; retryable: boolean } {
  const reason = status?.reason || REASON_BY_CODE[code] || (code >= 500 ? "InternalError" : "Unknown");
  if (code === 0) return { reason: reason === "Unknown" ? "NetworkError" : reason, retryable: true };
  if (code === 429 || code === 408 || code >= 500) return { reason, retryable: true };
  if (code === 409) return { reason, retryable: reason !== "AlreadyExists" };
  if (code === 401) return { reason, retryable: true };
  if (code === 404) return { reason, retryable: !status?.details?.name };
  return { reason, retryable: false };
}

/** A failure before any response: every one of them is worth another try. */
export function networkError(err: unknown, verb?: string, resource?: string): KubeApiError {
  const code = (err as { code?: unknown })?.code;
  const timedOut =
    (err as { name?: string })?.name === "AbortError" ||
    (err as { name?: string })?.name === "TimeoutError" ||
    code === "ETIMEDOUT";
  const message = err instanceof Error ? err.message : String(err);
  return new KubeApiError(
    `${verb ?? "request"} ${resource ?? ""}: ${timedOut ? "timed out" : "no response"}: ${message}`.replace(
      / {2,}/g,
      " ",
    ),
    {
      code: 0,
      reason: timedOut ? "Timeout" : "NetworkError",
      retryable: true,
      verb,
      resource,
      cause: err,
    },
  );
}

/** Parses a response body into a Status when it is one. */
export function parseStatus(body: unknown): KubeStatus | undefined {
  let value = body;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as KubeStatus;
  return undefined;
}

/** Seconds (or an HTTP date) from a Retry-After header, in milliseconds. */
export function parseRetryAfter(header: string | undefined, nowMs: number): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

/** Builds the typed error for an HTTP failure response. */
export function httpError(
  code: number,
  body: unknown,
  headers: Record<string, string> | undefined,
  ctx: { verb?: string; resource?: string; nowMs?: number; cause?: unknown } = {},
): KubeApiError {
  const status = parseStatus(body);
  const { reason, retryable } = classifyStatus(code, status);
  const retryAfterMs =
    parseRetryAfter(headers?.["retry-after"], ctx.nowMs ?? Date.now()) ??
    (status?.details?.retryAfterSeconds !== undefined ? status.details.retryAfterSeconds * 1000 : undefined);
  const detail = status?.message ?? (typeof body === "string" ? body.slice(0, 300) : "");
  return new KubeApiError(
    `${ctx.verb ?? "request"} ${ctx.resource ?? ""}: ${code} ${reason}${detail ? `: ${detail}` : ""}`.replace(
      / {2,}/g,
      " ",
    ),
    {
      code,
      reason,
      retryable,
      status,
      retryAfterMs,
      verb: ctx.verb,
      resource: ctx.resource,
      cause: ctx.cause,
    },
  );
}

function asKubeError(err: unknown): KubeApiError | undefined {
  return err instanceof KubeApiError ? err : undefined;
}

export function isNotFound(err: unknown): boolean {
  return asKubeError(err)?.code === 404;
}

/** 409 with reason Conflict: the object changed since it was read. */
export function isConflict(err: unknown): boolean {
  const e = asKubeError(err);
  return e?.code === 409 && e.reason !== "AlreadyExists";
}

export function isAlreadyExists(err: unknown): boolean {
  const e = asKubeError(err);
  return e?.code === 409 && e.reason === "AlreadyExists";
}

/** 410: a watch or list resourceVersion too old; re-list. */
export function isGone(err: unknown): boolean {
  const e = asKubeError(err);
  return e?.code === 410 || e?.reason === "Expired" || e?.reason === "Gone";
}

export function isInvalid(err: unknown): boolean {
  return asKubeError(err)?.code === 422;
}

export function isForbidden(err: unknown): boolean {
  return asKubeError(err)?.code === 403;
}

/** Retryable KubeApiErrors and anything that is not a KubeApiError (unknown: try again). */
export function isRetryable(err: unknown): boolean {
  const e = asKubeError(err);
  return e ? e.retryable : true;
}
