import { ApiError, badRequest } from "../api/errors.js";
import { messageNameFor, META_V1, protoSchema, type ProtoField } from "./proto-schema.js";

// Protobuf request bodies (application/vnd.kubernetes.protobuf), as client-go's typed
// clients send them: kubectl create job|priorityclass|..., helm's DeleteOptions. Decodes
// the k8s envelope ("k8s\0" + runtime.Unknown) and then any stable built-in message into
// its JSON form, driven by the upstream field numbers (proto-schema.ts), not by layouts
// written per kind.

type Wire = { wire: number; value: bigint | Buffer };
type Fields = Map<number, Wire[]>;

function readFields(buf: Buffer): Fields {
  const out: Fields = new Map();
  let i = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= buf.length) throw badRequest("protobuf: unexpected end of message");
      const b = buf[i++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw badRequest("protobuf: varint overflow");
    }
  };
  const take = (n: number) => {
    if (i + n > buf.length) throw badRequest("protobuf: length out of range");
    const v = buf.subarray(i, i + n);
    i += n;
    return v;
  };
  while (i < buf.length) {
    const tag = varint();
    const field = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    let value: bigint | Buffer;
    if (wire === 0) value = varint();
    else if (wire === 2) value = take(Number(varint()));
    else if (wire === 1) value = take(8);
    else if (wire === 5) value = take(4);
    else throw badRequest(`protobuf: unsupported wire type ${wire}`);
    const list = out.get(field) ?? [];
    list.push({ wire, value });
    out.set(field, list);
  }
  return out;
}

const SECONDS_OF_GO_ZERO_TIME = -62135596800n;

function goDuration(ns: bigint): string {
  if (ns === 0n) return "0s";
  const sign = ns < 0n ? "-" : "";
  let n = ns < 0n ? -ns : ns;
  if (n < 1_000_000_000n) {
    const [unit, div] = n < 1000n ? ["ns", 1n] : n < 1_000_000n ? ["µs", 1000n] : ["ms", 1_000_000n];
    return `${sign}${trimFraction(n, div)}${unit}`;
  }
  const h = n / 3_600_000_000_000n;
  n -= h * 3_600_000_000_000n;
  const m = n / 60_000_000_000n;
  n -= m * 60_000_000_000n;
  return `${sign}${h > 0n ? `${h}h` : ""}${h > 0n || m > 0n ? `${m}m` : ""}${trimFraction(n, 1_000_000_000n)}s`;
}

function trimFraction(n: bigint, div: bigint): string {
  const whole = n / div;
  const frac = (n % div)
    .toString()
    .padStart(div.toString().length - 1, "0")
    .replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : `${whole}`;
}

function timestamp(f: Fields, micro: boolean): string | undefined {
  // Upstream writes the zero time as an empty message and reads seconds only for Time.
  if (f.size === 0) return undefined;
  const seconds = (scalar(f.get(1)?.at(-1), "int64") as number | undefined) ?? 0;
  const nanos = (scalar(f.get(2)?.at(-1), "int32") as number | undefined) ?? 0;
  if (BigInt(seconds) <= SECONDS_OF_GO_ZERO_TIME) return undefined;
  const iso = new Date(seconds * 1000).toISOString().slice(0, 19);
  return micro ? `${iso}.${String(Math.floor(nanos / 1000)).padStart(6, "0")}Z` : `${iso}Z`;
}

function rawJson(f: Fields, what: string): unknown {
  const raw = f.get(1)?.at(-1)?.value;
  if (!Buffer.isBuffer(raw) || raw.length === 0) return undefined;
  if (raw.subarray(0, 4).toString("latin1") === "k8s\0") return decodeProtobufObject(raw);
  try {
    return JSON.parse(raw.toString("utf8")) as unknown;
  } catch (error) {
    throw badRequest(`protobuf: ${what} does not hold JSON: ${(error as Error).message}`);
  }
}

/** Messages whose JSON form is not their fields (custom MarshalJSON upstream). */
const SPECIAL: Record<string, (f: Fields) => unknown> = {
  [`${META_V1}.Time`]: (f) => timestamp(f, false),
  [`${META_V1}.MicroTime`]: (f) => timestamp(f, true),
  [`${META_V1}.Duration`]: (f) => goDuration(BigInt((scalar(f.get(1)?.at(-1), "int64") as number | undefined) ?? 0)),
  [`${META_V1}.FieldsV1`]: (f) => rawJson(f, "FieldsV1"),
  "k8s.io.apimachinery.pkg.runtime.RawExtension": (f) => rawJson(f, "RawExtension"),
  "k8s.io.apimachinery.pkg.api.resource.Quantity": (f) => scalar(f.get(1)?.at(-1), "string") ?? "0",
  "k8s.io.apimachinery.pkg.util.intstr.IntOrString": (f) =>
    (scalar(f.get(1)?.at(-1), "int64") ?? 0) === 1
      ? (scalar(f.get(3)?.at(-1), "string") ?? "")
      : (scalar(f.get(2)?.at(-1), "int32") ?? 0),
};

