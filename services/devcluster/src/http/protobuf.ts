import { ApiError, badRequest } from "../api/errors.js";

// The few protobuf bodies kubectl sends for built-in types we must understand: kubectl's
// typed clients post SelfSubjectAccessReview and SubjectAccessReview as
// application/vnd.kubernetes.protobuf (`kubectl auth can-i`). Decodes the k8s envelope
// ("k8s\0" + runtime.Unknown) and those two messages into their JSON form.

type Fields = Map<number, (Buffer | number)[]>;

function readFields(buf: Buffer): Fields {
  const out: Fields = new Map();
  let i = 0;
  const varint = () => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (i >= buf.length) throw badRequest("protobuf: unexpected end of message");
      const b = buf[i++]!;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw badRequest("protobuf: varint overflow");
    }
  };
  while (i < buf.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    let value: Buffer | number;
    if (wire === 0) value = varint();
    else if (wire === 2) {
      const len = varint();
      if (i + len > buf.length) throw badRequest("protobuf: length out of range");
      value = buf.subarray(i, i + len);
      i += len;
    } else if (wire === 1) {
      value = 0;
      i += 8;
    } else if (wire === 5) {
      value = 0;
      i += 4;
    } else throw badRequest(`protobuf: unsupported wire type ${wire}`);
    const list = out.get(field) ?? [];
    list.push(value);
    out.set(field, list);
  }
  return out;
}

const str = (f: Fields, n: number) => {
  const v = f.get(n)?.[0];
  return Buffer.isBuffer(v) ? v.toString("utf8") : undefined;
};
const msg = (f: Fields, n: number) => {
  const v = f.get(n)?.[0];
  return Buffer.isBuffer(v) ? readFields(v) : undefined;
};

function compact(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== ""));
}

function resourceAttributes(f: Fields | undefined) {
  if (!f) return undefined;
  return compact({ namespace: str(f, 1), verb: str(f, 2), group: str(f, 3), version: str(f, 4), resource: str(f, 5), subresource: str(f, 6), name: str(f, 7) });
}

function nonResourceAttributes(f: Fields | undefined) {
  if (!f) return undefined;
  return compact({ path: str(f, 1), verb: str(f, 2) });
}

/** Field layouts of the built-in messages kubectl's typed clients send (`kubectl create ns|cm|secret|sa|role|rolebinding|...`). */
type Layout = Record<number, [string, "string" | "bytes" | "bool" | "int" | "map" | "bytesmap" | "strings" | Layout | [Layout]]>;
const OWNER_REF: Layout = { 1: ["kind", "string"], 3: ["name", "string"], 4: ["uid", "string"], 5: ["apiVersion", "string"], 6: ["controller", "bool"], 7: ["blockOwnerDeletion", "bool"] };
const OBJECT_META: Layout = { 1: ["name", "string"], 2: ["generateName", "string"], 3: ["namespace", "string"], 11: ["labels", "map"], 12: ["annotations", "map"], 13: ["ownerReferences", [OWNER_REF]], 14: ["finalizers", "strings"] };
const NAME_REF: Layout = { 1: ["name", "string"] };
const POLICY_RULE: Layout = { 1: ["verbs", "strings"], 2: ["apiGroups", "strings"], 3: ["resources", "strings"], 4: ["resourceNames", "strings"], 5: ["nonResourceURLs", "strings"] };
const SUBJECT: Layout = { 1: ["kind", "string"], 2: ["apiGroup", "string"], 3: ["name", "string"], 4: ["namespace", "string"] };
const ROLE_REF: Layout = { 1: ["apiGroup", "string"], 2: ["kind", "string"], 3: ["name", "string"] };
const BINDING: Layout = { 1: ["metadata", OBJECT_META], 2: ["subjects", [SUBJECT]], 3: ["roleRef", ROLE_REF] };
const LAYOUTS: Record<string, Layout> = {
  Role: { 1: ["metadata", OBJECT_META], 2: ["rules", [POLICY_RULE]] },
  ClusterRole: { 1: ["metadata", OBJECT_META], 2: ["rules", [POLICY_RULE]] },
  RoleBinding: BINDING,
  ClusterRoleBinding: BINDING,
  Namespace: { 1: ["metadata", OBJECT_META], 2: ["spec", { 1: ["finalizers", "strings"] }] },
  ConfigMap: { 1: ["metadata", OBJECT_META], 2: ["data", "map"], 3: ["binaryData", "bytesmap"], 4: ["immutable", "bool"] },
  Secret: { 1: ["metadata", OBJECT_META], 2: ["data", "bytesmap"], 3: ["type", "string"], 4: ["stringData", "map"], 5: ["immutable", "bool"] },
  ServiceAccount: { 1: ["metadata", OBJECT_META], 2: ["secrets", [{ 1: ["kind", "string"], 2: ["namespace", "string"], 3: ["name", "string"] }]], 3: ["imagePullSecrets", [NAME_REF]], 4: ["automountServiceAccountToken", "bool"] },
};

