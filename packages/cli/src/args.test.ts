import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Invocation, parseArgs } from "./args.js";
import { UsageError } from "./errors.js";

const none = { allNamespaces: false };

const valid: Array<{ name: string; argv: string[]; want: Invocation }> = [
  { name: "no arguments asks for help", argv: [], want: { command: { name: "help" }, flags: none } },
  { name: "status lists runs", argv: ["status"], want: { command: { name: "status" }, flags: none } },
  {
    name: "status RUN in a namespace, flag before or after",
    argv: ["-n", "team-a", "status", "liver"],
    want: { command: { name: "status", run: "liver" }, flags: { allNamespaces: false, namespace: "team-a" } },
  },
  {
    name: "-A with an attached short value form elsewhere",
    argv: ["status", "-A", "--context=dev"],
    want: { command: { name: "status" }, flags: { allNamespaces: true, context: "dev" } },
  },
  {
    name: "-nNS and --kubeconfig PATH",
    argv: ["watch", "liver", "-nteam-b", "--kubeconfig", "/tmp/kc"],
    want: {
      command: { name: "watch", run: "liver", once: false },
      flags: { allNamespaces: false, namespace: "team-b", kubeconfig: "/tmp/kc" },
    },
  },
  {
    name: "stop with a fold and a reason",
    argv: ["stop", "liver", "--fold", "3", "--reason", "enough"],
    want: { command: { name: "stop", run: "liver", fold: "3", reason: "enough" }, flags: none },
  },
  {
    name: "logs follows a container of fold all",
    argv: ["logs", "liver", "--fold=all", "-f", "-c", "reporter"],
    want: { command: { name: "logs", run: "liver", fold: "all", follow: true, container: "reporter" }, flags: none },
  },
  {
    name: "explain a fold in the terminal",
    argv: ["explain", "liver", "--fold", "2"],
    want: { command: { name: "explain", run: "liver", fold: "2", stream: {} }, flags: none },
  },
  {
    name: "explain to an SVG file with a NATS URL and a credentials file",
    argv: [
      "explain",
      "liver",
      "--fold=all",
      "--output",
      "stop.SVG",
      "--nats",
      "nats://localhost:4222",
      "--creds",
      "/tmp/u.creds",
    ],
    want: {
      command: {
        name: "explain",
        run: "liver",
        fold: "all",
        output: "stop.SVG",
        stream: { nats: "nats://localhost:4222", creds: "/tmp/u.creds" },
      },
      flags: none,
    },
  },
  {
    name: "curves export of one run with a credentials Secret",
    argv: ["curves", "export", "liver", "--dir", "out", "--creds-secret", "nnunet-system/nats:user.creds"],
    want: {
      command: {
        name: "curves-export",
        run: "liver",
        dir: "out",
        stream: { credsSecret: "nnunet-system/nats:user.creds" },
      },
      flags: none,
    },
  },
  {
    name: "curves export of every namespace",
    argv: ["curves", "export", "-A", "--dir=all"],
    want: { command: { name: "curves-export", dir: "all", stream: {} }, flags: { allNamespaces: true } },
  },
  { name: "--help wins over a command", argv: ["stop", "--help"], want: { command: { name: "help" }, flags: none } },
];

const invalid: Array<{ name: string; argv: string[]; message: RegExp }> = [
  {
    name: "an unknown command",
    argv: ["stats"],
    message: /unknown command "stats": use one of status, watch, stop, logs/,
  },
  { name: "an unknown flag", argv: ["status", "--bogus"], message: /unknown flag --bogus/ },
  { name: "a flag of another command", argv: ["status", "-f"], message: /flag --follow does not apply to "status"/ },
  { name: "stop without a run", argv: ["stop", "--fold", "0"], message: /"stop" needs a RUN/ },
  {
    name: "stop without a fold",
    argv: ["stop", "liver"],
    message: /needs --fold N .*kubectl nnunet stop liver --fold 0/,
  },
  {
    name: "a fold that is not one",
    argv: ["logs", "liver", "--fold", "7"],
    message: /--fold 7 is not a fold: use 0 to 4 or all/,
  },
  { name: "a flag without its value", argv: ["status", "-n"], message: /flag --namespace needs a value/ },
  { name: "-n and -A together", argv: ["status", "-A", "-n", "x"], message: /either -n NAMESPACE or -A/ },
  { name: "two runs", argv: ["status", "a", "b"], message: /takes one RUN, got 2: a b/ },
  {
    name: "explain without a fold",
    argv: ["explain", "liver"],
    message: /"explain" needs --fold N .*kubectl nnunet explain liver --fold 0/,
  },
  {
    name: "explain to a PNG file",
    argv: ["explain", "liver", "--fold", "0", "--output", "a.png"],
    message: /--output a\.png: explain writes SVG; name the file FILE\.svg/,
  },
  { name: "curves without export", argv: ["curves", "list"], message: /"curves" has one subcommand, export/ },
  { name: "curves export without a folder", argv: ["curves", "export"], message: /needs --dir DIR/ },
  {
    name: "curves export of a run with -A",
    argv: ["curves", "export", "liver", "-A", "--dir", "d"],
    message: /names one run: drop -A or the RUN/,
  },
  {
    name: "both kinds of credentials",
    argv: ["curves", "export", "--dir", "d", "--creds", "f", "--creds-secret", "s"],
    message: /either --creds FILE or --creds-secret NAME/,
  },
  {
    name: "--dir on explain",
    argv: ["explain", "liver", "--fold", "0", "--dir", "d"],
    message: /flag --dir does not apply to "explain"/,
  },
  {
    name: "a value for a switch",
    argv: ["logs", "r", "--fold", "0", "--follow=yes"],
    message: /flag --follow takes no value/,
  },
];

describe("parseArgs", () => {
  for (const c of valid) it(`reads ${c.name}`, () => assert.deepEqual(parseArgs(c.argv), c.want));
  for (const c of invalid) {
    it(`refuses ${c.name} with exit code 2`, () => {
      assert.throws(
        () => parseArgs(c.argv),
        (err: unknown) => err instanceof UsageError && err.exitCode === 2 && c.message.test(err.message),
      );
    });
  }
});
