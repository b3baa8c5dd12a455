import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { queryFlag } from "./query.js";

// Cases transcribed from the rule in kubernetes/apimachinery pkg/runtime/conversion.go
// (Convert_Slice_string_To_bool), which the parameter codec applies to every bool option.
describe("boolean query parameters", () => {
  const cases: [string, boolean][] = [
    ["", false],
    ["watch=true", true],
    ["watch=True", true],
    ["watch=TRUE", true],
    ["watch=1", true],
    ["watch=t", true],
    ["watch=yes", true],
    ["watch=", true],
    ["watch", true],
    ["watch=false", false],
    ["watch=False", false],
    ["watch=FALSE", false],
    ["watch=0", false],
    ["watch=0&watch=1", false],
    ["watch=1&watch=0", true],
  ];
  for (const [query, want] of cases) {
    it(`reads ?${query} as ${want}`, () => assert.equal(queryFlag(new URLSearchParams(query), "watch"), want));
  }
});
