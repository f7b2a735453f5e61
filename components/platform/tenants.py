"""Tenants: other teams' namespaces on the shared cluster (`podium:tenants`).

Each tenant gets a namespace with Pod Security `restricted` enforced and Podium's
guardrails (guardrails.py) bound to it; a ResourceQuota and a LimitRange; NetworkPolicies
that deny everything but DNS, traffic within the namespace and what the ingress
controller forwards; and a deployer identity whose Role manages the usual workload kinds
in that namespace and nothing else (no cluster-scoped resource, no RBAC, no
NetworkPolicy changes).

The credential is a client certificate the cluster CA signs for the user
`podium:tenant:<name>:<generation>-<random>`, valid 90 days and renewed by any `pulumi up` in its
last 30. A client certificate cannot be revoked, but what it may do can: the tenant's
RoleBinding names that exact user, so raising `tenants[].credentialGeneration` signs a
new certificate for a new user and rebinds the Role to it, and the old certificate
authenticates as a user with no permission at all from that `up` on. No token or key of
the cluster is re-keyed. (A service-account token Secret would be revocable by deleting
it, but its token appears only after the token controller fills the Secret, so the
program could not put it in the kubeconfig output on the same `up`.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.cluster.discovery import render_kubeconfig
from components.cluster.pki import CertificateAuthority, client_certificate
from components.config.settings import TenantSettings
from components.platform import guardrails

USER_PREFIX = "podium:tenant:"
# The organization of every tenant certificate: nothing is bound to it, it only tells
# the audit log that a request came from a tenant.
GROUP = "podium:tenants"
ROLE = "podium-tenant-deployer"
MAX_LOAD_BALANCERS = 5
CRITICAL_PRIORITY_CLASSES = ("system-node-critical", "system-cluster-critical")
METADATA_CIDR = "169.254.169.254/32"
VALIDITY_HOURS = 90 * 24
EARLY_RENEWAL_HOURS = 30 * 24
READ = ["get", "list", "watch"]
WRITE = [*READ, "create", "update", "patch", "delete"]
# What a team deploys with: its workloads, their configuration and their traffic.
DEPLOYER_RULES: tuple[dict[str, Any], ...] = (
    {
        "apiGroups": [""],
        "resources": ["services", "configmaps", "secrets", "persistentvolumeclaims", "serviceaccounts"],
        "verbs": WRITE,
    },
    {"apiGroups": [""], "resources": ["pods"], "verbs": [*READ, "delete"]},
    {"apiGroups": [""], "resources": ["pods/log", "events", "resourcequotas", "limitranges"], "verbs": READ},
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": WRITE},
    {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": READ},
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": WRITE},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": WRITE},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": WRITE},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": WRITE},
    # Its isolation is the platform's: it may read the policies, not change them.
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": READ},
)


def user_of(tenant: TenantSettings, nonce: str) -> str:
    """The certificate's user: the generation, and a random part made with it, so that a
    removed tenant added again, or a generation set back, never matches an old one."""
    return f"{USER_PREFIX}{tenant.name}:{tenant.credential_generation}-{nonce}"


def pool_label(pool: str) -> str:
    """The namespace label that allows a tenant's pods onto a pool (guardrails.py)."""
    return f"{guardrails.POOL_LABEL_PREFIX}{pool}"


def host_suffix(tenant: TenantSettings, domain: str) -> str:
    """The names a tenant's Ingresses may route: `<anything>.<tenant>.<domain>`."""
    return f"{tenant.name}.{domain}"


def namespace(tenant: TenantSettings, domain: str) -> dict[str, Any]:
    labels = {
        f"pod-security.kubernetes.io/{mode}{suffix}": value
        for mode in ("enforce", "warn", "audit")
        for suffix, value in (("", "restricted"), ("-version", guardrails.PSS_VERSION))
    }
    labels[guardrails.ENFORCED_LABEL] = guardrails.ENFORCED
    labels[guardrails.TENANT_LABEL] = tenant.name
    if tenant.load_balancers:
        labels[guardrails.LOAD_BALANCERS_LABEL] = guardrails.ALLOWED
    if tenant.node_pools:
        labels[guardrails.POOLS_RESTRICTED_LABEL] = guardrails.RESTRICTED
        labels |= {pool_label(pool): guardrails.ALLOWED for pool in tenant.node_pools}
    annotations = {guardrails.HOSTS_ANNOTATION: host_suffix(tenant, domain)}
    metadata = {"name": tenant.name, "labels": labels, "annotations": annotations}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def _metadata(tenant: TenantSettings, name: str) -> dict[str, Any]:
    return {"name": name, "namespace": tenant.name, "labels": {"app.kubernetes.io/managed-by": "podium"}}


