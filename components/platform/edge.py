"""Edge: what makes the app answer on https://<app.hostname> with a valid certificate,
and its DNS record follow the ingress load balancer.

cert-manager (the vendored chart, its CRDs as the chart ships them) with the
ClusterIssuers of `app.tls.mode`; with `dns.provider: route53`, external-dns and the
web-identity roles of both, each limited to the one hosted zone. The values and issuers
are pure functions in tls.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.cluster import iam_policies
from components.config import versions
from components.platform import tls
from components.platform.addons import custom_resource, helm_release, pod_security_namespace
from components.shared.workload_role import Issuer, account_scoped_role


@dataclass(frozen=True)
class EdgeArgs:
    cluster_name: str
    hostname: str
    tls_mode: str  # acme | selfSigned | none
    acme_server: str
    email: str | None
    ingress_class: str
    route53: tls.Route53 | None
    issuer: Issuer | None  # the cluster's service-account issuer: route53's roles trust it
    depends_on: Sequence[pulumi.Resource] = ()


class Edge(pulumi.ComponentResource):
    ready: list[pulumi.Resource]  # what the app's Certificate waits for
    certificate_issuer: str | None  # the ClusterIssuer of the app's certificate

    def __init__(self, name: str, args: EdgeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("podium:edge:Edge", name, None, opts)
        self._name = name
        self.ready = []
        self.certificate_issuer = None
        if args.tls_mode != "none":
            self._certificates(args)
        if args.route53 is not None:
            self._dns(args, args.route53)
        self.register_outputs({"certificateIssuer": self.certificate_issuer})

    def _certificates(self, args: EdgeArgs) -> None:
        name = self._name
        dns01 = args.route53 if args.tls_mode == "acme" else None
        role: tls.AmbientRole | None = None
        depends: list[pulumi.Resource] = []
        if dns01 is not None:
            made = self._role(
                "cert-manager",
                args,
                tls.CERT_MANAGER_NAMESPACE,
                tls.CERT_MANAGER_ACCOUNT,
                f"{args.cluster_name} cert-manager: DNS-01 challenges for {args.hostname}",
                lambda partition: iam_policies.acme_dns01_policy(
                    partition=partition, hosted_zone_id=dns01.hosted_zone_id, hostname=args.hostname
                ),
            )
            role = tls.AmbientRole(made.arn, dns01.region)
            depends.append(made)
        http01 = args.tls_mode == "acme" and dns01 is None
        namespace = self._namespace(tls.CERT_MANAGER_NAMESPACE, args.depends_on, http01=http01)
        release = helm_release(
            f"{name}-cert-manager",
            versions.pinned_chart("certManager"),
            tls.CERT_MANAGER_NAMESPACE,
            tls.cert_manager_values(role),
            pulumi.ResourceOptions(parent=self, depends_on=[namespace, *depends]),
        )
        if args.tls_mode == "acme":
            assert args.email is not None, "settings require an email with acme"
            issuers = [tls.acme_issuer(args.acme_server, args.email, dns01, args.ingress_class)]
        else:
            issuers = tls.self_signed_ca(args.cluster_name)
        made_issuers: list[pulumi.Resource] = []
        for issuer in issuers:
            made_issuers.append(
                custom_resource(
                    f"{name}-{issuer['kind'].lower()}-{issuer['metadata']['name']}",
                    issuer,
                    pulumi.ResourceOptions(parent=self, depends_on=[release, *made_issuers]),
                )
            )
        self.ready = [release, *made_issuers]
        self.certificate_issuer = tls.issuer_of(args.tls_mode)

    def _dns(self, args: EdgeArgs, route53: tls.Route53) -> None:
        role = self._role(
            "external-dns",
            args,
            tls.EXTERNAL_DNS_NAMESPACE,
            tls.EXTERNAL_DNS_ACCOUNT,
            f"{args.cluster_name} external-dns: records of hosted zone {route53.hosted_zone_id}",
            lambda partition: iam_policies.external_dns_policy(
                partition=partition, hosted_zone_id=route53.hosted_zone_id
            ),
        )
        namespace = self._namespace(tls.EXTERNAL_DNS_NAMESPACE, args.depends_on)
        # In `ready`: the app's Ingress waits for it, so a destroy deletes the Ingress first
        # and external-dns can still remove the record it made.
        release = helm_release(
            f"{self._name}-external-dns",
            versions.pinned_chart("externalDns"),
            tls.EXTERNAL_DNS_NAMESPACE,
            tls.external_dns_values(route53, args.cluster_name, tls.AmbientRole(role.arn, route53.region)),
            pulumi.ResourceOptions(parent=self, depends_on=[namespace, role]),
        )
        self.ready.append(release)

    def _role(
        self, suffix: str, args: EdgeArgs, namespace: str, account: str, description: str, policy: Any
    ) -> aws.iam.Role:
        """`policy(partition)`: the role's document (Route 53 ARNs name no account)."""
        assert args.issuer is not None, "route53 needs kubeadm mode's service-account issuer"
        return account_scoped_role(
            f"{self._name}-{suffix}",
            issuer=args.issuer,
            namespace=namespace,
            service_account=account,
            description=description,
            policy=lambda partition, _account: policy(partition),
            parent=self,
        )

    def _namespace(
        self, name: str, depends_on: Sequence[pulumi.Resource], *, http01: bool = False
    ) -> k8s.core.v1.Namespace:
        """The namespace, and the egress its pods are allowed (tls.egress_policy)."""
        opts = pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))
        namespace = pod_security_namespace(f"{self._name}-{name}", name, "baseline", opts)
        k8s.networking.v1.NetworkPolicy(
            f"{self._name}-{name}-egress",
            metadata={"name": "egress", "namespace": name},
            spec=cast(Any, tls.egress_policy(http01=http01)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
        )
        return namespace
