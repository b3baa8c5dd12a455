// Boolean query parameters as kube-apiserver reads them (apimachinery's
// Convert_Slice_string_To_bool and the request-info watch check): absent is false; "0"
// and "false" in any letter case are false; any other value, "" included, is true. So the
// Python client's `watch=True` and `force=True` mean true, as they do on a real cluster.

export function queryFlag(query: URLSearchParams, name: string): boolean {
  const values = query.getAll(name);
  if (values.length === 0) return false;
  const first = values[0]!;
  return !(first === "0" || first.toLowerCase() === "false");
}
