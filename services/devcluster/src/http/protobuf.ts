import { badRequest } from "../api/errors.js";

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

export function decodeProtobufObject(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || body.subarray(0, 4).toString("latin1") !== "k8s\0") throw badRequest("provided input is not a Kubernetes protobuf object: missing magic number");
  const unknown = readFields(body.subarray(4));
  const typeMeta = msg(unknown, 1);
  const apiVersion = typeMeta ? str(typeMeta, 1) : undefined;
  const kind = typeMeta ? str(typeMeta, 2) : undefined;
  const raw: Fields = msg(unknown, 2) ?? new Map();
  if (kind !== "SelfSubjectAccessReview" && kind !== "SubjectAccessReview") {
    throw badRequest(`protobuf bodies are only understood for access reviews, not ${kind ?? "unknown kinds"}; send application/json`);
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
