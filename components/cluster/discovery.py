"""kubeadm's discovery hash and the admin kubeconfig: pure functions of PEM text."""

from __future__ import annotations

import base64
import hashlib

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization


def discovery_hash(ca_pem: str) -> str:
    """`sha256:` + hex SHA-256 of the CA certificate's DER SubjectPublicKeyInfo, the
    form `kubeadm join --discovery-token-ca-cert-hash` verifies (not an SSH-style
    fingerprint of the key)."""
    certificate = x509.load_pem_x509_certificate(ca_pem.encode())
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def render_kubeconfig(
    cluster_name: str,
    server: str,
    ca_pem: str,
    client_cert_pem: str,
    client_key_pem: str,
    *,
    user: str | None = None,
    namespace: str | None = None,
) -> str:
    """A kubeconfig with an embedded client certificate: the admin's, or (`user`,
    `namespace`) a tenant's, whose context defaults to its namespace. The same inputs
    always give the same text, so the Kubernetes provider fed from it is never replaced
    by a re-render."""

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    user = user or f"{cluster_name}-admin"
    context: dict[str, str] = {"cluster": cluster_name, "user": user}
    if namespace:
        context["namespace"] = namespace
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": b64(client_cert_pem), "client-key-data": b64(client_key_pem)},
            }
        ],
        "contexts": [{"name": cluster_name, "context": context}],
        "current-context": cluster_name,
        "preferences": {},
    }
    return yaml.safe_dump(document, sort_keys=True)
