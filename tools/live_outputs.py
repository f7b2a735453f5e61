"""Outputs as real providers return them, where the mocks return the inputs.

Under `pulumi.runtime.set_mocks` a resource's outputs are its inputs (plus the ids and
computed values the harness makes up). After a real `pulumi up`, or `pulumi refresh`,
they are the live objects:
- a Kubernetes object comes back as the API server stores it: with the defaults it
  fills in (a Deployment's `spec.replicas` and strategy, a pod's
  `terminationGracePeriodSeconds`, a container's `imagePullPolicy`, a Service's
  cluster IP ...), server metadata, and a status its controllers write;
- every security group comes back with every rule AWS holds for it: its inline ones,
  those the program declares as separate rule resources, and, on the cluster's node
  group, those the AWS cloud controller adds for the ingress NLB (cloud-provider-aws v1.35.2,
  `updateInstanceSecurityGroupsForNLB`: each NodePort of the Service from the clients'
  CIDRs, 0.0.0.0/0 without `loadBalancerSourceRanges`, and ICMP 3/4 for path MTU
  discovery; with all clients on TCP the health-check rule is a subset and not added).

`refreshed(graph)` is the graph with those outputs; the policy tests evaluate every
stack with it, as the engine does at the end of `up`. The defaults are those of the
Kubernetes API (v1.35) for the fields Podium's objects leave out; it is a model of the
shapes a policy may meet, not the API server.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from typing import Any

from tools import harness

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
# NodePorts the API server would pick for Traefik's web and websecure ports.
INGRESS_NODE_PORTS = (31080, 31443)

# What the controllers write, per kind.
_REPLICAS = {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "availableReplicas": 2}
_STATUS: dict[str, dict[str, Any]] = {
    "kubernetes:apps/v1:Deployment": _REPLICAS,
    "kubernetes:apps/v1:StatefulSet": _REPLICAS,
    "kubernetes:apps/v1:DaemonSet": {"desiredNumberScheduled": 3, "numberReady": 3, "numberAvailable": 3},
    "kubernetes:batch/v1:CronJob": {"lastScheduleTime": "2026-11-27T00:00:00Z"},
    "kubernetes:core/v1:Namespace": {"phase": "Active"},
}


def refreshed(graph: harness.Graph) -> harness.Graph:
    resources = [dataclasses.replace(r, state=_live(r, graph)) for r in graph.resources]
    return dataclasses.replace(graph, resources=resources)


def _live(resource: harness.Resource, graph: harness.Graph) -> dict[str, Any]:
    state = copy.deepcopy(resource.state or resource.inputs)
    if resource.type.startswith("kubernetes:") and resource.custom and "metadata" in state:
        _server_metadata(state, resource.urn)
        if resource.type == "kubernetes:core/v1:Namespace":
            _namespace_label(state)
        kind_defaults = _KIND_DEFAULTS.get(resource.type)
        if kind_defaults:
            kind_defaults(state.setdefault("spec", {}))
        status = _STATUS.get(resource.type)
        if status:
            state["status"] = dict(status)
    if resource.type == SECURITY_GROUP:
        controller = _cloud_controller_rules(graph) if _cluster_tagged(state) else []
        state["ingress"] = [*(state.get("ingress") or []), *_declared_rules(resource, graph), *controller]
    return state


def _server_metadata(state: dict[str, Any], urn: str) -> None:
    digest = hashlib.sha256(urn.encode()).hexdigest()
    metadata = state.setdefault("metadata", {})
    metadata.setdefault("uid", f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}")
    metadata.setdefault("resourceVersion", str(int(digest[:6], 16)))
    metadata.setdefault("generation", 1)
    metadata.setdefault("creationTimestamp", "2026-11-27T00:00:00Z")


def _pod(spec: dict[str, Any], restart_policy: str = "Always") -> None:
    spec.setdefault("restartPolicy", restart_policy)
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        image = str(container.get("image") or "")
        untagged = "@" not in image and ":" not in image.rsplit("/", 1)[-1]
        latest = image.endswith(":latest") or untagged
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if container.get(probe):
                for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1)):
                    container[probe].setdefault(key, value)
                container[probe].setdefault("failureThreshold", 3)


def _template(spec: dict[str, Any], restart_policy: str = "Always") -> None:
    _pod(spec.setdefault("template", {}).setdefault("spec", {}), restart_policy)


def _deployment(spec: dict[str, Any]) -> None:
    spec.setdefault("replicas", 1)  # every live Deployment has it, whoever owns the count
    spec.setdefault(
        "strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    )
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template(spec)


def _stateful_set(spec: dict[str, Any]) -> None:
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
    _template(spec)


def _daemon_set(spec: dict[str, Any]) -> None:
    spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}})
    spec.setdefault("revisionHistoryLimit", 10)
    _template(spec)


def _job(spec: dict[str, Any]) -> None:
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completions", 1)
    spec.setdefault("parallelism", 1)
    _template(spec, restart_policy="Never")


def _cron_job(spec: dict[str, Any]) -> None:
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    _job(spec.setdefault("jobTemplate", {}).setdefault("spec", {}))


def _service(spec: dict[str, Any]) -> None:
    spec.setdefault("type", "ClusterIP")
    if spec.get("clusterIP") != "None":
        spec.setdefault("clusterIP", "10.96.12.34")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))


def _namespace(spec: dict[str, Any]) -> None:
    spec.setdefault("finalizers", ["kubernetes"])


def _namespace_label(state: dict[str, Any]) -> None:
    metadata = state["metadata"]
    metadata.setdefault("labels", {})["kubernetes.io/metadata.name"] = metadata.get("name")


_KIND_DEFAULTS = {
    "kubernetes:apps/v1:Deployment": _deployment,
    "kubernetes:apps/v1:StatefulSet": _stateful_set,
    "kubernetes:apps/v1:DaemonSet": _daemon_set,
    "kubernetes:batch/v1:Job": _job,
    "kubernetes:batch/v1:CronJob": _cron_job,
    "kubernetes:core/v1:Service": _service,
    "kubernetes:core/v1:Namespace": _namespace,
}


def _cluster_tagged(state: dict[str, Any]) -> bool:
    tags = state.get("tags") or {}
    return any(str(k).startswith("kubernetes.io/cluster/") and v == "owned" for k, v in tags.items())


def _declared_rules(group: harness.Resource, graph: harness.Graph) -> list[dict[str, Any]]:
    """The group's separate rule resources, in the shape a group's `ingress` lists them."""
    rules = []
    for rule in graph.of_type(INGRESS_RULE):
        if rule.inputs.get("securityGroupId") != group.id:
            continue
        protocol = str(rule.inputs.get("ipProtocol"))
        source = rule.inputs.get("referencedSecurityGroupId")
        rules.append(
            {
                "protocol": protocol,
                "fromPort": rule.inputs.get("fromPort", 0 if protocol == "-1" else None),
                "toPort": rule.inputs.get("toPort", 0 if protocol == "-1" else None),
                "cidrBlocks": [rule.inputs["cidrIpv4"]] if rule.inputs.get("cidrIpv4") else [],
                "ipv6CidrBlocks": [rule.inputs["cidrIpv6"]] if rule.inputs.get("cidrIpv6") else [],
                "prefixListIds": [],
                # AWS reports a rule from the group itself as `self`, not by its id.
                "securityGroups": [source] if source and source != group.id else [],
                "description": rule.inputs.get("description", ""),
                "self": source == group.id,
            }
        )
    return rules


def _cloud_controller_rules(graph: harness.Graph) -> list[dict[str, Any]]:
    """The controller's rules for an ingress controller's LoadBalancer Service."""
    releases = [r for r in graph.of_type(HELM_RELEASE) if r.inputs.get("name") == "traefik"]
    if not releases:
        return []
    load_balancer = "a" + hashlib.sha256(releases[0].urn.encode()).hexdigest()[:31]
    client = f"kubernetes.io/rule/nlb/client={load_balancer}"
    shape = {
        "cidrBlocks": ["0.0.0.0/0"],
        "ipv6CidrBlocks": [],
        "prefixListIds": [],
        "securityGroups": [],
        "self": False,
    }
    rules: list[dict[str, Any]] = [
        {**shape, "protocol": "tcp", "fromPort": port, "toPort": port, "description": client}
        for port in INGRESS_NODE_PORTS
    ]
    rules.append({**shape, "protocol": "icmp", "fromPort": 3, "toPort": 4, "description": "kubernetes.io/rule/nlb/mtu"})
    return rules
