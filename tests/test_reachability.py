"""Reachability: the pure model on small hand-built networks, the frozen prod network
that showed the API endpoint bug, and every kubeadm stack's cluster flows.

tests/data/reachability/prod-before-13.json is prod's network as the program declared
it before the fix (frozen: never regenerate it to make a test pass). It was written by
`python -m tools.reachability prod --write-model tests/data/reachability/prod-before-13.json`;
the same command on a later tree shows what changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import graph_for
from tools.reachability import (
    Cluster,
    ElasticIp,
    External,
    FlowResult,
    HealthCheck,
    Host,
    InternetGateway,
    Listener,
    LoadBalancer,
    LoadBalancerService,
    NatGateway,
    Network,
    Node,
    Ports,
    Route,
    RouteTable,
    Rule,
    SecurityGroup,
    ServicePort,
    Subnet,
    Target,
    TargetGroup,
    Vpc,
    cluster_flows,
    evaluate_cluster,
    format_failures,
    from_graph,
    script_setting,
)

FROZEN_PROD = Path(__file__).parent / "data" / "reachability" / "prod-before-13.json"
KUBEADM_STACKS = ["dev", "staging", "prod"]

VPC_CIDR = "10.0.0.0/16"
NAT_IP = "52.0.0.1"
NODE_EIP = "52.0.0.9"
EVERYWHERE = (Rule("-1", cidr="0.0.0.0/0"),)
CLUSTER_TAG = "kubernetes.io/cluster/test"


def group(group_id: str, *ingress: Rule, egress: tuple[Rule, ...] = EVERYWHERE, tagged: bool = False) -> SecurityGroup:
    return SecurityGroup(group_id, group_id, "vpc-1", {CLUSTER_TAG: "owned"} if tagged else {}, ingress, egress)


def node(node_id: str, subnet: str, *groups: str, role: str = "", kind: str = "instance") -> Node:
    return Node(node_id, node_id, kind, (subnet,), groups, tags={CLUSTER_TAG: "owned"}, role=role)


def network(
    *groups: SecurityGroup,
    nodes: tuple[Node, ...] = (),
    load_balancers: tuple[LoadBalancer, ...] = (),
    target_groups: tuple[TargetGroup, ...] = (),
    elastic_ips: tuple[ElasticIp, ...] = (),
) -> Network:
    """One VPC: a public subnet (default route to the internet gateway, the NAT gateway
    in it), a private one (default route to the NAT) and an isolated one (no routes)."""
    return Network(
        vpcs=(Vpc("vpc-1", "test", VPC_CIDR, dns_support=True, dns_hostnames=True),),
        subnets=(
            Subnet(
                "subnet-public",
                "public",
                "vpc-1",
                "10.0.0.0/24",
                "az-a",
                "rtb-public",
                tags={"kubernetes.io/role/elb": "1"},
            ),
            Subnet("subnet-private", "private", "vpc-1", "10.0.1.0/24", "az-a", "rtb-private"),
            Subnet("subnet-isolated", "isolated", "vpc-1", "10.0.2.0/24", "az-a", "rtb-isolated"),
        ),
        route_tables=(
            RouteTable("rtb-public", "public", (Route("0.0.0.0/0", "igw-1"),)),
            RouteTable("rtb-private", "private", (Route("0.0.0.0/0", "nat-1"),)),
            RouteTable("rtb-isolated", "isolated"),
        ),
        internet_gateways=(InternetGateway("igw-1", "igw", "vpc-1"),),
        nat_gateways=(NatGateway("nat-1", "nat", "subnet-public", NAT_IP),),
        elastic_ips=elastic_ips,
        security_groups=groups,
        nodes=nodes,
        target_groups=target_groups,
        load_balancers=load_balancers,
    )


def tcp(low: int, high: int | None = None, *, cidr: str | None = None, source: str | None = None) -> Rule:
    return Rule("tcp", low, low if high is None else high, cidr=cidr, group=source)


def balanced(
    *,
    internal: bool,
    admits: tuple[str, ...],
    target_rules: tuple[Rule, ...] = (tcp(443, cidr=VPC_CIDR),),
    preserve: bool = False,
    health_port: int | None = None,
    lb_subnet: str | None = None,
) -> tuple[Network, Node]:
    """A client in the private subnet, an NLB (internal: in the private subnet unless
    `lb_subnet`; internet-facing: in the public one) whose group admits `admits` on
    443, forwarding to a backend in the private subnet whose group has `target_rules`."""
    client = node("i-client", "subnet-private", "sg-client")
    backend = node("i-backend", "subnet-private", "sg-backend")
    lb = LoadBalancer(
        "lb-1",
        "lb",
        "lb-1.elb.example",
        internal,
        (lb_subnet or ("subnet-private" if internal else "subnet-public"),),
        ("sg-lb",),
        (Listener(443, "TCP", "tg-1"),),
    )
    targets = TargetGroup(
        "tg-1", "tg", "TCP", 443, preserve, HealthCheck("TCP", health_port), (Target("i-backend", 443),)
    )
    groups = (
        group("sg-client"),
        group("sg-backend", *target_rules),
        group("sg-lb", *(tcp(443, cidr=c) for c in admits)),
    )
    return network(*groups, nodes=(client, backend), load_balancers=(lb,), target_groups=(targets,)), client


# -- the pure model ------------------------------------------------------------------


def test_ports_union_intersection_and_cover() -> None:
    joined = Ports.range(1000, 1999) | Ports.range(2000, 2999)
    assert joined == Ports.range(1000, 2999)
    assert joined.covers(Ports.range(1500, 2500))
    assert not joined.covers(Ports.range(2500, 3000))
    assert (joined & Ports.range(2990, 3010)) == Ports.range(2990, 2999)
    assert str(Ports.range(0, 65535)) == "all"


def test_traffic_through_a_nat_is_seen_as_the_nat_eip() -> None:
    net, client = balanced(internal=False, admits=(VPC_CIDR,))
    denied = net.check(client, Host("lb-1.elb.example"), "tcp", 443)
    assert denied.verdict == "denied"
    assert f"source seen as NAT EIP {NAT_IP}" in denied.path
    assert "via nat-1" in denied.path
    assert "denied by sg sg-lb" in denied.path
    assert "listener" not in denied.path  # refused at the load balancer's group, before any listener

    net, client = balanced(internal=False, admits=(f"{NAT_IP}/32",))
    assert net.check(client, Host("lb-1.elb.example"), "tcp", 443).verdict == "allowed"


def test_internal_load_balancer_resolves_privately_internet_facing_publicly() -> None:
    internal, client = balanced(internal=True, admits=(VPC_CIDR,))
    result = internal.check(client, Host("lb-1.elb.example"), "tcp", 443)
    assert result.verdict == "allowed", result
    assert "local route inside the VPC" in result.path
    outside = internal.check(External("198.51.100.7/32"), Host("lb-1.elb.example"), "tcp", 443)
    assert outside.verdict == "denied"
    assert "not routable from the internet" in outside.path

    facing, client = balanced(internal=False, admits=(VPC_CIDR,))
    result = facing.check(client, Host("lb-1.elb.example"), "tcp", 443)
    assert result.verdict == "denied"
    assert "resolves to public addresses, from inside the VPC too" in result.path


def test_ec2_public_name_resolves_to_the_private_address_inside_the_vpc() -> None:
    server = node("i-server", "subnet-public", "sg-server")
    client = node("i-client", "subnet-private", "sg-client")
    eip = ElasticIp("eipalloc-1", "server", NODE_EIP, "ec2-52-0-0-9.compute-1.amazonaws.com", "i-server")
    net = network(
        group("sg-server", tcp(6443, cidr=VPC_CIDR)),
        group("sg-client"),
        nodes=(server, client),
        elastic_ips=(eip,),
    )
    by_name = net.check(client, Host(eip.public_dns), "tcp", 6443)
    assert by_name.verdict == "allowed", by_name
    assert "inside the VPC it resolves to node(i-server)'s private address" in by_name.path
    # The literal public IP is itself: the client goes out through the NAT and back.
    by_ip = net.check(client, Host(NODE_EIP), "tcp", 6443)
    assert by_ip.verdict == "denied"
    assert f"NAT EIP {NAT_IP}" in by_ip.path
    from_outside = net.check(External("198.51.100.7/32"), Host(eip.public_dns), "tcp", 6443)
    assert from_outside.verdict == "denied"
    assert f"resolves to Elastic IP {NODE_EIP}" in from_outside.path

    no_hostnames = dataclasses.replace(net, vpcs=(dataclasses.replace(net.vpcs[0], dns_hostnames=False),))
    assert no_hostnames.check(client, Host(eip.public_dns), "tcp", 6443).verdict == "denied"
    no_dns = dataclasses.replace(net, vpcs=(dataclasses.replace(net.vpcs[0], dns_support=False),))
    result = no_dns.check(client, Host(eip.public_dns), "tcp", 6443)
    assert result.verdict == "denied"
    assert "DNS resolution is off" in result.path


def test_a_source_group_rule_admits_members_only_and_only_privately() -> None:
    server = node("i-server", "subnet-public", "sg-server")
    member = node("i-member", "subnet-private", "sg-member")
    outsider = node("i-outsider", "subnet-private", "sg-outsider")
    eip = ElasticIp("eipalloc-1", "server", NODE_EIP, "", "i-server")
    net = network(
        group("sg-server", tcp(2379, source="sg-member")),
        group("sg-member"),
        group("sg-outsider"),
        nodes=(server, member, outsider),
        elastic_ips=(eip,),
    )
    assert net.check(member, server, "tcp", 2379).verdict == "allowed"
    denied = net.check(outsider, server, "tcp", 2379)
    assert denied.verdict == "denied"
    assert "sg sg-member" in denied.path
    assert net.check(External("0.0.0.0/0"), server, "tcp", 2379).verdict == "denied"
    # Through the public address the member is only the NAT's address: no membership.
    assert net.check(member, Host(NODE_EIP), "tcp", 2379).verdict == "denied"


def test_private_subnet_without_default_route_cannot_reach_the_internet() -> None:
    isolated = node("i-isolated", "subnet-isolated", "sg-any")
    private = node("i-private", "subnet-private", "sg-any")
    public_no_ip = node("i-public", "subnet-public", "sg-any")
    public_eip = node("i-eip", "subnet-public", "sg-any")
    net = network(
        group("sg-any"),
        nodes=(isolated, private, public_no_ip, public_eip),
        elastic_ips=(ElasticIp("eipalloc-1", "eip", NODE_EIP, "", "i-eip"),),
    )
    internet = Host("192.0.2.10")
    result = net.check(isolated, internet, "tcp", 443)
    assert result.verdict == "denied"
    assert "no route to 192.0.2.10/32" in result.path
    assert net.check(private, internet, "tcp", 443).verdict == "allowed"
    result = net.check(public_no_ip, internet, "tcp", 443)
    assert result.verdict == "denied"
    assert "no public IP" in result.path
    result = net.check(public_eip, internet, "tcp", 443)
    assert result.verdict == "allowed"
    assert f"source seen as Elastic IP {NODE_EIP}" in result.path


def test_a_nat_gateway_needs_its_own_route_to_the_internet() -> None:
    private = node("i-private", "subnet-private", "sg-any")
    net = network(group("sg-any"), nodes=(private,))
    stranded = dataclasses.replace(net, nat_gateways=(NatGateway("nat-1", "nat", "subnet-isolated", NAT_IP),))
    assert net.check(private, Host("192.0.2.10"), "tcp", 443).verdict == "allowed"
    result = stranded.check(private, Host("192.0.2.10"), "tcp", 443)
    assert result.verdict == "denied"
    assert "NAT gateway nat has no public IP routed to an internet gateway" in result.path


def test_inbound_from_the_internet_needs_an_internet_gateway_route() -> None:
    exposed = node("i-exposed", "subnet-public", "sg-open")
    hidden = node("i-hidden", "subnet-isolated", "sg-open")
    net = network(
        group("sg-open", tcp(443, cidr="0.0.0.0/0")),
        nodes=(exposed, hidden),
        elastic_ips=(
            ElasticIp("eipalloc-1", "exposed", NODE_EIP, "", "i-exposed"),
            ElasticIp("eipalloc-2", "hidden", "52.0.0.10", "", "i-hidden"),
        ),
    )
    client = External("192.0.2.7/32")
    assert net.check(client, exposed, "tcp", 443).verdict == "allowed"
    result = net.check(client, hidden, "tcp", 443)
    assert result.verdict == "denied"
    assert "isolated has no route to an internet gateway" in result.path
    # No Elastic IP, but the subnet hands out public addresses at launch.
    launched = node("i-launched", "subnet-public", "sg-open")
    net = dataclasses.replace(net, nodes=(*net.nodes, launched))
    assert net.check(client, launched, "tcp", 443).verdict == "denied"
    net = dataclasses.replace(net, nodes=(*net.nodes[:2], dataclasses.replace(launched, public_ip_on_launch=True)))
    result = net.check(client, net.nodes[2], "tcp", 443)
    assert result.verdict == "allowed"
    assert "an auto-assigned public IP" in result.path


def test_another_vpc_is_out_of_reach_without_peering() -> None:
    here = node("i-here", "subnet-private", "sg-open")
    there = node("i-there", "subnet-elsewhere", "sg-open")
    net = network(group("sg-open", Rule("-1", cidr="0.0.0.0/0")), nodes=(here, there))
    net = dataclasses.replace(
        net,
        vpcs=(*net.vpcs, Vpc("vpc-2", "other", "10.1.0.0/16", dns_support=True, dns_hostnames=True)),
        subnets=(*net.subnets, Subnet("subnet-elsewhere", "elsewhere", "vpc-2", "10.1.0.0/24", "az-a", None)),
    )
    result = net.check(here, there, "tcp", 443)
    assert result.verdict == "denied"
    assert "is in another VPC" in result.path


def test_egress_must_admit_the_flow_too() -> None:
    server = node("i-server", "subnet-private", "sg-server")
    client = node("i-client", "subnet-private", "sg-mute")
    net = network(group("sg-server", tcp(443, cidr=VPC_CIDR)), group("sg-mute", egress=()), nodes=(server, client))
    result = net.check(client, server, "tcp", 443)
    assert result.verdict == "denied"
    assert "denied by sg sg-mute (egress" in result.path


def test_udp_and_tcp_rules_do_not_stand_in_for_each_other() -> None:
    server = node("i-server", "subnet-private", "sg-server")
    client = node("i-client", "subnet-private", "sg-client")
    net = network(
        group("sg-server", Rule("udp", 4789, 4789, cidr=VPC_CIDR)), group("sg-client"), nodes=(server, client)
    )
    assert net.check(client, server, "udp", 4789).verdict == "allowed"
    assert net.check(client, server, "tcp", 4789).verdict == "denied"
    assert net.check(client, server, "17", 4789).verdict == "allowed"


def test_port_ranges_allow_partly_or_wholly() -> None:
    server = node("i-server", "subnet-private", "sg-server")
    client = node("i-client", "subnet-private", "sg-client")
    net = network(group("sg-server", tcp(30000, 32767, cidr=VPC_CIDR)), group("sg-client"), nodes=(server, client))
    assert net.check(client, server, "tcp", 30000, 32767).verdict == "allowed"
    assert net.check(client, server, "tcp", 29999, 30000).verdict == "partial"
    assert net.check(client, server, "tcp", 22).verdict == "denied"


def test_a_cidr_that_covers_part_of_the_source_range_is_partial() -> None:
    server = node("i-server", "subnet-public", "sg-server")
    eip = ElasticIp("eipalloc-1", "server", NODE_EIP, "", "i-server")
    net = network(group("sg-server", tcp(443, cidr="198.51.100.0/25")), nodes=(server,), elastic_ips=(eip,))
    assert net.check(External("198.51.100.0/25"), server, "tcp", 443).verdict == "allowed"
    assert net.check(External("198.51.100.0/24"), server, "tcp", 443).verdict == "partial"
    assert net.check(External("198.51.100.200/32"), server, "tcp", 443).verdict == "denied"


def test_protocol_minus_one_admits_every_protocol_and_port() -> None:
    server = node("i-server", "subnet-private", "sg-server")
    client = node("i-client", "subnet-private", "sg-client")
    net = network(group("sg-server", Rule("-1", group="sg-client")), group("sg-client"), nodes=(server, client))
    assert net.check(client, server, "tcp", 22).verdict == "allowed"
    assert net.check(client, server, "udp", 0, 65535).verdict == "allowed"


def test_targets_see_the_load_balancer_unless_the_client_ip_is_preserved() -> None:
    # The backend admits traffic from the client's subnet only, health checks from the
    # load balancer's (the public subnet).
    rules = (tcp(443, cidr="10.0.1.0/24"), tcp(8080, cidr="10.0.0.0/24"))
    for preserve, verdict, says in (
        (False, "denied", "client IP not preserved"),
        (True, "allowed", "client IP preserved"),
    ):
        net, client = balanced(
            internal=True,
            admits=(VPC_CIDR,),
            target_rules=rules,
            preserve=preserve,
            health_port=8080,
            lb_subnet="subnet-public",
        )
        result = net.check(client, Host("lb-1.elb.example"), "tcp", 443)
        assert result.verdict == verdict, result
        assert says in result.path


def test_every_load_balancer_address_must_reach_every_target() -> None:
    # The load balancer has a node in the public and the isolated subnet; the backend
    # admits only the public one's addresses.
    net, client = balanced(internal=True, admits=(VPC_CIDR,), target_rules=(tcp(443, cidr="10.0.0.0/24"),))
    (lb,) = net.load_balancers
    net = dataclasses.replace(
        net, load_balancers=(dataclasses.replace(lb, subnet_ids=("subnet-public", "subnet-isolated")),)
    )
    result = net.check(client, Host("lb-1.elb.example"), "tcp", 443)
    assert result.verdict == "partial"  # some connections get through: a flaky join
    assert "source is lb's address in isolated (10.0.2.0/24)" in result.path


def test_a_target_calling_itself_with_its_address_kept_times_out() -> None:
    net, _ = balanced(internal=True, admits=(VPC_CIDR,), preserve=True)
    backend = next(n for n in net.nodes if n.id == "i-backend")
    result = net.check(backend, Host("lb-1.elb.example"), "tcp", 443)
    assert result.verdict == "denied"
    assert "hairpin" in result.path


def test_an_unhealthy_target_is_unreachable() -> None:
    net, client = balanced(internal=True, admits=(VPC_CIDR,), health_port=8080)
    result = net.check(client, Host("lb-1.elb.example"), "tcp", 443)
    assert result.verdict == "denied"
    assert (
        "health check TCP 8080: load balancer egress allowed by sg sg-lb (0.0.0.0/0), denied by sg sg-backend"
        in result.path
    )
    (lb,) = net.load_balancers
    verdicts = {r.source.split("(")[1].split(",")[0]: r.verdict for r in net.load_balancer_flows(lb)}
    assert verdicts == {"traffic": "allowed", "health check": "denied"}


def test_no_listener_no_flow() -> None:
    net, client = balanced(internal=True, admits=(VPC_CIDR,))
    net = dataclasses.replace(
        net, security_groups=(*net.security_groups[:2], group("sg-lb", tcp(0, 65535, cidr=VPC_CIDR)))
    )
    result = net.check(client, Host("lb-1.elb.example"), "tcp", 8443)
    assert result.verdict == "denied"
    assert "no listener for 8443/tcp" in result.path


def test_service_load_balancer_opens_node_ports_on_the_cluster_group_for_workers_only() -> None:
    worker = node("asg-workers", "subnet-private", "sg-nodes", role="worker", kind="group")
    control_plane = node("i-cp", "subnet-private", "sg-cp", role="control-plane")
    service = LoadBalancerService("ingress/web", False, ("0.0.0.0/0",), (ServicePort("web", 80, 30000),), "Cluster")
    base = network(group("sg-nodes", tagged=True), group("sg-cp"), nodes=(worker, control_plane))
    # Decoys: a public subnet without the role tag, a private one wrongly carrying it.
    decoy = Subnet("subnet-a-untagged", "untagged", "vpc-1", "10.0.3.0/24", "az-a", "rtb-public")
    mistagged = dataclasses.replace(base.subnets[1], tags={"kubernetes.io/role/elb": "1"})
    net = dataclasses.replace(
        base,
        subnets=(base.subnets[0], mistagged, base.subnets[2], decoy),
        services=(service,),
        cluster=Cluster("test", "https://api.example:6443", ()),
    )
    served = net.with_service_load_balancers()
    (lb,) = served.load_balancers
    assert lb.subnet_ids == ("subnet-public",)
    assert not lb.internal
    (targets,) = served.target_groups
    assert [t.node_id for t in targets.targets] == ["asg-workers"]
    client = served.check(External("192.0.2.7/32"), Host(lb.dns_name), "tcp", 80)
    assert client.verdict == "allowed", client
    assert all(r.verdict == "allowed" for r in served.load_balancer_flows(lb))
    assert served.security_group("sg-cp") == net.security_group("sg-cp")

    # Two cluster-tagged groups on a node: the controller gives up, nothing is opened.
    doubled = dataclasses.replace(
        net,
        security_groups=(*net.security_groups, group("sg-extra", tagged=True)),
        nodes=(dataclasses.replace(worker, security_group_ids=("sg-nodes", "sg-extra")), control_plane),
    )
    served = doubled.with_service_load_balancers()
    result = served.check(External("192.0.2.7/32"), Host(served.load_balancers[0].dns_name), "tcp", 80)
    assert result.verdict == "denied"


def test_json_round_trip_keeps_the_model() -> None:
    net, _ = balanced(internal=False, admits=(VPC_CIDR,))
    net = dataclasses.replace(net, cluster=Cluster("test", "https://lb-1.elb.example:6443", ("192.0.2.0/24",)))
    assert Network.from_json(net.to_json()) == net


def test_script_setting_reads_shell_quoted_values() -> None:
    script = "#!/bin/bash\nrole=worker\napi_endpoint='host name:6443'\n"
    assert script_setting(script, "role") == "worker"
    assert script_setting(script, "api_endpoint") == "host name:6443"
    assert script_setting(script, "absent") == ""


def test_from_graph_refuses_what_it_cannot_model() -> None:
    graph = graph_for("dev")
    acl = dataclasses.replace(graph.resources[0], type="aws:ec2/networkAcl:NetworkAcl", urn="urn:acl")
    with pytest.raises(ValueError, match="networkAcl"):
        from_graph(dataclasses.replace(graph, resources=[*graph.resources, acl]))


# -- the frozen prod network (before the fix) ----------------------------------------


def frozen_flows(network: Network) -> list[FlowResult]:
    """The flows the frozen network was built for: Prometheus's scrapes came later
    (observability), and the frozen network rightly has no rule for them."""
    return [r for r in evaluate_cluster(network) if not r.source.startswith("Prometheus on ")]


def test_frozen_prod_network_shows_the_endpoint_bug() -> None:
    network = Network.from_json(FROZEN_PROD.read_text())
    results = frozen_flows(network)
    joins = [r for r in results if "[kubeadm join]" in r.source]
    assert {r.source for r in joins} == {"worker(pool-db) [kubeadm join]", "worker(pool-general) [kubeadm join]"}
    for join in joins:
        assert join.destination.startswith("API endpoint podium-prod-api-")
        assert join.verdict == "denied", join
        assert "via nat-" in join.path
        assert "source seen as NAT EIP" in join.path
        assert "denied by sg podium-prod-api-lb" in join.path
    # The control planes' own calls fail the same way; everything else was as it should be.
    others = [r for r in results if not r.ok and r not in joins]
    assert len(others) == 3
    assert all(r.source.startswith("control-plane(") and r.destination.startswith("API endpoint") for r in others)


def _admit_nat_addresses(network: Network) -> Network:
    """The API load balancer's group also admits the NAT gateways' addresses."""
    rules = tuple(tcp(6443, cidr=f"{nat.public_ip}/32") for nat in network.nat_gateways)
    return dataclasses.replace(
        network,
        security_groups=tuple(
            dataclasses.replace(g, ingress=g.ingress + rules) if g.name == "podium-prod-api-lb" else g
            for g in network.security_groups
        ),
    )


def _internal_endpoint(network: Network) -> Network:
    """The API load balancer internal, in the private subnets, as apiEndpoint internal makes it."""
    assert network.cluster is not None
    private = tuple(s.id for s in network.subnets if s.tags.get("tier") == "private")
    return dataclasses.replace(
        network,
        load_balancers=tuple(dataclasses.replace(b, internal=True, subnet_ids=private) for b in network.load_balancers),
        cluster=dataclasses.replace(network.cluster, api_endpoint="internal"),
    )


@pytest.mark.parametrize("fix", [_admit_nat_addresses, _internal_endpoint])
def test_frozen_prod_network_passes_once_nodes_reach_the_endpoint(fix: Callable[[Network], Network]) -> None:
    results = frozen_flows(fix(Network.from_json(FROZEN_PROD.read_text())))
    assert all(r.ok for r in results), format_failures(results)
    if fix is _internal_endpoint:
        assert [r.verdict for r in results if r.source.startswith("apiAllowedCidrs") and r.ports == "6443"] == [
            "denied"
        ]


# -- every kubeadm stack -------------------------------------------------------------


@pytest.mark.parametrize("stack", KUBEADM_STACKS)
def test_cluster_flows_cover_every_node(stack: str) -> None:
    graph = graph_for(stack)
    results = cluster_flows(graph)
    pools = graph.of_type("aws:autoscaling/group:Group")
    control_planes = graph.of_type("aws:ec2/instance:Instance")
    endpoint_flows = [r for r in results if r.destination.startswith("API endpoint ")]
    assert len(endpoint_flows) == len(pools) + len(control_planes)
    assert any(r.expected == "denied" for r in results)
    assert any(r.source.startswith("load balancer traefik/traefik") for r in results)


@pytest.mark.parametrize("stack", KUBEADM_STACKS)
def test_cluster_flows(stack: str) -> None:
    results = cluster_flows(graph_for(stack))
    if not all(r.ok for r in results):
        pytest.fail(f"{stack}: {format_failures(results)}", pytrace=False)
