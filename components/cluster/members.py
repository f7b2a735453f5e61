"""The control-plane members: their role, one instance per AZ slot with its own etcd
volume, the etcd snapshot bucket, and the script each boots with (`kubeadm init` on
the first, `kubeadm join --control-plane` on the others)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.cluster import iam_policies, kubeadm
from components.cluster.secrets import ParameterNames
from components.cluster.userdata import ControlPlaneBoot, NodeBoot, encode_gzipped, render_node_script
from components.shared.children import Children
from components.shared.instance_role import instance_profile
from components.shared.private_bucket import private_bucket

ETCD_DEVICE = "/dev/xvdf"  # appears as NVMe on Nitro; the script finds it by volume id


@dataclass(frozen=True)
class ControlPlaneSpec:
    count: int
    instance_type: str
    root_volume_gb: int
    etcd_volume_gb: int
    etcd_snapshot_interval_minutes: int
    etcd_snapshot_retention_days: int


@dataclass(frozen=True)
class MembersArgs:
    cluster_name: str
    kubernetes_version: str
    region: str
    availability_zones: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    pod_cidr: str
    service_cidr: str
    spec: ControlPlaneSpec
    deletion_protection: bool
    tags: dict[str, str]  # the cluster tag
    fixed_address: str | None = None  # cluster.apiEndpoint natInstance: the lone member's private address


@dataclass(frozen=True)
class Member:
    instance: aws.ec2.Instance
    etcd_attachment: aws.ec2.VolumeAttachment


def control_plane_slots(count: int, az_count: int) -> list[int]:
    """The AZ slot of each control plane: spread round-robin, so 3 over 3 AZs gives
    one each and an AZ outage keeps etcd's quorum."""
    return [i % az_count for i in range(count)]


def etcd_backup_bucket(scope: Children, args: MembersArgs, key: aws.kms.Key) -> aws.s3.Bucket:
    """Snapshots hold every Secret (encrypted with the Secrets key, itself in SSM):
    both are needed for a restore."""
    return private_bucket(
        f"{scope.name}-etcd-backups",
        bucket_prefix=f"{args.cluster_name}-etcd-",
        expire_prefix="etcd/",
        expire_days=args.spec.etcd_snapshot_retention_days,
        protect=args.deletion_protection,
        kms_key_arn=key.arn,
        parent=scope.parent,
    )


def control_plane_role(
    scope: Children, args: MembersArgs, names: ParameterNames, key: aws.kms.Key, bucket: aws.s3.Bucket
) -> aws.iam.InstanceProfile:
    def policy(partition: str, account: str) -> pulumi.Output[dict[str, Any]]:
        return pulumi.Output.all(key.arn, bucket.bucket).apply(
            lambda v: iam_policies.control_plane_policy(
                partition=partition,
                region=args.region,
                account_id=account,
                cluster_name=args.cluster_name,
                kms_key_arn=v[0],
                parameter_path=names.control_plane,
                token_parameter=names.token,
                etcd_backup_bucket=v[1],
            )
        )

    _, profile = instance_profile(
        f"{scope.name}-control-plane",
        description=f"{args.cluster_name} control planes: cloud controller, EBS CSI controller, own SSM secrets",
        policy=policy,
        parent=scope.parent,
    )
    return profile


@dataclass(frozen=True)
class MemberInputs:
    """What every member boots with, beyond its own index and slot."""

    image_id: pulumi.Output[str]
    endpoint_host: pulumi.Output[str]
    extra_sans: pulumi.Output[list[str]]
    discovery_hash: pulumi.Output[str]
    issuer_url: pulumi.Output[str]
    security_group: aws.ec2.SecurityGroup
    instance_profile: aws.iam.InstanceProfile
    bucket: aws.s3.Bucket
    names: ParameterNames
    egress: Sequence[pulumi.Resource]


