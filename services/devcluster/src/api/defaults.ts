import type { KubeObject, ResourceDef } from "./resources.js";

// Built-in defaulting the clients we test against rely on (a subset of the real
// SetDefaults_* functions): pod and container defaults, Job selector and template labels,
// Namespace phase and finalizer, Secret type. Mutates the object it is given.

type Obj = Record<string, unknown>;
const obj = (parent: Obj, key: string): Obj => {
  const v = parent[key];
  if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Obj;
  const fresh: Obj = {};
  parent[key] = fresh;
  return fresh;
};
const setDefault = (o: Obj, key: string, value: unknown) => {
  if (o[key] === undefined) o[key] = value;
};

function defaultContainer(c: Obj): void {
  setDefault(c, "terminationMessagePath", "/dev/termination-log");
  setDefault(c, "terminationMessagePolicy", "File");
  const image = typeof c["image"] === "string" ? c["image"] : "";
  const tag = image.includes("@") ? "digest" : (/:([^/]+)$/.exec(image)?.[1] ?? "latest");
  setDefault(c, "imagePullPolicy", tag === "latest" ? "Always" : "IfNotPresent");
  setDefault(c, "resources", {});
  if (Array.isArray(c["ports"])) for (const p of c["ports"] as Obj[]) setDefault(p, "protocol", "TCP");
}

export function defaultPodSpec(spec: Obj): void {
  setDefault(spec, "restartPolicy", "Always");
  setDefault(spec, "terminationGracePeriodSeconds", 30);
  setDefault(spec, "dnsPolicy", "ClusterFirst");
  setDefault(spec, "securityContext", {});
  setDefault(spec, "schedulerName", "default-scheduler");
  setDefault(spec, "enableServiceLinks", true);
  if (spec["serviceAccountName"] === undefined && spec["serviceAccount"] !== undefined)
    spec["serviceAccountName"] = spec["serviceAccount"];
  setDefault(spec, "serviceAccountName", "default");
  setDefault(spec, "serviceAccount", spec["serviceAccountName"]);
  for (const list of ["containers", "initContainers"]) {
    if (Array.isArray(spec[list]))
      for (const c of spec[list] as Obj[]) if (c && typeof c === "object") defaultContainer(c);
  }
  if (Array.isArray(spec["volumes"])) {
    for (const v of spec["volumes"] as Obj[]) {
      if (v?.["emptyDir"] === null) v["emptyDir"] = {};
    }
  }
  setDefault(spec, "priority", 0);
}

