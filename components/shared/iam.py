"""IAM building blocks shared by the stages: statement and document builders, the
literal-argument guard, and bucket-policy documents. Pure: no Pulumi, no AWS calls."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

POLICY_VERSION = "2012-10-17"

Statement = dict[str, Any]
Policy = dict[str, Any]

_WILDCARD_CHARS = ("*", "?", "${")


def check_literal(**values: str) -> None:
    """Reject empty values and IAM wildcards/variables: an argument must never widen a policy."""
    for name, value in values.items():
        if not value or any(c in value for c in _WILDCARD_CHARS):
            raise ValueError(f"{name} must be a non-empty literal without wildcards or policy variables: {value!r}")


def statement(
    sid: str, actions: list[str], resources: list[str] | str, condition: dict[str, Any] | None = None
) -> Statement:
    statement: Statement = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": resources,
    }
    if condition:
        statement["Condition"] = condition
    return statement


def policy_document(statements: list[Statement]) -> Policy:
    return {"Version": POLICY_VERSION, "Statement": statements}


def service_trust_policy(service: str) -> Policy:
    """Trust policy: only this AWS service (`ec2.amazonaws.com`, ...) may assume the role."""
    return policy_document(
        [
            {
                "Sid": f"{service.split('.')[0].capitalize()}AssumeRole",
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
            }
        ]
    )


def ec2_assume_role_policy() -> Policy:
    """Only EC2 may assume the role (through the instance profile)."""
    return service_trust_policy("ec2.amazonaws.com")


WEB_IDENTITY_AUDIENCE = "sts.amazonaws.com"


def web_identity_trust_policy(*, provider_arn: str, issuer_url: str, namespace: str, service_account: str) -> Policy:
    """Trust policy: only tokens the cluster's issuer signed for this one service
    account, for STS, may assume the role (both `sub` and `aud` pinned)."""
    host = issuer_url.removeprefix("https://")
    return policy_document(
        [
            {
                "Sid": "ServiceAccount",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{host}:aud": WEB_IDENTITY_AUDIENCE,
                    }
                },
            }
        ]
    )


def account_key_policy(
    *, partition: str, account_id: str, logs_service: str | None = None, log_group_arns: Sequence[str] = ()
) -> Policy:
    """Key policy: the account administers and uses the key through IAM (the policy
    KMS gives a key created without one, written out so that it is reviewed, scanned
    and restored by `pulumi up` if someone edits it by hand); and, for each of
    `log_group_arns`, CloudWatch Logs (`logs_service`) encrypts that group's events
    with it, and no other group's (the encryption context names the group)."""
    check_literal(partition=partition, account_id=account_id)
    statements: list[Statement] = [
        {
            "Sid": "AccountAdministersThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if log_group_arns:
        assert logs_service is not None, "a log group needs the CloudWatch Logs principal of its region"
        for arn in log_group_arns:
            check_literal(log_group_arn=arn)
        statements.append(
            {
                "Sid": "CloudWatchLogsEncryptsTheClusterLogs",
                "Effect": "Allow",
                "Principal": {"Service": logs_service},
                "Action": ["kms:Decrypt*", "kms:Describe*", "kms:Encrypt*", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
                "Resource": "*",
                "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": sorted(log_group_arns)}},
            }
        )
    return policy_document(statements)


def deny_insecure_transport(bucket_arn: str) -> Policy:
    """Bucket policy: refuse any request not made over TLS."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def only_writer_statements(bucket_arn: str, writer_arn: str) -> list[Statement]:
    """Bucket-policy statements: nobody but `writer_arn` may put objects (deletes stay
    possible for the lifecycle rules and a `pulumi destroy` of an unprotected stack)."""
    return [
        {
            "Sid": "OnlyTheBackupWrites",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/*",
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": writer_arn}},
        }
    ]
