import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  classifyStatus,
  httpError,
  isAlreadyExists,
  isConflict,
  isGone,
  isNotFound,
  isRetryable,
  networkError,
  parseRetryAfter,
} from "./errors.js";

describe("classifyStatus", () => {
  const cases: Array<[string, number, object | undefined, string, boolean]> = [
    ["429 Too Many Requests is retried", 429, undefined, "TooManyRequests", true],
    ["500 Internal Error is retried", 500, { reason: "InternalError" }, "InternalError", true],
    ["503 from a proxy without a Status is retried", 503, undefined, "ServiceUnavailable", true],
    ["504 server timeout is retried", 504, { reason: "Timeout" }, "Timeout", true],
    ["an unknown 5xx is retried", 599, undefined, "InternalError", true],
    ["409 Conflict (stale resourceVersion) is retried after a re-read", 409, { reason: "Conflict" }, "Conflict", true],
    [
      "409 AlreadyExists is terminal: the same create fails forever",
      409,
      { reason: "AlreadyExists" },
      "AlreadyExists",
      false,
    ],
    [
      "404 of a named object is terminal",
      404,
      { kind: "Status", reason: "NotFound", details: { name: "r1", kind: "trainingruns" } },
      "NotFound",
      false,
    ],
    [
      "404 naming no object (a CRD not yet served) is retried",
      404,
      { kind: "Status", reason: "NotFound", details: {} },
      "NotFound",
      true,
    ],
    ["400 Bad Request is terminal", 400, { reason: "BadRequest" }, "BadRequest", false],
    ["403 Forbidden is terminal", 403, { reason: "Forbidden" }, "Forbidden", false],
    ["422 Invalid is terminal", 422, { reason: "Invalid" }, "Invalid", false],
    ["410 Expired is terminal for a request (informers re-list)", 410, { reason: "Expired" }, "Expired", false],
    ["415 (strategic merge on a custom resource) is terminal", 415, undefined, "UnsupportedMediaType", false],
    ["no response at all is retried", 0, undefined, "NetworkError", true],
  ];
  for (const [name, code, status, reason, retryable] of cases) {
    it(name, () => assert.deepEqual(classifyStatus(code, status), { reason, retryable }));
  }
});

describe("httpError", () => {
  it("keeps the Status message, reason and the server's Retry-After hint", () => {
    const body = JSON.stringify({ kind: "Status", code: 429, reason: "TooManyRequests", message: "slow down" });
    const err = httpError(429, body, { "retry-after": "3" }, { verb: "patch", resource: "jobs.batch" });
    assert.equal(err.name, "KubeApiError");
    assert.equal(err.code, 429);
    assert.equal(err.retryAfterMs, 3000);
    assert.match(err.message, /patch jobs\.batch: 429 TooManyRequests: slow down/);
    assert.equal(isRetryable(err), true);
  });

  it("quotes a body that is not JSON", () => {
    const err = httpError(502, "<html>bad gateway</html>", undefined);
    assert.match(err.message, /bad gateway/);
    assert.equal(err.status, undefined);
  });

  const predicates: Array<[string, number, string, (e: unknown) => boolean, boolean]> = [
    ["isNotFound holds for 404", 404, "NotFound", isNotFound, true],
    ["isConflict holds for a stale write", 409, "Conflict", isConflict, true],
    ["isConflict does not hold for AlreadyExists", 409, "AlreadyExists", isConflict, false],
    ["isAlreadyExists holds for AlreadyExists", 409, "AlreadyExists", isAlreadyExists, true],
    ["isGone holds for 410 Expired", 410, "Expired", isGone, true],
    ["isNotFound does not hold for 403", 403, "Forbidden", isNotFound, false],
  ];
  for (const [name, code, reason, predicate, expected] of predicates) {
    it(name, () => assert.equal(predicate(httpError(code, { kind: "Status", code, reason }, undefined)), expected));
  }

  it("treats errors that are not KubeApiErrors as retryable and as none of the specific cases", () => {
    assert.equal(isRetryable(new Error("?")), true);
    assert.equal(isNotFound(new Error("404")), false);
  });
});

describe("networkError and parseRetryAfter", () => {
  it("classifies a refused connection as a retryable network error with the cause kept", () => {
    const cause = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    const err = networkError(cause, "get", "pods");
    assert.equal(err.code, 0);
    assert.equal(err.reason, "NetworkError");
    assert.equal(err.retryable, true);
    assert.equal(err.cause, cause);
  });

  it("classifies an aborted request as a timeout", () => {
    const err = networkError(Object.assign(new Error("aborted"), { name: "AbortError" }));
    assert.equal(err.reason, "Timeout");
  });

  const retryAfter: Array<[string, string | undefined, number | undefined]> = [
    ["reads seconds", "2", 2000],
    ["reads an HTTP date relative to now", new Date(Date.UTC(2026, 0, 1, 0, 0, 5)).toUTCString(), 5000],
    ["ignores garbage", "soon", undefined],
    ["ignores a missing header", undefined, undefined],
  ];
  for (const [name, header, expected] of retryAfter) {
    it(`Retry-After ${name}`, () => assert.equal(parseRetryAfter(header, Date.UTC(2026, 0, 1)), expected));
  }
});