function scalar(w: Wire | undefined, type: string): string | number | boolean | undefined {
  if (!w) return undefined;
  const v = w.value;
  if (type === "string") return Buffer.isBuffer(v) ? v.toString("utf8") : undefined;
  if (type === "bytes") return Buffer.isBuffer(v) ? v.toString("base64") : undefined;
  if (type === "double") return Buffer.isBuffer(v) && v.length === 8 ? v.readDoubleLE(0) : undefined;
  if (type === "float") return Buffer.isBuffer(v) && v.length === 4 ? v.readFloatLE(0) : undefined;
  if (typeof v !== "bigint") return undefined;
  if (type === "bool") return v !== 0n;
  return Number(type.startsWith("uint") ? v : BigInt.asIntN(64, v));
}

const isZero = (v: unknown) => v === "" || v === 0 || v === false;

function decodeValue(w: Wire, type: string): unknown {
  if (type.includes(".")) return Buffer.isBuffer(w.value) ? decodeMessage(readFields(w.value), type) : undefined;
  return scalar(w, type);
}

/** Packed repeated numbers (proto3 style) arrive as one length-delimited field. */
function unpack(w: Wire, type: string): Wire[] {
  if (!Buffer.isBuffer(w.value) || type === "string" || type === "bytes" || type.includes(".")) return [w];
  const values: Wire[] = [];
  const buf = w.value;
  let i = 0;
  while (i < buf.length) {
    if (type === "double" || type === "float") {
      const n = type === "double" ? 8 : 4;
      values.push({ wire: n === 8 ? 1 : 5, value: buf.subarray(i, i + n) });
      i += n;
      continue;
    }
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[i++];
      if (b === undefined) throw badRequest("protobuf: unexpected end of packed field");
      result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if ((b & 0x80) === 0) break;
    }
    values.push({ wire: 0, value: result });
  }
  return values;
}

function decodeField(out: Record<string, unknown>, field: ProtoField, wires: Wire[]): void {
  const [, name, type, flags] = field;
  if (type.startsWith("map:")) {
    const [, keyType, valueType] = type.split(":") as [string, string, string];
    const map: Record<string, unknown> = {};
    for (const w of wires) {
      if (!Buffer.isBuffer(w.value)) continue;
      const entry = readFields(w.value);
      const key = scalar(entry.get(1)?.at(-1), keyType) ?? "";
      const value = entry.get(2)?.at(-1);
      map[String(key)] = value
        ? decodeValue(value, valueType)
        : valueType.includes(".")
          ? {}
          : valueType === "string"
            ? ""
            : 0;
    }
    out[name] = map;
    return;
  }
  if (flags.includes("r")) {
    out[name] = wires.flatMap((w) => unpack(w, type)).map((w) => decodeValue(w, type));
    return;
  }
  const value = decodeValue(wires.at(-1)!, type);
  if (value === undefined) return;
  if (flags.includes("i") && typeof value === "object" && value !== null) {
    Object.assign(out, value);
    return;
  }
  if (!type.includes(".") && isZero(value) && !flags.includes("z")) return;
  out[name] = value;
}

function decodeMessage(f: Fields, type: string): unknown {
  const special = SPECIAL[type];
  if (special) return special(f);
  const message = protoSchema().messages[type];
  if (!message) throw badRequest(`protobuf: no field numbers known for ${type}`);
  if (message.wrapper) {
    const items = message.fields[0]!;
    return (f.get(items[0]) ?? []).map((w) => decodeValue(w, items[2]));
  }
  const out: Record<string, unknown> = {};
  for (const field of message.fields) {
    const wires = f.get(field[0]);
    if (wires?.length) decodeField(out, field, wires);
  }
  return out;
}

/** Decodes a whole request body: the "k8s\0" magic, runtime.Unknown, then the kind's message. */
export function decodeProtobufObject(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || body.subarray(0, 4).toString("latin1") !== "k8s\0")
    throw badRequest("provided input is not a Kubernetes protobuf object: missing magic number");
  const unknown = readFields(body.subarray(4));
  const typeMetaBuf = unknown.get(1)?.at(-1)?.value;
  const typeMeta = Buffer.isBuffer(typeMetaBuf) ? readFields(typeMetaBuf) : new Map<number, Wire[]>();
  const apiVersion = (scalar(typeMeta.get(1)?.at(-1), "string") as string | undefined) ?? "";
  const kind = (scalar(typeMeta.get(2)?.at(-1), "string") as string | undefined) ?? "";
  const raw = unknown.get(2)?.at(-1)?.value;
  const type = kind ? messageNameFor(apiVersion, kind) : undefined;
  if (!type) {
    throw new ApiError(
      415,
      "UnsupportedMediaType",
      `the body of type ${apiVersion || "?"}, Kind=${kind || "?"} cannot be decoded from protobuf: the devcluster knows the field numbers of the stable built-in kinds only; send application/json`,
    );
  }
  const decoded = decodeMessage(readFields(Buffer.isBuffer(raw) ? raw : Buffer.alloc(0)), type) as Record<
    string,
    unknown
  >;
  return { apiVersion, kind, ...decoded };
}
