import { readFileSync } from "node:fs";

// The protobuf field numbers of every stable built-in kind, transcribed from the upstream
// generated.proto files by scripts/gen-proto-fields.ts (attribution inside the data file).
// Read on first use: most devcluster runs never see a protobuf body.

/** [field number, JSON name, type, flags]: type is a scalar, a message's full name or `map:<key>:<value>`; flags: r repeated, i inline, z zero kept in JSON. */
export type ProtoField = [number, string, string, string];
export interface ProtoMessage {
  fields: ProtoField[];
  /** A Go slice type wrapped in a message (`items`), written as a plain JSON array. */
  wrapper?: true;
}
export interface ProtoSchema {
  groups: Record<string, string>;
  messages: Record<string, ProtoMessage>;
}

const DATA = new URL("../../upstream/proto-fields.json", import.meta.url);
let loaded: ProtoSchema | undefined;

export function protoSchema(): ProtoSchema {
  loaded ??= JSON.parse(readFileSync(DATA, "utf8")) as ProtoSchema;
  return loaded;
}

export const META_V1 = "k8s.io.apimachinery.pkg.apis.meta.v1";

/** The message of `apiVersion`/`kind`; options kinds (DeleteOptions) are meta/v1's in every group, as in the real scheme. */
export function messageNameFor(apiVersion: string, kind: string): string | undefined {
  const { groups, messages } = protoSchema();
  const pkg = groups[apiVersion];
  if (pkg && messages[`${pkg}.${kind}`]) return `${pkg}.${kind}`;
  if (messages[`${META_V1}.${kind}`]) return `${META_V1}.${kind}`;
  return undefined;
}
