"""`network.natMode: instance`: one small Graviton NAT instance instead of NAT gateways.

The private route tables point at a fixed network interface, never at an instance. An
Auto Scaling group of one keeps an instance running; at boot the instance attaches that
interface as its second one, turns on forwarding and masquerading, and moves the
Elastic IP onto its primary interface (scripts/nat-instance.sh). When the instance
fails, the group replaces it and the routes stay as they are: egress is down from the
failure until the successor has booted and attached the interface (docs/architecture.md
gives the figures). With `cluster.apiEndpoint: natInstance` the same instance forwards
the API port on its Elastic IP to the lone control plane, so no load balancer is paid
for.
"""

from __future__ import annotations

import base64
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.config import versions
from components.shared import iam
from components.shared.instance_role import instance_profile

SCRIPT = Path(__file__).parent / "scripts" / "nat-instance.sh"
API_PORT = 6443
ANYWHERE = "0.0.0.0/0"
# Tags the instance, its interfaces and the Elastic IP carry: the instance's role may
# change only what carries the cluster's name under this key.
NAT_TAG = "podium/nat-instance"
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
ROOT_VOLUME_GB = 8  # the Ubuntu image's own size: the instance stores nothing


@dataclass(frozen=True)
class NatInstanceArgs:
    cluster_name: str
    region: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    subnet_id: pulumi.Input[str]  # a public subnet: the interface and the group live there
    instance_type: str
    elastic_ip: aws.ec2.Eip
    launch_tags: Mapping[str, str]  # the provider's default tags, which never reach what a group launches
    # cluster.apiEndpoint natInstance: the control plane's "address:port" and who may reach it.
    api_forward: str | None = None
    api_allowed_cidrs: tuple[str, ...] = ()


def boot_script(*, region: str, eni_id: str, eni_mac: str, allocation_id: str, api_forward: str | None) -> str:
    """The instance's user data: the values, then scripts/nat-instance.sh."""
    if not _MAC.fullmatch(eni_mac):
        raise ValueError(f"the fixed interface's MAC address {eni_mac!r} is not aa:bb:cc:dd:ee:ff")
    values = {
        "PODIUM_REGION": region,
        "PODIUM_ENI_ID": eni_id,
        "PODIUM_ENI_MAC": eni_mac,
        "PODIUM_EIP_ALLOCATION_ID": allocation_id,
        "PODIUM_API_FORWARD": api_forward or "",
        "PODIUM_API_PORT": str(API_PORT),
    }
    header = "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())
    return f"#!/bin/bash\n{header}{SCRIPT.read_text()}"


def nat_instance_policy(
    *, partition: str, region: str, account_id: str, cluster_name: str, eni_id: str, allocation_id: str
) -> dict[str, Any]:
    """What the boot script calls, on this cluster's NAT resources only: its own
    primary interface's source/destination check, attaching the fixed interface, and
    moving the Elastic IP."""
    iam.check_literal(cluster_name=cluster_name, eni_id=eni_id, allocation_id=allocation_id)
    ec2 = f"arn:{partition}:ec2:{region}:{account_id}"
    tagged = {"StringEquals": {f"aws:ResourceTag/{NAT_TAG}": cluster_name}}
    return iam.policy_document(
        [
            # The instance too: EC2 may authorize against the instance an interface is
            # attached to (the service authorization reference lists it for both actions).
            iam.statement(
                "OwnPrimaryInterfaceForwards",
                ["ec2:ModifyNetworkInterfaceAttribute"],
                [f"{ec2}:network-interface/*", f"{ec2}:instance/*"],
                tagged,
            ),
            iam.statement(
                "AttachTheFixedInterface",
                ["ec2:AttachNetworkInterface"],
                [f"{ec2}:network-interface/{eni_id}", f"{ec2}:instance/*"],
                tagged,
            ),
            iam.statement(
                "MoveTheElasticIp",
                ["ec2:AssociateAddress"],
                [f"{ec2}:elastic-ip/{allocation_id}", f"{ec2}:network-interface/*", f"{ec2}:instance/*"],
                tagged,
            ),
        ]
    )


