import {
  ApiException,
  type ConfigurationOptions,
  CustomObjectsApi,
  type KubeConfig,
  type ObservableMiddleware,
  Watch,
  setHeaderMiddleware,
} from "@kubernetes/client-node";
import { of } from "@kubernetes/client-node/dist/gen/rxjsStub.js";
import { Agent as HttpsAgent } from "node:https";
import { type Clock, systemClock } from "./clock.js";
import { KubeApiError, httpError, networkError } from "./errors.js";
import {
  type CreateOptions,
  type DeleteOptions,
  type KubeObject,
  type KubePort,
  type ListOptions,
  type ListResult,
  type ObjectKey,
  PATCH_CONTENT_TYPES,
  type PatchOptions,
  type ResourceRef,
  type WatchEvent,
  type WatchOptions,
  resourceName,
  resourcePath,
} from "./port.js";

// KubePort over client-node 1.4. Every verb goes through CustomObjectsApi: unlike
// KubernetesObjectApi it needs no discovery request, keeps objects as plain JSON (the typed
// serializer turns timestamps into Dates and drops unknown fields), can send a JSON patch
// (an array, which KubernetesObjectApi cannot carry) and reaches the status subresource.
// Two call-time middlewares adapt it:
// - the patch content type: the generated client always picks application/json-patch+json,
//   so the Content-Type header is overridden per call (client-node's setHeaderMiddleware);
// - the core group: CustomObjectsApi builds /apis/{group}/{version}/...; for group "" the
//   path is rewritten to /api/{version}/....
// Watches use client-node's Watch on the same paths.

export interface RequestInfo {
  verb: string;
  resource: string;
  /** HTTP status; 0 when no response arrived. */
  code: number;
  durationMs: number;
}

export interface ClientPortOptions {
  /** Field manager for writes; default "nnunet-operator". */
  fieldManager?: string;
  /** Per-request timeout; default 30 s. Watches are bounded by WatchOptions.timeoutSeconds. */
  requestTimeoutMs?: number;
  /** Called after every request (metrics: promKubeRequestMetrics). */
  onRequest?: (info: RequestInfo) => void;
  clock?: Clock;
}

const corePathMiddleware: ObservableMiddleware = {
  pre: (ctx) => {
    const url = new URL(ctx.getUrl());
    url.pathname = url.pathname.replace("/apis//", "/api/");
    ctx.setUrl(url.toString());
    return of(ctx);
  },
  post: (rsp) => of(rsp),
};

/**
 * client-node 1.4 builds a new https.Agent for every request (KubeConfig's
 * applySecurityAuthentication), so every request pays a TLS handshake and a new secure
 * context: most of a busy controller's CPU. This middleware swaps in one keep-alive agent
 * per distinct set of TLS options (so rotated client certificates get a new agent).
 */
export function sharedAgentMiddleware(agents: Map<string, HttpsAgent> = new Map()): ObservableMiddleware {
  return {
    pre: (ctx) => {
      const fresh = ctx.getAgent();
      if (fresh instanceof HttpsAgent) {
        const o = fresh.options;
        const key = JSON.stringify([o.ca, o.cert, o.key, o.pfx, o.passphrase, o.rejectUnauthorized, o.servername]);
        let agent = agents.get(key);
        if (!agent) {
          if (agents.size >= 8) agents.clear();
          agents.set(key, (agent = new HttpsAgent({ ...o, keepAlive: true, maxSockets: 32 })));
        }
        ctx.setAgent(agent);
      }
      return of(ctx);
    },
    post: (rsp) => of(rsp),
  };
}

function timeoutMiddleware(ms: number): ObservableMiddleware {
  return {
    pre: (ctx) => {
      ctx.setSignal(AbortSignal.timeout(ms));
      return of(ctx);
    },
    post: (rsp) => of(rsp),
  };
}

/** Maps anything a client-node call throws to a KubeApiError. */
export function toKubeApiError(err: unknown, verb: string, resource: string): KubeApiError {
  if (err instanceof KubeApiError) return err;
  if (err instanceof ApiException) {
    return httpError(err.code, err.body, err.headers as Record<string, string> | undefined, {
      verb,
      resource,
      cause: err,
    });
  }
  const statusCode = (err as { statusCode?: unknown })?.statusCode;
  if (typeof statusCode === "number")
    return httpError(statusCode, undefined, undefined, { verb, resource, cause: err });
  return networkError(err, verb, resource);
}

type Http<T> = Promise<{ httpStatusCode: number; data: T }>;

export class ClientPort implements KubePort {
  private readonly api: CustomObjectsApi;
  private readonly watcher: Watch;
  private readonly fieldManager: string;
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private readonly agents = sharedAgentMiddleware();

