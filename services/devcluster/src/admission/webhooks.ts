import { randomUUID } from "node:crypto";
import { Environment } from "@marcbachmann/cel-js";
import { z } from "zod";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { ApiError, internalError } from "../api/errors.js";
import type { AdmissionAttributes } from "../api/registry.js";
import type { KubeObject } from "../api/resources.js";
import { fromLabelSelectorObject, matchesLabels } from "../api/selectors.js";
import type { Store } from "../api/store.js";
import { resolveServiceEndpoint, type Dial } from "../workloads/service-endpoints.js";

// Validating admission webhooks: every ValidatingWebhookConfiguration in the store is
// matched against the request (rules, scope, namespace and object selectors, CEL
// matchConditions), and each
// matching webhook gets an AdmissionReview v1 over HTTP(S). A denial is returned with the
// real server's "admission webhook ... denied the request" message; a call that fails
// follows failurePolicy (Fail: 500, Ignore: allowed).

const STORAGE = "validatingwebhookconfigurations.admissionregistration.k8s.io";

interface Rule {
  operations?: string[];
  apiGroups?: string[];
  apiVersions?: string[];
  resources?: string[];
  scope?: "Cluster" | "Namespaced" | "*";
}

interface Webhook {
  name: string;
  clientConfig: {
    url?: string;
    service?: { namespace: string; name: string; path?: string; port?: number };
    caBundle?: string;
  };
  rules?: Rule[];
  failurePolicy?: "Fail" | "Ignore";
  namespaceSelector?: Parameters<typeof fromLabelSelectorObject>[0];
  objectSelector?: Parameters<typeof fromLabelSelectorObject>[0];
  timeoutSeconds?: number;
  admissionReviewVersions?: string[];
  matchConditions?: { name: string; expression: string }[];
}

/** What the API server reads from a webhook's answer (AdmissionReview v1 response). */
const AdmissionReviewResponse = z.object({
  response: z.object({
    uid: z.string(),
    allowed: z.boolean(),
    status: z
      .object({ code: z.number().int().optional(), message: z.string().optional(), reason: z.string().optional() })
      .optional(),
    warnings: z.array(z.string()).optional(),
  }),
});

const cel = new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false });

/** matchConditions: every CEL expression must hold for the webhook to be called. */
function conditionsHold(hook: Webhook, a: AdmissionAttributes): boolean {
  const conditions = hook.matchConditions ?? [];
  if (conditions.length === 0) return true;
  const vars = {
    object: a.object ?? null,
    oldObject: a.oldObject ?? null,
    request: {
      operation: a.operation,
      name: a.name,
      namespace: a.namespace ?? "",
      userInfo: { username: a.user.username, groups: a.user.groups },
      resource: { group: a.def.group, version: a.def.version, resource: a.def.resource },
      subResource: a.subresource ?? "",
    },
  };
  for (const c of conditions) {
    let holds: unknown;
    try {
      holds = cel.evaluate(c.expression, vars);
    } catch (error) {
      if ((hook.failurePolicy ?? "Fail") === "Ignore") return false;
      throw internalError(
        `failed calling webhook "${hook.name}": matchCondition "${c.name}" could not be evaluated: ${(error as Error).message}`,
      );
    }
    if (holds !== true) return false;
  }
  return true;
}

export interface WebhookOptions {
  /** Resolves a service reference to a base URL (`https://127.0.0.1:9443`); the path is appended. */
  resolveService?: (service: { namespace: string; name: string; port?: number }) => string | undefined;
}

const matchList = (list: string[] | undefined, value: string) => (list ?? []).some((x) => x === "*" || x === value);

function matchesRule(rule: Rule, a: AdmissionAttributes): boolean {
  if (!matchList(rule.operations, a.operation)) return false;
  if (!matchList(rule.apiGroups, a.def.group) || !matchList(rule.apiVersions, a.def.version)) return false;
  const full = a.subresource ? `${a.def.resource}/${a.subresource}` : a.def.resource;
  const resourceOk = (rule.resources ?? []).some((r) => {
    if (r === "*/*") return true;
    if (r === "*") return !a.subresource;
    const [res, sub] = r.split("/");
    if (res === "*") return sub === a.subresource;
    if (sub === "*") return res === a.def.resource;
    return r === full;
  });
  if (!resourceOk) return false;
  const scope = rule.scope ?? "*";
  if (scope === "Cluster" && a.def.namespaced) return false;
  if (scope === "Namespaced" && !a.def.namespaced) return false;
  return true;
}

