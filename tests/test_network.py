"""Network topology, as registered by the whole program for dev and prod."""

from __future__ import annotations

import ipaddress
import itertools
import json

import pytest

from components.network.network import pick_zones
from tests.conftest import graph_for, stack_config
from tools import harness

SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
ROUTE = "aws:ec2/route:Route"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"


def subnets(graph: harness.Graph, tier: str) -> list[harness.Resource]:
    return sorted((r for r in graph.of_type(SUBNET) if r.inputs["tags"]["tier"] == tier), key=lambda r: r.name)


def route_table_of(graph: harness.Graph, subnet: harness.Resource) -> harness.Resource:
    (association,) = [a for a in graph.of_type(ASSOCIATION) if a.inputs["subnetId"] == subnet.id]
    table = graph.resolve(association.inputs["routeTableId"])
    assert table is not None
    return table


def default_route(graph: harness.Graph, table: harness.Resource) -> harness.Resource | None:
    routes = [
        r
        for r in graph.of_type(ROUTE)
        if r.inputs["routeTableId"] == table.id and r.inputs["destinationCidrBlock"] == "0.0.0.0/0"
    ]
    assert len(routes) <= 1
    return routes[0] if routes else None


def network_settings(graph: harness.Graph) -> dict:
    return harness.load_stack_config(graph.stack)["podium:network"]


def test_one_subnet_per_az_per_tier(aws_graph: harness.Graph) -> None:
    az_count = network_settings(aws_graph)["azCount"]
    for tier in ("public", "private"):
        zones = [s.inputs["availabilityZone"] for s in subnets(aws_graph, tier)]
        assert len(zones) == az_count
        assert len(set(zones)) == az_count, f"{tier} subnets share a zone: {zones}"
    assert {s.inputs["availabilityZone"] for s in subnets(aws_graph, "public")} == {
        s.inputs["availabilityZone"] for s in subnets(aws_graph, "private")
    }


def test_subnet_cidrs_inside_the_vpc_and_disjoint(aws_graph: harness.Graph) -> None:
    vpc = aws_graph.one("aws:ec2/vpc:Vpc")
    network = ipaddress.IPv4Network(vpc.inputs["cidrBlock"])
    assert str(network) == network_settings(aws_graph)["cidr"]
    cidrs = [ipaddress.IPv4Network(s.inputs["cidrBlock"]) for s in aws_graph.of_type(SUBNET)]
    assert all(c.subnet_of(network) for c in cidrs)
    assert not any(a.overlaps(b) for a, b in itertools.combinations(cidrs, 2))
    assert all(s.inputs["vpcId"] == vpc.id for s in aws_graph.of_type(SUBNET))


def test_vpc_resolves_dns(aws_graph: harness.Graph) -> None:
    vpc = aws_graph.one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["enableDnsSupport"] is True
    assert vpc.inputs["enableDnsHostnames"] is True


def test_kubernetes_subnet_tags(aws_graph: harness.Graph) -> None:
    cluster_tag = f"kubernetes.io/cluster/podium-{aws_graph.stack}"
    for subnet in subnets(aws_graph, "public"):
        assert subnet.inputs["tags"][cluster_tag] == "owned"
        assert subnet.inputs["tags"]["kubernetes.io/role/elb"] == "1"
        assert "kubernetes.io/role/internal-elb" not in subnet.inputs["tags"]
    for subnet in subnets(aws_graph, "private"):
        assert subnet.inputs["tags"][cluster_tag] == "owned"
        assert subnet.inputs["tags"]["kubernetes.io/role/internal-elb"] == "1"
        assert "kubernetes.io/role/elb" not in subnet.inputs["tags"]
    assert not any(s.inputs["mapPublicIpOnLaunch"] for s in aws_graph.of_type(SUBNET))


def test_public_subnets_route_to_the_internet_gateway(aws_graph: harness.Graph) -> None:
    igw = aws_graph.one("aws:ec2/internetGateway:InternetGateway")
    for subnet in subnets(aws_graph, "public"):
        route = default_route(aws_graph, route_table_of(aws_graph, subnet))
        assert route is not None and route.inputs["gatewayId"] == igw.id


@pytest.fixture(params=["staging", "prod"])
def gateway_graph(request: pytest.FixtureRequest) -> harness.Graph:
    """The stacks with NAT gateways (dev has a NAT instance: tests/test_nat_instance.py)."""
    return graph_for(request.param)


def test_nat_gateways_follow_the_mode(gateway_graph: harness.Graph) -> None:
    aws_graph = gateway_graph
    mode = network_settings(aws_graph)["natMode"]
    nats = aws_graph.of_type(NAT)
    publics = subnets(aws_graph, "public")
    expected = {"single": 1, "perAz": len(publics)}[mode]
    assert len(nats) == expected
    public_ids = {s.id for s in publics}
    assert all(n.inputs["subnetId"] in public_ids for n in nats)
    assert len({n.inputs["allocationId"] for n in nats}) == expected


def test_nat_gateways_wait_for_the_internet_gateway(aws_graph: harness.Graph) -> None:
    # A NAT gateway created before its VPC has an attached internet gateway fails.
    igw = aws_graph.one("aws:ec2/internetGateway:InternetGateway")
    assert all(igw.urn in nat.dependencies for nat in aws_graph.of_type(NAT))


