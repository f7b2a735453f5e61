"""Tenants (issue 23): what the dev plan gives team-reports, judged by what the API
server would do with it: RBAC evaluated over every role and binding the stack and its
charts declare, the kubeconfig's certificate as the API server authenticates it, the
objects against the Kubernetes schema, and the policy pack's tenant rule."""

from __future__ import annotations

import base64
import dataclasses
import datetime
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from components.config import settings
from components.config.settings import TenantSettings
from components.platform import tenants
from policy.podium_policies import POLICIES
from tests import netpol
from tests.conftest import graph_for, rendered_for, stack_config
from tests.rbac import Request, allowed
from tools import harness, policy_check, render

TENANT = "team-reports"
RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")


def objects_of(graph: harness.Graph) -> list[dict[str, Any]]:
    """Every Kubernetes object the stack declares, and every one its charts render."""
    declared = [o for o in render.kubernetes_objects(graph, redact=False) if "metadata" in o]
    rendered = [o for release in rendered_for(graph.stack).values() for o in release.objects]
    return declared + rendered


def tenant_user(graph: harness.Graph) -> tuple[str, list[str]]:
    """The user and groups the API server sees in the tenant's kubeconfig certificate."""
    kubeconfig = yaml.safe_load(graph.exports["tenantKubeconfigs"][TENANT])
    pem = base64.b64decode(kubeconfig["users"][0]["user"]["client-certificate-data"])
    certificate = x509.load_pem_x509_certificate(pem)
    user = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    groups = [a.value for a in certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return str(user), [str(g) for g in groups]


def test_the_kubeconfig_is_a_secret_per_tenant_signed_by_the_cluster_ca_for_90_days() -> None:
    graph = graph_for("dev")
    assert "tenantKubeconfigs" in graph.secret_exports
    assert set(graph.exports["tenantKubeconfigs"]) == {t["name"] for t in stack_config("dev")["podium:tenants"]}
    kubeconfig = yaml.safe_load(graph.exports["tenantKubeconfigs"][TENANT])
    assert kubeconfig["contexts"][0]["context"]["namespace"] == TENANT
    assert kubeconfig["clusters"][0]["cluster"]["server"] == graph.exports["clusterEndpoint"]
    pem = base64.b64decode(kubeconfig["users"][0]["user"]["client-certificate-data"])
    certificate = x509.load_pem_x509_certificate(pem)
    ca = x509.load_pem_x509_certificate(graph.exports["clusterCaCertificate"].encode())
    certificate.verify_directly_issued_by(ca)
    user, groups = tenant_user(graph)
    assert user.startswith(f"podium:tenant:{TENANT}:1-") and len(user) == len(f"podium:tenant:{TENANT}:1-") + 8
    assert groups == ["podium:tenants"]
    (binding,) = [o for o in objects_of(graph) if o["kind"] == "RoleBinding" and o["metadata"]["namespace"] == TENANT]
    assert [s["name"] for s in binding["subjects"]] == [user]
    assert "kubeadm:cluster-admins" not in groups and "system:masters" not in groups
    (cert,) = [
        r for r in graph.of_type("tls:index/locallySignedCert:LocallySignedCert") if r.name.startswith("tenants-")
    ]
    # The certificate in the kubeconfig lasts 90 days; pulumi-tls renews it in its last 30
    # (a provider behaviour the mocks cannot show, hence the input).
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc == datetime.timedelta(days=90)
    assert cert.inputs["earlyRenewalHours"] == 30 * 24
    assert cert.name == f"tenants-{TENANT}-credential-1"


REQUESTS_ALLOWED = [
    Request(verb, group, resource, TENANT)
    for verb in ("create", "update", "patch", "delete", "get", "list")
    for group, resource in (
        ("apps", "deployments"),
        ("apps", "statefulsets"),
        ("batch", "jobs"),
        ("batch", "cronjobs"),
        ("", "services"),
        ("", "configmaps"),
        ("", "secrets"),
        ("", "persistentvolumeclaims"),
        ("autoscaling", "horizontalpodautoscalers"),
        ("networking.k8s.io", "ingresses"),
    )
] + [Request("get", "", "pods/log", TENANT), Request("delete", "", "pods", TENANT)]

REQUESTS_DENIED = [
    # cluster-scoped
    Request("list", "", "nodes", None),
    Request("create", "", "namespaces", None),
    Request("delete", "", "namespaces", None),
    Request("create", "apiextensions.k8s.io", "customresourcedefinitions", None),
    Request("create", "rbac.authorization.k8s.io", "clusterrolebindings", None),
    Request("create", "admissionregistration.k8s.io", "validatingadmissionpolicies", None),
    Request("list", "storage.k8s.io", "storageclasses", None),
    # another namespace, its Secrets included
    Request("get", "", "secrets", "podium"),
    Request("list", "", "secrets", "kube-system"),
    Request("create", "apps", "deployments", "podium"),
    Request("delete", "", "pods", "monitoring"),
    # escalation, in its own namespace too
    Request("escalate", "rbac.authorization.k8s.io", "roles", TENANT),
    Request("bind", "rbac.authorization.k8s.io", "roles", TENANT),
    Request("create", "rbac.authorization.k8s.io", "rolebindings", TENANT),
    Request("impersonate", "", "users", None),
    Request("impersonate", "", "serviceaccounts", TENANT),
    # its isolation and limits stay the platform's
    Request("delete", "networking.k8s.io", "networkpolicies", TENANT),
    Request("update", "", "resourcequotas", TENANT),
    Request("delete", "", "limitranges", TENANT),
    Request("create", "", "pods/exec", TENANT),
    Request("create", "apps", "daemonsets", TENANT),
]


def test_the_tenant_may_deploy_in_its_namespace_and_nothing_else() -> None:
    graph = graph_for("dev")
    objects = [o for o in objects_of(graph) if o["kind"] in RBAC_KINDS]
    user, groups = tenant_user(graph)
    groups.append("system:authenticated")  # the API server adds it to every user
    refused = [r for r in REQUESTS_ALLOWED if not allowed(objects, user, groups, r)]
    assert refused == []
    granted = [r for r in REQUESTS_DENIED if allowed(objects, user, groups, r)]
    assert granted == []


def test_a_raised_generation_rebinds_the_role_so_the_old_certificate_can_do_nothing() -> None:
    old = TenantSettings(name=TENANT)
    new = dataclasses.replace(old, credential_generation=2)
    objects = [tenants.role(new), tenants.role_binding(new, tenants.user_of(new, "5e1f09ab"))]
    request = Request("create", "apps", "deployments", TENANT)
    assert allowed(objects, tenants.user_of(new, "5e1f09ab"), [tenants.GROUP], request)
    assert not allowed(objects, tenants.user_of(old, "0a1b2c3d"), [tenants.GROUP], request)
    # Removed and added again, or set back: a new random part, so the old user stays unbound.
    assert not allowed(objects, tenants.user_of(new, "0a1b2c3d"), [tenants.GROUP], request)


def test_the_namespace_is_isolated_but_for_dns_itself_and_the_ingress_controller() -> None:
    graph = graph_for("dev")
    policies = [o for o in objects_of(graph) if o["kind"] == "NetworkPolicy"]
    pod = netpol.Endpoint("reports", TENANT, {"app": "reports"}, ip="10.244.1.5")
    same = netpol.Endpoint("worker", TENANT, {"app": "worker"}, ip="10.244.1.6")
    dns = netpol.Endpoint("coredns", "kube-system", {"k8s-app": "kube-dns"}, ip="10.244.0.10")
    traefik = netpol.Endpoint("traefik", "traefik", {"app.kubernetes.io/name": "traefik"}, ip="10.244.2.3")
    app_api = netpol.Endpoint("api", "podium", {"app.kubernetes.io/name": "api"}, ip="10.244.3.4")
    internet = netpol.Endpoint("internet", None, ip="203.0.113.5")
    assert netpol.connection_allowed(policies, pod, dns, 53, "UDP")
    assert netpol.connection_allowed(policies, same, pod, 9898, "TCP")
    assert netpol.connection_allowed(policies, traefik, pod, 9898, "TCP")
    assert not netpol.connection_allowed(policies, app_api, pod, 9898, "TCP")
    assert not netpol.connection_allowed(policies, pod, app_api, 9898, "TCP")
    # httpsEgress (dev's tenant has it): HTTPS out, nothing else, and never inside.
    assert netpol.connection_allowed(policies, pod, internet, 443, "TCP")
    assert not netpol.connection_allowed(policies, pod, internet, 80, "TCP")
    node = netpol.Endpoint("node", None, ip="10.20.3.7")
    metadata = netpol.Endpoint("imds", None, ip="169.254.169.254")
    service = netpol.Endpoint("a-service", None, ip="10.96.0.1")
    for inside in (node, metadata, service):
        assert not netpol.connection_allowed(policies, pod, inside, 443, "TCP"), inside.name


def test_quota_and_defaults_are_the_settings_as_the_api_server_reads_them() -> None:
    graph = graph_for("dev")
    (quota,) = [
        r.inputs
        for r in graph.of_type("kubernetes:core/v1:ResourceQuota")
        if r.name.startswith("tenants-") and r.inputs["metadata"]["name"] == "podium-quota"
    ]
    configured = stack_config("dev")["podium:tenants"][0]["quota"]
    assert quota["metadata"]["namespace"] == TENANT
    assert quota["spec"]["hard"] == {
        "requests.cpu": configured["cpu"],
        "requests.memory": configured["memory"],
        "limits.memory": configured["memory"],
        "pods": str(configured["pods"]),
        "requests.storage": configured["storage"],
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    }
    # The built-in critical classes preempt the platform's pods: a tenant may run none.
    (critical,) = [
        r.inputs["spec"]
        for r in graph.of_type("kubernetes:core/v1:ResourceQuota")
        if r.inputs["metadata"]["name"] == "podium-no-critical-priority"
    ]
    assert critical["hard"] == {"pods": "0"}
    (scope,) = critical["scopeSelector"]["matchExpressions"]
    assert scope["scopeName"] == "PriorityClass" and set(scope["values"]) == {
        "system-node-critical",
        "system-cluster-critical",
    }
    (limits,) = [r.inputs for r in graph.of_type("kubernetes:core/v1:LimitRange") if r.name.startswith("tenants-")]
    (container,) = limits["spec"]["limits"]
    assert container["type"] == "Container" and set(container) == {"type", "default", "defaultRequest"}
    namespace = graph.one("kubernetes:core/v1:Namespace", f"tenants-{TENANT}").inputs["metadata"]
    assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_every_tenant_object_passes_kubernetes_validate(stack: str) -> None:
    graph = graph_for(stack)
    minor = ".".join(stack_config(stack)["podium:kubernetesVersion"].split(".")[:2])
    found = [o for o in objects_of(graph) if (o.get("metadata") or {}).get("namespace") == TENANT]
    found += [o for o in objects_of(graph) if o["kind"].startswith("ValidatingAdmissionPolicy")]
    assert len(found) >= 9
    for obj in found:
        kubernetes_validate.validate(obj, f"{minor}.0", strict=True)


def test_no_tenant_may_take_a_namespace_the_platform_uses() -> None:
    """settings.PLATFORM_NAMESPACES against every namespace the stacks and their charts
    really use (the tigera operator's own are in it by name)."""
    used: set[str] = set()
    for stack in ("dev", "prod", "local"):
        for obj in objects_of(graph_for(stack)):
            metadata = obj.get("metadata") or {}
            if obj["kind"] == "Namespace":
                used.add(metadata["name"])
            elif metadata.get("namespace"):
                used.add(metadata["namespace"])
        used |= {r.inputs["namespace"] for r in graph_for(stack).of_type("kubernetes:helm.sh/v3:Release")}
    tenant_names = {t["name"] for s in ("dev", "staging") for t in stack_config(s)["podium:tenants"]}
    assert used - tenant_names - {"kube-system"} <= settings.PLATFORM_NAMESPACES


def test_the_policy_pack_refuses_a_tenant_bound_to_a_cluster_role() -> None:
    graph = graph_for("dev")
    rule = [p for p in POLICIES if p.name == "k8s-no-tenant-on-a-cluster-wide-role"]
    assert policy_check.evaluate(graph, rule).violations == []
    binding = graph.one(
        "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", f"tenants-{TENANT}-rolebinding-{tenants.ROLE}"
    )
    to_admin = dataclasses.replace(
        binding,
        inputs={**binding.inputs, "roleRef": {**binding.inputs["roleRef"], "kind": "ClusterRole", "name": "admin"}},
    )
    crafted = dataclasses.replace(graph, resources=[to_admin if r is binding else r for r in graph.resources])
    (finding,) = policy_check.evaluate(crafted, rule).violations
    assert "binds tenant podium:tenant:team-reports:1-" in finding.message
    assert finding.message.endswith("to the ClusterRole admin: a tenant gets a Role of its own namespace only")


def test_a_tenant_allowed_load_balancers_is_not_held_back_by_the_node_port_quota() -> None:
    """The quota counts each port of a LoadBalancer Service as a node port."""
    hard = tenants.resource_quota(dataclasses.replace(TenantSettings(name=TENANT), load_balancers=True))["spec"]["hard"]
    assert hard["services.loadbalancers"] == "5" and "services.nodeports" not in hard
