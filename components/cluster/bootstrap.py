"""ClusterBootstrap: the control plane of a kubeadm cluster on EC2, declared so that
its CA, endpoint, join material and admin kubeconfig are known before a node boots.

Children: the shared PKI (ClusterPki), the secrets delivery (secrets.py: a KMS key
and SSM SecureStrings readable by the control-plane role only; workers read only the
join token), the node image record (node_image.py), the security groups
(firewall.py), the API endpoints (endpoint.py: an internal NLB for nodes, an
internet-facing one for admins when public), the control-plane members with their role, etcd volumes and
snapshot bucket (members.py), and a readiness gate that, as the cluster admin, waits
for kubeadm init to finish and every control plane to register (readiness.py).
The helpers register their resources with this component as parent, so URNs are as
if it made them itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.cluster import oidc
from components.cluster.addon_roles import AddonRoles, addon_roles
from components.cluster.control_plane_upgrade import ControlPlaneUpgrade
from components.cluster.discovery import discovery_hash, render_kubeconfig
from components.cluster.endpoint import ApiEndpoint, EndpointArgs
from components.cluster.firewall import FirewallArgs, security_groups
from components.cluster.members import (
    ControlPlaneSpec,
    MemberInputs,
    MembersArgs,
    control_plane,
    control_plane_role,
    control_plane_slots,
    etcd_backup_bucket,
)
from components.cluster.node_image import node_image
from components.cluster.pki import ClusterPki, ClusterPkiArgs
from components.cluster.readiness import AdminAccess, ApiReadiness, instances_hint
from components.cluster.secrets import ParameterNames, deliver_secrets
from components.shared.children import Children
from components.shared.workload_role import Issuer


@dataclass(frozen=True)
class ClusterBootstrapArgs:
    cluster_name: str
    kubernetes_version: str
    region: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    az_count: int
    availability_zones: pulumi.Output[list[str]]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    private_egress: Sequence[pulumi.Resource]  # the NAT routes a booting member downloads through
    pod_cidr: str
    service_cidr: str
    api_allowed_cidrs: tuple[str, ...]
    api_endpoint: str  # public | internal | natInstance
    ami_id: str | None
    control_plane: ControlPlaneSpec
    deletion_protection: bool
    # CloudWatch Logs groups the cluster's key encrypts (the cluster's own logs).
    encrypted_log_groups: tuple[str, ...] = ()
    # apiEndpoint natInstance: the lone control plane's fixed address, and the NAT
    # instance's Elastic IP that forwards to it.
    control_plane_address: str | None = None
    nat_public_ip: pulumi.Output[str] | None = None


@dataclass(frozen=True)
class JoinMaterial:
    """What a node group needs to join: names and hashes, plus the token itself
    (secret) for consumers that join nodes some other way."""

    api_endpoint: pulumi.Output[str]  # host:6443
    ca_cert_hash: pulumi.Output[str]
    token_parameter: str
    token: pulumi.Output[str]  # secret


def cluster_tag(cluster_name: str) -> dict[str, str]:
    """The tag the AWS cloud provider uses to find the cluster's instances and groups."""
    return {f"kubernetes.io/cluster/{cluster_name}": "owned"}