/** QoS class as the kubelet computes it, simplified to cpu and memory. */
export function qosClass(spec: Obj): "Guaranteed" | "Burstable" | "BestEffort" {
  const containers = [
    ...((spec["containers"] as Obj[] | undefined) ?? []),
    ...((spec["initContainers"] as Obj[] | undefined) ?? []),
  ];
  let any = false;
  let guaranteed = containers.length > 0;
  for (const c of containers) {
    const r = (c["resources"] ?? {}) as { requests?: Obj; limits?: Obj };
    const req = r.requests ?? {};
    const lim = r.limits ?? {};
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    for (const res of ["cpu", "memory"]) {
      if (lim[res] === undefined || (req[res] !== undefined && String(req[res]) !== String(lim[res])))
        guaranteed = false;
    }
  }
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

export function applyBuiltinDefaults(def: ResourceDef, o: KubeObject): void {
  if (def.custom) return;
  const root = o as unknown as Obj;
  switch (def.resource) {
    case "secrets": {
      // stringData is write-only: kube-apiserver's v1 conversion merges it into data (base64,
      // stringData winning on a shared key) and never stores or returns it.
      const stringData = root["stringData"] as Record<string, string> | undefined;
      if (stringData !== undefined) {
        const data = { ...(root["data"] as Record<string, string> | undefined) };
        for (const [k, v] of Object.entries(stringData)) data[k] = Buffer.from(String(v), "utf8").toString("base64");
        root["data"] = data;
        delete root["stringData"];
      }
      setDefault(root, "type", "Opaque");
      break;
    }
    case "pods": {
      const spec = obj(root, "spec");
      defaultPodSpec(spec);
      // Real pods get their resources' requests from limits when only limits are set.
      for (const c of (spec["containers"] as Obj[] | undefined) ?? []) {
        const r = c["resources"] as { requests?: Obj; limits?: Obj } | undefined;
        if (r?.limits && !r.requests) r.requests = { ...r.limits };
      }
      break;
    }
    case "jobs": {
      const spec = obj(root, "spec");
      setDefault(spec, "parallelism", 1);
      setDefault(spec, "completions", 1);
      setDefault(spec, "backoffLimit", 6);
      setDefault(spec, "completionMode", "NonIndexed");
      setDefault(spec, "suspend", false);
      setDefault(spec, "podReplacementPolicy", "TerminatingOrFailed");
      setDefault(spec, "manualSelector", undefined);
      if (spec["manualSelector"] === undefined) delete spec["manualSelector"];
      const template = obj(spec, "template");
      defaultPodSpec(obj(template, "spec"));
      break;
    }
    case "namespaces": {
      const spec = obj(root, "spec");
      setDefault(spec, "finalizers", ["kubernetes"]);
      const labels = (o.metadata.labels ??= {});
      labels["kubernetes.io/metadata.name"] = o.metadata.name ?? "";
      break;
    }
    case "deployments":
    case "replicasets":
    case "statefulsets": {
      const spec = obj(root, "spec");
      setDefault(spec, "replicas", 1);
      if (def.resource === "deployments") {
        const strategy = obj(spec, "strategy");
        setDefault(strategy, "type", "RollingUpdate");
        if (strategy["type"] === "RollingUpdate") {
          const ru = obj(strategy, "rollingUpdate");
          setDefault(ru, "maxSurge", "25%");
          setDefault(ru, "maxUnavailable", "25%");
        }
        setDefault(spec, "progressDeadlineSeconds", 600);
      }
      if (def.resource === "statefulsets") {
        setDefault(spec, "podManagementPolicy", "OrderedReady");
        const strategy = obj(spec, "updateStrategy");
        setDefault(strategy, "type", "RollingUpdate");
        if (strategy["type"] === "RollingUpdate") setDefault(obj(strategy, "rollingUpdate"), "partition", 0);
        setDefault(spec, "persistentVolumeClaimRetentionPolicy", { whenDeleted: "Retain", whenScaled: "Retain" });
      }
      if (def.resource !== "replicasets") setDefault(spec, "revisionHistoryLimit", 10);
      defaultPodSpec(obj(obj(spec, "template"), "spec"));
      break;
    }
    case "services": {
      const spec = obj(root, "spec");
      setDefault(spec, "type", "ClusterIP");
      setDefault(spec, "sessionAffinity", "None");
      if (spec["type"] !== "ExternalName") {
        setDefault(spec, "ipFamilies", ["IPv4"]);
        setDefault(spec, "ipFamilyPolicy", "SingleStack");
        setDefault(spec, "internalTrafficPolicy", "Cluster");
      }
      for (const p of (spec["ports"] as Obj[] | undefined) ?? []) {
        setDefault(p, "protocol", "TCP");
        setDefault(p, "targetPort", p["port"]);
      }
      break;
    }
  }
}

/** Defaults that need the uid (assigned at create): the Job's generated selector. */
export function applyCreateDefaults(def: ResourceDef, o: KubeObject): void {
  const root = o as unknown as Obj;
  if (def.resource === "pods" && !def.custom) {
    const status = obj(root, "status");
    status["phase"] = "Pending";
    status["qosClass"] = qosClass(obj(root, "spec"));
  }
  if (def.resource === "namespaces" && !def.custom) root["status"] = { phase: "Active" };
  if (def.resource === "jobs" && !def.custom) {
    const spec = obj(root, "spec");
    if (spec["manualSelector"] !== true) {
      const uid = o.metadata.uid!;
      const name = o.metadata.name!;
      spec["selector"] = { matchLabels: { "batch.kubernetes.io/controller-uid": uid } };
      const tplMeta = obj(obj(spec, "template"), "metadata");
      tplMeta["labels"] = {
        ...(tplMeta["labels"] as Obj | undefined),
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
      };
    }
    root["status"] = {};
  }
}

const GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";
export function generateNameSuffix(random: () => number = Math.random): string {
  let s = "";
  for (let i = 0; i < 5; i++) s += GENERATE_ALPHABET[Math.floor(random() * GENERATE_ALPHABET.length)];
  return s;
}
