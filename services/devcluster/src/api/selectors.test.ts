import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { ApiError } from "./errors.js";
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from "./selectors.js";
import type { KubeObject } from "./resources.js";

describe("label selectors", () => {
  const labels = { app: "web", tier: "front", version: "3" };
  const cases: [string, boolean][] = [
    ["", true],
    ["app=web", true],
    ["app==web", true],
    ["app!=web", false],
    ["app!=db", true],
    ["missing!=x", true],
    ["app in (db, web)", true],
    ["app notin (db,web)", false],
    ["missing notin (x)", true],
    ["tier", true],
    ["!tier", false],
    ["!missing", true],
    ["app=web,tier=back", false],
    ["app in (web),tier in (front, back),!missing", true],
    ["version>2", true],
    ["version<3", false],
  ];
  for (const [selector, want] of cases) {
    it(`${JSON.stringify(selector)} ${want ? "matches" : "does not match"} ${JSON.stringify(labels)}`, () => {
      assert.equal(matchesLabels(parseLabelSelector(selector), labels), want);
    });
  }

  for (const bad of ["app in (web", "app=web,", "a b c", "Bad Key=x", "app=not valid"]) {
    it(`rejects ${JSON.stringify(bad)} with 400`, () => {
      assert.throws(
        () => parseLabelSelector(bad),
        (e: unknown) => e instanceof ApiError && e.code === 400,
      );
    });
  }
});

describe("field selectors", () => {
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "p", namespace: "ns" },
    spec: { nodeName: "n1" },
    status: { phase: "Running" },
  } as KubeObject;
  const cases: [string, boolean][] = [
    ["metadata.name=p", true],
    ["metadata.name==p,metadata.namespace=ns", true],
    ["spec.nodeName=n2", false],
    ["spec.nodeName!=n2", true],
    ["status.phase=Running", true],
    ["spec.nodeName=", false],
  ];
  for (const [selector, want] of cases) {
    it(`${selector} ${want ? "matches" : "does not match"} a running pod on n1`, () => {
      assert.equal(matchesFields(parseFieldSelector(selector, "pods"), pod), want);
    });
  }

  it("refuses field labels a resource does not support, as the real server does", () => {
    assert.throws(
      () => parseFieldSelector("spec.nodeName=x", "configmaps"),
      /field label not supported: spec.nodeName/,
    );
  });
});
