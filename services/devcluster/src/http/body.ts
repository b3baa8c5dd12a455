import type { IncomingMessage } from "node:http";
import { parse as parseYaml } from "yaml";
import { ApiError, badRequest, tooLarge, unsupportedMediaType } from "../api/errors.js";
import type { FieldValidation, PatchType } from "../api/registry.js";
import { duplicateFields } from "./json-duplicates.js";
import { decodeProtobufObject } from "./protobuf.js";

// Request bodies: the real server's 3 MiB limit, content types per verb, and decoding
// errors reported as 400 with the decoder's message.

export const MAX_BODY_BYTES = 3 * 1024 * 1024;
/** Nesting deeper than this is refused (the real decoder stops at 10,000; our recursive merges want less). */
export const MAX_DEPTH = 1000;

/**
 * Drops own `__proto__` keys (an unknown field to any schema, and a prototype setter to
 * JavaScript) and refuses absurd nesting, without recursion.
 */
export function sanitize(value: unknown): unknown {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth > MAX_DEPTH) throw badRequest(`json: exceeded max depth of ${MAX_DEPTH}`);
    if (Array.isArray(v)) {
      for (const item of v) stack.push([item, depth + 1]);
      continue;
    }
    // biome-ignore lint/suspicious/noProto: removing a "__proto__" key from parsed JSON is the point
    if (Object.hasOwn(v, "__proto__")) delete (v as Record<string, unknown>)["__proto__"];
    for (const item of Object.values(v)) stack.push([item, depth + 1]);
  }
  return value;
}

export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > limit) {
      req.resume();
      reject(tooLarge(limit));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on("data", (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        chunks.length = 0;
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on("error", (error) => {
      if (!failed) reject(new ApiError(400, "BadRequest", `error reading request body: ${error.message}`));
    });
  });
}

const mediaType = (req: IncomingMessage) => (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();

function decodeJson(text: string, what: string): unknown {
  try {
    return sanitize(JSON.parse(text) as unknown);
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw badRequest(`${what}json parse error: ${(error as Error).message}`);
  }
}

function decodeYaml(text: string): unknown {
  try {
    const docs =
      text.trim() === ""
        ? null
        : (parseYaml(text, { prettyErrors: false, uniqueKeys: true, maxAliasCount: 100 }) as unknown);
    return sanitize(docs);
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw badRequest(`error converting YAML to JSON: yaml: ${(error as Error).message.split("\n")[0]}`);
  }
}

/** Decodes a create or update body (JSON or YAML). */
export function decodeObject(req: IncomingMessage, body: Buffer): unknown {
  const type = mediaType(req);
  const text = body.toString("utf8");
  if (type === "" || type === "application/json" || type === "*/*") {
    if (text.trim() === "") throw badRequest("Object 'Kind' is missing in ''");
    return decodeJson(text, "couldn't get version/kind; ");
  }
  if (type === "application/yaml" || type === "application/x-yaml" || type === "text/yaml") {
    const v = decodeYaml(text);
    if (v === null || typeof v !== "object") throw badRequest(`Object 'Kind' is missing in '${text.slice(0, 200)}'`);
    return v;
  }
  if (type === "application/vnd.kubernetes.protobuf") return decodeProtobufObject(body);
  throw unsupportedMediaType(["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]);
}

/**
 * Duplicate fields in a JSON create or update body, reported as the strict decoder does:
 * an error under fieldValidation=Strict, warnings under Warn, nothing under Ignore.
 */
export function checkDuplicateFields(
  req: IncomingMessage,
  body: Buffer,
  kind: string,
  version: string,
  validation: FieldValidation,
  warnings: string[],
): void {
  const type = mediaType(req);
  if (validation === "Ignore" || !(type === "" || type === "application/json" || type === "*/*")) return;
  const found = duplicateFields(body.toString("utf8")).map((path) => `duplicate field "${path}"`);
  if (found.length === 0) return;
  if (validation === "Strict")
    throw badRequest(
      `${kind} in version "${version}" cannot be handled as a ${kind}: strict decoding error: ${found.join(", ")}`,
    );
  warnings.push(...found);
}

const PATCH_TYPES: Record<string, PatchType> = {
  "application/json-patch+json": "json",
  "application/merge-patch+json": "merge",
  "application/strategic-merge-patch+json": "strategic",
  "application/apply-patch+yaml": "apply",
};

export function decodePatch(req: IncomingMessage, body: Buffer): { type: PatchType; patch: unknown } {
  const type = PATCH_TYPES[mediaType(req)];
  if (!type)
    throw unsupportedMediaType([
      "application/json-patch+json",
      "application/merge-patch+json",
      "application/apply-patch+yaml",
      "application/strategic-merge-patch+json",
    ]);
  const text = body.toString("utf8");
  if (type === "apply") {
    const v = decodeYaml(text);
    if (v === null || typeof v !== "object" || Array.isArray(v))
      throw badRequest("error decoding YAML: the apply patch must be a YAML or JSON object");
    return { type, patch: v };
  }
  if (text.trim() === "") throw badRequest("the body of the patch was empty");
  return { type, patch: decodeJson(text, "error decoding patch: ") };
}

/** A DELETE may carry DeleteOptions in its body: JSON, or protobuf from client-go's typed clients (helm uninstall). */
export function decodeDeleteOptions(req: IncomingMessage, body: Buffer): Record<string, unknown> {
  if (mediaType(req) === "application/vnd.kubernetes.protobuf" && body.length > 0) return decodeProtobufObject(body);
  const text = body.toString("utf8").trim();
  if (!text) return {};
  const v = decodeJson(text, "couldn't get version/kind; ");
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw badRequest("DeleteOptions must be an object");
  return v as Record<string, unknown>;
}
