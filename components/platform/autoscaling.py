"""Nodes that follow the load and leave drained, as chart values (pure): the cluster
autoscaler (kubernetes/autoscaler, cloudprovider/aws) and aws-node-termination-handler
in queue mode. Both run on the control planes: a controller that scales or drains the
workers should not be on a worker it removes."""

from __future__ import annotations

from typing import Any

import pulumi

from components.cluster import termination
from components.cluster.addon_roles import CLUSTER_AUTOSCALER_ACCOUNT
from components.cluster.node_group import POOL_TAG
from components.cluster.termination_queue import HANDLER_ACCOUNT
from components.config import versions
from components.platform.aws_integration import AWS_TOKEN, CONTROL_PLANE_LABEL
from components.shared import workload_role

ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"  # what the pod-identity webhook reads
ON_CONTROL_PLANES = {
    "nodeSelector": {CONTROL_PLANE_LABEL: ""},
    "tolerations": [{"key": CONTROL_PLANE_LABEL, "operator": "Exists", "effect": "NoSchedule"}],
}
_RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
NOBODY = 65534


def cluster_autoscaler_values(
    cluster_name: str, kubernetes_version: str, region: str, role_arn: pulumi.Input[str]
) -> dict[str, Any]:
    minor = kubernetes_version.rsplit(".", 1)[0]
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        # Discovers the groups carrying both k8s.io/cluster-autoscaler/enabled and
        # k8s.io/cluster-autoscaler/<cluster> (the chart's default tags for this name).
        "autoDiscovery": {"clusterName": cluster_name},
        # Its scheduling simulation is the scheduler of its own minor: match the cluster's.
        "image": {"tag": versions.cluster_autoscaler_image_tag(minor)},
        "rbac": {"serviceAccount": {"name": CLUSTER_AUTOSCALER_ACCOUNT}},
        # Its own role, from its service account's token (the chart sets AWS_REGION).
        "extraEnv": {env["name"]: env["value"] for env in workload_role.environment(role_arn, None)},
        "extraVolumes": [workload_role.token_volume(AWS_TOKEN)],
        "extraVolumeMounts": [workload_role.token_mount(AWS_TOKEN)],
        "extraArgs": {
            "v": 2,
            # Pools differ in shape and price: grow the one that leaves the least idle
            # CPU and memory after the pending pods land.
            "expander": "least-waste",
            # A zonal pool's groups differ only by AZ: keep them level, so a pod pinned to
            # one AZ (a volume) finds room there and the others stay spread.
            "balance-similar-node-groups": True,
            # The app's pods use emptyDir scratch space; without this no worker that runs
            # one could ever be removed. The database opts out with safe-to-evict=false.
            "skip-nodes-with-local-storage": False,
        },
        **ON_CONTROL_PLANES,
        "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "600Mi"}},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": NOBODY,
            "runAsGroup": NOBODY,
            "fsGroup": NOBODY,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containerSecurityContext": _RESTRICTED_CONTAINER,
    }


def termination_handler_values(
    cluster_name: str, region: str, queue_url: pulumi.Input[str], role_arn: pulumi.Input[str]
) -> dict[str, Any]:
    return {
        "enableSqsTerminationDraining": True,  # queue mode: one Deployment, no DaemonSet
        "queueURL": queue_url,
        "awsRegion": region,
        # The chart mounts no extra volume: the pod-identity webhook adds the token and the
        # variables from this annotation (the release waits for the webhook).
        "serviceAccount": {"name": HANDLER_ACCOUNT, "annotations": {ROLE_ANNOTATION: role_arn}},
        # EC2's notices are the account's: act only on workers, which carry their pool's
        # tag (every worker ever launched by Podium; control planes do not). Another
        # cluster's worker has no node here: its notice is dropped.
        "checkTagBeforeDraining": True,
        "managedTag": POOL_TAG,
        # The node is found by name: Podium names nodes by their private DNS name, as the
        # handler does. (By provider id it would give up before the release below.) An
        # instance that never joined has no node to drain: released at once, not held
        # until the hook runs out.
        "useProviderId": False,
        "deleteSqsMsgIfNodeNotFound": True,
        # No enable*Draining switches: they steer the instance-metadata mode only (the chart
        # passes them to its DaemonSet). In queue mode the handler drains for every event
        # the queue brings, so the EventBridge rules (termination.event_patterns) decide.
        # The drain: cordon, then evict through the eviction API (PDBs hold it), each pod
        # with its own grace period, DaemonSets left, emptyDir pods evicted too.
        "cordonOnly": False,
        "taintNode": True,
        "podTerminationGracePeriod": -1,
        "nodeTerminationGracePeriod": termination.DRAIN_TIMEOUT_SECONDS,
        "ignoreDaemonSets": True,
        "deleteLocalData": True,
        "emitKubernetesEvents": True,
        "rbac": {"pspEnabled": False},  # PodSecurityPolicy left Kubernetes in 1.25
        **ON_CONTROL_PLANES,
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
        # It writes nothing: any user id does, and one above the host's range is safer than the chart's 1000.
        "podSecurityContext": {"fsGroup": NOBODY, "seccompProfile": {"type": "RuntimeDefault"}},
        "securityContext": {**_RESTRICTED_CONTAINER, "runAsNonRoot": True, "runAsUser": NOBODY, "runAsGroup": NOBODY},
    }
