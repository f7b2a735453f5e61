"""The stack outputs contract (DESIGN.md §4): the names other teams read through
StackReferences, their types, which are secret and which exist only on AWS. The
docs/outputs.md's table is generated from this list, the program exports only names in it,
and a test fails when an export disappears, appears unlisted or changes type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi


@dataclass(frozen=True)
class StackOutput:
    name: str
    type: str  # "string", "list of string" or "map of string"
    description: str
    secret: bool = False
    aws_only: bool = False


CONTRACT = (
    StackOutput("environment", "string", "the stack name"),
    StackOutput("clusterName", "string", "`podium-<stack>`"),
    StackOutput("kubernetesVersion", "string", "`1.MINOR.PATCH`"),
    StackOutput("vpcId", "string", "the VPC", aws_only=True),
    StackOutput("publicSubnetIds", "list of string", "one per AZ, in AZ order", aws_only=True),
    StackOutput("privateSubnetIds", "list of string", "one per AZ, in AZ order", aws_only=True),
    StackOutput(
        "clusterEndpoint",
        "string",
        "`https://<host>:6443` (the public NLB's DNS name; the internal one's when `cluster.apiEndpoint` is "
        "internal; the NAT instance's Elastic IP when it is natInstance)",
        aws_only=True,
    ),
    StackOutput("clusterCaCertificate", "string", "PEM of the cluster CA", aws_only=True),
    StackOutput("kubeconfig", "string", "admin kubeconfig (YAML)", secret=True, aws_only=True),
    StackOutput("nodeSecurityGroupId", "string", "the worker nodes' security group", aws_only=True),
    StackOutput(
        "oidcIssuerUrl",
        "string",
        "`https://<bucket>.s3.<region>.amazonaws.com`: the service-account token issuer; a trust policy's "
        "condition keys are this without `https://`, plus `:sub` and `:aud`",
        aws_only=True,
    ),
    StackOutput(
        "oidcProviderArn", "string", "the IAM OIDC provider: the `Federated` principal of a trust policy", aws_only=True
    ),
    StackOutput("appNamespace", "string", "the web app's namespace"),
    StackOutput(
        "appUrl",
        "string",
        "`https://<app.hostname>` with app.tls (`:8443` on the local kind cluster), `http://` (`:8080`) with mode none",
    ),
    StackOutput("appBackupBucket", "string", "the S3 bucket of the database backups", aws_only=True),
    StackOutput(
        "tenantKubeconfigs",
        "map of string",
        "by tenant (`tenants[].name`): a kubeconfig (YAML) limited to that tenant's namespace, its context set "
        'to it; empty without tenants (docs/operations.md, "Tenants")',
        secret=True,
        aws_only=True,
    ),
)
BY_NAME = {o.name: o for o in CONTRACT}


def export(name: str, value: Any) -> None:
    """pulumi.export for a contract name only: an output is added by listing it above."""
    if name not in BY_NAME:
        raise ValueError(f"stack output {name!r} is not in the outputs contract (components/config/outputs.py)")
    pulumi.export(name, value)


def type_of(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "list of string"
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return "map of string"
    return type(value).__name__


def problems(exports: dict[str, Any], secret_names: set[str], *, on_aws: bool) -> list[str]:
    """How a stack's exports break the contract (empty: they keep it)."""
    found = []
    expected = {o.name for o in CONTRACT if on_aws or not o.aws_only}
    for name in sorted(expected - set(exports)):
        found.append(f"{name}: missing")
    for name in sorted(set(exports) - expected):
        found.append(f"{name}: not in the contract for this mode")
    for name in sorted(expected & set(exports)):
        contract = BY_NAME[name]
        if type_of(exports[name]) != contract.type:
            found.append(f"{name}: {type_of(exports[name])}, the contract says {contract.type}")
        if (name in secret_names) != contract.secret:
            found.append(f"{name}: {'secret' if name in secret_names else 'not secret'}, the contract says otherwise")
    return found


def markdown_table() -> str:
    rows = ["| output | type | secret | present | meaning |", "|---|---|---|---|---|"]
    for o in CONTRACT:
        present = "kubeadm mode only" if o.aws_only else "always"
        rows.append(f"| `{o.name}` | {o.type} | {'**yes**' if o.secret else 'no'} | {present} | {o.description} |")
    return "\n".join(rows)
