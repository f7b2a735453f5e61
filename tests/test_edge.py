"""HTTPS and DNS: the settings' rules, cert-manager's issuers and the app's certificate
against their CRDs, the Ingress's TLS and middlewares, external-dns and the Route 53
roles as rendered, and the network path of an HTTP-01 challenge."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.app import manifests as m
from components.cluster import iam_policies
from components.config import settings as stack_settings
from components.platform import tls
from tests import netpol
from tests.conftest import graph_for, rendered_for, stack_config
from tools import crd_schema, harness, helm_render, render

ZONE_ID = "Z01234567PODIUMEXAMPLE"


def problems_of(config: dict[str, Any]) -> list[str]:
    raw = {k.removeprefix("podium:"): v for k, v in config.items() if k.startswith("podium:")}
    try:
        stack_settings.from_config(raw, project="podium", stack="dev", aws_region=config.get("aws:region"))
    except stack_settings.SettingsError as error:
        return error.problems
    return []


def objects_of(graph: harness.Graph, kind: str) -> list[dict[str, Any]]:
    return [o for o in render.kubernetes_objects(graph) if o["kind"] == kind]


def release(graph_or_stack: harness.Graph | str, name: str) -> helm_render.Rendered:
    if isinstance(graph_or_stack, str):
        return rendered_for(graph_or_stack)[name]
    return next(r for r in helm_render.render_stack(graph_or_stack) if r.release == name)


def http01_config() -> dict[str, Any]:
    """dev with ACME over HTTP-01: no Route 53."""
    config = stack_config("dev")
    config["podium:dns"] = {"provider": "none"}
    return config


# -- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda c: c["podium:app"]["tls"].pop("email"),
            "podium:app.tls.email: is required with mode acme: Let's Encrypt sends expiry notices there",
        ),
        (
            lambda c: c["podium:app"]["tls"].update(email="platform"),
            "podium:app.tls.email: 'platform' is not an email address",
        ),
        (
            lambda c: c["podium:app"]["tls"].update(acmeServer="production"),
            "podium:app.tls.acmeServer: production: no public CA issues for 'dev.podium.example.com' "
            "(.example.com is a documentation or local name); set app.hostname to a name of yours, or use selfSigned",
        ),
        (
            lambda c: c["podium:app"]["tls"].update(mode="letsencrypt"),
            "podium:app.tls.mode: 'letsencrypt' must be one of acme, selfSigned, none",
        ),
        (
            lambda c: c["podium:app"]["tls"].update(mode="selfSigned"),
            "podium:app.tls.email: is only used with mode acme",
        ),
        (
            lambda c: c["podium:app"].update(hostname="dev.podium.example.org"),
            "podium:app.hostname: 'dev.podium.example.org' is not inside the hosted zone dns.zone 'podium.example.com'",
        ),
        (
            lambda c: c["podium:dns"].update(hostedZoneId="podium"),
            "podium:dns.hostedZoneId: 'podium' is not a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ",
        ),
        (
            lambda c: c["podium:dns"].update(provider="cloudflare"),
            "podium:dns.provider: 'cloudflare' must be one of route53, none",
        ),
        (
            lambda c: c["podium:dns"].update(provider="none"),
            "podium:dns.hostedZoneId: is only used with provider route53",
        ),
    ],
)
def test_each_bad_tls_or_dns_setting_is_refused_naming_its_key(change: Any, problem: str) -> None:
    config = stack_config("dev")
    change(config)
    assert problem in problems_of(config)


def test_production_acme_is_accepted_for_a_name_of_ones_own() -> None:
    config = stack_config("dev")
    config["podium:app"]["hostname"] = "app.podium.dev"
    config["podium:app"]["tls"]["acmeServer"] = "production"
    config["podium:dns"]["zone"] = "podium.dev"
    assert problems_of(config) == []


def test_an_existing_cluster_other_than_kind_keeps_plain_http_unless_told() -> None:
    config = stack_config("local")
    config["podium:cluster"]["context"] = "platform-eu"
    del config["podium:app"]["tls"]
    graph = harness.run("local", config)
    assert graph.of_type("podium:edge:Edge") == [] and objects_of(graph, "Certificate") == []
    assert graph.exports["appUrl"] == "http://podium.localhost:8080"


def test_route53_needs_an_aws_cluster_and_local_defaults_to_its_own_ca() -> None:
    config = stack_config("local")
    config["podium:dns"] = {"provider": "route53", "hostedZoneId": ZONE_ID, "zone": "localhost"}
    assert "podium:dns.provider: route53 needs cluster.mode kubeadm (an AWS account)" in problems_of(config)
    del config["podium:dns"]
    del config["podium:app"]["tls"]
    assert problems_of(config) == []
    graph = harness.run("local", config)
    (certificate,) = [o for o in objects_of(graph, "Certificate") if o["metadata"]["namespace"] == m.NAMESPACE]
    assert certificate["spec"]["issuerRef"]["name"] == tls.CA_ISSUER
    assert graph.exports["appUrl"] == "https://podium.localhost:8443"


# -- issuers, certificate, middlewares -----------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_issuers_certificates_and_middlewares_match_their_crds(stack: str) -> None:
    graph = graph_for(stack)
    crds = [o for r in rendered_for(stack).values() for o in r.of_kind("CustomResourceDefinition")]
    known = crd_schema.schemas(crds)
    found = [
        o
        for o in crd_schema.custom_resources(render.kubernetes_objects(graph), known)
        if o["kind"] in ("ClusterIssuer", "Certificate", "Middleware")
    ]
    kinds = sorted(o["kind"] for o in found)
    if stack == "local":  # the cluster's CA: a self-signed root, its issuer, and the app's certificate
        assert kinds == ["Certificate", "Certificate", "ClusterIssuer", "ClusterIssuer", "Middleware"]
    else:
        assert kinds == ["Certificate", "ClusterIssuer", "Middleware"]
    assert [(o["kind"], crd_schema.problems(o, known)) for o in found if crd_schema.problems(o, known)] == []


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_acme_proves_the_name_by_dns01_in_the_zone_with_the_stacks_email(stack: str) -> None:
    graph = graph_for(stack)
    (issuer,) = objects_of(graph, "ClusterIssuer")
    acme = issuer["spec"]["acme"]
    assert acme["server"] == tls.ACME_SERVERS["staging"]
    assert acme["email"] == stack_config(stack)["podium:app"]["tls"]["email"]
    assert acme["solvers"] == [{"dns01": {"route53": {"region": "us-east-1", "hostedZoneID": ZONE_ID}}}]
    certificate = next(o for o in objects_of(graph, "Certificate") if o["metadata"]["namespace"] == m.NAMESPACE)
    assert certificate["spec"]["dnsNames"] == [stack_config(stack)["podium:app"]["hostname"]]
    assert certificate["spec"]["secretName"] == m.TLS_SECRET
    assert certificate["spec"]["issuerRef"] == {
        "name": tls.ACME_ISSUER,
        "kind": "ClusterIssuer",
        "group": "cert-manager.io",
    }
    # `pulumi up` waits until the certificate is issued, and fails after 15 minutes if it is not.
    annotations = certificate["metadata"]["annotations"]
    assert annotations == {"pulumi.com/waitFor": "condition=Ready", "pulumi.com/timeoutSeconds": "900"}
    ingress = graph.one("kubernetes:networking.k8s.io/v1:Ingress", "app-ingress-podium")
    issued = graph.one("kubernetes:cert-manager.io/v1:Certificate", "app-certificate-podium-tls")
    assert issued.urn in ingress.dependencies


def test_the_ingress_redirects_to_https_names_its_record_and_sends_hsts_only_with_a_trusted_certificate() -> None:
    def ingress_and_middlewares(graph: harness.Graph) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        (ingress,) = objects_of(graph, "Ingress")
        found = {o["metadata"]["name"]: o for o in objects_of(graph, "Middleware")}
        return ingress, found

    ingress, found = ingress_and_middlewares(graph_for("dev"))
    annotations = ingress["metadata"]["annotations"]
    chain = annotations["traefik.ingress.kubernetes.io/router.middlewares"].split(",")
    # Every middleware the Ingress names exists in its namespace (Traefik's <namespace>-<name>@kubernetescrd).
    assert chain == [f"{o['metadata']['namespace']}-{name}@kubernetescrd" for name, o in found.items()]
    assert found[m.REDIRECT_MIDDLEWARE]["spec"] == {"redirectScheme": {"scheme": "https", "permanent": True}}
    assert m.HSTS_MIDDLEWARE not in found  # Let's Encrypt staging: not a certificate to pin
    assert annotations["external-dns.alpha.kubernetes.io/hostname"] == "dev.podium.example.com"

    config = stack_config("dev")
    config["podium:app"]["hostname"] = "app.podium.dev"
    config["podium:app"]["tls"]["acmeServer"] = "production"
    config["podium:dns"]["zone"] = "podium.dev"
    ingress, found = ingress_and_middlewares(harness.run("dev", config))
    assert found[m.HSTS_MIDDLEWARE]["spec"] == {"headers": {"stsSeconds": 31536000, "stsIncludeSubdomains": False}}
    assert (
        f"podium-{m.HSTS_MIDDLEWARE}@kubernetescrd"
        in ingress["metadata"]["annotations"]["traefik.ingress.kubernetes.io/router.middlewares"]
    )

    ingress, found = ingress_and_middlewares(graph_for("local"))
    # kind maps the HTTPS NodePort to 8443 on the host.
    assert found[m.REDIRECT_MIDDLEWARE]["spec"]["redirectScheme"]["port"] == "8443"
    assert "external-dns.alpha.kubernetes.io/hostname" not in ingress["metadata"]["annotations"]


def test_tls_none_serves_plain_http_as_before() -> None:
    config = stack_config("dev")
    config["podium:app"]["tls"] = {"mode": "none"}
    graph = harness.run("dev", config)
    (ingress,) = objects_of(graph, "Ingress")
    assert "tls" not in ingress["spec"] and objects_of(graph, "Certificate") == []
    assert graph.exports["appUrl"] == "http://dev.podium.example.com"
    # The record is still kept: external-dns reads the Ingress's rules.
    assert graph.one("kubernetes:helm.sh/v3:Release", "edge-external-dns")


# -- the HTTP-01 path ----------------------------------------------------------------------------


def test_with_http01_traefik_reaches_the_solver_pods_and_nothing_else_opens() -> None:
    graph = harness.run("dev", http01_config())
    (issuer,) = objects_of(graph, "ClusterIssuer")
    assert issuer["spec"]["acme"]["solvers"] == [{"http01": {"ingress": {"ingressClassName": "traefik"}}}]
    policies = objects_of(graph, "NetworkPolicy")
    traefik = netpol.Endpoint("traefik", "traefik", {"app.kubernetes.io/name": "traefik"}, "10.244.2.10")
    solver = netpol.Endpoint(
        "solver", m.NAMESPACE, {**tls.HTTP01_SOLVER_LABELS, "acme.cert-manager.io/http-domain": "1"}, "10.244.1.50"
    )
    frontend = netpol.Endpoint("frontend", m.NAMESPACE, m.labels(m.FRONTEND), "10.244.1.10")
    database = netpol.Endpoint("db", m.NAMESPACE, m.labels(m.DB), "10.244.1.11")
    assert netpol.connection_allowed(policies, traefik, solver, tls.HTTP01_SOLVER_PORT)
    assert not netpol.connection_allowed(policies, traefik, solver, 8080)
    assert not netpol.connection_allowed(policies, frontend, solver, tls.HTTP01_SOLVER_PORT)
    assert not netpol.connection_allowed(policies, frontend, database, 27017)
    # cert-manager checks the challenge answers on port 80 before it asks the CA to.
    manager = netpol.Endpoint("cert-manager", "cert-manager", {"app.kubernetes.io/name": "cert-manager"}, "10.244.3.10")
    internet = netpol.Endpoint("internet", None, {}, "52.94.236.248")
    assert netpol.connection_allowed(policies, manager, internet, 80)
    assert not netpol.connection_allowed(
        objects_of(graph_for("dev"), "NetworkPolicy"), manager, internet, 80
    )  # DNS-01: no need
    # With DNS-01 (the stacks' own setting) there is no solver pod to admit.
    assert "acme-http01-solver" not in {p["metadata"]["name"] for p in objects_of(graph_for("dev"), "NetworkPolicy")}
    # No Route 53 means no external-dns and no AWS role for cert-manager.
    assert [r.name for r in graph.of_type("aws:iam/role:Role") if r.name.startswith("edge-")] == []


# -- cert-manager, external-dns and their roles, as rendered -----------------------------------------


def containers_env(rendered: helm_render.Rendered, deployment: str) -> dict[str, Any]:
    (owner,) = [o for o in rendered.of_kind("Deployment") if o["metadata"]["name"] == deployment]
    (container,) = owner["spec"]["template"]["spec"]["containers"]
    return {
        "env": {e["name"]: e.get("value") for e in container.get("env", [])},
        "args": container.get("args", []),
        "account": owner["spec"]["template"]["spec"]["serviceAccountName"],
        "mounts": {v["mountPath"] for v in container.get("volumeMounts", [])},
    }


def trust_subject(graph: harness.Graph, role: str) -> str:
    (statement,) = json.loads(graph.one("aws:iam/role:Role", role).inputs["assumeRolePolicy"])["Statement"]
    return next(v for k, v in statement["Condition"]["StringEquals"].items() if k.endswith(":sub"))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_cert_manager_and_external_dns_run_as_the_accounts_their_roles_trust(stack: str) -> None:
    graph = graph_for(stack)
    cluster = graph.exports["clusterName"]
    manager = containers_env(release(stack, "cert-manager"), "cert-manager")
    assert f"system:serviceaccount:cert-manager:{manager['account']}" == trust_subject(graph, "edge-cert-manager")
    assert manager["env"]["AWS_ROLE_ARN"] == graph.one("aws:iam/role:Role", "edge-cert-manager").state["arn"]
    assert any(manager["env"]["AWS_WEB_IDENTITY_TOKEN_FILE"].startswith(mount) for mount in manager["mounts"])
    dns = containers_env(release(stack, "external-dns"), "external-dns")
    assert f"system:serviceaccount:external-dns:{dns['account']}" == trust_subject(graph, "edge-external-dns")
    assert dns["env"]["AWS_ROLE_ARN"] == graph.one("aws:iam/role:Role", "edge-external-dns").state["arn"]
    for flag in (
        "--provider=aws",
        "--policy=sync",
        "--registry=txt",
        f"--txt-owner-id={cluster}",
        "--domain-filter=podium.example.com",
        f"--zone-id-filter={ZONE_ID}",
        "--source=ingress",
    ):
        assert flag in dns["args"], flag
    crds = {o["spec"]["names"]["kind"] for o in release(stack, "cert-manager").of_kind("CustomResourceDefinition")}
    assert {"Certificate", "ClusterIssuer", "Issuer"} <= crds


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_route53_roles_reach_only_the_configured_zone(stack: str) -> None:
    from tests.test_iam_policies import lint, unexpected

    graph = graph_for(stack)
    zone = f"arn:aws:route53:::hostedzone/{ZONE_ID}"
    for role in ("edge-cert-manager", "edge-external-dns"):
        document = json.loads(graph.one("aws:iam/rolePolicy:RolePolicy", role).inputs["policy"])
        assert unexpected(lint(document), iam_policies.PARLIAMENT_ACCEPTED_FINDINGS) == []
        resources = {
            r
            for s in document["Statement"]
            for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
        }
        changes = [s for s in document["Statement"] if "route53:ChangeResourceRecordSets" in s["Action"]]
        assert [s["Resource"] for s in changes] == [zone], role
        assert resources <= {zone, "arn:aws:route53:::change/*", "*"}, role
        assert all(s["Resource"] != "*" or s["Action"] == ["route53:ListHostedZones"] for s in document["Statement"])
    (challenge,) = [
        s
        for s in json.loads(graph.one("aws:iam/rolePolicy:RolePolicy", "edge-cert-manager").inputs["policy"])[
            "Statement"
        ]
        if "route53:ChangeResourceRecordSets" in s["Action"]
    ]
    hostname = stack_config(stack)["podium:app"]["hostname"]
    assert challenge["Condition"]["ForAllValues:StringEquals"] == {
        "route53:ChangeResourceRecordSetsRecordTypes": ["TXT"],
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [f"_acme-challenge.{hostname}"],
    }


@pytest.mark.parametrize("stack", ["dev", "local"])
def test_cert_manager_and_external_dns_reach_only_dns_https_and_the_api_server(stack: str) -> None:
    graph = graph_for(stack)
    policies = objects_of(graph, "NetworkPolicy")
    namespaces = ["cert-manager", "external-dns"] if stack == "dev" else ["cert-manager"]
    assert sorted(p["metadata"]["namespace"] for p in policies if p["metadata"]["name"] == "egress") == namespaces
    kube_dns = netpol.Endpoint("kube-dns", "kube-system", {"k8s-app": "kube-dns"}, "10.244.2.11")
    internet = netpol.Endpoint("internet", None, {}, "52.94.236.248")
    control_plane = netpol.Endpoint("api", None, {}, "10.20.0.10")
    database = netpol.Endpoint("db", m.NAMESPACE, m.labels(m.DB), "10.244.1.11")
    for namespace in namespaces:
        pod = netpol.Endpoint(namespace, namespace, {"app.kubernetes.io/name": namespace}, "10.244.3.10")
        assert netpol.connection_allowed(policies, pod, kube_dns, 53, "UDP")
        assert netpol.connection_allowed(policies, pod, internet, 53, "UDP")  # DNS-01's public resolvers
        assert netpol.connection_allowed(policies, pod, internet, 443)
        assert netpol.connection_allowed(policies, pod, control_plane, 6443)
        assert not netpol.connection_allowed(policies, pod, internet, 22)
        assert not netpol.connection_allowed(policies, pod, database, 27017)


def test_dns01_checks_with_public_resolvers_only() -> None:
    (controller,) = [
        o for o in release("dev", "cert-manager").of_kind("Deployment") if o["metadata"]["name"] == "cert-manager"
    ]
    (container,) = controller["spec"]["template"]["spec"]["containers"]
    assert "--dns01-recursive-nameservers-only" in container["args"]
    assert f"--dns01-recursive-nameservers={tls.PUBLIC_RESOLVERS}" in container["args"]
    (local,) = [
        o for o in release("local", "cert-manager").of_kind("Deployment") if o["metadata"]["name"] == "cert-manager"
    ]
    assert not any("dns01" in a for a in local["spec"]["template"]["spec"]["containers"][0]["args"])
