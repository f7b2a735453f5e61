"""The database backup's IAM document: what its writer may do, and nothing more. Pure."""

from __future__ import annotations

from components.shared import iam


def backup_writer_policy(*, partition: str, bucket: str, prefix: str) -> iam.Policy:
    """The database backup's role: put objects under its prefix, nothing else (no
    read, list or delete, so a stolen token can neither read nor erase backups)."""
    iam.check_literal(partition=partition, bucket=bucket, prefix=prefix)
    return iam.policy_document(
        [
            iam.statement(
                "DatabaseBackupUpload",
                ["s3:AbortMultipartUpload", "s3:PutObject"],
                f"arn:{partition}:s3:::{bucket}/{prefix}*",
            )
        ]
    )
