"""The cluster's service-account token issuer, public so that AWS STS can check tokens:
what EKS (IRSA) and kops (`serviceAccountIssuerDiscovery`) offer, on a self-managed
cluster.

Pure parts here: the OpenID discovery document and the JWKS, derived from the
service-account public key as kube-apiserver derives them (the key id is the base64url
SHA-256 of the DER SubjectPublicKeyInfo), and the API server's flags. `issuer(...)`
makes the bucket that serves them, its two objects and the IAM OIDC provider.

The issuer is set at `kubeadm init`: changing it on a running cluster invalidates every
token it has issued (kops documents a staged migration over a day), so only clusters
created with it have it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pulumi
import pulumi_aws as aws
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from components.shared import iam
from components.shared.children import Children
from components.shared.workload_role import Issuer

DISCOVERY_KEY = ".well-known/openid-configuration"
JWKS_KEY = "openid/v1/jwks"
AUDIENCE = "sts.amazonaws.com"


def key_id(public_key_pem: str) -> str:
    public = serialization.load_pem_public_key(public_key_pem.encode())
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _b64url(hashlib.sha256(der).digest())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwks(public_key_pem: str) -> dict[str, Any]:
    """The key set STS fetches: the one RS256 key that signs service-account tokens."""
    public = serialization.load_pem_public_key(public_key_pem.encode())
    if not isinstance(public, rsa.RSAPublicKey):
        raise ValueError("the service-account key must be RSA: STS verifies RS256")
    numbers = public.public_numbers()

    def integer(value: int) -> str:
        return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

    key = {"use": "sig", "kty": "RSA", "kid": key_id(public_key_pem), "alg": "RS256"}
    return {"keys": [{**key, "n": integer(numbers.n), "e": integer(numbers.e)}]}


def discovery_document(issuer_url: str) -> dict[str, Any]:
    return {
        "issuer": issuer_url,
        "jwks_uri": f"{issuer_url}/{JWKS_KEY}",
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }


def api_server_args(issuer_url: str) -> list[dict[str, str]]:
    """kubeadm v1beta4 extraArgs. One issuer only: kubeadm sorts a repeated flag's
    values (`ArgumentsToCommand`), and the first issuer signs, so a second one (the
    in-cluster default, which a new cluster has issued nothing under) could end up
    signing. With one issuer, the API server's default token audience is it too."""
    return [
        {"name": "service-account-issuer", "value": issuer_url},
        {"name": "service-account-jwks-uri", "value": f"{issuer_url}/{JWKS_KEY}"},
    ]


def public_read_policy(bucket_arn: str) -> dict[str, Any]:
    """Anyone may read the two documents, and nothing else; only over TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicDiscoveryDocuments",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": [f"{bucket_arn}/{DISCOVERY_KEY}", f"{bucket_arn}/{JWKS_KEY}"],
            },
            *iam.deny_insecure_transport(bucket_arn)["Statement"],
        ],
    }


def issuer(scope: Children, cluster_name: str, public_key_pem: pulumi.Output[str]) -> Issuer:
    """The bucket serving the discovery document and the JWKS, and the IAM OIDC
    provider for it. Protected with the cluster's deletion protection: a new bucket is
    a new issuer, and every trust policy names the old one."""
    name = scope.name
    bucket = aws.s3.Bucket(
        f"{name}-oidc",
        bucket_prefix=f"{cluster_name}-oidc-",
        force_destroy=not scope.protect,
        tags={"Name": f"{cluster_name}-oidc"},
        opts=scope.keep(),
    )
    aws.s3.BucketOwnershipControls(
        f"{name}-oidc", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=scope.child()
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-oidc",
        bucket=bucket.id,
        rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
        opts=scope.child(),
    )
    # ACLs stay blocked; a bucket policy may be public, and this one makes exactly two
    # objects public (the policy pack checks that it does no more).
    access = aws.s3.BucketPublicAccessBlock(
        f"{name}-oidc",
        bucket=bucket.id,
        block_public_acls=True,
        ignore_public_acls=True,
        block_public_policy=False,
        restrict_public_buckets=False,
        opts=scope.child(),
    )
    aws.s3.BucketPolicy(
        f"{name}-oidc",
        bucket=bucket.id,
        policy=bucket.arn.apply(lambda arn: json.dumps(public_read_policy(arn))),
        opts=scope.child(depends_on=[access]),
    )
    url = bucket.bucket_regional_domain_name.apply(lambda domain: f"https://{domain}")
    documents = {
        "discovery": (DISCOVERY_KEY, url.apply(lambda u: json.dumps(discovery_document(u), indent=2))),
        "jwks": (JWKS_KEY, public_key_pem.apply(lambda pem: json.dumps(jwks(pem), indent=2))),
    }
    for suffix, (key, content) in documents.items():
        aws.s3.BucketObjectv2(
            f"{name}-oidc-{suffix}",
            bucket=bucket.id,
            key=key,
            content=content,
            content_type="application/json",
            opts=scope.child(),
        )
    provider = aws.iam.OpenIdConnectProvider(
        f"{name}-oidc",
        url=url,
        client_id_lists=[AUDIENCE],
        tags={"Name": f"{cluster_name}-oidc"},
        opts=scope.keep(),
    )
    return Issuer(url=url, provider_arn=provider.arn)