class NatInstance(pulumi.ComponentResource):
    network_interface_id: pulumi.Output[str]
    group: aws.autoscaling.Group

    def __init__(self, name: str, args: NatInstanceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("podium:network:NatInstance", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cluster = args.cluster_name
        own = {NAT_TAG: cluster}

        group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description=f"{cluster} NAT instance",
            tags={"Name": f"{cluster}-nat-instance"},
            opts=child,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-egress",
            security_group_id=group.id,
            ip_protocol="-1",
            cidr_ipv4=ANYWHERE,
            description="the private subnets' traffic, forwarded; packages and AWS APIs",
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-from-vpc",
            security_group_id=group.id,
            ip_protocol="-1",
            cidr_ipv4=args.vpc_cidr,
            description="what the private subnets send out",
            opts=child,
        )
        if args.api_forward:
            for index, cidr in enumerate(args.api_allowed_cidrs):
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-api-{index}",
                    security_group_id=group.id,
                    ip_protocol="tcp",
                    from_port=API_PORT,
                    to_port=API_PORT,
                    cidr_ipv4=cidr,
                    description="the Kubernetes API, forwarded to the control plane",
                    opts=child,
                )

        interface = aws.ec2.NetworkInterface(
            f"{name}-eni",
            subnet_id=args.subnet_id,
            security_groups=[group.id],
            # It forwards other hosts' packets.
            source_dest_check=False,
            description=f"{cluster} NAT: the private route tables' target",
            tags={"Name": f"{cluster}-nat", **own},
            opts=child,
        )

        def policy(partition: str, account: str) -> pulumi.Output[dict[str, Any]]:
            return pulumi.Output.all(interface.id, args.elastic_ip.allocation_id).apply(
                lambda v: nat_instance_policy(
                    partition=partition,
                    region=args.region,
                    account_id=account,
                    cluster_name=cluster,
                    eni_id=v[0],
                    allocation_id=v[1],
                )
            )

        _, profile = instance_profile(
            f"{name}-role",
            description=f"{cluster} NAT instance: attach its interface, move its Elastic IP",
            policy=policy,
            parent=self,
        )
        user_data = pulumi.Output.all(interface.id, interface.mac_address, args.elastic_ip.allocation_id).apply(
            lambda v: base64.b64encode(
                boot_script(
                    region=args.region, eni_id=v[0], eni_mac=v[1], allocation_id=v[2], api_forward=args.api_forward
                ).encode()
            ).decode()
        )
        tags = {**args.launch_tags, "Name": f"{cluster}-nat", **own}
        template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            name_prefix=f"{cluster}-nat-",
            # Canonical's current Ubuntu for arm64, read by EC2 at each launch: a NAT
            # replaced a year from now boots a patched image without a deployment.
            image_id=f"resolve:ssm:{versions.ubuntu_ami_parameter('arm64')}",
            instance_type=args.instance_type,
            iam_instance_profile={"arn": profile.arn},
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1},
            network_interfaces=[
                {
                    "device_index": 0,
                    # Its only way to the EC2 API before it holds the Elastic IP; AWS
                    # releases this address once the Elastic IP is on the interface.
                    "associate_public_ip_address": "true",
                    "security_groups": [group.id],
                    "delete_on_termination": "true",
                }
            ],
            block_device_mappings=[
                {
                    "device_name": "/dev/sda1",  # the Ubuntu AMI's root device
                    "ebs": {
                        "volume_type": "gp3",
                        "volume_size": ROOT_VOLUME_GB,
                        "encrypted": "true",
                        "delete_on_termination": "true",
                    },
                }
            ],
            user_data=user_data,
            tag_specifications=[
                {"resource_type": kind, "tags": tags} for kind in ("instance", "volume", "network-interface")
            ],
            tags={"Name": f"{cluster}-nat"},
            opts=child,
        )
        self.group = aws.autoscaling.Group(
            f"{name}-asg",
            name_prefix=f"{cluster}-nat-",
            min_size=1,
            max_size=1,
            desired_capacity=1,
            # The fixed interface lives in one subnet, so the instance does too.
            vpc_zone_identifiers=[args.subnet_id],
            launch_template={"id": template.id, "version": template.latest_version.apply(str)},
            health_check_type="EC2",
            health_check_grace_period=120,
            # A new template rolls out launch-before-terminate: the successor boots and
            # waits for the interface, which the old instance holds until it terminates.
            instance_refresh={
                "strategy": "Rolling",
                "preferences": {"min_healthy_percentage": 100, "max_healthy_percentage": 200},
            },
            tags=[{"key": "Name", "value": f"{cluster}-nat", "propagate_at_launch": False}],
            opts=child,
        )
        self.network_interface_id = interface.id
        self.register_outputs({"networkInterfaceId": interface.id, "groupName": self.group.name})


def elastic_ip_tags(cluster_name: str) -> dict[str, str]:
    return {"Name": f"{cluster_name}-nat-0", NAT_TAG: cluster_name}
