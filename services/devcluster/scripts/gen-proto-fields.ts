import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";

// Transcribes the protobuf field numbers of the built-in kinds from the upstream
// generated.proto files (k8s.io/api, k8s.io/apimachinery) into upstream/proto-fields.json,
// the data the devcluster's generic protobuf decoder reads. The Go types beside each
// .proto add what the .proto lacks: the JSON name, inline (embedded) fields, and whether a
// zero value survives in JSON (a pointer, or a field without omitempty).
//
//   tsx scripts/gen-proto-fields.ts <kubernetes/api git dir> <kubernetes/apimachinery git dir>
//
// Both arguments are git directories (the `fetch` tool's mirrors); files are read at HEAD.

const [apiGit, machineryGit] = process.argv.slice(2);
if (!apiGit || !machineryGit)
  throw new Error("usage: gen-proto-fields.ts <kubernetes/api git dir> <kubernetes/apimachinery git dir>");

const git = (dir: string, ...args: string[]) =>
  execFileSync("git", ["--git-dir", dir, ...args], { encoding: "utf8", maxBuffer: 1 << 28 });
const SCALARS = new Set([
  "string",
  "bytes",
  "bool",
  "int32",
  "int64",
  "uint32",
  "uint64",
  "double",
  "float",
  "sint32",
  "sint64",
  "fixed32",
  "fixed64",
]);

interface GoField {
  json: string;
  omitempty: boolean;
  pointer: boolean;
  inline: boolean;
}
/** field number -> Go facts, per Go type name; plus the names of slice types (list wrappers). */
function parseGo(source: string, structs: Map<string, Map<number, GoField>>, wrappers: Set<string>): void {
  let current: Map<number, GoField> | undefined;
  for (const line of source.split("\n")) {
    const wrapper = /^type (\w+) \[\]\S+/.exec(line);
    if (wrapper) wrappers.add(wrapper[1]!);
    const start = /^type (\w+) struct \{/.exec(line);
    if (start) {
      current = new Map();
      structs.set(start[1]!, current);
      continue;
    }
    if (line.startsWith("}")) current = undefined;
    if (!current) continue;
    const m = /^\s+(?:(\w+)\s+)?(\*?)([\w.[\]*]+)\s+`([^`]*)`/.exec(line);
    if (!m) continue;
    const tags = m[4]!;
    const proto = /protobuf:"\w+,(\d+),/.exec(tags);
    if (!proto) continue;
    const json = /json:"([^"]*)"/.exec(tags)?.[1] ?? "";
    const [name = "", ...opts] = json.split(",");
    current.set(Number(proto[1]), {
      json: name,
      omitempty: opts.includes("omitempty"),
      pointer: m[2] === "*",
      inline: name === "",
    });
  }
}

type Field = [number, string, string, string];
const messages: Record<string, { fields: Field[]; wrapper?: true }> = {};
const groups: Record<string, string> = {};

function addPackage(dir: string, path: string, groupVersion: string | undefined): void {
  const files = git(dir, "ls-tree", "--name-only", "HEAD", `${path}/`)
    .split("\n")
    .filter(
      (f) =>
        f.endsWith(".go") && !f.endsWith("_test.go") && !f.includes("zz_generated") && !f.endsWith("generated.pb.go"),
    );
  const structs = new Map<string, Map<number, GoField>>();
  const wrappers = new Set<string>();
  for (const f of files) parseGo(git(dir, "show", `HEAD:${f}`), structs, wrappers);
  const proto = git(dir, "show", `HEAD:${path}/generated.proto`);
  const pkg = /^package ([\w.]+);/m.exec(proto)![1]!;
  if (groupVersion !== undefined) groups[groupVersion] = pkg;
  let name: string | undefined;
  let fields: Field[] = [];
  for (const line of proto.split("\n")) {
    const start = /^message (\w+) \{/.exec(line);
    if (start) {
      name = start[1]!;
      fields = [];
      continue;
    }
    if (line.startsWith("}") && name) {
      messages[`${pkg}.${name}`] = wrappers.has(name) ? { fields, wrapper: true } : { fields };
      name = undefined;
      continue;
    }
    if (!name) continue;
    const f = /^\s+(optional|repeated|required)?\s*(map<\s*([\w.]+),\s*([\w.]+)\s*>|[\w.]+)\s+(\w+)\s*=\s*(\d+)/.exec(
      line,
    );
    if (!f) continue;
    const resolve = (t: string) => (SCALARS.has(t) ? t : t.includes(".") ? t.replace(/^\./, "") : `${pkg}.${t}`);
    const type = f[3] ? `map:${resolve(f[3])}:${resolve(f[4]!)}` : resolve(f[2]!);
    const num = Number(f[6]);
    const go = structs.get(name)?.get(num);
    let flags = f[1] === "repeated" ? "r" : "";
    if (go?.inline) flags += "i";
    if (go && (go.pointer || !go.omitempty)) flags += "z";
    fields.push([num, go && !go.inline ? go.json : f[5]!, type, flags]);
  }
}

function groupOf(dir: string, path: string): string {
  for (const file of ["register.go", "doc.go"]) {
    let text = "";
    try {
      text = git(dir, "show", `HEAD:${path}/${file}`);
    } catch {
      continue;
    }
    const m = /const GroupName = "([^"]*)"/.exec(text) ?? /\+groupName=([\w.]*)/.exec(text);
    if (m) return m[1]!;
  }
  return "";
}

const apiPackages = git(apiGit, "ls-tree", "-r", "--name-only", "HEAD")
  .split("\n")
  .filter((f) => /^[\w]+\/v\d+\/generated\.proto$/.test(f))
  .map((f) => f.replace(/\/generated\.proto$/, ""));
for (const path of apiPackages) {
  const group = groupOf(apiGit, path);
  const version = path.split("/")[1]!;
  addPackage(apiGit, path, group ? `${group}/${version}` : version);
}
for (const path of ["pkg/apis/meta/v1", "pkg/runtime", "pkg/util/intstr", "pkg/api/resource", "pkg/runtime/schema"])
  addPackage(machineryGit, path, undefined);

const commit = (dir: string) => git(dir, "rev-parse", "HEAD").trim();
const out = {
  source: {
    note: "Transcribed by scripts/gen-proto-fields.ts from the upstream generated.proto files and the Go types beside them (field numbers, JSON names, inline and zero-value rules). Stable versions (vN) only.",
    repositories: [
      {
        repository: "https://github.com/kubernetes/api",
        commit: commit(apiGit),
        files: apiPackages.map((p) => `${p}/generated.proto`),
      },
      {
        repository: "https://github.com/kubernetes/apimachinery",
        commit: commit(machineryGit),
        files: [
          "pkg/apis/meta/v1/generated.proto",
          "pkg/runtime/generated.proto",
          "pkg/util/intstr/generated.proto",
          "pkg/api/resource/generated.proto",
          "pkg/runtime/schema/generated.proto",
        ],
      },
    ],
    license: "Apache-2.0, The Kubernetes Authors",
  },
  groups,
  messages,
};
writeFileSync(new URL("../upstream/proto-fields.json", import.meta.url), `${JSON.stringify(out)}\n`);
console.log(`${Object.keys(messages).length} messages, ${Object.keys(groups).length} group versions`);
