"""Network: the VPC, one public and one private subnet per AZ slot, routing, NAT (gateways,
or one NAT instance: nat_instance.py), the Kubernetes subnet tags the AWS cloud provider
looks for, and optional flow logs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.network.cidr import plan_subnets
from components.network.nat_instance import NatInstance, NatInstanceArgs, elastic_ip_tags

DEFAULT_ROUTE = "0.0.0.0/0"


@dataclass(frozen=True)
class NetworkArgs:
    cluster_name: str
    region: str
    cidr: str
    az_count: int
    nat_mode: str  # none | single | perAz | instance
    flow_logs: bool
    flow_logs_retention_days: int
    nat_instance_type: str = "t4g.nano"
    launch_tags: Mapping[str, str] = field(default_factory=dict)  # what the NAT instance's group launches
    # cluster.apiEndpoint natInstance: the control plane's "address:port" the NAT forwards to.
    api_forward: str | None = None
    api_allowed_cidrs: tuple[str, ...] = ()


def subnet_tags(cluster_name: str, tier: str, name: str) -> dict[str, str]:
    """Tags the AWS cloud-controller-manager uses to find subnets for load balancers."""
    role = "kubernetes.io/role/elb" if tier == "public" else "kubernetes.io/role/internal-elb"
    return {"Name": name, f"kubernetes.io/cluster/{cluster_name}": "owned", role: "1", "tier": tier}


def nat_slot_for(slot: int, nat_mode: str) -> int | None:
    """Which slot's NAT gateway a private subnet routes through, if any."""
    return {"none": None, "single": 0, "perAz": slot}[nat_mode]


