import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { describe, it } from "node:test";
import { CliError, UsageError } from "./errors.js";
import { loadTarget } from "./kubeconfig.js";

const dir = mkdtempSync(join(tmpdir(), "kubectl-nnunet-kc-"));

function config(file: string, contexts: Array<{ name: string; namespace?: string }>, current: string): string {
  const path = join(dir, file);
  const yaml = [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: c",
    "  cluster: { server: 'https://127.0.0.1:6443' }",
    "users:",
    "- name: u",
    "  user: { token: t }",
    "contexts:",
    ...contexts.map(
      (c) => `- name: ${c.name}\n  context: { cluster: c, user: u${c.namespace ? `, namespace: ${c.namespace}` : ""} }`,
    ),
    `current-context: ${current}`,
  ].join("\n");
  writeFileSync(path, yaml);
  return path;
}

const first = config("first", [{ name: "dev", namespace: "team-a" }], "dev");
const second = config("second", [{ name: "prod" }], "prod");
const home = mkdtempSync(join(tmpdir(), "kubectl-nnunet-home-"));

describe("loadTarget", () => {
  const cases = [
    {
      name: "the context's namespace by default",
      flags: {},
      env: { KUBECONFIG: first },
      context: "dev",
      namespace: "team-a",
    },
    {
      name: "-n over the context's namespace",
      flags: { namespace: "x" },
      env: { KUBECONFIG: first },
      context: "dev",
      namespace: "x",
    },
    {
      name: "-A: every namespace",
      flags: { allNamespaces: true },
      env: { KUBECONFIG: first },
      context: "dev",
      namespace: undefined,
    },
    {
      name: "several KUBECONFIG files merged, the first one's current context wins",
      flags: {},
      env: { KUBECONFIG: [first, second].join(delimiter) },
      context: "dev",
      namespace: "team-a",
    },
    {
      name: "--context picks a context of the second file, whose namespace defaults to default",
      flags: { context: "prod" },
      env: { KUBECONFIG: [first, second].join(delimiter) },
      context: "prod",
      namespace: "default",
    },
    {
      name: "--kubeconfig over KUBECONFIG",
      flags: { kubeconfig: second },
      env: { KUBECONFIG: first },
      context: "prod",
      namespace: "default",
    },
  ];
  for (const c of cases) {
    it(`reads ${c.name}`, () => {
      const target = loadTarget({ allNamespaces: false, ...c.flags }, c.env);
      assert.equal(target.kubeConfig.getCurrentContext(), c.context);
      assert.equal(target.namespace, c.namespace);
    });
  }

  const failures = [
    {
      name: "a --kubeconfig that does not exist (usage, 2)",
      flags: { kubeconfig: join(dir, "nope") },
      env: {},
      type: UsageError,
      message: /--kubeconfig .*nope: no such file/,
    },
    {
      name: "a KUBECONFIG naming no file",
      flags: {},
      env: { KUBECONFIG: join(dir, "nope") },
      type: CliError,
      message: /KUBECONFIG=.* names no existing file: fix it or pass --kubeconfig PATH/,
    },
    {
      name: "no kubeconfig at all",
      flags: {},
      env: { HOME: home },
      type: CliError,
      message: /no kubeconfig found: set KUBECONFIG or pass --kubeconfig PATH/,
    },
    {
      name: "an unknown --context, listing the known ones",
      flags: { context: "stage" },
      env: { KUBECONFIG: first },
      type: UsageError,
      message: /context "stage" is not in .* \(contexts: dev\)/,
    },
  ];
  for (const c of failures) {
    it(`refuses ${c.name}`, () => {
      assert.throws(
        () => loadTarget({ allNamespaces: false, ...c.flags }, c.env),
        (err: unknown) => err instanceof c.type && c.message.test((err as Error).message),
      );
    });
  }
});