def control_plane(scope: Children, args: MembersArgs, inputs: MemberInputs, index: int, slot: int) -> Member:
    cluster, cp = args.cluster_name, args.spec
    node_name = f"{cluster}-control-plane-{index}"
    zone = args.availability_zones.apply(lambda zones: zones[slot])
    # Private, like every node: no public address for the cloud controller to put
    # into the kubelet's serving certificate, and one path to the API for all.
    subnets = args.private_subnet_ids
    etcd_volume = aws.ebs.Volume(
        f"{scope.name}-etcd-{index}",
        availability_zone=zone,
        size=cp.etcd_volume_gb,
        type="gp3",
        encrypted=True,
        # No cluster tag: the EBS CSI driver's role can move only volumes that carry it.
        tags={"Name": f"{node_name}-etcd"},
        opts=scope.keep(),
    )
    role = "init" if index == 0 else "control-plane"
    user_data = pulumi.Output.all(
        inputs.endpoint_host,
        inputs.extra_sans,
        inputs.discovery_hash,
        etcd_volume.id,
        inputs.bucket.bucket,
        inputs.issuer_url,
    ).apply(lambda v: encode_gzipped(control_plane_script(args, inputs.names, role, *v)))
    instance = aws.ec2.Instance(
        f"{scope.name}-control-plane-{index}",
        ami=inputs.image_id,
        instance_type=cp.instance_type,
        subnet_id=subnets.apply(lambda ids: ids[slot]),
        # Nodes and the NAT instance's forward name it: a replacement comes back on it.
        private_ip=args.fixed_address,
        vpc_security_group_ids=[inputs.security_group.id],
        iam_instance_profile=inputs.instance_profile.name,
        metadata_options={
            "http_endpoint": "enabled",
            "http_tokens": "required",
            # 1: the host only. No pod on the pod network reaches instance metadata, so none
            # borrows the node's role (host-network pods still do, as the host does).
            "http_put_response_hop_limit": 1,
        },
        root_block_device={
            "volume_type": "gp3",
            "volume_size": cp.root_volume_gb,
            "encrypted": True,
            "delete_on_termination": True,
            "tags": {"Name": f"{node_name}-root"},
        },
        user_data_base64=user_data,
        disable_api_termination=args.deletion_protection,
        tags={"Name": node_name, **args.tags},
        # A new script or image never stops a running member (EC2 would stop and start
        # it to change its user data). Pulumi keeps an ignored value on replacement
        # too, so a replaced member boots with its predecessor's script and image:
        # docs/operations.md says how to bring a member onto the current ones.
        # (`userData` is where members created before gzip carry their script.)
        # Its first minutes download packages: only once its subnet routes out.
        # A fixed address is held until the old instance is gone.
        opts=scope.keep(
            ignore_changes=["ami", "userData", "userDataBase64"],
            depends_on=list(inputs.egress),
            delete_before_replace=args.fixed_address is not None,
        ),
    )
    attachment = aws.ec2.VolumeAttachment(
        f"{scope.name}-etcd-{index}",
        device_name=ETCD_DEVICE,
        volume_id=etcd_volume.id,
        instance_id=instance.id,
        opts=scope.child(),
    )
    return Member(instance=instance, etcd_attachment=attachment)


def control_plane_script(
    args: MembersArgs,
    names: ParameterNames,
    role: str,
    endpoint_host: str,
    extra_sans: list[str],
    ca_hash: str,
    volume_id: str,
    bucket: str,
    issuer_url: str,
) -> str:
    params = kubeadm.ClusterParams(
        cluster_name=args.cluster_name,
        kubernetes_version=args.kubernetes_version,
        endpoint_host=endpoint_host,
        pod_cidr=args.pod_cidr,
        service_cidr=args.service_cidr,
        cert_sans=tuple(extra_sans),
        service_account_issuer=issuer_url,
    )
    if role == "init":
        documents = [
            kubeadm.init_configuration(),
            kubeadm.cluster_configuration(params),
            kubeadm.kubelet_configuration(),
            kubeadm.kube_proxy_configuration(),
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
                etcd_snapshot_interval_minutes=args.spec.etcd_snapshot_interval_minutes,
            ),
        )
    )
