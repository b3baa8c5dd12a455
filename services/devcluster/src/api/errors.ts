// metav1.Status error bodies shaped exactly like kube-apiserver's (k8s.io/apimachinery
// pkg/api/errors). Every failure the emulator reports goes through ApiError so that a
// client's error handling (client-go, client-node, kubectl) sees what it would see in a
// real cluster.

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Failure" | "Success";
  message: string;
  reason: string;
  details?: StatusDetails;
  code: number;
}

export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  toStatus(): Status {
    // Key order as the real server serialises metav1.Status.
    const status: Status = {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: this.message,
      reason: this.reason,
      ...(this.details !== undefined ? { details: this.details } : {}),
      code: this.code,
    };
    // metav1.Status omits an empty reason (StatusReasonUnknown).
    if (!this.reason) delete (status as Partial<Status>).reason;
    return status;
  }
}

/** The qualified resource as the real server prints it: `pods`, `jobs.batch`. */
export interface GroupResource {
  group: string;
  resource: string;
}

const qualified = (gr: GroupResource) => (gr.group ? `${gr.resource}.${gr.group}` : gr.resource);
function details(gr: GroupResource, name: string | undefined, kind = gr.resource): StatusDetails {
  const d: StatusDetails = {};
  if (name !== undefined) d.name = name;
  if (gr.group) d.group = gr.group;
  d.kind = kind;
  return d;
}

export const notFound = (gr: GroupResource, name: string) =>
  new ApiError(404, "NotFound", `${qualified(gr)} "${name}" not found`, details(gr, name));

export const alreadyExists = (gr: GroupResource, name: string) =>
  new ApiError(409, "AlreadyExists", `${qualified(gr)} "${name}" already exists`, details(gr, name));

export const conflict = (gr: GroupResource, name: string, why: string) =>
  new ApiError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualified(gr)} "${name}": ${why}`,
    details(gr, name),
  );

export const staleConflict = (gr: GroupResource, name: string) =>
  conflict(gr, name, "the object has been modified; please apply your changes to the latest version and try again");

/** The storage layer's answer to a UID precondition (a PUT carrying another object's uid), in its words. */
export const uidPreconditionFailed = (
  gr: GroupResource & { custom?: boolean; namespaced?: boolean },
  namespace: string | undefined,
  name: string,
  wanted: string,
  actual: string,
) => {
  const key = [
    "/registry",
    ...(gr.custom ? [gr.group] : []),
    gr.resource,
    ...(gr.namespaced && namespace ? [namespace] : []),
    name,
  ].join("/");
  return conflict(
    gr,
    name,
    `StorageError: invalid object, Code: 4, Key: ${key}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: ${wanted}, UID in object meta: ${actual}`,
  );
};

export const badRequest = (message: string) => new ApiError(400, "BadRequest", message);

/** etcd refusing an object over its request limit: kube-apiserver passes the error through as a 500 with no reason. */
export const requestTooLarge = () => new ApiError(500, "", "etcdserver: request is too large");

export const methodNotAllowed = () =>
  new ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {});

export const resourceNotFound = () =>
  new ApiError(404, "NotFound", "the server could not find the requested resource", {});

export const unsupportedMediaType = (accepted: readonly string[]) =>
  new ApiError(
    415,
    "UnsupportedMediaType",
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(", ")}`,
  );

export const notAcceptable = (accepted: readonly string[]) =>
  new ApiError(406, "NotAcceptable", `only the following media types are accepted: ${accepted.join(", ")}`);

export const tooLarge = (limit: number) =>
  new ApiError(413, "RequestEntityTooLarge", `the request is too large: limit is ${limit}`);

export const expired = (message: string) => new ApiError(410, "Expired", message);

export const unauthorized = () => new ApiError(401, "Unauthorized", "Unauthorized");

export const internalError = (message: string) =>
  new ApiError(500, "InternalError", `Internal error occurred: ${message}`, { causes: [{ message }] });

export const forbidden = (gr: GroupResource, name: string | undefined, why: string) => {
  const subject = name === undefined ? qualified(gr) : `${qualified(gr)} "${name}"`;
  return new ApiError(403, "Forbidden", `${subject} is forbidden: ${why}`, details(gr, name));
};

/** A field error as apimachinery's field.Error formats it. */
export interface FieldError {
  type:
    | "FieldValueRequired"
    | "FieldValueInvalid"
    | "FieldValueNotSupported"
    | "FieldValueDuplicate"
    | "FieldValueForbidden"
    | "FieldValueTooLong"
    | "FieldValueTypeInvalid"
    | "FieldValueNotFound"
    | "FieldValueTooMany";
  field: string;
  value?: unknown;
  detail?: string;
}

const TYPE_TEXT: Record<FieldError["type"], string> = {
  FieldValueRequired: "Required value",
  FieldValueInvalid: "Invalid value",
  FieldValueNotSupported: "Unsupported value",
  FieldValueDuplicate: "Duplicate value",
  FieldValueForbidden: "Forbidden",
  FieldValueTooLong: "Too long",
  FieldValueTypeInvalid: "Invalid value",
  FieldValueNotFound: "Not found",
  FieldValueTooMany: "Too many",
};

/** field.Error.ErrorBody(): the value is omitted for Required, Forbidden and TooLong. */
export function fieldErrorBody(e: FieldError): string {
  let body = TYPE_TEXT[e.type];
  const omitValue =
    e.type === "FieldValueRequired" || e.type === "FieldValueForbidden" || e.type === "FieldValueTooLong";
  if (!omitValue && e.value !== undefined) {
    body += `: ${typeof e.value === "string" ? JSON.stringify(e.value) : typeof e.value === "object" ? JSON.stringify(e.value) : String(e.value)}`;
  }
  if (e.detail) body += `: ${e.detail}`;
  return body;
}

/** 422 Invalid: `Kind.group "name" is invalid: [a, b]` with one cause per field error. */
export function invalid(kind: string, group: string, name: string, errors: readonly FieldError[]): ApiError {
  const texts = errors.map((e) => `${e.field}: ${fieldErrorBody(e)}`);
  const joined = texts.length === 1 ? texts[0]! : `[${texts.join(", ")}]`;
  const qualifiedKind = group ? `${kind}.${group}` : kind;
  const d: StatusDetails = { name };
  if (group) d.group = group;
  d.kind = kind;
  d.causes = errors.map((e) => ({ reason: e.type, message: fieldErrorBody(e), field: e.field }));
  return new ApiError(422, "Invalid", `${qualifiedKind} "${name}" is invalid: ${joined}`, d);
}
