"""Debian's python3-kubernetes (22.6) against a started devcluster, one check per call.

Usage: python3 fidelity.py CHECK  (KUBECONFIG names the devcluster). Prints one JSON
object with what the check observed; exits non-zero with the client's error otherwise.
The node test test/integration/devcluster-fidelity-python.test.ts runs every check.
"""
import json
import sys
import threading
import time

from kubernetes import client, config, dynamic, watch

config.load_kube_config()
api = client.ApiClient()
core = client.CoreV1Api(api)
NS = "default"


def cm(name, data, labels=None):
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels), data=data)


def watch_events():
    """watch=True (the client's spelling) streams events instead of one List."""
    core.create_namespaced_config_map(NS, cm("watched-0", {"n": "0"}, {"app": "watched"}))
    rv = core.list_namespaced_config_map(NS, label_selector="app=watched").metadata.resource_version

    def later():
        time.sleep(0.5)
        core.create_namespaced_config_map(NS, cm("watched-1", {"n": "1"}, {"app": "watched"}))

    threading.Thread(target=later).start()
    seen = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, NS, label_selector="app=watched", resource_version=rv, allow_watch_bookmarks=True, timeout_seconds=10):
        seen.append([event["type"], event["object"].metadata.name])
        if event["object"].metadata.name == "watched-1":
            w.stop()
    return {"events": seen}


def apply_force_conflicts():
    """server_side_apply(force_conflicts=True) sends force=True and takes the field over.

    22.6's REST layer sends an apply body only as a string, so the body is JSON text.
    """
    dyn = dynamic.DynamicClient(api)
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"owner": "first"}}
    dyn.server_side_apply(cms, body=json.dumps(body), name="applied", namespace=NS, field_manager="first")
    body["data"]["owner"] = "second"
    out = dyn.server_side_apply(cms, body=json.dumps(body), name="applied", namespace=NS, field_manager="second", force_conflicts=True)
    managers = sorted(m.manager for m in out.metadata.managedFields)
    return {"owner": out.data["owner"], "managers": managers}


def list_nodes():
    """list_node() deserialises every Node: NodeSystemInfo's fields are all required there."""
    nodes = core.list_node().items
    info = nodes[0].status.node_info
    return {"count": len(nodes), "bootID": bool(info.boot_id), "machineID": bool(info.machine_id), "systemUUID": bool(info.system_uuid), "kernelVersion": bool(info.kernel_version), "osImage": bool(info.os_image), "kubeProxyVersion": bool(info.kube_proxy_version)}


CHECKS = {f.__name__: f for f in [watch_events, apply_force_conflicts, list_nodes]}

if __name__ == "__main__":
    print(json.dumps(CHECKS[sys.argv[1]]()))