def flow_logs_trust_policy(account_id: str, region: str) -> dict[str, Any]:
    # The source conditions stop another account's flow logs from using this role
    # (confused deputy).
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:{region}:{account_id}:vpc-flow-log/*"},
                },
            }
        ],
    }


def flow_logs_write_policy(log_group_arn: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                "Resource": [log_group_arn, f"{log_group_arn}:*"],
            }
        ],
    }


def pick_zones(names: list[str], count: int) -> list[str]:
    """The first `count` zones in name order. AWS adds new zones with later letters, so
    the slots already in use keep their zone."""
    ordered = sorted(names)
    if len(ordered) < count:
        raise ValueError(
            f"podium:network.azCount is {count} but the region offers only "
            f"{len(ordered)} availability zones ({', '.join(ordered)})"
        )
    return ordered[:count]


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    cidr: str
    availability_zones: pulumi.Output[list[str]]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("podium:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cluster = args.cluster_name

        # Regular zones only: Local and Wavelength Zones need opt-in and lack most
        # instance types. No `state` filter, so an impaired zone never shifts the slots.
        zones = aws.get_availability_zones_output(
            filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
            opts=pulumi.InvokeOptions(parent=self),
        ).names.apply(lambda names: pick_zones(names, args.az_count))

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={"Name": cluster},
            opts=child,
        )
        # Managing the default security group with no rules takes away its
        # allow-all-within-group default; nothing should use it.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=vpc.id,
            ingress=[],
            egress=[],
            tags={"Name": f"{cluster}-default-unused"},
            opts=child,
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={"Name": cluster}, opts=child)
        public_rt = aws.ec2.RouteTable(f"{name}-public", vpc_id=vpc.id, tags={"Name": f"{cluster}-public"}, opts=child)
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_rt.id,
            destination_cidr_block=DEFAULT_ROUTE,
            gateway_id=igw.id,
            opts=child,
        )

        public_subnets: list[aws.ec2.Subnet] = []
        private_subnets: list[aws.ec2.Subnet] = []
        nat_gateways: dict[int, aws.ec2.NatGateway] = {}
        private_egress: list[pulumi.Resource] = []
        nat_instance: NatInstance | None = None
        self.nat_public_ip: pulumi.Output[str] | None = None
        for pair in plan_subnets(args.cidr, args.az_count):
            slot = pair.slot
            zone = zones.apply(lambda zs, s=slot: zs[s])
            public = self._subnet(name, cluster, vpc, "public", slot, str(pair.public), zone)
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{slot}", subnet_id=public.id, route_table_id=public_rt.id, opts=child
            )
            public_subnets.append(public)
            if args.nat_mode == "perAz" or (args.nat_mode == "single" and slot == 0):
                eip = aws.ec2.Eip(
                    f"{name}-nat-{slot}", domain="vpc", tags={"Name": f"{cluster}-nat-{slot}"}, opts=child
                )
                nat_gateways[slot] = aws.ec2.NatGateway(
                    f"{name}-nat-{slot}",
                    subnet_id=public.id,
                    allocation_id=eip.id,
                    tags={"Name": f"{cluster}-nat-{slot}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
            elif args.nat_mode == "instance" and slot == 0:
                # The name a NAT gateway's address has in slot 0: turning a gateway into
                # an instance keeps the stack's public egress address.
                eip = aws.ec2.Eip(f"{name}-nat-0", domain="vpc", tags=elastic_ip_tags(cluster), opts=child)
                nat_instance = NatInstance(
                    f"{name}-nat-instance",
                    NatInstanceArgs(
                        cluster_name=cluster,
                        region=args.region,
                        vpc_id=vpc.id,
                        vpc_cidr=args.cidr,
                        subnet_id=public.id,
                        instance_type=args.nat_instance_type,
                        elastic_ip=eip,
                        launch_tags=args.launch_tags,
                        api_forward=args.api_forward,
                        api_allowed_cidrs=args.api_allowed_cidrs,
                    ),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
                private_egress.append(nat_instance.group)
                self.nat_public_ip = eip.public_ip

            private = self._subnet(name, cluster, vpc, "private", slot, str(pair.private), zone)
            # One route table per slot, so switching NAT modes changes routes, not tables.
            private_rt = aws.ec2.RouteTable(
                f"{name}-private-{slot}", vpc_id=vpc.id, tags={"Name": f"{cluster}-private-{slot}"}, opts=child
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{slot}", subnet_id=private.id, route_table_id=private_rt.id, opts=child
            )
            # The NAT instance's fixed interface serves every slot; else the slot's gateway.
            target: dict[str, pulumi.Input[str]] | None = None
            if nat_instance is not None:
                target = {"network_interface_id": nat_instance.network_interface_id}
            elif (nat_slot := nat_slot_for(slot, args.nat_mode)) is not None:
                target = {"nat_gateway_id": nat_gateways[nat_slot].id}
            if target is not None:
                route = aws.ec2.Route(
                    f"{name}-private-{slot}-default",
                    route_table_id=private_rt.id,
                    destination_cidr_block=DEFAULT_ROUTE,
                    opts=child,
                    **target,
                )
                private_egress.append(route)
            private_subnets.append(private)

        if args.flow_logs:
            self._flow_logs(name, args, vpc)

        self.vpc_id = vpc.id
        self.cidr = args.cidr
        self.availability_zones = zones
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public_subnets])
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private_subnets])
        # What a private instance needs before it boots to download anything.
        self.private_egress = private_egress
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "cidr": self.cidr,
                "availabilityZones": self.availability_zones,
                "publicSubnetIds": self.public_subnet_ids,
                "privateSubnetIds": self.private_subnet_ids,
            }
        )

    def _subnet(
        self, name: str, cluster: str, vpc: aws.ec2.Vpc, tier: str, slot: int, cidr: str, zone: pulumi.Input[str]
    ) -> aws.ec2.Subnet:
        return aws.ec2.Subnet(
            f"{name}-{tier}-{slot}",
            vpc_id=vpc.id,
            cidr_block=cidr,
            availability_zone=zone,
            # Nothing gets a public address by accident: load balancers and NAT
            # gateways bring their own.
            map_public_ip_on_launch=False,
            tags=subnet_tags(cluster, tier, f"{cluster}-{tier}-{slot}"),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _flow_logs(self, name: str, args: NetworkArgs, vpc: aws.ec2.Vpc) -> None:
        child = pulumi.ResourceOptions(parent=self)
        cluster = args.cluster_name
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=f"/podium/{cluster}/vpc-flow-logs",
            retention_in_days=args.flow_logs_retention_days,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=identity.account_id.apply(
                lambda account: json.dumps(flow_logs_trust_policy(account, args.region))
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=log_group.arn.apply(lambda arn: json.dumps(flow_logs_write_policy(arn))),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags={"Name": f"{cluster}-flow-logs"},
            opts=child,
        )