export function createWebhookAdmission(store: Store, options: WebhookOptions = {}) {
  return async function admit(a: AdmissionAttributes): Promise<void> {
    if (store.count(STORAGE) === 0) return;
    // The API server does not call webhooks about webhook configurations.
    if (a.def.group === "admissionregistration.k8s.io") return;
    const hooks: Webhook[] = [];
    for (const entry of store.scan(STORAGE)) hooks.push(...((entry.object as { webhooks?: Webhook[] }).webhooks ?? []));
    const obj = a.object ?? a.oldObject;
    for (const hook of hooks) {
      if (!(hook.rules ?? []).some((r) => matchesRule(r, a))) continue;
      if (hook.objectSelector) {
        const sel = fromLabelSelectorObject(hook.objectSelector);
        if (!matchesLabels(sel, a.object?.metadata.labels) && !matchesLabels(sel, a.oldObject?.metadata.labels))
          continue;
      }
      if (hook.namespaceSelector && a.def.namespaced && a.namespace) {
        const ns = store.get("namespaces", undefined, a.namespace);
        if (!matchesLabels(fromLabelSelectorObject(hook.namespaceSelector), ns?.metadata.labels)) continue;
      }
      if (!conditionsHold(hook, a)) continue;
      await callWebhook(store, hook, a, obj, options);
    }
  };
}

async function callWebhook(
  store: Store,
  hook: Webhook,
  a: AdmissionAttributes,
  obj: KubeObject | undefined,
  options: WebhookOptions,
): Promise<void> {
  const timeout = (hook.timeoutSeconds ?? 10) * 1000;
  let url: string | undefined = hook.clientConfig.url;
  const svc = hook.clientConfig.service;
  let dial: Dial | undefined;
  let noEndpoints: string | undefined;
  if (!url && svc) {
    const base = options.resolveService?.(svc);
    url = base ? `${base.replace(/\/$/, "")}${svc.path ?? ""}` : undefined;
    if (!url) {
      // As kube-apiserver does: the service's DNS name for TLS, a ready endpoint to dial.
      const r = resolveServiceEndpoint(store, svc);
      if ("error" in r) noEndpoints = r.error;
      else {
        url = `https://${svc.name}.${svc.namespace}.svc:${svc.port ?? 443}${svc.path ?? ""}`;
        dial = r;
      }
    }
  }
  const gvk = { group: a.def.group, version: a.def.version, kind: a.def.kind };
  const gvr = { group: a.def.group, version: a.def.version, resource: a.def.resource };
  const uid = randomUUID();
  const review = {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid,
      kind: gvk,
      resource: gvr,
      requestKind: gvk,
      requestResource: gvr,
      ...(a.subresource ? { subResource: a.subresource, requestSubResource: a.subresource } : {}),
      name: a.name || obj?.metadata.name || "",
      ...(a.namespace ? { namespace: a.namespace } : {}),
      operation: a.operation,
      userInfo: { username: a.user.username, ...(a.user.uid ? { uid: a.user.uid } : {}), groups: a.user.groups },
      object: a.object ?? null,
      oldObject: a.oldObject ?? null,
      dryRun: a.dryRun,
      options: a.options,
    },
  };
  const fail = (why: string) => {
    if ((hook.failurePolicy ?? "Fail") === "Ignore") return;
    throw internalError(`failed calling webhook "${hook.name}": ${why}`);
  };
  if (!url)
    return fail(
      noEndpoints ?? `failed to call webhook: service ${svc?.namespace ?? ""}/${svc?.name ?? ""} has no endpoints`,
    );
  const target = `${url}${url.includes("?") ? "&" : "?"}timeout=${timeout / 1000}s`;
  let body: string;
  try {
    body = await post(target, JSON.stringify(review), timeout, hook.clientConfig.caBundle, dial);
  } catch (error) {
    return fail(`failed to call webhook: Post "${target}": ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    return fail(`received invalid webhook response: ${(error as Error).message}`);
  }
  const parsed = AdmissionReviewResponse.safeParse(json);
  if (!parsed.success)
    return fail(
      `received invalid webhook response: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  const response = parsed.data.response;
  if (response.uid !== uid) return fail(`expected response.uid="${uid}", got "${response.uid}"`);
  if (response.allowed) return;
  const status = response.status ?? {};
  const code = status.code !== undefined && status.code >= 400 ? status.code : 400;
  const denied = `admission webhook "${hook.name}" denied the request`;
  const message = status.message
    ? `${denied}: ${status.message}`
    : status.reason
      ? `${denied}: ${status.reason}`
      : `${denied} without explanation`;
  throw new ApiError(code, status.reason ?? "", message);
}

function post(
  url: string,
  payload: string,
  timeoutMs: number,
  caBundle: string | undefined,
  dial?: Dial,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const send = u.protocol === "https:" ? httpsRequest : httpRequest;
    const req = send(
      u,
      {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json",
          "content-length": Buffer.byteLength(payload),
        },
        timeout: timeoutMs,
        ...(u.protocol === "https:" && caBundle ? { ca: Buffer.from(caBundle, "base64").toString("utf8") } : {}),
        ...(dial ? { host: dial.address, hostname: dial.address, port: dial.port, servername: u.hostname } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if ((res.statusCode ?? 500) >= 300)
            reject(
              new Error(
                `the server responded with the status code ${res.statusCode} but did not return more information`,
              ),
            );
          else resolve(text);
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () =>
      req.destroy(new Error("context deadline exceeded (Client.Timeout exceeded while awaiting headers)")),
    );
    req.on("error", reject);
    req.end(payload);
  });
}