  constructor(
    kubeConfig: KubeConfig,
    private readonly options: ClientPortOptions = {},
  ) {
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
    this.watcher = new Watch(kubeConfig);
    this.fieldManager = options.fieldManager ?? "nnunet-operator";
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.clock = options.clock ?? systemClock;
  }

  private async call<T>(
    verb: string,
    resource: ResourceRef,
    send: (opts: ConfigurationOptions) => Http<unknown>,
    contentType?: string,
  ): Promise<T> {
    const middleware = [corePathMiddleware, this.agents, timeoutMiddleware(this.timeoutMs)];
    if (contentType) middleware.push(setHeaderMiddleware("Content-Type", contentType));
    const started = this.clock.now();
    const name = resourceName(resource);
    try {
      const response = await send({ middleware, middlewareMergeStrategy: "append" });
      this.options.onRequest?.({
        verb,
        resource: name,
        code: response.httpStatusCode,
        durationMs: this.clock.now() - started,
      });
      return response.data as T;
    } catch (err) {
      const error = toKubeApiError(err, verb, name);
      this.options.onRequest?.({ verb, resource: name, code: error.code, durationMs: this.clock.now() - started });
      throw error;
    }
  }

  get<T extends KubeObject>(resource: ResourceRef, key: ObjectKey): Promise<T> {
    const { group, version, plural } = resource;
    return this.call("get", resource, (o) =>
      resource.namespaced
        ? this.api.getNamespacedCustomObjectWithHttpInfo(
            { group, version, plural, namespace: ns(resource, key), name: key.name },
            o,
          )
        : this.api.getClusterCustomObjectWithHttpInfo({ group, version, plural, name: key.name }, o),
    );
  }

  async list<T extends KubeObject>(resource: ResourceRef, options: ListOptions = {}): Promise<ListResult<T>> {
    const { group, version, plural } = resource;
    const query = {
      ...(options.labelSelector !== undefined && { labelSelector: options.labelSelector }),
      ...(options.fieldSelector !== undefined && { fieldSelector: options.fieldSelector }),
      ...(options.limit !== undefined && { limit: options.limit }),
      ...(options.continue !== undefined && { _continue: options.continue }),
      ...(options.resourceVersion !== undefined && { resourceVersion: options.resourceVersion }),
    };
    const body = await this.call<{ items?: T[]; metadata?: { resourceVersion?: string; continue?: string } }>(
      "list",
      resource,
      (o) =>
        resource.namespaced && options.namespace
          ? this.api.listNamespacedCustomObjectWithHttpInfo(
              { group, version, plural, namespace: options.namespace, ...query },
              o,
            )
          : resource.namespaced
            ? this.api.listCustomObjectForAllNamespacesWithHttpInfo({ group, version, plural, ...query }, o)
            : this.api.listClusterCustomObjectWithHttpInfo({ group, version, plural, ...query }, o),
    );
    const result: ListResult<T> = { items: body.items ?? [], resourceVersion: body.metadata?.resourceVersion ?? "" };
    if (body.metadata?.continue) result.continue = body.metadata.continue;
    return result;
  }

  create<T extends KubeObject>(resource: ResourceRef, object: T, options: CreateOptions = {}): Promise<T> {
    const { group, version, plural } = resource;
    const fieldManager = options.fieldManager ?? this.fieldManager;
    return this.call("create", resource, (o) =>
      resource.namespaced
        ? this.api.createNamespacedCustomObjectWithHttpInfo(
            { group, version, plural, namespace: ns(resource, object.metadata), body: object, fieldManager },
            o,
          )
        : this.api.createClusterCustomObjectWithHttpInfo({ group, version, plural, body: object, fieldManager }, o),
    );
  }

  replace<T extends KubeObject>(resource: ResourceRef, object: T, options: CreateOptions = {}): Promise<T> {
    const { group, version, plural } = resource;
    const fieldManager = options.fieldManager ?? this.fieldManager;
    const name = object.metadata.name ?? "";
    return this.call("update", resource, (o) =>
      resource.namespaced
        ? this.api.replaceNamespacedCustomObjectWithHttpInfo(
            { group, version, plural, namespace: ns(resource, object.metadata), name, body: object, fieldManager },
            o,
          )
        : this.api.replaceClusterCustomObjectWithHttpInfo(
            { group, version, plural, name, body: object, fieldManager },
            o,
          ),
    );
  }

