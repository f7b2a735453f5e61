"""The API endpoints. Nodes reach the API server through an internal network load
balancer: its name resolves to private addresses, so a node's traffic stays in the
VPC and arrives from the node's own address. An internet-facing NLB's name resolves
to public addresses even inside the VPC, so a private node would reach it through
the NAT gateway, from the NAT's address, which the NLB's group does not admit (and at
NAT data prices). With `cluster.apiEndpoint: public` a second, internet-facing NLB
serves admins and CI from `apiAllowedCidrs`; its name is in the API server's
certificate. One control plane or five, the paths are the same.

`cluster.apiEndpoint: natInstance` (one control plane, dev) pays for no load balancer:
nodes reach the control plane at its fixed private address, admins at the NAT
instance's Elastic IP, which forwards the API port to that address (the network
stage's nat_instance.py); the Elastic IP is in the certificate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.cluster import kubeadm
from components.shared.children import Children


@dataclass(frozen=True)
class EndpointArgs:
    cluster_name: str
    vpc_id: pulumi.Input[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    api_endpoint: str  # public | internal | natInstance
    deletion_protection: bool
    control_plane_address: str | None = None  # natInstance: the lone control plane's fixed address
    nat_public_ip: pulumi.Output[str] | None = None  # natInstance: where admins reach it


@dataclass(frozen=True)
class _Balancer:
    load_balancer: aws.lb.LoadBalancer
    target_group: aws.lb.TargetGroup
    suffix: str  # of the resource names: "api" or "api-internal"


class ApiEndpoint:
    """`node_host`: what kubeadm's controlPlaneEndpoint names (the internal NLB).
    `admin_host`: what the kubeconfig and the readiness gate use (the public NLB, or
    the internal one when the endpoint is internal). `extra_sans`: the other name the
    serving certificate needs."""

    node_host: pulumi.Output[str]
    admin_host: pulumi.Output[str]
    extra_sans: pulumi.Output[list[str]]

    def __init__(self, scope: Children, args: EndpointArgs, groups: dict[str, aws.ec2.SecurityGroup]):
        self._scope = scope
        self._balancers: list[_Balancer] = []
        if args.api_endpoint == "natInstance":
            assert args.control_plane_address and args.nat_public_ip is not None, "natInstance needs both addresses"
            self.node_host = pulumi.Output.from_input(args.control_plane_address)
            self.admin_host = args.nat_public_ip
            self.extra_sans = pulumi.Output.all(args.nat_public_ip)
            self._urls()
            return
        public = args.api_endpoint == "public"
        # Without a public endpoint the one (internal) NLB keeps the names the HA
        # internal endpoint always had, so such stacks keep their load balancer.
        internal = _load_balancer(
            scope,
            args,
            groups["api_internal"],
            suffix="api-internal" if public else "api",
            aws_name=f"{args.cluster_name}-api-int" if public else f"{args.cluster_name}-api",
            internal=True,
        )
        self._balancers.append(internal)
        self.node_host = internal.load_balancer.dns_name
        if public:
            facing = _load_balancer(
                scope, args, groups["api_public"], suffix="api", aws_name=f"{args.cluster_name}-api", internal=False
            )
            self._balancers.append(facing)
            self.admin_host = facing.load_balancer.dns_name
            self.extra_sans = pulumi.Output.all(facing.load_balancer.dns_name)
        else:
            self.admin_host = self.node_host
            self.extra_sans = pulumi.Output.all()
        self._urls()

    def _urls(self) -> None:
        self.node_endpoint = self.node_host.apply(lambda host: f"{host}:{kubeadm.API_PORT}")
        self.url = self.admin_host.apply(lambda host: f"https://{host}:{kubeadm.API_PORT}")

    def put_behind(self, instances: Sequence[aws.ec2.Instance]) -> list[pulumi.Resource]:
        """Registers the control planes with every load balancer; what the readiness
        gate waits for."""
        scope = self._scope
        return [
            aws.lb.TargetGroupAttachment(
                f"{scope.name}-{balancer.suffix}-{index}",
                target_group_arn=balancer.target_group.arn,
                target_id=instance.id,
                port=kubeadm.API_PORT,
                opts=scope.child(),
            )
            for balancer in self._balancers
            for index, instance in enumerate(instances)
        ]


def _load_balancer(
    scope: Children,
    args: EndpointArgs,
    security_group: aws.ec2.SecurityGroup,
    *,
    suffix: str,
    aws_name: str,
    internal: bool,
) -> _Balancer:
    # Fixed names (the 32-character limit leaves no room for auto-naming's suffix),
    # so a replacement must delete first.
    lb = aws.lb.LoadBalancer(
        f"{scope.name}-{suffix}",
        name=aws_name,
        load_balancer_type="network",
        internal=internal,
        subnets=args.private_subnet_ids if internal else args.public_subnet_ids,
        security_groups=[security_group.id],
        enable_cross_zone_load_balancing=True,
        enable_deletion_protection=args.deletion_protection,
        tags={"Name": aws_name},
        opts=scope.keep(delete_before_replace=True),
    )
    target_group = aws.lb.TargetGroup(
        f"{scope.name}-{suffix}",
        name=aws_name,
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
        tags={"Name": aws_name},
        opts=scope.child(delete_before_replace=True),
    )
    aws.lb.Listener(
        f"{scope.name}-{suffix}",
        load_balancer_arn=lb.arn,
        port=kubeadm.API_PORT,
        protocol="TCP",
        default_actions=[{"type": "forward", "target_group_arn": target_group.arn}],
        opts=scope.child(),
    )
    return _Balancer(load_balancer=lb, target_group=target_group, suffix=suffix)
