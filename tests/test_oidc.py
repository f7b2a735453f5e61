"""The service-account token issuer: its documents, derived as kube-apiserver derives
them and checked against openssl; the bucket that serves them and nothing else; the
IAM OIDC provider; and the API server's flags on the first control plane."""

from __future__ import annotations

import base64
import json
import shlex

import pytest
import yaml

from components.cluster import oidc
from components.cluster.userdata import script_of
from tests import openssl
from tests.conftest import graph_for
from tools import harness, mock_tls

BUCKET = "aws:s3/bucket:Bucket"
OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
PROVIDER = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"


@pytest.fixture(scope="module")
def public_key_pem() -> str:
    private = mock_tls.private_key_pem("oidc-test", "RSA", 2048)
    return mock_tls.public_key_pem(private)


def b64url_int(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def test_the_key_id_is_kube_apiservers(public_key_pem: str) -> None:
    assert oidc.key_id(public_key_pem) == openssl.jwks_key_id(public_key_pem)


def test_the_jwks_carries_the_signing_key_itself(public_key_pem: str) -> None:
    (key,) = oidc.jwks(public_key_pem)["keys"]
    assert (key["kty"], key["alg"], key["use"], key["kid"]) == ("RSA", "RS256", "sig", oidc.key_id(public_key_pem))
    assert format(b64url_int(key["n"]), "x") == openssl.rsa_modulus_hex(public_key_pem)
    assert b64url_int(key["e"]) == 65537
    assert "=" not in key["n"] + key["e"] + key["kid"]


def test_an_ec_key_is_refused() -> None:
    private = mock_tls.private_key_pem("oidc-ec", "ECDSA", 0)
    with pytest.raises(ValueError, match="must be RSA"):
        oidc.jwks(mock_tls.public_key_pem(private))


def test_the_discovery_document_points_at_the_jwks() -> None:
    document = oidc.discovery_document("https://b.s3.eu-west-1.amazonaws.com")
    assert document["issuer"] == "https://b.s3.eu-west-1.amazonaws.com"
    assert document["jwks_uri"] == "https://b.s3.eu-west-1.amazonaws.com/openid/v1/jwks"
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_bucket_serves_the_two_documents_of_the_clusters_key(stack: str) -> None:
    graph = graph_for(stack)
    url = graph.exports["oidcIssuerUrl"]
    (bucket,) = [b for b in graph.of_type(BUCKET) if b.name == "cluster-oidc"]
    assert url == f"https://{bucket.state['bucketRegionalDomainName']}"
    assert bucket.protect == (stack == "prod")
    documents = {o.inputs["key"]: json.loads(o.inputs["content"]) for o in graph.of_type(OBJECT)}
    assert set(documents) == {oidc.DISCOVERY_KEY, oidc.JWKS_KEY}
    assert documents[oidc.DISCOVERY_KEY] == oidc.discovery_document(url)
    public_key = graph.one("tls:index/privateKey:PrivateKey", "cluster-pki-sa").state["publicKeyPem"]
    assert documents[oidc.JWKS_KEY]["keys"][0]["kid"] == openssl.jwks_key_id(public_key)
    # Public: exactly those two objects, to read; ACLs stay blocked.
    policy = json.loads(graph.one("aws:s3/bucketPolicy:BucketPolicy", "cluster-oidc").inputs["policy"])
    (public,) = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    arn = bucket.state["arn"]
    assert (public["Action"], sorted(public["Resource"])) == (
        "s3:GetObject",
        sorted(f"{arn}/{k}" for k in (oidc.DISCOVERY_KEY, oidc.JWKS_KEY)),
    )
    block = graph.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "cluster-oidc").inputs
    assert block["blockPublicAcls"] is True and block["ignorePublicAcls"] is True


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_iam_provider_trusts_the_issuer_for_sts(stack: str) -> None:
    graph = graph_for(stack)
    provider = graph.one(PROVIDER)
    assert provider.inputs["url"] == graph.exports["oidcIssuerUrl"]
    assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    # S3-hosted issuers: AWS trusts its own CA list, no thumbprint needed (pulumi-aws 7.x documents it).
    assert "thumbprintLists" not in provider.inputs
    assert graph.exports["oidcProviderArn"] == provider.state["arn"]
    assert provider.protect == (stack == "prod")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_first_control_plane_signs_tokens_as_the_public_issuer(stack: str) -> None:
    graph = graph_for(stack)
    url = graph.exports["oidcIssuerUrl"]
    (init,) = [i for i in graph.of_type("aws:ec2/instance:Instance") if i.name.endswith("control-plane-0")]
    script = script_of(init.inputs)
    # The shell-quoted value the script assigns, as bash reads it.
    quoted = script.split("\nkubeadm_config=", 1)[1].split("\ncontainerd_version=", 1)[0]
    documents = yaml.safe_load_all(shlex.split(quoted)[0])
    (cluster,) = [d for d in documents if d and d.get("kind") == "ClusterConfiguration"]
    args = [
        (a["name"], a["value"]) for a in cluster["apiServer"]["extraArgs"] if a["name"].startswith("service-account")
    ]
    # One issuer: kubeadm sorts repeated flags by value, so the first listed would not
    # stay first, and the first one signs.
    assert args == [("service-account-issuer", url), ("service-account-jwks-uri", f"{url}/openid/v1/jwks")]


def test_the_local_stack_has_no_issuer() -> None:
    graph = graph_for("local")
    assert graph.of_type(PROVIDER) == [] and "oidcIssuerUrl" not in graph.exports
    assert harness.load_stack_config("local")["podium:cluster"]["mode"] == "existing"
