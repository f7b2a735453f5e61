"""A private S3 bucket for backups: versioned, encrypted by default, public access
blocked, ACLs off, TLS only, old objects expired. Shared by the etcd snapshots and the
database backups."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from components.shared import iam

NONCURRENT_VERSION_DAYS = 7
# An interrupted multipart upload is billed until aborted; a week is longer than any
# snapshot or dump takes to upload.
ABORT_INCOMPLETE_UPLOAD_DAYS = 7


def private_bucket(
    name: str,
    *,
    bucket_prefix: str,
    expire_prefix: str,
    expire_days: int,
    protect: bool,
    parent: pulumi.Resource,
    kms_key_arn: pulumi.Input[str] | None = None,
    only_writer_arn: pulumi.Input[str] | None = None,
) -> aws.s3.Bucket:
    """`kms_key_arn`: SSE-KMS with that key, else SSE-S3. `only_writer_arn`: the one
    principal the bucket policy lets put objects. With `protect`, Pulumi refuses to
    delete the bucket and never empties it (no force_destroy)."""
    child = pulumi.ResourceOptions(parent=parent)
    bucket = aws.s3.Bucket(
        name,
        bucket_prefix=bucket_prefix,
        force_destroy=not protect,
        tags={"Name": bucket_prefix.rstrip("-")},
        opts=pulumi.ResourceOptions(parent=parent, protect=protect),
    )
    aws.s3.BucketPublicAccessBlock(
        name,
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    aws.s3.BucketOwnershipControls(name, bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child)
    aws.s3.BucketVersioning(name, bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=child)
    encryption: aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgsDict = (
        {"sse_algorithm": "aws:kms", "kms_master_key_id": kms_key_arn} if kms_key_arn else {"sse_algorithm": "AES256"}
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        name,
        bucket=bucket.id,
        rules=[{"apply_server_side_encryption_by_default": encryption, "bucket_key_enabled": kms_key_arn is not None}],
        opts=child,
    )
    aws.s3.BucketLifecycleConfiguration(
        name,
        bucket=bucket.id,
        rules=[
            {
                "id": "expire-backups",
                "status": "Enabled",
                "filter": {"prefix": expire_prefix},
                "expiration": {"days": expire_days},
                "noncurrent_version_expiration": {"noncurrent_days": NONCURRENT_VERSION_DAYS},
            },
            {
                # The whole bucket (an empty filter): an upload that never finished
                # anywhere, not only under the expiring prefix, stops being billed.
                "id": "abort-incomplete-uploads",
                "status": "Enabled",
                "filter": {},
                "abort_incomplete_multipart_upload": {"days_after_initiation": ABORT_INCOMPLETE_UPLOAD_DAYS},
            },
        ],
        opts=child,
    )

    def policy(arn: str, writer: str | None) -> str:
        document = iam.deny_insecure_transport(arn)
        if writer:
            document["Statement"] += iam.only_writer_statements(arn, writer)
        return json.dumps(document)

    aws.s3.BucketPolicy(
        name,
        bucket=bucket.id,
        policy=pulumi.Output.all(bucket.arn, only_writer_arn).apply(lambda v: policy(v[0], v[1])),
        opts=child,
    )
    return bucket