class ClusterBootstrap(pulumi.ComponentResource):
    endpoint: pulumi.Output[str]
    ca_certificate: pulumi.Output[str]
    discovery_hash: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    join: JoinMaterial
    node_image_id: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str]
    node_security_group_id: pulumi.Output[str]
    etcd_backup_bucket: pulumi.Output[str]
    issuer: Issuer
    addon_roles: AddonRoles
    admin_access: AdminAccess
    ready: ApiReadiness
    control_planes_upgraded: ControlPlaneUpgrade  # what waits for the control planes' version

    def __init__(self, name: str, args: ClusterBootstrapArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("podium:cluster:ClusterBootstrap", name, None, opts)
        scope = Children(parent=self, name=name, protect=args.deletion_protection)
        names = ParameterNames(args.cluster_name)
        cluster = args.cluster_name
        cp = args.control_plane

        self.pki = ClusterPki(
            f"{name}-pki",
            ClusterPkiArgs(cluster_name=cluster, protect=args.deletion_protection),
            opts=scope.child(),
        )
        self.ca_certificate = self.pki.cluster_ca.cert_pem
        self.discovery_hash = self.ca_certificate.apply(discovery_hash)
        secrets = deliver_secrets(scope, cluster, args.region, names, self.pki, args.encrypted_log_groups)
        self.issuer = oidc.issuer(scope, cluster, self.pki.service_account_public_pem)
        self.addon_roles = addon_roles(scope, cluster, args.region, args.vpc_id, self.issuer)
        self.kms_key_arn = secrets.key.arn
        self.node_image_id = node_image(scope, names.node_image, args.ami_id)

        members = MembersArgs(
            cluster_name=cluster,
            kubernetes_version=args.kubernetes_version,
            region=args.region,
            availability_zones=args.availability_zones,
            private_subnet_ids=args.private_subnet_ids,
            pod_cidr=args.pod_cidr,
            service_cidr=args.service_cidr,
            spec=cp,
            deletion_protection=args.deletion_protection,
            tags=cluster_tag(cluster),
            fixed_address=args.control_plane_address,
        )
        bucket = etcd_backup_bucket(scope, members, secrets.key)
        self.etcd_backup_bucket = bucket.bucket

        groups = security_groups(
            scope,
            FirewallArgs(
                cluster_name=cluster,
                vpc_id=args.vpc_id,
                vpc_cidr=args.vpc_cidr,
                api_allowed_cidrs=args.api_allowed_cidrs,
                api_endpoint=args.api_endpoint,
                node_tags=cluster_tag(cluster),
            ),
        )
        self.node_security_group_id = groups.node.id
        profile = control_plane_role(scope, members, names, secrets.key, bucket)

        endpoint = ApiEndpoint(
            scope,
            EndpointArgs(
                cluster_name=cluster,
                vpc_id=args.vpc_id,
                public_subnet_ids=args.public_subnet_ids,
                private_subnet_ids=args.private_subnet_ids,
                api_endpoint=args.api_endpoint,
                deletion_protection=args.deletion_protection,
                control_plane_address=args.control_plane_address,
                nat_public_ip=args.nat_public_ip,
            ),
            groups.load_balancers,
        )
        self.endpoint = endpoint.url

        inputs = MemberInputs(
            image_id=self.node_image_id,
            endpoint_host=endpoint.node_host,
            extra_sans=endpoint.extra_sans,
            discovery_hash=self.discovery_hash,
            issuer_url=self.issuer.url,
            security_group=groups.control_plane,
            instance_profile=profile,
            bucket=bucket,
            names=names,
            egress=args.private_egress,
        )
        planes = [
            control_plane(scope, members, inputs, index, slot)
            for index, slot in enumerate(control_plane_slots(cp.count, args.az_count))
        ]
        instances = [member.instance for member in planes]
        waits_for = [member.etcd_attachment for member in planes] + endpoint.put_behind(instances)

        self.admin_access = AdminAccess(
            endpoint=self.endpoint,
            ca_pem=self.ca_certificate,
            client_cert_pem=self.pki.admin_cert_pem,
            client_key_pem=self.pki.admin_key_pem,
        )
        instance_ids = pulumi.Output.all(*[i.id for i in instances])
        self.ready = ApiReadiness(
            f"{name}-api-ready",
            self.admin_access,
            stage="control-plane",
            node_names=pulumi.Output.all(*[i.private_dns for i in instances]),
            instance_ids=instance_ids,
            hint=instance_ids.apply(instances_hint),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*instances, *waits_for]),
        )
        # kubernetesVersion, applied to the running members one at a time (a no-op but the
        # health check on a new cluster), then recorded for the next run's skew guard.
        self.control_planes_upgraded = ControlPlaneUpgrade(
            f"{name}-control-plane-version",
            cluster_name=cluster,
            region=args.region,
            version=args.kubernetes_version,
            members=[
                pulumi.Output.all(i.id, i.private_dns).apply(lambda v: {"instanceId": v[0], "nodeName": v[1]})
                for i in instances
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.ready]),
        )
        aws.ssm.Parameter(
            f"{name}-kubernetes-version",
            name=names.kubernetes_version,
            description=f"{cluster}: the Kubernetes version its control planes run (written after each upgrade)",
            type="String",
            value=self.control_planes_upgraded.version,
            opts=scope.child(),
        )
        aws.ssm.Parameter(
            f"{name}-api-endpoint-record",
            name=names.api_endpoint,
            description=f"{cluster}: the cluster.apiEndpoint it was made with (a running cluster keeps it)",
            type="String",
            value=args.api_endpoint,
            opts=scope.child(depends_on=[self.ready]),
        )
        # Built from the gate's output: nothing that uses the kubeconfig starts before
        # kubeadm init has finished. Same inputs, same text (no provider churn).
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(
                self.ready.endpoint, self.ca_certificate, self.pki.admin_cert_pem, self.pki.admin_key_pem
            ).apply(lambda v: render_kubeconfig(cluster, v[0], v[1], v[2], v[3]))
        )
        self.join = JoinMaterial(
            api_endpoint=endpoint.node_endpoint,
            ca_cert_hash=self.discovery_hash,
            token_parameter=names.token,
            token=secrets.token,
        )
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "caCertificate": self.ca_certificate,
                "discoveryHash": self.discovery_hash,
                "kubeconfig": self.kubeconfig,
                "joinToken": secrets.token,
                "tokenParameter": names.token,
                "nodeImageId": self.node_image_id,
                "nodeSecurityGroupId": self.node_security_group_id,
                "etcdBackupBucket": self.etcd_backup_bucket,
                "oidcIssuerUrl": self.issuer.url,
                "oidcProviderArn": self.issuer.provider_arn,
            }
        )
