import type { ServerResponse } from "node:http";
import { stringify as toYaml } from "yaml";
import { ApiError, internalError } from "../api/errors.js";
import type { ResponseFormat } from "./request-info.js";

// Writing responses: JSON (or YAML when asked), the Warning header, and every error as a
// metav1.Status body with its code.

export function sendJson(
  res: ServerResponse,
  code: number,
  body: unknown,
  format: ResponseFormat = "json",
  warnings: string[] = [],
): void {
  sendRaw(res, code, format === "yaml" ? toYaml(body) : JSON.stringify(body), format, warnings);
}

export function sendRaw(
  res: ServerResponse,
  code: number,
  text: string,
  format: ResponseFormat = "json",
  warnings: string[] = [],
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const type =
    format === "yaml"
      ? "application/yaml"
      : format === "table"
        ? "application/json;as=Table;v=v1;g=meta.k8s.io"
        : "application/json";
  const headers: Record<string, string | string[]> = { "content-type": type, "cache-control": "no-cache, private" };
  if (warnings.length > 0) headers["warning"] = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
  res.writeHead(code, headers);
  res.end(text);
}

export function sendError(res: ServerResponse, error: unknown, format: ResponseFormat = "json"): void {
  const api = error instanceof ApiError ? error : internalError(error instanceof Error ? error.message : String(error));
  sendJson(res, api.code, api.toStatus(), format === "yaml" ? "yaml" : "json");
}