function decodeLayout(f: Fields, layout: Layout): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [num, [name, type]] of Object.entries(layout)) {
    const values = f.get(Number(num));
    if (!values?.length) continue;
    const bufs = values.filter(Buffer.isBuffer);
    // gogo-protobuf always writes non-pointer strings; empty means unset.
    if (type === "string") {
      const v = bufs[0]?.toString("utf8");
      if (v) out[name] = v;
    }
    else if (type === "bytes") out[name] = bufs[0]?.toString("base64");
    else if (type === "bool") out[name] = values[0] === 1;
    else if (type === "int") out[name] = values[0];
    else if (type === "strings") out[name] = bufs.map((b) => b.toString("utf8"));
    else if (type === "map" || type === "bytesmap") {
      const m: Record<string, string> = {};
      for (const entry of bufs) {
        const e = readFields(entry);
        const v = e.get(2)?.[0];
        m[str(e, 1) ?? ""] = Buffer.isBuffer(v) ? (type === "map" ? v.toString("utf8") : v.toString("base64")) : "";
      }
      out[name] = m;
    } else if (Array.isArray(type)) out[name] = bufs.map((b) => decodeLayout(readFields(b), type[0]));
    else if (bufs[0]) out[name] = decodeLayout(readFields(bufs[0]), type);
  }
  return out;
}

export function decodeProtobufObject(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || body.subarray(0, 4).toString("latin1") !== "k8s\0") throw badRequest("provided input is not a Kubernetes protobuf object: missing magic number");
  const unknown = readFields(body.subarray(4));
  const typeMeta = msg(unknown, 1);
  const apiVersion = typeMeta ? str(typeMeta, 1) : undefined;
  const kind = typeMeta ? str(typeMeta, 2) : undefined;
  const raw: Fields = msg(unknown, 2) ?? new Map();
  const layout = kind ? LAYOUTS[kind] : undefined;
  if (layout) return { apiVersion, kind, ...decodeLayout(raw, layout) };
  if (kind !== "SelfSubjectAccessReview" && kind !== "SubjectAccessReview") {
    throw new ApiError(415, "UnsupportedMediaType", `the devcluster decodes protobuf only for ${[...Object.keys(LAYOUTS), "SelfSubjectAccessReview", "SubjectAccessReview"].join(", ")}, not ${kind ?? "this object"}; send application/json`);
  }
  const spec: Fields = msg(raw, 2) ?? new Map();
  const out: Record<string, unknown> = compact({
    resourceAttributes: resourceAttributes(msg(spec, 1)),
    nonResourceAttributes: nonResourceAttributes(msg(spec, 2)),
  });
  if (kind === "SubjectAccessReview") {
    const user = str(spec, 3);
    if (user) out["user"] = user;
    const groups = (spec.get(4) ?? []).filter(Buffer.isBuffer).map((b) => b.toString("utf8"));
    if (groups.length) out["groups"] = groups;
  }
  return { apiVersion, kind, metadata: {}, spec: out };
}
