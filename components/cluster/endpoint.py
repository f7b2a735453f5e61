"""The API endpoint: an Elastic IP for one control plane, a network load balancer in
front of three or five."""

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
    api_endpoint: str  # public | internal
    control_plane_count: int
    deletion_protection: bool


class ApiEndpoint:
    """Where the API server answers (`host`), the extra names and addresses its
    serving certificate needs, and how control planes are put behind it."""

    host: pulumi.Output[str]
    extra_sans: pulumi.Output[list[str]]
    public_node_cidrs: list[pulumi.Output[str]]  # a node's public address: the single control plane's EIP

    def __init__(self, scope: Children, args: EndpointArgs, lb_security_group: aws.ec2.SecurityGroup | None):
        self._scope = scope
        self._eip: aws.ec2.Eip | None = None
        self._target_group: aws.lb.TargetGroup | None = None
        if args.control_plane_count == 1:
            eip = aws.ec2.Eip(
                f"{scope.name}-api", domain="vpc", tags={"Name": f"{args.cluster_name}-api"}, opts=scope.keep()
            )
            # Inside the VPC the public DNS name resolves to the private address, so
            # nodes reach the API server directly, without the NAT.
            self.host = eip.public_dns
            self.extra_sans = pulumi.Output.all(eip.public_ip)
            self.public_node_cidrs = [eip.public_ip.apply(lambda ip: f"{ip}/32")]
            self._eip = eip
        else:
            assert lb_security_group is not None, "HA control planes sit behind a load balancer with its own group"
            lb, self._target_group = _load_balancer(scope, args, lb_security_group)
            self.host = lb.dns_name
            self.extra_sans = pulumi.Output.all()
            self.public_node_cidrs = []
        self.api_endpoint = self.host.apply(lambda host: f"{host}:{kubeadm.API_PORT}")
        self.url = self.host.apply(lambda host: f"https://{host}:{kubeadm.API_PORT}")

    def put_behind(self, instances: Sequence[aws.ec2.Instance]) -> list[pulumi.Resource]:
        """Registers the control planes with the endpoint; what the readiness gate waits for."""
        scope = self._scope
        attached: list[pulumi.Resource] = []
        if self._target_group is not None:
            for index, instance in enumerate(instances):
                attached.append(
                    aws.lb.TargetGroupAttachment(
                        f"{scope.name}-api-{index}",
                        target_group_arn=self._target_group.arn,
                        target_id=instance.id,
                        port=kubeadm.API_PORT,
                        opts=scope.child(),
                    )
                )
        if self._eip is not None:
            attached.append(
                aws.ec2.EipAssociation(
                    f"{scope.name}-api",
                    allocation_id=self._eip.allocation_id,
                    instance_id=instances[0].id,
                    opts=scope.child(),
                )
            )
        return attached


def _load_balancer(
    scope: Children, args: EndpointArgs, security_group: aws.ec2.SecurityGroup
) -> tuple[aws.lb.LoadBalancer, aws.lb.TargetGroup]:
    cluster = args.cluster_name
    internal = args.api_endpoint == "internal"
    # Fixed names (the 32-character limit leaves no room for auto-naming's suffix),
    # so a replacement must delete first.
    lb = aws.lb.LoadBalancer(
        f"{scope.name}-api",
        name=f"{cluster}-api",
        load_balancer_type="network",
        internal=internal,
        subnets=args.private_subnet_ids if internal else args.public_subnet_ids,
        security_groups=[security_group.id],
        enable_cross_zone_load_balancing=True,
        enable_deletion_protection=args.deletion_protection,
        tags={"Name": f"{cluster}-api"},
        opts=scope.keep(delete_before_replace=True),
    )
    target_group = aws.lb.TargetGroup(
        f"{scope.name}-api",
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
        opts=scope.child(delete_before_replace=True),
    )
    aws.lb.Listener(
        f"{scope.name}-api",
        load_balancer_arn=lb.arn,
        port=kubeadm.API_PORT,
        protocol="TCP",
        default_actions=[{"type": "forward", "target_group_arn": target_group.arn}],
        opts=scope.child(),
    )
    return lb, target_group
