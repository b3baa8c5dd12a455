// Duplicate keys in a JSON body, by path, as kube-apiserver's strict decoder
// (sigs.k8s.io/json) names them: `duplicate field "spec.replicas"`. JSON.parse keeps the
// last value silently, which is also what the real decoder keeps; only the report differs.
// Assumes text that JSON.parse already accepted.

interface Frame {
  kind: "object" | "array";
  path: string;
  keys: Set<string>;
  index: number;
  /** Object: the next string is a key. */
  expectKey: boolean;
  lastKey: string;
}

const child = (f: Frame) =>
  f.kind === "array" ? `${f.path}[${f.index}]` : f.path ? `${f.path}.${f.lastKey}` : f.lastKey;

export function duplicateFields(text: string): string[] {
  const found: string[] = [];
  const stack: Frame[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const top = stack.at(-1);
    if (c === "{" || c === "[") {
      stack.push({
        kind: c === "{" ? "object" : "array",
        path: top ? child(top) : "",
        keys: new Set(),
        index: 0,
        expectKey: c === "{",
        lastKey: "",
      });
      i++;
    } else if (c === "}" || c === "]") {
      stack.pop();
      i++;
    } else if (c === ",") {
      if (top?.kind === "array") top.index++;
      else if (top) top.expectKey = true;
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (top?.kind === "object" && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) found.push(top.path ? `${top.path}.${key}` : key);
        top.keys.add(key);
        top.lastKey = key;
        top.expectKey = false;
      }
      i = j + 1;
    } else i++;
  }
  return found;
}
