"""AWS integration: the cloud-controller-manager (node addresses, the uninitialized
taint, load balancers), the EBS CSI driver and Podium's StorageClasses."""

from __future__ import annotations

from typing import Any

import pulumi

from components.config import versions
from components.config.settings import storage_classes
from components.shared import workload_role

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
AWS_TOKEN = "aws-token"  # the projected service-account token volume
EBS_PROVISIONER = "ebs.csi.aws.com"


def cloud_controller_values(
    cluster_name: str, kubernetes_version: str, role_arn: pulumi.Input[str], region: str
) -> dict[str, Any]:
    minor = kubernetes_version.rsplit(".", 1)[0]
    return {
        # Its own role, from its service account's token: not the control plane's.
        "env": workload_role.environment(role_arn, region),
        "extraVolumes": [workload_role.token_volume(AWS_TOKEN)],
        "extraVolumeMounts": [workload_role.token_mount(AWS_TOKEN)],
        "image": {"tag": versions.cloud_controller_image_tag(minor)},
        "args": [
            "--v=2",
            "--cloud-provider=aws",
            "--use-service-account-credentials=true",
            # Calico routes pods; the controller must not touch route tables (its role cannot).
            "--configure-cloud-routes=false",
            # The tag it puts on load balancers and security groups, which its role is fenced by.
            f"--cluster-name={cluster_name}",
        ],
        # Host networking and these tolerations: it runs before the pod network makes
        # any node Ready and before it has initialised them. The chart's own list
        # (uninitialized, control-plane, master) lacks not-ready; setting it replaces it.
        "hostNetworking": True,
        "tolerations": [
            {"key": "node.cloudprovider.kubernetes.io/uninitialized", "value": "true", "effect": "NoSchedule"},
            {"key": CONTROL_PLANE_LABEL, "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"},
        ],
    }


def ebs_csi_values(cluster_name: str, region: str, role_arn: pulumi.Input[str]) -> dict[str, Any]:
    control_plane_toleration = {"key": CONTROL_PLANE_LABEL, "operator": "Exists", "effect": "NoSchedule"}
    return {
        "controller": {
            # Its own role, from its service account's token: not the control plane's.
            # The chart sets AWS_REGION from `region` below.
            "env": workload_role.environment(role_arn, None),
            "volumes": [workload_role.token_volume(AWS_TOKEN)],
            "volumeMounts": [workload_role.token_mount(AWS_TOKEN)],
            # The control-plane role holds the driver's permissions, fenced by this tag.
            "k8sTagClusterId": cluster_name,
            "region": region,
            "nodeSelector": {CONTROL_PLANE_LABEL: ""},
            # The chart's defaults plus the control-plane taint (setting the list replaces them).
            "tolerations": [
                control_plane_toleration,
                {"key": "CriticalAddonsOnly", "operator": "Exists"},
                {"effect": "NoExecute", "operator": "Exists", "tolerationSeconds": 300},
            ],
        },
        # Podium's nodes are Linux only: no DaemonSet for Windows nodes. The node plugin
        # takes its instance id and zone from its Node object, not instance metadata,
        # which pods cannot reach (hop limit 1).
        "node": {"tolerateAllTaints": True, "enableWindows": False, "metadataSources": "kubernetes"},
        # Podium declares the classes itself (plain objects, validated in tests).
        "storageClasses": [],
    }


def storage_class_objects(deletion_protection: bool) -> dict[str, dict[str, Any]]:
    """gp3, encrypted, bound where the pod lands; `gp3` is the default class and,
    with deletionProtection, `gp3-retain` keeps volumes after their claim is gone."""
    classes: dict[str, dict[str, Any]] = {}
    for name in storage_classes(deletion_protection):
        classes[name] = {
            "provisioner": EBS_PROVISIONER,
            "reclaim_policy": "Retain" if name.endswith("-retain") else "Delete",
            "volume_binding_mode": "WaitForFirstConsumer",
            "allow_volume_expansion": True,
            "parameters": {"type": "gp3", "encrypted": "true"},
            "default": name == "gp3",
        }
    return classes
