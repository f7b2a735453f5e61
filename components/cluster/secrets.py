"""Secrets delivery: a KMS key, and SSM SecureStrings under `/podium/<cluster>/` for
the cluster PKI, the Secrets encryption key and the bootstrap token. Nothing secret
goes into user data: nodes fetch these with their instance role."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.cluster import iam_policies
from components.cluster.pki import ClusterPki
from components.shared import iam
from components.shared.children import Children


@dataclass(frozen=True)
class ParameterNames:
    """Where each secret lives in SSM. The control-plane role reads `control_plane`
    and everything under it; node roles read `token` only."""

    cluster_name: str

    @property
    def root(self) -> str:
        return f"/podium/{self.cluster_name}"

    @property
    def control_plane(self) -> str:
        return f"{self.root}/control-plane"

    @property
    def pki(self) -> str:
        return f"{self.control_plane}/pki"

    @property
    def encryption_key(self) -> str:
        return f"{self.control_plane}/encryption-key"

    @property
    def token(self) -> str:
        return f"{self.root}/join/token"

    @property
    def version_record(self) -> str:
        """The folder of the running-version record (read at preview by path: a missing
        record, a new cluster, is then an empty answer, not an error)."""
        return f"{self.root}/kubernetes"

    @property
    def kubernetes_version(self) -> str:
        """The Kubernetes version the control planes run, written after each upgrade."""
        return f"{self.version_record}/version"

    @property
    def api_endpoint(self) -> str:
        """The cluster.apiEndpoint the cluster was made with: natInstance cannot be
        turned on or off later (every node's kubeconfig names its address)."""
        return f"{self.version_record}/api-endpoint"

    @property
    def node_image(self) -> str:
        return f"{self.root}/node-ami"


@dataclass(frozen=True)
class DeliveredSecrets:
    key: aws.kms.Key
    token: pulumi.Output[str]  # secret


def deliver_secrets(
    scope: Children, cluster: str, region: str, names: ParameterNames, pki: ClusterPki, log_groups: Sequence[str]
) -> DeliveredSecrets:
    """`log_groups`: CloudWatch Logs groups (names) whose events the key encrypts."""
    invoke = scope.invoke()
    partition = aws.get_partition_output(opts=invoke).partition
    account = aws.get_caller_identity_output(opts=invoke).account_id

    def key_policy(partition: str, account: str) -> str:
        arns = [
            iam_policies.log_group_arn(partition=partition, region=region, account_id=account, log_group=group)
            for group in log_groups
        ]
        service = iam_policies.logs_service(partition, region)
        return json.dumps(
            iam.account_key_policy(partition=partition, account_id=account, logs_service=service, log_group_arns=arns)
        )

    key = aws.kms.Key(
        f"{scope.name}-kms",
        description=f"{cluster}: cluster PKI, join token, Secrets encryption key, etcd snapshots",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=pulumi.Output.all(partition, account).apply(lambda v: key_policy(v[0], v[1])),
        tags={"Name": cluster},
        opts=scope.keep(),
    )
    aws.kms.Alias(f"{scope.name}-kms", name=f"alias/podium/{cluster}", target_key_id=key.key_id, opts=scope.child())

    token = _bootstrap_token(scope)
    _secure_parameter(scope, "token", names.token, token, key)
    # Losing this key makes every Secret in etcd (and in every snapshot) unreadable.
    encryption_key = random.RandomBytes(f"{scope.name}-encryption-key", length=32, opts=scope.keep())
    _secure_parameter(scope, "encryption-key", names.encryption_key, pulumi.Output.secret(encryption_key.base64), key)
    for path, content in pki.files().items():
        _secure_parameter(scope, f"pki-{path.replace('/', '-')}", f"{names.pki}/{path}", content, key)
    return DeliveredSecrets(key=key, token=token)


def _bootstrap_token(scope: Children) -> pulumi.Output[str]:
    """kubeadm's `[a-z0-9]{6}.[a-z0-9]{16}`. RandomPassword keeps the value secret
    in the state; replacing these two resources rotates the token (docs/operations.md)."""
    parts = [
        random.RandomPassword(
            f"{scope.name}-token-{part}", length=length, upper=False, special=False, opts=scope.child()
        ).result
        for part, length in (("id", 6), ("secret", 16))
    ]
    return pulumi.Output.secret(pulumi.Output.concat(parts[0], ".", parts[1]))


def _secure_parameter(
    scope: Children, suffix: str, parameter_name: str, value: pulumi.Input[str], key: aws.kms.Key
) -> aws.ssm.Parameter:
    return aws.ssm.Parameter(
        f"{scope.name}-{suffix}",
        name=parameter_name,
        type="SecureString",
        key_id=key.arn,
        value=pulumi.Output.secret(value),
        opts=scope.child(),
    )