  patch<T extends KubeObject>(
    resource: ResourceRef,
    key: ObjectKey,
    patch: unknown,
    options: PatchOptions,
  ): Promise<T> {
    const { group, version, plural } = resource;
    const params = this.patchParams(resource, key, patch, options);
    return this.call(
      "patch",
      resource,
      (o) =>
        resource.namespaced
          ? this.api.patchNamespacedCustomObjectWithHttpInfo(
              { group, version, plural, namespace: ns(resource, key), ...params },
              o,
            )
          : this.api.patchClusterCustomObjectWithHttpInfo({ group, version, plural, ...params }, o),
      PATCH_CONTENT_TYPES[options.type],
    );
  }

  patchStatus<T extends KubeObject>(
    resource: ResourceRef,
    key: ObjectKey,
    patch: unknown,
    options: PatchOptions,
  ): Promise<T> {
    const { group, version, plural } = resource;
    const params = this.patchParams(resource, key, patch, options);
    return this.call(
      "patchStatus",
      resource,
      (o) =>
        resource.namespaced
          ? this.api.patchNamespacedCustomObjectStatusWithHttpInfo(
              { group, version, plural, namespace: ns(resource, key), ...params },
              o,
            )
          : this.api.patchClusterCustomObjectStatusWithHttpInfo({ group, version, plural, ...params }, o),
      PATCH_CONTENT_TYPES[options.type],
    );
  }

  private patchParams(_resource: ResourceRef, key: ObjectKey, patch: unknown, options: PatchOptions) {
    return {
      name: key.name,
      body: patch as object,
      fieldManager: options.fieldManager ?? this.fieldManager,
      ...(options.type === "apply" && options.force !== undefined && { force: options.force }),
    };
  }

  async delete(resource: ResourceRef, key: ObjectKey, options: DeleteOptions = {}): Promise<void> {
    const { group, version, plural } = resource;
    const extra = {
      ...(options.gracePeriodSeconds !== undefined && { gracePeriodSeconds: options.gracePeriodSeconds }),
      ...(options.propagationPolicy !== undefined && { propagationPolicy: options.propagationPolicy }),
      ...(options.preconditions !== undefined && { body: { preconditions: options.preconditions } }),
    };
    await this.call("delete", resource, (o) =>
      resource.namespaced
        ? this.api.deleteNamespacedCustomObjectWithHttpInfo(
            { group, version, plural, namespace: ns(resource, key), name: key.name, ...extra },
            o,
          )
        : this.api.deleteClusterCustomObjectWithHttpInfo({ group, version, plural, name: key.name, ...extra }, o),
    );
  }

  watch<T extends KubeObject>(
    resource: ResourceRef,
    options: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const name = resourceName(resource);
    const path = resourcePath(resource, options.namespace);
    const timeoutSeconds = options.timeoutSeconds ?? 300;
    const query: Record<string, string | number | boolean> = { allowWatchBookmarks: true, timeoutSeconds };
    if (options.resourceVersion) query.resourceVersion = options.resourceVersion;
    if (options.labelSelector) query.labelSelector = options.labelSelector;
    if (options.fieldSelector) query.fieldSelector = options.fieldSelector;
    const started = this.clock.now();
    return new Promise<void>((resolve, reject) => {
      let controller: AbortController | undefined;
      let settled = false;
      // A half-open connection never ends by itself; close it a little after the server should have.
      const guard = this.clock.setTimeout(() => finish(), (timeoutSeconds + 30) * 1000);
      const finish = (error?: KubeApiError): void => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(guard);
        signal.removeEventListener("abort", onAbort);
        controller?.abort();
        this.options.onRequest?.({
          verb: "watch",
          resource: name,
          code: error?.code ?? 200,
          durationMs: this.clock.now() - started,
        });
        if (error) reject(error);
        else resolve();
      };
      const onAbort = (): void => finish();
      if (signal.aborted) return finish();
      signal.addEventListener("abort", onAbort, { once: true });
      this.watcher
        .watch(
          path,
          query,
          (type: string, object: unknown) => {
            if (settled) return;
            if (type === "ERROR") {
              const status = object as { code?: number };
              finish(httpError(status.code ?? 500, status, undefined, { verb: "watch", resource: name }));
              return;
            }
            onEvent({ type: type as WatchEvent<T>["type"], object: object as T });
          },
          (err: unknown) => (err == null || signal.aborted ? finish() : finish(toKubeApiError(err, "watch", name))),
        )
        .then(
          (c) => {
            controller = c;
            if (settled) c.abort();
          },
          (err: unknown) => finish(toKubeApiError(err, "watch", name)),
        );
    });
  }
}

function ns(resource: ResourceRef, meta: { namespace?: string | undefined }): string {
  if (!meta.namespace)
    throw new KubeApiError(`${resourceName(resource)} is namespaced: a namespace is required`, {
      code: 400,
      reason: "BadRequest",
      retryable: false,
    });
  return meta.namespace;
}
