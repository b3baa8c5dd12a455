// OpenAPI v2 documents in the protobuf form client-go asks for first
// (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`: kubectl's and helm's
// client-side validation, `kubectl explain` before 1.27). Field numbers transcribed from
// gnostic's openapiv2/OpenAPIv2.proto (https://github.com/google/gnostic-models, commit
// a84a29ee8efac8d764f8dd251aa316fcaa61c60c; Apache-2.0): Document, Info, Definitions,
// NamedSchema, Schema and the items Schema points to. Values of `default`, `enum`,
// `example` and vendor extensions travel as gnostic's Any with their YAML (JSON is YAML).

type Json = unknown;

class Writer {
  private readonly parts: Buffer[] = [];
  private varint(n: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(n));
    const bytes: number[] = [];
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) b |= 0x80;
      bytes.push(b);
    } while (v > 0n);
    this.parts.push(Buffer.from(bytes));
  }
  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }
  string(field: number, s: string | undefined): void {
    if (s === undefined || s === "") return;
    const b = Buffer.from(s, "utf8");
    this.tag(field, 2);
    this.varint(b.length);
    this.parts.push(b);
  }
  bytes(field: number, b: Buffer): void {
    this.tag(field, 2);
    this.varint(b.length);
    this.parts.push(b);
  }
  bool(field: number, v: unknown): void {
    if (v !== true) return;
    this.tag(field, 0);
    this.varint(1);
  }
  int(field: number, v: unknown): void {
    if (typeof v !== "number" || v === 0) return;
    this.tag(field, 0);
    this.varint(Math.trunc(v));
  }
  double(field: number, v: unknown): void {
    if (typeof v !== "number") return;
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    this.tag(field, 1);
    this.parts.push(b);
  }
  message(field: number, build: (w: Writer) => void): void {
    const w = new Writer();
    build(w);
    this.bytes(field, w.done());
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

const isObject = (v: Json): v is Record<string, Json> => typeof v === "object" && v !== null && !Array.isArray(v);
/** gnostic Any: yaml = 2. */
const any = (w: Writer, field: number, value: Json) => w.message(field, (a) => a.string(2, JSON.stringify(value)));
/** NamedAny { name = 1; Any value = 2 }. */
const extension = (w: Writer, field: number, name: string, value: Json) =>
  w.message(field, (n) => {
    n.string(1, name);
    any(n, 2, value);
  });

function schema(w: Writer, s: Json): void {
  if (!isObject(s)) return;
  w.string(1, s["$ref"] as string | undefined);
  w.string(2, s["format"] as string | undefined);
  w.string(3, s["title"] as string | undefined);
  w.string(4, s["description"] as string | undefined);
  if (s["default"] !== undefined) any(w, 5, s["default"]);
  w.double(6, s["multipleOf"]);
  w.double(7, s["maximum"]);
  w.bool(8, s["exclusiveMaximum"]);
  w.double(9, s["minimum"]);
  w.bool(10, s["exclusiveMinimum"]);
  w.int(11, s["maxLength"]);
  w.int(12, s["minLength"]);
  w.string(13, s["pattern"] as string | undefined);
  w.int(14, s["maxItems"]);
  w.int(15, s["minItems"]);
  w.bool(16, s["uniqueItems"]);
  w.int(17, s["maxProperties"]);
  w.int(18, s["minProperties"]);
  for (const r of Array.isArray(s["required"]) ? s["required"] : []) w.string(19, String(r));
  for (const e of Array.isArray(s["enum"]) ? s["enum"] : []) any(w, 20, e);
  const extra = s["additionalProperties"];
  if (typeof extra === "boolean") w.message(21, (a) => a.bool(2, extra));
  else if (isObject(extra)) w.message(21, (a) => a.message(1, (x) => schema(x, extra)));
  const type = s["type"];
  if (typeof type === "string" || Array.isArray(type))
    w.message(22, (t) => {
      for (const v of [type].flat()) t.string(1, String(v));
    });
  const items = s["items"];
  if (items !== undefined)
    w.message(23, (i) => {
      for (const item of [items].flat()) i.message(1, (x) => schema(x, item));
    });
  for (const sub of Array.isArray(s["allOf"]) ? s["allOf"] : []) w.message(24, (x) => schema(x, sub));
  if (isObject(s["properties"])) w.message(25, (p) => namedSchemas(p, 1, s["properties"] as Record<string, Json>));
  w.string(26, s["discriminator"] as string | undefined);
  w.bool(27, s["readOnly"]);
  if (s["example"] !== undefined) any(w, 30, s["example"]);
  for (const [k, v] of Object.entries(s)) if (k.startsWith("x-")) extension(w, 31, k, v);
}

/** repeated NamedSchema { name = 1; Schema value = 2 } */
function namedSchemas(w: Writer, field: number, map: Record<string, Json>): void {
  for (const [name, s] of Object.entries(map))
    w.message(field, (n) => {
      n.string(1, name);
      n.message(2, (x) => schema(x, s));
    });
}

/** Document { swagger = 1; Info info = 2; Paths paths = 8; Definitions definitions = 9 }: paths are not published. */
export function encodeOpenApiV2(doc: {
  swagger: string;
  info: { title: string; version: string };
  definitions: Record<string, Json>;
}): Buffer {
  const w = new Writer();
  w.string(1, doc.swagger);
  w.message(2, (i) => {
    i.string(1, doc.info.title);
    i.string(2, doc.info.version);
  });
  w.message(8, () => undefined);
  w.message(9, (d) => namedSchemas(d, 1, doc.definitions));
  return w.done();
}