def resource_quota(tenant: TenantSettings) -> dict[str, Any]:
    quota = tenant.quota
    hard = {
        "requests.cpu": quota.cpu,
        "requests.memory": quota.memory,
        "limits.memory": quota.memory,
        "pods": str(quota.pods),
        "requests.storage": quota.storage,
        # Each LoadBalancer Service is an NLB on the platform's bill.
        "services.loadbalancers": str(MAX_LOAD_BALANCERS) if tenant.load_balancers else "0",
    }
    if not tenant.load_balancers:
        # NodePorts are the nodes' own ports. The quota counts a LoadBalancer Service's
        # ports as node ports too, so a tenant allowed load balancers must have them.
        hard["services.nodeports"] = "0"
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _metadata(tenant, "podium-quota"),
        "spec": {"hard": hard},
    }


def critical_priority_quota(tenant: TenantSettings) -> dict[str, Any]:
    """No pod of the built-in critical priority classes, which any namespace may use and
    which preempt (evict) the platform's and the app's pods."""
    scope = {"scopeName": "PriorityClass", "operator": "In", "values": list(CRITICAL_PRIORITY_CLASSES)}
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _metadata(tenant, "podium-no-critical-priority"),
        "spec": {"hard": {"pods": "0"}, "scopeSelector": {"matchExpressions": [scope]}},
    }


def limit_range(tenant: TenantSettings) -> dict[str, Any]:
    d = tenant.defaults
    limits = [
        {
            "type": "Container",
            "defaultRequest": {"cpu": d.cpu_request, "memory": d.memory_request},
            "default": {"cpu": d.cpu_limit, "memory": d.memory_limit},
        }
    ]
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _metadata(tenant, "podium-defaults"),
        "spec": {"limits": limits},
    }


def network_policies(
    tenant: TenantSettings, ingress_namespace: str, internal_cidrs: Sequence[str]
) -> list[dict[str, Any]]:
    def policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _metadata(tenant, name),
            "spec": {"podSelector": {}, **spec},
        }

    def namespace_named(name: str) -> dict[str, Any]:
        return {"matchLabels": {"kubernetes.io/metadata.name": name}}

    dns_ports = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    policies = [
        policy("podium-default-deny", {"policyTypes": ["Ingress", "Egress"]}),
        policy(
            "podium-allow-dns",
            {
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": namespace_named("kube-system"),
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": dns_ports,
                    }
                ],
            },
        ),
        policy(
            "podium-allow-within-namespace",
            {
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{"to": [{"podSelector": {}}]}],
            },
        ),
        policy(
            "podium-allow-from-ingress",
            {
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"namespaceSelector": namespace_named(ingress_namespace)}]}],
            },
        ),
    ]
    if tenant.https_egress:
        # HTTPS to the internet (AWS APIs, SaaS), never into the VPC, the pod or service
        # networks, or instance metadata.
        outside = {"cidr": "0.0.0.0/0", "except": [*internal_cidrs, METADATA_CIDR]}
        https = {"to": [{"ipBlock": outside}], "ports": [{"protocol": "TCP", "port": 443}]}
        policies.append(policy("podium-allow-https-out", {"policyTypes": ["Egress"], "egress": [https]}))
    return policies


def role(tenant: TenantSettings) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _metadata(tenant, ROLE),
        "rules": [dict(rule) for rule in DEPLOYER_RULES],
    }


def role_binding(tenant: TenantSettings, user: pulumi.Input[str]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _metadata(tenant, ROLE),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE},
        # Only this generation's certificate: an older one authenticates, and may do nothing.
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }


def tenant_objects(
    tenant: TenantSettings,
    *,
    user: pulumi.Input[str],
    ingress_namespace: str,
    domain: str,
    internal_cidrs: Sequence[str],
) -> list[dict[str, Any]]:
    """Everything a tenant gets in the cluster, namespace first."""
    return [
        namespace(tenant, domain),
        resource_quota(tenant),
        critical_priority_quota(tenant),
        limit_range(tenant),
        *network_policies(tenant, ingress_namespace, internal_cidrs),
        role(tenant),
        role_binding(tenant, user),
    ]


