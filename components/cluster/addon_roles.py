"""The roles of the add-ons that call AWS, each assumed only by its own service account
with a token of the cluster's issuer: the cloud controller, the EBS CSI controller and
the cluster autoscaler.
Their permissions left the control-plane role, so no pod can borrow them from a node."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.cluster import iam_policies
from components.shared.children import Children
from components.shared.iam import Policy
from components.shared.workload_role import Issuer, allow, workload_role

KUBE_SYSTEM = "kube-system"
# The service accounts the pinned charts create (their values' defaults).
CLOUD_CONTROLLER_ACCOUNT = "cloud-controller-manager"  # aws-cloud-controller-manager 0.0.11: serviceAccountName
EBS_CSI_CONTROLLER_ACCOUNT = "ebs-csi-controller-sa"  # aws-ebs-csi-driver 2.64.0: controller.serviceAccount.name
CLUSTER_AUTOSCALER_ACCOUNT = "cluster-autoscaler"  # cluster-autoscaler 9.59.0: rbac.serviceAccount.name, set to this


@dataclass(frozen=True)
class AddonRoles:
    cloud_controller_arn: pulumi.Output[str]
    ebs_csi_controller_arn: pulumi.Output[str]
    cluster_autoscaler_arn: pulumi.Output[str]


def addon_roles(
    scope: Children, cluster_name: str, region: str, vpc_id: pulumi.Input[str], issuer: Issuer
) -> AddonRoles:
    invoke = scope.invoke()
    partition = aws.get_partition_output(opts=invoke).partition
    account = aws.get_caller_identity_output(opts=invoke).account_id

    def role(
        suffix: str,
        service_account: str,
        description: str,
        policy: Callable[..., Policy],
        **names: pulumi.Input[str],
    ) -> aws.iam.Role:
        """The role and its policy: `policy(partition=, region=, account_id=,
        cluster_name=, **names)` with the names resolved."""
        name = f"{scope.name}-{suffix}"
        made = workload_role(
            name,
            issuer=issuer,
            namespace=KUBE_SYSTEM,
            service_account=service_account,
            description=f"{cluster_name} {description}",
            parent=scope.parent,
        )
        document = pulumi.Output.all(partition, account, *names.values()).apply(
            lambda v: policy(
                partition=v[0],
                region=region,
                account_id=v[1],
                cluster_name=cluster_name,
                **dict(zip(names, v[2:], strict=True)),
            )
        )
        allow(name, made, document, parent=scope.parent)
        return made

    cloud_controller = role(
        "cloud-controller",
        CLOUD_CONTROLLER_ACCOUNT,
        "AWS cloud controller: nodes, load balancers",
        iam_policies.cloud_controller_policy,
        vpc_id=vpc_id,
    )
    ebs_csi = role(
        "ebs-csi-controller",
        EBS_CSI_CONTROLLER_ACCOUNT,
        "EBS CSI controller: the cluster's volumes",
        iam_policies.ebs_csi_policy,
    )
    autoscaler = role(
        "cluster-autoscaler",
        CLUSTER_AUTOSCALER_ACCOUNT,
        "cluster autoscaler: the cluster's auto-scaling groups",
        iam_policies.cluster_autoscaler_policy,
    )
    return AddonRoles(
        cloud_controller_arn=cloud_controller.arn,
        ebs_csi_controller_arn=ebs_csi.arn,
        cluster_autoscaler_arn=autoscaler.arn,
    )
