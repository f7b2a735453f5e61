"""Reachability: the pure model on small hand-built networks, the frozen prod network
that showed the API endpoint bug, every kubeadm stack's cluster flows, and dev's NAT
instance (natMode instance, apiEndpoint natInstance) with crafted breakages of it.

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
    Forward,
    HealthCheck,
    Host,
    InternetGateway,
    Listener,
    LoadBalancer,
    LoadBalancerService,
    NatGateway,
    Network,
    NetworkInterface,
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
    assert Ports.range(0, 65535) - Ports.range(6443) == Ports(((0, 6442), (6444, 65535)))
    assert joined - Ports.range(0, 65535) == Ports()
    assert joined - (Ports.range(900, 1000) | Ports.range(2999, 4000)) == Ports.range(1001, 2998)


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
    nat, _ = nat_instance_network()
    assert Network.from_json(nat.to_json()) == nat


# -- NAT instances, on a small hand-built network ------------------------------------

NAT_INSTANCE_EIP = "52.0.0.5"
FIXED_IP = "10.0.1.10"
ADMIN = "203.0.113.0/24"


def nat_instance_network(
    *,
    interface_rules: tuple[Rule, ...] = (Rule("-1", cidr=VPC_CIDR),),
    control_plane_rules: tuple[Rule, ...] = (tcp(6443, cidr=VPC_CIDR),),
    source_dest_check: bool = False,
) -> tuple[Network, Node]:
    """The private subnet's default route targets interface eni-nat (group sg-nat-eni),
    which the NAT instance's group (primary interface: sg-nat, admitting 6443 from
    ADMIN) attaches; it moves Elastic IP eipalloc-nat onto its primary interface and
    forwards 6443 to the control plane fixed at FIXED_IP. Returns it and a worker."""
    nat = Node(
        "asg-nat",
        "nat",
        "group",
        ("subnet-public",),
        ("sg-nat",),
        public_ip_on_launch=True,
        attaches=("eni-nat",),
        elastic_ip="eipalloc-nat",
        forwards=(Forward("tcp", 6443, FIXED_IP, 6443),),
    )
    control_plane = dataclasses.replace(
        node("i-cp", "subnet-private", "sg-cp", role="init"), private_ip=FIXED_IP, api_endpoint=f"{FIXED_IP}:6443"
    )
    worker = node("asg-workers", "subnet-private", "sg-nodes", role="worker", kind="group")
    net = network(
        group("sg-nat", tcp(6443, cidr=ADMIN), Rule("-1", cidr=VPC_CIDR)),
        group("sg-nat-eni", *interface_rules),
        group("sg-cp", *control_plane_rules),
        group("sg-nodes"),
        nodes=(nat, control_plane, worker),
        elastic_ips=(ElasticIp("eipalloc-nat", "nat", NAT_INSTANCE_EIP, "", None),),
    )
    interface = NetworkInterface("eni-nat", "nat-eni", "subnet-public", ("sg-nat-eni",), source_dest_check)
    tables = tuple(
        dataclasses.replace(t, routes=(Route("0.0.0.0/0", "eni-nat"),)) if t.id == "rtb-private" else t
        for t in net.route_tables
    )
    return dataclasses.replace(net, nat_gateways=(), network_interfaces=(interface,), route_tables=tables), worker


def test_a_route_to_a_nat_instance_interface_leaves_from_its_elastic_ip() -> None:
    net, worker = nat_instance_network()
    result = net.check(worker, Host("192.0.2.10"), "tcp", 443)
    assert result.verdict == "allowed", result
    assert "route 0.0.0.0/0 via eni-nat (private)" in result.path
    assert (
        "into nat-instance(nat) through its interface nat-eni (eni-nat): ingress allowed by sg sg-nat-eni"
        in result.path
    )
    assert "out of its primary interface: egress allowed by sg sg-nat" in result.path
    assert f"source seen as nat-instance(nat)'s Elastic IP {NAT_INSTANCE_EIP}" in result.path
    # What the receiver sees, by its own rules: the Elastic IP, and not the VPC.
    server = node("i-server", "subnet-public", "sg-server")
    server_eip = ElasticIp("eipalloc-server", "server", NODE_EIP, "", "i-server")
    for admitted, verdict in ((f"{NAT_INSTANCE_EIP}/32", "allowed"), (VPC_CIDR, "denied")):
        served = dataclasses.replace(
            net,
            nodes=(*net.nodes, server),
            security_groups=(*net.security_groups, group("sg-server", tcp(443, cidr=admitted))),
            elastic_ips=(*net.elastic_ips, server_eip),
        )
        assert served.check(worker, Host(NODE_EIP), "tcp", 443).verdict == verdict


def test_a_nat_instance_interface_must_admit_the_sender_and_forward() -> None:
    net, worker = nat_instance_network(interface_rules=(tcp(443, cidr="10.0.0.0/24"),))
    result = net.check(worker, Host("192.0.2.10"), "tcp", 443)
    assert result.verdict == "denied"
    assert "through its interface nat-eni (eni-nat): denied by sg sg-nat-eni (ingress" in result.path
    assert "source is 10.0.1.0/24 (private)" in result.path

    net, worker = nat_instance_network(source_dest_check=True)
    result = net.check(worker, Host("192.0.2.10"), "tcp", 443)
    assert result.verdict == "denied"
    assert "source/destination check on" in result.path

    net, worker = nat_instance_network()
    (nat,) = [n for n in net.nodes if n.is_nat_instance]
    elsewhere = Subnet("subnet-b", "public-b", "vpc-1", "10.0.4.0/24", "az-b", "rtb-public")
    moved = dataclasses.replace(
        net,
        subnets=(*net.subnets, elsewhere),
        nodes=tuple(dataclasses.replace(n, subnet_ids=("subnet-b",)) if n is nat else n for n in net.nodes),
    )
    result = moved.check(worker, Host("192.0.2.10"), "tcp", 443)
    assert result.verdict == "denied"
    assert "cannot attach it" in result.path


def test_a_route_to_an_interface_no_instance_attaches_is_a_blackhole() -> None:
    net, worker = nat_instance_network()
    orphaned = dataclasses.replace(
        net, nodes=tuple(dataclasses.replace(n, attaches=()) if n.attaches else n for n in net.nodes)
    )
    result = orphaned.check(worker, Host("192.0.2.10"), "tcp", 443)
    assert result.verdict == "denied"
    assert "no NAT instance attaches interface nat-eni (eni-nat)" in result.path
    unknown = dataclasses.replace(net, network_interfaces=())
    result = unknown.check(worker, Host("192.0.2.10"), "tcp", 443)
    assert result.verdict == "denied"
    assert "network interface eni-nat is not in the model" in result.path


def test_a_nat_instance_forwards_its_port_to_the_fixed_address_as_itself() -> None:
    net, _ = nat_instance_network()
    admin = External(ADMIN, "admin")
    result = net.check(admin, Host(NAT_INSTANCE_EIP), "tcp", 6443)
    assert result.verdict == "allowed", result
    assert "ingress allowed by sg sg-nat (203.0.113.0/24)" in result.path
    assert f"forwards tcp 6443 to {FIXED_IP}:6443 (DNAT)" in result.path
    assert "source seen as nat-instance(nat)'s private address in public (10.0.0.0/24)" in result.path
    # The control plane admits only the private subnet: the NAT instance's address is not in it.
    closed, _ = nat_instance_network(control_plane_rules=(tcp(6443, cidr="10.0.1.0/24"),))
    result = closed.check(admin, Host(NAT_INSTANCE_EIP), "tcp", 6443)
    assert result.verdict == "denied"
    assert "control-plane(i-cp): denied by sg sg-cp" in result.path
    assert "source is nat-instance(nat)'s private address in public" in result.path
    # Outside the apiAllowedCidrs the primary interface's group refuses it.
    result = net.check(External("198.51.100.7/32"), Host(NAT_INSTANCE_EIP), "tcp", 6443)
    assert result.verdict == "denied"
    assert "denied by sg sg-nat (ingress admits 203.0.113.0/24 6443/tcp" in result.path
    # A port the group admits but nothing forwards: no listener.
    (nat,) = [n for n in net.nodes if n.is_nat_instance]
    result = net.check(admin, nat, "tcp", 6000, 6443)
    assert result.verdict == "partial"
    open_all = dataclasses.replace(
        net,
        security_groups=tuple(
            dataclasses.replace(g, ingress=(tcp(0, 65535, cidr=ADMIN),)) if g.id == "sg-nat" else g
            for g in net.security_groups
        ),
    )
    result = open_all.check(admin, nat, "tcp", 22)
    assert result.verdict == "denied"
    assert "no listener: nat-instance(nat) forwards only 6443/tcp" in result.path
    # A forward to an address at which no node is fixed goes nowhere.
    astray = dataclasses.replace(
        net,
        nodes=tuple(
            dataclasses.replace(n, forwards=(Forward("tcp", 6443, "10.0.1.11", 6443),)) if n is nat else n
            for n in net.nodes
        ),
    )
    result = astray.check(admin, Host(NAT_INSTANCE_EIP), "tcp", 6443)
    assert result.verdict == "denied"
    assert "no node in the model is fixed at 10.0.1.11" in result.path


def test_a_fixed_private_address_is_its_node() -> None:
    net, worker = nat_instance_network()
    result = net.check(worker, Host(FIXED_IP), "tcp", 6443)
    assert result.verdict == "allowed", result
    assert f"{FIXED_IP} is control-plane(i-cp)'s fixed private address" in result.path
    (control_plane,) = [n for n in net.nodes if n.role == "init"]
    assert net.check(control_plane, Host(FIXED_IP), "tcp", 6443).path.endswith("never leaves the host")
    # It sends from that address too: a rule for it alone admits it, and nothing else.
    only, worker = nat_instance_network(interface_rules=(Rule("-1", cidr=f"{FIXED_IP}/32"),))
    result = only.check(control_plane, Host("192.0.2.10"), "tcp", 443)
    assert result.verdict == "allowed", result
    # A node somewhere in the subnet is not surely at that address.
    result = only.check(worker, Host("192.0.2.10"), "tcp", 443)
    assert result.verdict == "partial"
    assert "source is 10.0.1.0/24 (private)" in result.path
    result = net.check(worker, Host("10.0.1.99"), "tcp", 6443)
    assert result.verdict == "denied"
    assert "no node in the model is fixed" in result.path


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
    # The node pools' groups; a NAT instance's group runs no Kubernetes node.
    pools = [g for g in graph.of_type("aws:autoscaling/group:Group") if "NodeGroup" in g.parent]
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


# -- dev: the NAT instance (natMode instance, apiEndpoint natInstance) -----------------

NAT_LABEL = "nat-instance(network-nat-instance-asg)"
EGRESS = "internet 198.51.100.10"


def dev_nat_eip() -> str:
    return graph_for("dev").one("aws:ec2/eip:Eip", "network-nat-0").state["publicIp"]


def dev_network() -> Network:
    return from_graph(graph_for("dev"))


def flows_to(results: list[FlowResult], destination: str) -> list[FlowResult]:
    found = [r for r in results if r.destination.startswith(destination)]
    assert found, f"no flow to {destination}"
    return found


def test_dev_private_egress_goes_through_the_nat_instance() -> None:
    graph = graph_for("dev")
    interface = graph.one("aws:ec2/networkInterface:NetworkInterface", "network-nat-instance-eni")
    results = cluster_flows(graph)
    egress = flows_to(results, EGRESS)
    # Every node (the control plane, each node pool's group) on HTTP and HTTPS.
    assert len(egress) == 2 * len([n for n in dev_network().nodes if n.role])
    for result in egress:
        assert result.verdict == "allowed" == result.expected, result
        assert f"via {interface.id} (podium-dev-private-" in result.path
        assert f"into {NAT_LABEL} through its interface podium-dev-nat ({interface.id})" in result.path
        assert f"source seen as {NAT_LABEL}'s Elastic IP {dev_nat_eip()}" in result.path


def test_dev_egress_is_denied_without_the_nat_groups_vpc_rule() -> None:
    graph = graph_for("dev")
    # The graph as the program would declare it without network-nat-instance-from-vpc.
    crafted = dataclasses.replace(
        graph, resources=[r for r in graph.resources if r.name != "network-nat-instance-from-vpc"]
    )
    egress = flows_to(cluster_flows(crafted), EGRESS)
    assert all(r.verdict == "denied" and not r.ok for r in egress), egress
    for result in egress:
        assert "through its interface podium-dev-nat" in result.path
        assert "denied by sg podium-dev-nat-instance (ingress" in result.path
        assert "source is 10.20." in result.path


def test_dev_egress_is_denied_when_no_instance_attaches_the_routes_interface() -> None:
    network = dev_network()
    orphaned = dataclasses.replace(
        network, nodes=tuple(dataclasses.replace(n, attaches=()) if n.attaches else n for n in network.nodes)
    )
    egress = flows_to(evaluate_cluster(orphaned), EGRESS)
    assert all(r.verdict == "denied" and not r.ok for r in egress), egress
    assert all("no NAT instance attaches interface podium-dev-nat" in r.path for r in egress)


def test_dev_admins_reach_the_api_through_the_elastic_ip_and_the_world_does_not() -> None:
    results = cluster_flows(graph_for("dev"))
    endpoint = flows_to(results, f"clusterEndpoint {dev_nat_eip()}")
    (admin,) = [r for r in endpoint if r.source == "apiAllowedCidrs 203.0.113.0/24" and r.ports == "6443"]
    assert admin.verdict == "allowed", admin
    assert f"{NAT_LABEL} forwards tcp 6443 to 10.20.0.10:6443 (DNAT)" in admin.path
    assert f"source seen as {NAT_LABEL}'s private address in podium-dev-public-0" in admin.path
    assert "control-plane(podium-dev-control-plane-0): ingress allowed by sg podium-dev-control-plane" in admin.path
    (world,) = [r for r in endpoint if r.source == "internet 192.0.2.7"]
    assert world.verdict == "denied" == world.expected
    assert "denied by sg podium-dev-nat-instance" in world.path
    # Nothing else of the NAT instance answers the internet.
    nat = [r for r in results if r.destination == NAT_LABEL]
    assert {r.ports for r in nat} == {"0-6442", "6444-65535", "all"}
    assert all(r.verdict == "denied" == r.expected for r in nat)
    # From inside the VPC the Elastic IP is reached through the NAT instance and the
    # internet gateway, seen as itself: not an apiAllowedCidr. Nodes never use it.
    network = dev_network()
    worker = next(n for n in network.nodes if n.role == "worker")
    hairpin = network.check(worker, Host(dev_nat_eip()), "tcp", 6443)
    assert hairpin.verdict == "denied"
    assert f"source is {NAT_LABEL}'s Elastic IP {dev_nat_eip()}" in hairpin.path
    # Nodes join at the control plane's fixed address.
    for join in flows_to(results, "API endpoint 10.20.0.10"):
        assert join.verdict == "allowed", join
        assert "10.20.0.10 is control-plane(podium-dev-control-plane-0)'s fixed private address" in join.path


def test_dev_api_is_denied_to_a_client_outside_api_allowed_cidrs() -> None:
    network = dev_network()
    assert network.cluster is not None
    elsewhere = dataclasses.replace(
        network, cluster=dataclasses.replace(network.cluster, api_allowed_cidrs=("198.51.100.0/24",))
    )
    results = evaluate_cluster(elsewhere)
    (admin,) = [r for r in results if r.source == "apiAllowedCidrs 198.51.100.0/24" and r.ports == "6443"]
    assert admin.verdict == "denied" and not admin.ok
    assert "denied by sg podium-dev-nat-instance (ingress admits 203.0.113.0/24 6443/tcp" in admin.path
    assert "source is apiAllowedCidrs 198.51.100.0/24" in admin.path


def test_dev_api_is_denied_when_the_control_plane_does_not_admit_the_nat_instance() -> None:
    network = dev_network()
    without = dataclasses.replace(
        network,
        security_groups=tuple(
            dataclasses.replace(g, ingress=tuple(r for r in g.ingress if r.from_port != 6443))
            if g.name == "podium-dev-control-plane"
            else g
            for g in network.security_groups
        ),
    )
    (admin,) = [
        r for r in evaluate_cluster(without) if r.source == "apiAllowedCidrs 203.0.113.0/24" and r.ports == "6443"
    ]
    assert admin.verdict == "denied" and not admin.ok
    assert "control-plane(podium-dev-control-plane-0): denied by sg podium-dev-control-plane" in admin.path
    assert f"source is {NAT_LABEL}'s private address in podium-dev-public-0" in admin.path
