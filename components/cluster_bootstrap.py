"""ClusterBootstrap: the control plane of a kubeadm cluster on EC2, declared so that
its CA, endpoint, join material and admin kubeconfig are known before a node boots.

Children: the shared PKI (ClusterPki), a KMS key and SSM SecureStrings that deliver
it (readable by the control-plane role only; workers read only the join token), the
bootstrap token and the Secrets encryption key (pulumi-random), the security groups,
the API endpoint (an Elastic IP for one control plane, an NLB for three or five), the
control-plane role, one instance per AZ slot with its own etcd volume, the etcd
snapshot bucket, and a readiness gate on `/readyz`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components import iam_policies, kubeadm
from components.discovery import discovery_hash, render_kubeconfig
from components.instance_role import instance_profile
from components.pki import ClusterPki, ClusterPkiArgs
from components.private_bucket import private_bucket
from components.readiness import ApiReadiness
from components.userdata import ControlPlaneBoot, NodeBoot, render_node_script

ANYWHERE = "0.0.0.0/0"
# Canonical publishes its current Ubuntu 24.04 image here; read once per stack (see
# `node_image`), never followed silently.
UBUNTU_AMI_PARAMETER = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
# Pod traffic between nodes: Calico in VXLAN mode (UDP 4789) and its Typha fan-out
# (TCP 5473); the kubelet API (TCP 10250) for the API server and metrics-server.
KUBELET_PORT = 10250
POD_NETWORK_PORTS = (("udp", 4789, 4789), ("tcp", 5473, 5473))
NODE_PORTS = (30000, 32767)
ETCD_DEVICE = "/dev/xvdf"  # appears as NVMe on Nitro; the script finds it by volume id


@dataclass(frozen=True)
class ParameterNames:
    """Where each secret lives in SSM. The control-plane role reads `control_plane`
    and everything under it; node roles read `token` only."""

    cluster_name: str

    @property
    def root(self) -> str:
        return f"/podium/{self.cluster_name}"

    @property
    def control_plane(self) -> str:
        return f"{self.root}/control-plane"

    @property
    def pki(self) -> str:
        return f"{self.control_plane}/pki"

    @property
    def encryption_key(self) -> str:
        return f"{self.control_plane}/encryption-key"

    @property
    def token(self) -> str:
        return f"{self.root}/join/token"

    @property
    def node_image(self) -> str:
        return f"{self.root}/node-ami"


@dataclass(frozen=True)
class ControlPlaneSpec:
    count: int
    instance_type: str
    root_volume_gb: int
    etcd_volume_gb: int
    etcd_snapshot_interval_minutes: int
    etcd_snapshot_retention_days: int


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
    pod_cidr: str
    service_cidr: str
    api_allowed_cidrs: tuple[str, ...]
    api_endpoint: str  # public | internal
    ami_id: str | None
    control_plane: ControlPlaneSpec
    deletion_protection: bool


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


def control_plane_slots(count: int, az_count: int) -> list[int]:
    """The AZ slot of each control plane: spread round-robin, so 3 over 3 AZs gives
    one each and an AZ outage keeps etcd's quorum."""
    return [i % az_count for i in range(count)]


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
    public_node_cidrs: list[pulumi.Output[str]]  # a node's public address: the single control plane's EIP
    ready: ApiReadiness

    def __init__(self, name: str, args: ClusterBootstrapArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("podium:cluster:ClusterBootstrap", name, None, opts)
        self._name = name
        self._args = args
        self._names = ParameterNames(args.cluster_name)
        cluster = args.cluster_name
        cp = args.control_plane

        self.pki = ClusterPki(
            f"{name}-pki",
            ClusterPkiArgs(cluster_name=cluster, protect=args.deletion_protection),
            opts=self._child(),
        )
        self.ca_certificate = self.pki.cluster_ca.cert_pem
        self.discovery_hash = self.ca_certificate.apply(discovery_hash)

        key = aws.kms.Key(
            f"{name}-kms",
            description=f"{cluster}: cluster PKI, join token, Secrets encryption key, etcd snapshots",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags={"Name": cluster},
            opts=self._keep(),
        )
        aws.kms.Alias(f"{name}-kms", name=f"alias/podium/{cluster}", target_key_id=key.key_id, opts=self._child())
        self.kms_key_arn = key.arn

        token = self._bootstrap_token()
        self._secure_parameter("token", self._names.token, token, key)
        # Losing this key makes every Secret in etcd (and in every snapshot) unreadable.
        encryption_key = random.RandomBytes(f"{name}-encryption-key", length=32, opts=self._keep())
        self._secure_parameter(
            "encryption-key", self._names.encryption_key, pulumi.Output.secret(encryption_key.base64), key
        )
        for path, content in self.pki.files().items():
            self._secure_parameter(f"pki-{path.replace('/', '-')}", f"{self._names.pki}/{path}", content, key)

        self.node_image_id = self._node_image()
        bucket = self._etcd_backup_bucket(key)
        self.etcd_backup_bucket = bucket.bucket

        security = self._security_groups()
        self.node_security_group_id = security["node"].id
        role_profile = self._control_plane_role(key, bucket)

        single = cp.count == 1
        if single:
            eip = aws.ec2.Eip(f"{name}-api", domain="vpc", tags={"Name": f"{cluster}-api"}, opts=self._keep())
            # Inside the VPC the public DNS name resolves to the private address, so
            # nodes reach the API server directly, without the NAT.
            endpoint_host: pulumi.Output[str] = eip.public_dns
            extra_sans: pulumi.Output[list[str]] = pulumi.Output.all(eip.public_ip)
            target_group = None
            self.public_node_cidrs = [eip.public_ip.apply(lambda ip: f"{ip}/32")]
        else:
            lb, target_group = self._load_balancer(security["api_lb"])
            endpoint_host = lb.dns_name
            extra_sans = pulumi.Output.all()
            eip = None
            self.public_node_cidrs = []
        api_endpoint = endpoint_host.apply(lambda host: f"{host}:{kubeadm.API_PORT}")
        self.endpoint = endpoint_host.apply(lambda host: f"https://{host}:{kubeadm.API_PORT}")

        instances: list[aws.ec2.Instance] = []
        waits_for: list[pulumi.Resource] = []
        for index, slot in enumerate(control_plane_slots(cp.count, args.az_count)):
            instance, attachment = self._control_plane(
                index,
                slot,
                single=single,
                endpoint_host=endpoint_host,
                extra_sans=extra_sans,
                security_group=security["control_plane"],
                instance_profile=role_profile,
                bucket=bucket,
            )
            instances.append(instance)
            waits_for.append(attachment)
            if target_group is not None:
                waits_for.append(
                    aws.lb.TargetGroupAttachment(
                        f"{name}-api-{index}",
                        target_group_arn=target_group.arn,
                        target_id=instance.id,
                        port=kubeadm.API_PORT,
                        opts=self._child(),
                    )
                )
        if eip is not None:
            waits_for.append(
                aws.ec2.EipAssociation(
                    f"{name}-api", allocation_id=eip.allocation_id, instance_id=instances[0].id, opts=self._child()
                )
            )

        self.ready = ApiReadiness(
            f"{name}-api-ready",
            endpoint=self.endpoint,
            ca_pem=self.ca_certificate,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*instances, *waits_for]),
        )
        # Built from the gate's output: nothing that uses the kubeconfig starts before
        # the API server answers. Same inputs, same text (no provider churn).
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(
                self.ready.endpoint, self.ca_certificate, self.pki.admin_cert_pem, self.pki.admin_key_pem
            ).apply(lambda v: render_kubeconfig(cluster, v[0], v[1], v[2], v[3]))
        )
        self.join = JoinMaterial(
            api_endpoint=api_endpoint,
            ca_cert_hash=self.discovery_hash,
            token_parameter=self._names.token,
            token=token,
        )
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "caCertificate": self.ca_certificate,
                "discoveryHash": self.discovery_hash,
                "kubeconfig": self.kubeconfig,
                "joinToken": token,
                "tokenParameter": self._names.token,
                "nodeImageId": self.node_image_id,
                "nodeSecurityGroupId": self.node_security_group_id,
                "etcdBackupBucket": self.etcd_backup_bucket,
            }
        )

    # -- options -------------------------------------------------------------------

    def _child(self, **kwargs: object) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)  # type: ignore[arg-type]

    def _keep(self, **kwargs: object) -> pulumi.ResourceOptions:
        """Stateful or hard to rebuild: protected when deletionProtection is on."""
        return pulumi.ResourceOptions(parent=self, protect=self._args.deletion_protection, **kwargs)  # type: ignore[arg-type]

    # -- secrets -------------------------------------------------------------------

    def _bootstrap_token(self) -> pulumi.Output[str]:
        """kubeadm's `[a-z0-9]{6}.[a-z0-9]{16}`. RandomPassword keeps the value secret
        in the state; replacing these two resources rotates the token (README)."""
        parts = [
            random.RandomPassword(
                f"{self._name}-token-{part}", length=length, upper=False, special=False, opts=self._child()
            ).result
            for part, length in (("id", 6), ("secret", 16))
        ]
        return pulumi.Output.secret(pulumi.Output.concat(parts[0], ".", parts[1]))

    def _secure_parameter(
        self, suffix: str, parameter_name: str, value: pulumi.Input[str], key: aws.kms.Key
    ) -> aws.ssm.Parameter:
        return aws.ssm.Parameter(
            f"{self._name}-{suffix}",
            name=parameter_name,
            type="SecureString",
            key_id=key.arn,
            value=pulumi.Output.secret(value),
            opts=self._child(),
        )

    def _node_image(self) -> pulumi.Output[str]:
        """The AMI every node boots, recorded in SSM. Without `cluster.amiId`, the first
        `pulumi up` records Canonical's current image and later runs keep it (a newer
        image never replaces nodes by surprise); setting `cluster.amiId` upgrades."""
        pinned = self._args.ami_id
        value: pulumi.Input[str]
        if pinned:
            value = pinned
        else:
            value = aws.ssm.get_parameter_output(
                name=UBUNTU_AMI_PARAMETER, opts=pulumi.InvokeOptions(parent=self)
            ).insecure_value
        recorded = aws.ssm.Parameter(
            f"{self._name}-node-ami",
            name=self._names.node_image,
            type="String",
            data_type="aws:ec2:image",
            insecure_value=value,
            description="AMI of every Podium node in this cluster; change podium:cluster.amiId to upgrade",
            opts=self._child(ignore_changes=[] if pinned else ["insecureValue"]),
        )
        return recorded.insecure_value.apply(lambda v: v or "")

    # -- storage -------------------------------------------------------------------

    def _etcd_backup_bucket(self, key: aws.kms.Key) -> aws.s3.Bucket:
        """Snapshots hold every Secret (encrypted with the Secrets key, itself in SSM):
        both are needed for a restore."""
        return private_bucket(
            f"{self._name}-etcd-backups",
            bucket_prefix=f"{self._args.cluster_name}-etcd-",
            expire_prefix="etcd/",
            expire_days=self._args.control_plane.etcd_snapshot_retention_days,
            protect=self._args.deletion_protection,
            kms_key_arn=key.arn,
            parent=self,
        )

    # -- network -------------------------------------------------------------------

    def _security_groups(self) -> dict[str, aws.ec2.SecurityGroup]:
        """Control planes, workers and (HA) the API load balancer. No SSH anywhere
        (Session Manager instead); etcd only between control planes; the kubelet only
        from inside the cluster; NodePorts only from the VPC (the cloud controller
        opens a Service's own ports for its load balancer)."""
        name, args = self._name, self._args
        cluster = args.cluster_name

        def group(suffix: str, description: str, tags: dict[str, str]) -> aws.ec2.SecurityGroup:
            sg = aws.ec2.SecurityGroup(
                f"{name}-{suffix}",
                vpc_id=args.vpc_id,
                description=description,
                tags={"Name": f"{cluster}-{suffix}", **tags},
                opts=self._child(),
            )
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-{suffix}-egress",
                security_group_id=sg.id,
                ip_protocol="-1",
                cidr_ipv4=ANYWHERE,
                description="packages, images, AWS APIs",
                opts=self._child(),
            )
            return sg

        # Only the node group carries the cluster tag: the cloud controller edits the
        # one tagged group of an instance to admit load-balancer traffic.
        groups = {
            "control_plane": group("control-plane", f"{cluster} control planes", {}),
            "node": group("nodes", f"{cluster} worker nodes", cluster_tag(cluster)),
        }
        cp, node = groups["control_plane"], groups["node"]
        api_sources = [args.vpc_cidr]
        if args.control_plane.count == 1:
            api_sources += list(args.api_allowed_cidrs)
        for i, cidr in enumerate(api_sources):
            self._ingress(f"control-plane-api-{i}", cp, "tcp", kubeadm.API_PORT, kubeadm.API_PORT, cidr=cidr)
        self._ingress("control-plane-etcd", cp, "tcp", 2379, 2380, source=cp)
        for source_name, source in (("control-plane", cp), ("nodes", node)):
            self._ingress(
                f"control-plane-kubelet-from-{source_name}", cp, "tcp", KUBELET_PORT, KUBELET_PORT, source=source
            )
            self._ingress(f"nodes-kubelet-from-{source_name}", node, "tcp", KUBELET_PORT, KUBELET_PORT, source=source)
            for protocol, low, high in POD_NETWORK_PORTS:
                self._ingress(
                    f"control-plane-{protocol}{low}-from-{source_name}", cp, protocol, low, high, source=source
                )
                if source is cp:
                    self._ingress(f"nodes-{protocol}{low}-from-control-plane", node, protocol, low, high, source=cp)
        self._ingress("nodes-from-nodes", node, "-1", None, None, source=node)
        self._ingress("nodes-node-ports", node, "tcp", NODE_PORTS[0], NODE_PORTS[1], cidr=args.vpc_cidr)

        if args.control_plane.count > 1:
            lb = group("api-lb", f"{cluster} API load balancer", {})
            lb_sources = [args.vpc_cidr] + (list(args.api_allowed_cidrs) if args.api_endpoint == "public" else [])
            for i, cidr in enumerate(lb_sources):
                self._ingress(f"api-lb-{i}", lb, "tcp", kubeadm.API_PORT, kubeadm.API_PORT, cidr=cidr)
            groups["api_lb"] = lb
        return groups

    def _ingress(
        self,
        rule: str,
        group: aws.ec2.SecurityGroup,
        protocol: str,
        low: int | None,
        high: int | None,
        *,
        cidr: str | None = None,
        source: aws.ec2.SecurityGroup | None = None,
    ) -> None:
        aws.vpc.SecurityGroupIngressRule(
            f"{self._name}-{rule}",
            security_group_id=group.id,
            ip_protocol=protocol,
            from_port=low,
            to_port=high,
            cidr_ipv4=cidr,
            referenced_security_group_id=source.id if source is not None else None,
            description=rule,
            opts=self._child(),
        )

    def _load_balancer(self, security_group: aws.ec2.SecurityGroup) -> tuple[aws.lb.LoadBalancer, aws.lb.TargetGroup]:
        name, args = self._name, self._args
        cluster = args.cluster_name
        internal = args.api_endpoint == "internal"
        # Fixed names (the 32-character limit leaves no room for auto-naming's suffix),
        # so a replacement must delete first.
        lb = aws.lb.LoadBalancer(
            f"{name}-api",
            name=f"{cluster}-api",
            load_balancer_type="network",
            internal=internal,
            subnets=args.private_subnet_ids if internal else args.public_subnet_ids,
            security_groups=[security_group.id],
            enable_cross_zone_load_balancing=True,
            enable_deletion_protection=args.deletion_protection,
            tags={"Name": f"{cluster}-api"},
            opts=self._keep(delete_before_replace=True),
        )
        target_group = aws.lb.TargetGroup(
            f"{name}-api",
            name=f"{cluster}-api",
            port=kubeadm.API_PORT,
            protocol="TCP",
            target_type="instance",
            vpc_id=args.vpc_id,
            # A control plane reaching the API through the NLB can land on itself;
            # with the client's address preserved that hairpin times out. The
            # client-CIDR filter lives on the load balancer's own security group.
            preserve_client_ip="false",
            deregistration_delay=30,
            health_check={
                "protocol": "HTTPS",
                "path": "/readyz",
                "port": "traffic-port",
                "interval": 10,
                # Explicitly below the interval: not every API version accepts them equal.
                "timeout": 5,
                "healthy_threshold": 2,
                "unhealthy_threshold": 2,
            },
            tags={"Name": f"{cluster}-api"},
            opts=self._child(delete_before_replace=True),
        )
        aws.lb.Listener(
            f"{name}-api",
            load_balancer_arn=lb.arn,
            port=kubeadm.API_PORT,
            protocol="TCP",
            default_actions=[{"type": "forward", "target_group_arn": target_group.arn}],
            opts=self._child(),
        )
        return lb, target_group

    # -- control planes ------------------------------------------------------------

    def _control_plane_role(self, key: aws.kms.Key, bucket: aws.s3.Bucket) -> aws.iam.InstanceProfile:
        args = self._args

        def policy(partition: str, account: str) -> pulumi.Output[dict[str, Any]]:
            return pulumi.Output.all(key.arn, bucket.bucket, args.vpc_id).apply(
                lambda v: iam_policies.control_plane_policy(
                    partition=partition,
                    region=args.region,
                    account_id=account,
                    cluster_name=args.cluster_name,
                    kms_key_arn=v[0],
                    parameter_path=self._names.control_plane,
                    token_parameter=self._names.token,
                    etcd_backup_bucket=v[1],
                    vpc_id=v[2],
                )
            )

        _, profile = instance_profile(
            f"{self._name}-control-plane",
            description=f"{args.cluster_name} control planes: cloud controller, EBS CSI controller, own SSM secrets",
            policy=policy,
            parent=self,
        )
        return profile

    def _control_plane(
        self,
        index: int,
        slot: int,
        *,
        single: bool,
        endpoint_host: pulumi.Output[str],
        extra_sans: pulumi.Output[list[str]],
        security_group: aws.ec2.SecurityGroup,
        instance_profile: aws.iam.InstanceProfile,
        bucket: aws.s3.Bucket,
    ) -> tuple[aws.ec2.Instance, aws.ec2.VolumeAttachment]:
        name, args = self._name, self._args
        cluster, cp = args.cluster_name, args.control_plane
        node_name = f"{cluster}-control-plane-{index}"
        zone = args.availability_zones.apply(lambda zones: zones[slot])
        # One control plane sits in a public subnet behind its Elastic IP; HA control
        # planes stay private behind the load balancer.
        subnets = args.public_subnet_ids if single else args.private_subnet_ids
        etcd_volume = aws.ebs.Volume(
            f"{name}-etcd-{index}",
            availability_zone=zone,
            size=cp.etcd_volume_gb,
            type="gp3",
            encrypted=True,
            # No cluster tag: the EBS CSI driver's role can move only volumes that carry it.
            tags={"Name": f"{node_name}-etcd"},
            opts=self._keep(),
        )
        role = "init" if index == 0 else "control-plane"
        user_data = pulumi.Output.all(
            endpoint_host, extra_sans, self.discovery_hash, etcd_volume.id, bucket.bucket
        ).apply(lambda v: self._control_plane_script(role, v[0], v[1], v[2], v[3], v[4]))
        instance = aws.ec2.Instance(
            f"{name}-control-plane-{index}",
            ami=self.node_image_id,
            instance_type=cp.instance_type,
            subnet_id=subnets.apply(lambda ids: ids[slot]),
            vpc_security_group_ids=[security_group.id],
            iam_instance_profile=instance_profile.name,
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                # Pods of the cloud controller and the EBS CSI controller read metadata.
                "http_put_response_hop_limit": 2,
            },
            root_block_device={
                "volume_type": "gp3",
                "volume_size": cp.root_volume_gb,
                "encrypted": True,
                "delete_on_termination": True,
                "tags": {"Name": f"{node_name}-root"},
            },
            user_data=user_data,
            disable_api_termination=args.deletion_protection,
            tags={"Name": node_name, **cluster_tag(cluster)},
            # Control planes are upgraded in place (kubeadm upgrade): a new script or
            # image applies to replacements, never by stopping a running member.
            opts=self._keep(ignore_changes=["ami", "userData"]),
        )
        attachment = aws.ec2.VolumeAttachment(
            f"{name}-etcd-{index}",
            device_name=ETCD_DEVICE,
            volume_id=etcd_volume.id,
            instance_id=instance.id,
            opts=self._child(),
        )
        return instance, attachment

    def _control_plane_script(
        self, role: str, endpoint_host: str, extra_sans: list[str], ca_hash: str, volume_id: str, bucket: str
    ) -> str:
        args, names = self._args, self._names
        params = kubeadm.ClusterParams(
            cluster_name=args.cluster_name,
            kubernetes_version=args.kubernetes_version,
            endpoint_host=endpoint_host,
            pod_cidr=args.pod_cidr,
            service_cidr=args.service_cidr,
            cert_sans=tuple(extra_sans),
        )
        if role == "init":
            documents = [
                kubeadm.init_configuration(),
                kubeadm.cluster_configuration(params),
                kubeadm.kubelet_configuration(),
            ]
        else:
            documents = [kubeadm.join_configuration(params.control_plane_endpoint, ca_hash, control_plane=True)]
        return render_node_script(
            NodeBoot(
                role=role,
                cluster_name=args.cluster_name,
                region=args.region,
                kubernetes_version=args.kubernetes_version,
                api_endpoint=params.control_plane_endpoint,
                kubeadm_config=kubeadm.render(documents),
                token_parameter=names.token,
                control_plane=ControlPlaneBoot(
                    pki_parameter_path=names.pki,
                    encryption_key_parameter=names.encryption_key,
                    encryption_config=kubeadm.render([kubeadm.encryption_configuration()]),
                    audit_policy=kubeadm.render([kubeadm.audit_policy()]),
                    etcd_volume_id=volume_id,
                    etcd_backup_bucket=bucket,
                    etcd_snapshot_interval_minutes=args.control_plane.etcd_snapshot_interval_minutes,
                ),
            )
        )
