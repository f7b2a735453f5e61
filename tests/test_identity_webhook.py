"""The pod-identity webhook: served with a certificate of its own CA, whose bundle the
MutatingWebhookConfiguration carries; never blocking pod creation; reading service
accounts only; a restricted, hardened pod the API server alone may call."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509

from tests.conftest import graph_for
from tools import harness

KIND = "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration"


def objects(graph: harness.Graph) -> dict[str, harness.Resource]:
    prefix = "addons-identity-webhook-"
    return {r.name.removeprefix(prefix): r for r in graph.resources if r.name.startswith(prefix) and r.custom}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_api_server_trusts_the_webhooks_certificate(stack: str) -> None:
    found = objects(graph_for(stack))
    (webhook,) = found["mutatingwebhookconfiguration"].inputs["webhooks"]
    bundle = x509.load_pem_x509_certificate(base64.b64decode(webhook["clientConfig"]["caBundle"]))
    serving = x509.load_pem_x509_certificate(found["serving"].state["certPem"].encode())
    assert serving.issuer == bundle.subject
    # The name the API server calls it by (the mocks sign without SANs; the request carries them).
    request = graph_for(stack).one("tls:index/certRequest:CertRequest", "addons-identity-webhook-serving")
    assert "pod-identity-webhook.pod-identity.svc" in request.inputs["dnsNames"]
    assert webhook["clientConfig"]["service"] == {
        "name": "pod-identity-webhook",
        "namespace": "pod-identity",
        "path": "/mutate",
    }
    # Down, it blocks nothing; it never mutates its own pods; pods on create only.
    assert webhook["failurePolicy"] == "Ignore" and webhook["sideEffects"] == "None"
    assert webhook["objectSelector"]["matchExpressions"][0]["values"] == ["pod-identity-webhook"]
    assert webhook["rules"] == [
        {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}
    ]
    assert found["cert"].secret_inputs == {"stringData"}  # the serving key stays secret


def test_it_only_reads_service_accounts_and_writes_tokens_for_sts() -> None:
    found = objects(graph_for("dev"))
    assert found["clusterrole"].inputs["rules"] == [
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get", "watch", "list"]}
    ]
    pod = found["deployment"].inputs["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert "--token-audience=sts.amazonaws.com" in container["command"]
    assert "--annotation-prefix=eks.amazonaws.com" in container["command"]
    # What the pods it mutates get besides the token: a region, the regional STS endpoint.
    assert {"--aws-default-region=us-east-1", "--sts-regional-endpoint=true"} <= set(container["command"])
    assert container["image"] == "public.ecr.aws/eks/amazon-eks-pod-identity-webhook:v0.6.17"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert found["namespace"].inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_it_starts_with_a_worker_and_only_on_aws() -> None:
    graph = graph_for("dev")
    gate = graph.one("pulumi-python:dynamic:Resource", "addons-workers-ready")
    assert (
        gate.urn in objects(graph)["deployment"].dependencies
        or gate.urn in graph.one("podium:platform:IdentityWebhook").dependencies
    )
    assert graph_for("local").of_type("podium:platform:IdentityWebhook") == []
