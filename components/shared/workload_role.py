"""One IAM role per workload that calls AWS, assumed with its service account's token
(`AssumeRoleWithWebIdentity`): the cluster's own issuer instead of a node's role or a
long-lived key. Used by the app's backup; the add-ons' roles follow.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.shared import iam

# Where a pod gets the token STS checks: a projected service-account token for the
# STS audience, at the path AWS's SDKs and the pod-identity webhook use.
TOKEN_DIRECTORY = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
TOKEN_FILE = f"{TOKEN_DIRECTORY}/token"
TOKEN_SECONDS = 3600


@dataclass(frozen=True)
class Issuer:
    """The cluster's service-account issuer, as trust policies name it."""

    url: pulumi.Output[str]  # https://<bucket>.s3.<region>.amazonaws.com
    provider_arn: pulumi.Output[str]  # the IAM OIDC provider: trust policies' Federated principal


def workload_role(
    name: str,
    *,
    issuer: Issuer,
    namespace: str,
    service_account: str,
    description: str,
    parent: pulumi.Resource,
) -> aws.iam.Role:
    """A role only `namespace/service_account` can assume; `allow` gives it its policy
    (apart, so the policy may name what is made after the role, such as a bucket that
    admits only this role)."""
    trust = pulumi.Output.all(issuer.provider_arn, issuer.url).apply(
        lambda v: json.dumps(
            iam.web_identity_trust_policy(
                provider_arn=v[0], issuer_url=v[1], namespace=namespace, service_account=service_account
            )
        )
    )
    return aws.iam.Role(
        name, assume_role_policy=trust, description=description, opts=pulumi.ResourceOptions(parent=parent)
    )


def allow(name: str, role: aws.iam.Role, policy: pulumi.Input[Mapping[str, Any]], parent: pulumi.Resource) -> None:
    """The role's inline policy: what the workload may do, and no more."""
    document = pulumi.Output.from_input(policy).apply(json.dumps)
    aws.iam.RolePolicy(name, role=role.id, policy=document, opts=pulumi.ResourceOptions(parent=parent))


def token_volume(name: str) -> dict[str, Any]:
    """The projected token a pod of the workload mounts at TOKEN_DIRECTORY."""
    token = {"audience": iam.WEB_IDENTITY_AUDIENCE, "expirationSeconds": TOKEN_SECONDS, "path": "token"}
    return {"name": name, "projected": {"sources": [{"serviceAccountToken": token}]}}


def environment(role_arn: pulumi.Input[str], region: str | None) -> list[dict[str, Any]]:
    """What the AWS SDKs read to assume the role with the projected token; `region`
    None where the chart sets AWS_REGION itself (a duplicate name troubles upgrades)."""
    return [
        {"name": "AWS_ROLE_ARN", "value": role_arn},
        {"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": TOKEN_FILE},
        *([{"name": "AWS_REGION", "value": region}] if region else []),
        {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"},
    ]


def token_mount(name: str) -> dict[str, Any]:
    return {"name": name, "mountPath": TOKEN_DIRECTORY, "readOnly": True}


def account_scoped_role(
    name: str,
    *,
    issuer: Issuer,
    namespace: str,
    service_account: str,
    description: str,
    policy: Callable[[str, str], Mapping[str, Any]],
    parent: pulumi.Resource,
) -> aws.iam.Role:
    """`workload_role` and its policy together, for a policy that names nothing but the
    account: `policy(partition, account_id)` builds it."""
    made = workload_role(
        name,
        issuer=issuer,
        namespace=namespace,
        service_account=service_account,
        description=description,
        parent=parent,
    )
    invoke = pulumi.InvokeOptions(parent=parent)
    partition = aws.get_partition_output(opts=invoke).partition
    account = aws.get_caller_identity_output(opts=invoke).account_id
    allow(name, made, pulumi.Output.all(partition, account).apply(lambda v: policy(v[0], v[1])), parent)
    return made
