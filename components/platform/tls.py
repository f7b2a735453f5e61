"""HTTPS and DNS, as pure functions: cert-manager's and external-dns's values, the
ClusterIssuers of each `app.tls.mode`, and the Traefik middlewares the app's Ingress
uses. components/platform/edge.py deploys them; the app's Certificate and Ingress are
the app's (components/app/manifests.py).

Decisions:
* ACME proves the name by DNS-01 when `dns.provider` is route53 (no inbound port 80
  needed, wildcards possible), by HTTP-01 through Traefik otherwise (no AWS credentials).
* external-dns runs with `policy: sync` and the cluster's name as TXT owner: it deletes
  the records it made when their Ingress goes, and never touches a record another
  cluster (or a person) owns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.platform.monitoring import resources
from components.shared import workload_role

CERT_MANAGER_NAMESPACE = "cert-manager"
CERT_MANAGER_ACCOUNT = "cert-manager"  # the chart's service account for release `cert-manager`
EXTERNAL_DNS_NAMESPACE = "external-dns"
EXTERNAL_DNS_ACCOUNT = "external-dns"  # the chart's service account for release `external-dns`
ACME_SERVERS = {
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "production": "https://acme-v02.api.letsencrypt.org/directory",
}
ACME_ISSUER = "podium-acme"
SELF_SIGNED_ISSUER = "podium-selfsigned"
CA_ISSUER = "podium-ca"
CA_SECRET = "podium-ca"
# The label cert-manager puts on its HTTP-01 solver pods, and the port they listen on.
HTTP01_SOLVER_LABELS = {"acme.cert-manager.io/http01-solver": "true"}
HTTP01_SOLVER_PORT = 8089
TOKEN_VOLUME = "aws-token"
SIZE = resources("10m", "64Mi", "200m", "256Mi")


@dataclass(frozen=True)
class Route53:
    region: str
    hosted_zone_id: str
    zone: str


@dataclass(frozen=True)
class AmbientRole:
    """A role the pods assume with their projected token (web identity)."""

    role_arn: Any  # pulumi.Input[str]
    region: str


def _with_role(role: AmbientRole | None, *, env_key: str, volumes_key: str, mounts_key: str) -> dict[str, Any]:
    if role is None:
        return {}
    return {
        env_key: workload_role.environment(role.role_arn, role.region),
        volumes_key: [workload_role.token_volume(TOKEN_VOLUME)],
        mounts_key: [workload_role.token_mount(TOKEN_VOLUME)],
    }


# DNS-01's self-check asks public resolvers only: a private zone of the same name in the
# VPC would otherwise answer, without the challenge record, forever.
PUBLIC_RESOLVERS = "1.1.1.1:53,8.8.8.8:53"


def cert_manager_values(dns01_role: AmbientRole | None) -> dict[str, Any]:
    """cert-manager with its CRDs as the chart ships them (kept on uninstall), sized,
    and for DNS-01 the controller's web-identity role (ambient credentials, which
    ClusterIssuers use) and public resolvers for its self-check."""
    dns01_args = (
        {"extraArgs": ["--dns01-recursive-nameservers-only", f"--dns01-recursive-nameservers={PUBLIC_RESOLVERS}"]}
        if dns01_role
        else {}
    )
    return {
        **dns01_args,
        "crds": {"enabled": True, "keep": True},
        "resources": SIZE,
        "webhook": {"resources": SIZE},
        "cainjector": {"resources": SIZE},
        "startupapicheck": {"resources": SIZE},
        **_with_role(dns01_role, env_key="extraEnv", volumes_key="volumes", mounts_key="volumeMounts"),
    }


def external_dns_values(route53: Route53, cluster_name: str, role: AmbientRole) -> dict[str, Any]:
    return {
        "provider": {"name": "aws"},
        "policy": "sync",
        "registry": "txt",
        "txtOwnerId": cluster_name,
        "domainFilters": [route53.zone],
        "sources": ["ingress"],
        "extraArgs": [f"--zone-id-filter={route53.hosted_zone_id}"],
        "resources": SIZE,
        **_with_role(role, env_key="env", volumes_key="extraVolumes", mounts_key="extraVolumeMounts"),
    }


def _cluster_issuer(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": name},
        "spec": dict(spec),
    }


def acme_issuer(server: str, email: str, route53: Route53 | None, ingress_class: str) -> dict[str, Any]:
    solver: dict[str, Any] = (
        {"dns01": {"route53": {"region": route53.region, "hostedZoneID": route53.hosted_zone_id}}}
        if route53
        else {"http01": {"ingress": {"ingressClassName": ingress_class}}}
    )
    return _cluster_issuer(
        ACME_ISSUER,
        {
            "acme": {
                "server": ACME_SERVERS[server],
                "email": email,
                "privateKeySecretRef": {"name": f"{ACME_ISSUER}-account"},
                "solvers": [solver],
            }
        },
    )


def self_signed_ca(cluster_name: str) -> list[dict[str, Any]]:
    """A CA of the cluster's own: a self-signed root, and the issuer that signs with it."""
    root = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": CA_SECRET, "namespace": CERT_MANAGER_NAMESPACE},
        "spec": {
            "isCA": True,
            "commonName": f"{cluster_name} ingress CA",
            "secretName": CA_SECRET,
            "duration": "87600h",  # ten years, as the cluster's own CAs
            "privateKey": {"algorithm": "ECDSA", "size": 256},
            "issuerRef": {"name": SELF_SIGNED_ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"},
        },
    }
    return [
        _cluster_issuer(SELF_SIGNED_ISSUER, {"selfSigned": {}}),
        root,
        _cluster_issuer(CA_ISSUER, {"ca": {"secretName": CA_SECRET}}),
    ]


def egress_policy(*, http01: bool = False) -> dict[str, Any]:
    """What cert-manager and external-dns may reach, for every pod of their namespace:
    DNS (the cluster's, and public servers for DNS-01's self-check), HTTPS anywhere (ACME,
    STS, Route 53) and the API server (6443 on the control planes, after the Service's
    address is translated); with `http01`, HTTP too: cert-manager checks the challenge
    answers on port 80 before it asks the CA to. Nothing else leaves."""

    def port(number: int, protocol: str = "TCP") -> dict[str, Any]:
        return {"port": number, "protocol": protocol}

    return {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [
            {"ports": [port(53, "UDP"), port(53)]},
            {"ports": [port(443), port(6443), *([port(80)] if http01 else [])]},
        ],
    }


def issuer_of(mode: str) -> str:
    """The ClusterIssuer the app's certificate comes from."""
    return ACME_ISSUER if mode == "acme" else CA_ISSUER
