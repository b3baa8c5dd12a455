import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { parse } from "yaml";
import type { KubeObject } from "../api/resources.js";
import { decideNodeAction, type NodeAction } from "./node-control.js";

// `devcluster node fail|recover|cordon|uncordon NAME` against a running devcluster: reads
// the kubeconfig (server, bearer token, CA), then writes the node's spec and status over
// HTTP exactly as the in-process applyNodeAction does.

interface Kubeconfig {
  clusters: { cluster: { server: string; "certificate-authority-data"?: string } }[];
  users: { user: { token?: string } }[];
}

export class NodeCommandError extends Error {
  override readonly name = "NodeCommandError";
}

function call(config: Kubeconfig, method: string, path: string, body?: unknown): Promise<unknown> {
  const cluster = config.clusters[0]?.cluster;
  if (!cluster) throw new NodeCommandError("the kubeconfig names no cluster");
  const url = new URL(path, cluster.server);
  const ca = cluster["certificate-authority-data"]
    ? Buffer.from(cluster["certificate-authority-data"], "base64").toString()
    : undefined;
  const token = config.users[0]?.user.token;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(
      url,
      {
        method,
        ...(ca ? { ca } : { rejectUnauthorized: false }),
        headers: {
          accept: "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(payload ? { "content-type": "application/merge-patch+json" } : {}),
        },
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => {
          const parsed = text ? (JSON.parse(text) as { message?: string }) : {};
          if ((res.statusCode ?? 500) >= 300) reject(new NodeCommandError(parsed.message ?? `HTTP ${res.statusCode}`));
          else resolve(parsed);
        });
      },
    );
    req.on("error", (cause) =>
      reject(new NodeCommandError(`cannot reach the devcluster at ${cluster.server}: ${cause.message}`, { cause })),
    );
    req.end(payload);
  });
}

export async function runNodeCommand(action: NodeAction, name: string, kubeconfigPath: string): Promise<KubeObject> {
  const config = parse(readFileSync(kubeconfigPath, "utf8")) as Kubeconfig;
  const path = `/api/v1/nodes/${encodeURIComponent(name)}`;
  const node = (await call(config, "GET", path)) as KubeObject;
  const change = decideNodeAction(node, action, new Date());
  await call(config, "PATCH", path, { spec: { taints: null, unschedulable: null, ...change.spec } });
  return (await call(config, "PATCH", `${path}/status`, { status: { conditions: change.conditions } })) as KubeObject;
}