@dataclass(frozen=True)
class TenantsArgs:
    cluster_name: str
    tenants: Sequence[TenantSettings]
    server: pulumi.Input[str]  # the API endpoint the kubeconfigs name
    ca: CertificateAuthority
    ingress_namespace: str
    domain: str  # tenants' Ingresses route <name>.<tenant>.<domain> only
    internal_cidrs: Sequence[str]  # the VPC, pod and service networks: no tenant egress there
    protect: bool  # deletionProtection: a tenant's namespace holds its data
    depends_on: Sequence[pulumi.Resource] = ()


def _apply(name: str, obj: dict[str, Any], opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    kind, metadata = obj["kind"], obj["metadata"]
    if kind == "Namespace":
        return k8s.core.v1.Namespace(name, metadata=metadata, opts=opts)
    if kind == "Role":
        return k8s.rbac.v1.Role(name, metadata=metadata, rules=obj["rules"], opts=opts)
    if kind == "RoleBinding":
        return k8s.rbac.v1.RoleBinding(
            name, metadata=metadata, role_ref=obj["roleRef"], subjects=obj["subjects"], opts=opts
        )
    kinds = {
        "ResourceQuota": k8s.core.v1.ResourceQuota,
        "LimitRange": k8s.core.v1.LimitRange,
        "NetworkPolicy": k8s.networking.v1.NetworkPolicy,
    }
    return kinds[kind](name, metadata=metadata, spec=obj["spec"], opts=opts)


class Tenants(pulumi.ComponentResource):
    """The guardrails (once per cluster) and every tenant's objects and kubeconfig."""

    kubeconfigs: pulumi.Output[dict[str, str]]  # secret, by tenant
    guardrails: list[pulumi.CustomResource]  # what workloads of the guarded namespaces wait for

    def __init__(self, name: str, args: TenantsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("podium:tenants:Tenants", name, None, opts)
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        # The guardrails first: no tenant namespace exists without them. Each binding
        # after its policy (a binding of a missing policy is ignored, not enforced).
        policies: list[pulumi.CustomResource] = []
        by_name: dict[str, pulumi.CustomResource] = {}
        for obj in guardrails.admission_objects():
            named = f"{name}-{obj['metadata']['name']}"
            if obj["kind"] == "ValidatingAdmissionPolicy":
                by_name[obj["metadata"]["name"]] = _admission(named, obj, after)
                policies.append(by_name[obj["metadata"]["name"]])
            else:
                policy = by_name[obj["spec"]["policyName"]]
                policies.append(_admission(named, obj, pulumi.ResourceOptions(parent=self, depends_on=[policy])))
        self.guardrails = policies
        kubeconfigs: dict[str, pulumi.Output[str]] = {}
        for tenant in args.tenants:
            prefix = f"{name}-{tenant.name}"
            # A new generation is a new key and user: the resource names carry it.
            credential = f"{prefix}-credential-{tenant.credential_generation}"
            nonce = random.RandomId(credential, byte_length=4, opts=pulumi.ResourceOptions(parent=self))
            user = nonce.hex.apply(lambda h, t=tenant: user_of(t, h))
            ns_obj, *rest = tenant_objects(
                tenant,
                user=user,
                ingress_namespace=args.ingress_namespace,
                domain=args.domain,
                internal_cidrs=args.internal_cidrs,
            )
            ns = _apply(
                prefix,
                ns_obj,
                pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, *policies], protect=args.protect),
            )
            inside = pulumi.ResourceOptions(parent=self, depends_on=[ns])
            for obj in rest:
                _apply(f"{prefix}-{obj['kind'].lower()}-{obj['metadata']['name']}", obj, inside)
            certificate = client_certificate(
                credential,
                user=user,
                group=GROUP,
                ca=args.ca,
                validity_hours=VALIDITY_HOURS,
                early_renewal_hours=EARLY_RENEWAL_HOURS,
                parent=self,
            )
            kubeconfigs[tenant.name] = pulumi.Output.all(
                args.server, args.ca.cert_pem, certificate.cert_pem, certificate.key_pem, user
            ).apply(
                lambda v, t=tenant: render_kubeconfig(
                    args.cluster_name, v[0], v[1], v[2], v[3], user=v[4], namespace=t.name
                )
            )
        self.kubeconfigs = (
            pulumi.Output.secret(pulumi.Output.all(**kubeconfigs)) if kubeconfigs else pulumi.Output.secret({})
        )
        self.register_outputs({"tenants": [t.name for t in args.tenants]})


def _admission(name: str, obj: dict[str, Any], opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    if obj["kind"] == "ValidatingAdmissionPolicy":
        return k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            name, metadata=obj["metadata"], spec=obj["spec"], opts=opts
        )
    return k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
        name, metadata=obj["metadata"], spec=obj["spec"], opts=opts
    )
