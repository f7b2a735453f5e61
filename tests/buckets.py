"""What every backup bucket must be, checked on the captured graph."""

from __future__ import annotations

import json
from typing import Any

from tools import harness


def assert_private_bucket(
    graph: harness.Graph, name: str, *, encryption: dict[str, Any], expire_prefix: str, expire_days: int
) -> harness.Resource:
    """Versioned, encrypted as given, public access blocked, ACLs off, TLS only,
    objects under `expire_prefix` expired after `expire_days`, and incomplete uploads
    aborted after a week. Returns the bucket."""
    bucket = graph.one("aws:s3/bucket:Bucket", name)

    def part(type_: str) -> dict[str, Any]:
        resource = graph.one(f"aws:s3/{type_[0].lower()}{type_[1:]}:{type_}", name)
        assert resource.inputs["bucket"] == bucket.id, type_
        return resource.inputs

    block = part("BucketPublicAccessBlock")
    assert all(
        block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    assert part("BucketOwnershipControls")["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    assert part("BucketVersioning")["versioningConfiguration"]["status"] == "Enabled"
    sse = part("BucketServerSideEncryptionConfiguration")["rules"][0]["applyServerSideEncryptionByDefault"]
    assert sse == encryption
    expire, abort = part("BucketLifecycleConfiguration")["rules"]
    assert expire["filter"] == {"prefix": expire_prefix} and expire["expiration"]["days"] == expire_days
    # Incomplete uploads are aborted anywhere in the bucket (an empty filter), not
    # only under the expiring prefix (checkov CKV_AWS_300).
    assert abort == {
        "id": "abort-incomplete-uploads",
        "status": "Enabled",
        "filter": {},
        "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7},
    }
    assert "abortIncompleteMultipartUpload" not in expire
    policy = json.loads(part("BucketPolicy")["policy"])
    assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(s) for s in policy["Statement"])
    return bucket
