// Decoding never throws: a malformed input is a value the caller counts and skips.
export type Result<T, R extends string = string> = { ok: true; value: T } | { ok: false; reason: R; detail: string };

export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

export function fail<R extends string>(reason: R, detail: string): { ok: false; reason: R; detail: string } {
  return { ok: false, reason, detail };
}
