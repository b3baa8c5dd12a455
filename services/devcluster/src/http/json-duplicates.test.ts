import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { duplicateFields } from "./json-duplicates.js";

describe("duplicate JSON fields", () => {
  const cases: [string, string, string[]][] = [
    ["no duplicates", '{"a":1,"b":{"a":2}}', []],
    ["a duplicate at the top", '{"kind":"ConfigMap","kind":"ConfigMap"}', ["kind"]],
    ["a duplicate map key, by path", '{"metadata":{"name":"x"},"data":{"k":"1","k":"2"}}', ["data.k"]],
    [
      "a duplicate inside a list item, by index",
      '{"spec":{"containers":[{"name":"a"},{"name":"b","image":"x","image":"y"}]}}',
      ["spec.containers[1].image"],
    ],
    ["keys that only look alike through escapes", '{"a\\"b":1,"a\\u0022b":2}', ['a"b']],
    ["strings holding braces and commas", '{"a":"{,}[","a":"]"}', ["a"]],
  ];
  for (const [name, text, want] of cases) it(`finds ${name}`, () => assert.deepEqual(duplicateFields(text), want));
});
