import type { FieldError } from "./errors.js";

// Turns the causes of @nnunet-operator/api's CRD validator into apimachinery field errors,
// so that 422 messages read like the real server's ("Invalid value: ...", "Unsupported
// value: ...: supported values: ...", the value's type for CEL rule failures).

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** The messages a schema's CEL rules state (a rule without one reports `failed rule: <rule>`). */
const ruleMessagesCache = new WeakMap<object, Set<string>>();
function ruleMessages(schema: object | undefined): Set<string> {
  if (!schema) return new Set();
  let found = ruleMessagesCache.get(schema);
  if (found) return found;
  found = new Set();
  const stack: unknown[] = [schema];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) stack.push(...node);
    else if (isObject(node)) {
      for (const rule of Array.isArray(node["x-kubernetes-validations"]) ? node["x-kubernetes-validations"] : []) {
        if (isObject(rule))
          found.add(typeof rule["message"] === "string" ? rule["message"] : `failed rule: ${String(rule["rule"])}`);
      }
      stack.push(...Object.values(node));
    }
  }
  ruleMessagesCache.set(schema, found);
  return found;
}

export function fromCause(
  c: { field: string; message: string; reason: string },
  object: unknown,
  schema?: object,
): FieldError {
  let value: unknown = object;
  const field = c.field === "(root)" ? "<nil>" : c.field;
  for (const part of c.field.replace(/\[(\d+)\]/g, ".$1").split(".")) {
    if (c.field === "(root)") break;
    value = isObject(value) || Array.isArray(value) ? (value as Record<string, unknown>)[part] : undefined;
  }
  // A CEL rule's message is shown as the CRD states it, even when it starts with the field's path.
  const fromSchema = !ruleMessages(schema).has(c.message) && c.message.startsWith(`${c.field} `);
  const detail = fromSchema ? c.message.slice(c.field.length + 1) : c.message;
  switch (c.reason) {
    // A CEL rule's message travels as the detail (field.Required(path, detail)); a schema
    // `required` has none.
    case "FieldValueRequired":
      return detail.startsWith("must have required property")
        ? { type: "FieldValueRequired", field }
        : { type: "FieldValueRequired", field, detail };
    case "FieldValueDuplicate":
      return { type: "FieldValueDuplicate", field, value };
    case "FieldValueNotSupported": {
      const m = /allowed values: (\[.*\])$/.exec(detail);
      const allowed = m ? (JSON.parse(m[1]!) as unknown[]).map((v) => JSON.stringify(v)).join(", ") : detail;
      return { type: "FieldValueNotSupported", field, value, detail: `supported values: ${allowed}` };
    }
    case "FieldValueForbidden":
      return { type: "FieldValueForbidden", field, detail };
    case "FieldValueTypeInvalid":
      return { type: "FieldValueTypeInvalid", field, value, detail };
    default: {
      // CEL rule failures name the type of the value, as the real server does.
      if (!fromSchema)
        value = Array.isArray(value)
          ? "array"
          : value === undefined || isObject(value)
            ? "object"
            : typeof value === "number"
              ? Number.isInteger(value)
                ? "integer"
                : "number"
              : typeof value;
      return { type: "FieldValueInvalid", field, value, detail };
    }
  }
}
