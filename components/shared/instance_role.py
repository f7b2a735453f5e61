"""The IAM role and instance profile an EC2 instance runs with: a trust policy for
EC2, one inline policy, and Session Manager (instead of SSH) through AWS's managed
policy. Shared by control planes and node pools."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws

from components.shared import iam

SSM_MANAGED_INSTANCE_POLICY = "policy/AmazonSSMManagedInstanceCore"


def instance_profile(
    name: str,
    *,
    description: str,
    policy: Callable[[str, str], pulumi.Output[dict[str, Any]] | dict[str, Any]],
    parent: pulumi.Resource,
) -> tuple[aws.iam.Role, aws.iam.InstanceProfile]:
    """`policy(partition, account_id)` builds the inline policy document."""
    invoke = pulumi.InvokeOptions(parent=parent)
    child = pulumi.ResourceOptions(parent=parent)
    partition = aws.get_partition_output(opts=invoke).partition
    account = aws.get_caller_identity_output(opts=invoke).account_id
    role = aws.iam.Role(
        name,
        assume_role_policy=json.dumps(iam.ec2_assume_role_policy()),
        description=description,
        opts=child,
    )
    document = pulumi.Output.all(partition, account).apply(lambda v: policy(v[0], v[1]))
    aws.iam.RolePolicy(name, role=role.id, policy=document.apply(json.dumps), opts=child)
    aws.iam.RolePolicyAttachment(
        f"{name}-ssm",
        role=role.name,
        policy_arn=partition.apply(lambda p: f"arn:{p}:iam::aws:{SSM_MANAGED_INSTANCE_POLICY}"),
        opts=child,
    )
    return role, aws.iam.InstanceProfile(name, role=role.name, opts=child)