def test_each_private_subnet_routes_through_the_right_nat(gateway_graph: harness.Graph) -> None:
    aws_graph = gateway_graph
    mode = network_settings(aws_graph)["natMode"]
    nat_zone = {
        n.id: aws_graph.resolve(n.inputs["subnetId"]).inputs["availabilityZone"]  # type: ignore[union-attr]
        for n in aws_graph.of_type(NAT)
    }
    tables = set()
    for subnet in subnets(aws_graph, "private"):
        table = route_table_of(aws_graph, subnet)
        tables.add(table.urn)
        route = default_route(aws_graph, table)
        assert route is not None, f"{subnet.name} has no default route"
        zone = nat_zone[route.inputs["natGatewayId"]]
        if mode == "perAz":
            assert zone == subnet.inputs["availabilityZone"], "perAz: traffic must stay in its own AZ"
        else:
            assert zone == subnets(aws_graph, "public")[0].inputs["availabilityZone"]
    assert len(tables) == len(subnets(aws_graph, "private")), "one route table per private subnet"


def test_nat_mode_none_leaves_private_subnets_without_a_default_route() -> None:
    config = stack_config("staging")
    config["podium:network"]["natMode"] = "none"
    graph = harness.run("staging", config)
    assert graph.of_type(NAT) == []
    assert [e.name for e in graph.of_type("aws:ec2/eip:Eip") if e.name.startswith("network-")] == []
    for subnet in subnets(graph, "private"):
        assert default_route(graph, route_table_of(graph, subnet)) is None


def test_default_security_group_has_no_rules(aws_graph: harness.Graph) -> None:
    default_sg = aws_graph.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default_sg.inputs["vpcId"] == aws_graph.one("aws:ec2/vpc:Vpc").id
    assert default_sg.inputs.get("ingress", []) == []
    assert default_sg.inputs.get("egress", []) == []


def test_flow_logs_go_to_a_log_group_with_retention(aws_graph: harness.Graph) -> None:
    retention = network_settings(aws_graph)["flowLogsRetentionDays"]
    group = aws_graph.one("aws:cloudwatch/logGroup:LogGroup", "network-flow-logs")
    flow_log = aws_graph.one("aws:ec2/flowLog:FlowLog")
    assert group.inputs["retentionInDays"] == retention
    assert flow_log.inputs["logDestination"] == group.state["arn"]
    assert flow_log.inputs["vpcId"] == aws_graph.one("aws:ec2/vpc:Vpc").id
    assert flow_log.inputs["trafficType"] == "ALL"
    role = aws_graph.one("aws:iam/role:Role", "network-flow-logs")
    assert flow_log.inputs["iamRoleArn"] == role.state["arn"]
    trust = json.loads(role.inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == harness.ACCOUNT_ID
    policy = json.loads(aws_graph.one("aws:iam/rolePolicy:RolePolicy", "network-flow-logs").inputs["policy"])
    resources = [r for s in policy["Statement"] for r in s["Resource"]]
    assert "*" not in resources
    assert all(r.startswith(group.state["arn"]) for r in resources)


def test_flow_logs_can_be_switched_off() -> None:
    config = stack_config("dev")
    config["podium:network"]["flowLogs"] = False
    graph = harness.run("dev", config)
    assert graph.of_type("aws:ec2/flowLog:FlowLog") == []
    assert [r.name for r in graph.of_type("aws:iam/role:Role") if r.name.startswith("network-flow")] == []


def test_growing_az_count_keeps_existing_subnets() -> None:
    before = {s.name: s.inputs["cidrBlock"] for s in graph_for("dev").of_type(SUBNET)}
    config = stack_config("dev")
    config["podium:network"]["azCount"] = 3
    after = {s.name: s.inputs["cidrBlock"] for s in harness.run("dev", config).of_type(SUBNET)}
    assert {k: after[k] for k in before} == before
    assert len(after) == len(before) + 2


def test_every_aws_resource_uses_the_one_explicit_provider(aws_graph: harness.Graph) -> None:
    (provider,) = aws_graph.of_type("pulumi:providers:aws")
    assert provider.inputs["region"] == "us-east-1"
    cloud = aws_graph.cloud_resources()
    assert cloud
    assert {r.provider_urn for r in cloud} == {provider.urn}


def test_default_tags_carry_environment_managed_by_and_stack_tags(aws_graph: harness.Graph) -> None:
    provider = aws_graph.one("pulumi:providers:aws")
    tags = json.loads(provider.inputs["defaultTags"])["tags"]
    stack_tags = harness.load_stack_config(aws_graph.stack)["podium:tags"]
    assert tags == {**stack_tags, "environment": aws_graph.stack, "managed-by": "pulumi/podium"}


def test_every_network_resource_belongs_to_the_network_component(aws_graph: harness.Graph) -> None:
    network = aws_graph.one("podium:network:Network")
    components = {r.urn for r in aws_graph.resources if r.type.startswith("podium:")}
    # The network's own, and those of the components under it (the NAT instance).
    under_network = {network.urn} | {r.urn for r in aws_graph.resources if r.parent == network.urn and not r.custom}
    for resource in aws_graph.cloud_resources():
        assert resource.parent in components, resource.name
        assert (resource.parent in under_network) == resource.name.startswith("network-"), resource.name
    assert set(network.outputs) == {"vpcId", "cidr", "availabilityZones", "publicSubnetIds", "privateSubnetIds"}
    assert network.outputs["availabilityZones"] == sorted(network.outputs["availabilityZones"])


def test_zone_choice_is_stable_and_checked() -> None:
    assert pick_zones(["us-east-1c", "us-east-1a", "us-east-1b"], 2) == ["us-east-1a", "us-east-1b"]
    with pytest.raises(ValueError, match=r"podium:network.azCount is 4 but the region offers only 3"):
        pick_zones(["a", "b", "c"], 4)
