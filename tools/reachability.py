"""Reachability: which flows AWS would let through a Podium network, and why.

A pure model of what decides whether a connection from A reaches B in a VPC: DNS
answers, route tables, NAT and internet gateways, security groups, and load balancers
with their listeners, target groups and health checks. `from_graph` builds it from a
harness Graph (the program run offline); `Network.check` evaluates one flow;
`cluster_flows` evaluates every flow a kubeadm cluster needs, and those it must refuse.
`python -m tools.reachability STACK` prints them; `--write-model FILE` saves the model
as JSON (how tests/data/reachability/ is made).

What is modelled, and how:
- DNS, as the VPC's Route 53 Resolver answers: an internet-facing load balancer's name
  resolves to public addresses, from inside the VPC too; an internal one's to private
  addresses in its subnets. An EC2 public DNS name (an Elastic IP's `publicDns`)
  resolves inside the VPC (DNS support and hostnames on) to the instance's private
  address, outside to the public one. A literal IP is itself; a private one is the
  node fixed at it (an instance's `privateIp`), and no other.
- Addresses: a node is somewhere in its subnet, unless it has a fixed private address:
  then it is reached at, and sends from, that address.
- Routing: a private address in the VPC is reached locally, seen as the sender's
  private address and security groups. A public address is reached through the route
  table's matching route: via a NAT gateway the receiver sees the NAT's Elastic IP;
  via the internet gateway the sender's own public IP (none: dropped). Inbound from the
  internet needs the receiver's subnet to route to an internet gateway.
- NAT instances (natMode instance): a route may target a network interface. The node
  whose boot script attaches it (components/network/scripts/nat-instance.sh: its
  PODIUM_ENI_ID) takes the packet in; none: a blackhole, denied. The interface must
  have its source/destination check off, be in the instance's availability zone, and
  its groups must admit the sender's private address; the instance's primary
  interface's groups must let it out; it masquerades, so the receiver sees its public
  address: the Elastic IP its boot script moves there (PODIUM_EIP_ALLOCATION_ID).
  From the internet, that address reaches the instance through its primary
  interface's groups; a forwarded port (PODIUM_API_FORWARD to PODIUM_API_PORT: DNAT,
  masqueraded) goes on to the node fixed at the forward's address, which sees the
  instance's private address (somewhere in its subnet) and its groups; nothing on the
  instance answers any other port.
- Security groups: stateful; the sender's egress and the receiver's ingress must both
  admit a flow, by CIDR containing the address seen, or by source group (only for
  private traffic inside the VPC). Protocol "-1" is every protocol and port.
- Load balancers: the listener, the load balancer's own groups (none: everything
  passes), then each target: with client IP preservation off the target sees the load
  balancer's private addresses, on it sees the client's (and a target calling itself
  through the load balancer times out: the NLB hairpin). Every target must admit the
  traffic and the health check; an unhealthy target counts as unreachable (the NLB's
  fail-open when all are unhealthy is not relied on).
- Address sets are judged both ways: a flow is `allowed` when every address and port
  of it gets through, `denied` when none does, `partial` otherwise. An address known
  only as "some public IP" is 0.0.0.0/0: only a rule for 0.0.0.0/0 surely admits it.

Not modelled: network ACLs (Podium manages none; the VPC's default ACL admits all),
IPv6, prefix lists, peering, transit gateways and VPC endpoints, instances' private
addresses other than fixed ones, what a NAT instance's boot script does at run time
beyond its settings (that it disables its primary interface's source/destination
check, which the return traffic it sends to the private subnets needs, is
tests/test_nat_instance.py's to prove), and the minutes a replaced NAT instance takes
to attach the interface (the routes are a blackhole meanwhile).
"""

from __future__ import annotations

import argparse
import binascii
import dataclasses
import ipaddress
import json
import re
import shlex
import sys
import types
import typing
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from components.cluster import firewall, kubeadm, userdata
from components.platform import ingress

if TYPE_CHECKING:
    from tools.harness import Graph, Resource

Verdict = Literal["allowed", "denied", "partial"]
MAX_PORT = 65535
ANYWHERE = "0.0.0.0/0"
CONTROL_PLANE_ROLES = ("init", "control-plane")
WORKER_ROLE = "worker"
# How results name a node: by its boot script's role (init is a control plane too).
ROLE_LABELS = {"init": "control-plane", "control-plane": "control-plane", "worker": "worker"}


# -- ports -------------------------------------------------------------------------


@dataclass(frozen=True)
class Ports:
    """A set of ports: sorted, disjoint, non-adjacent inclusive spans."""

    spans: tuple[tuple[int, int], ...] = ()

    @classmethod
    def range(cls, low: int, high: int | None = None) -> Ports:
        high = low if high is None else high
        return cls(((low, high),)) if low <= high else cls()

    def __or__(self, other: Ports) -> Ports:
        merged: list[tuple[int, int]] = []
        for low, high in sorted(self.spans + other.spans):
            if merged and low <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], high))
            else:
                merged.append((low, high))
        return Ports(tuple(merged))

    def __and__(self, other: Ports) -> Ports:
        spans = [(max(a, c), min(b, d)) for a, b in self.spans for c, d in other.spans if max(a, c) <= min(b, d)]
        return Ports() | Ports(tuple(spans))

    def __sub__(self, other: Ports) -> Ports:
        spans: list[tuple[int, int]] = []
        for low, high in self.spans:
            for cut_low, cut_high in other.spans:
                if cut_high < low or cut_low > high:
                    continue
                if cut_low > low:
                    spans.append((low, cut_low - 1))
                low = cut_high + 1
            if low <= high:
                spans.append((low, high))
        return Ports() | Ports(tuple(spans))

    def covers(self, other: Ports) -> bool:
        return (self & other) == other

    def __bool__(self) -> bool:
        return bool(self.spans)

    def __str__(self) -> str:
        if self.spans == ((0, MAX_PORT),):
            return "all"
        return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in self.spans) or "none"


ALL_PORTS = Ports.range(0, MAX_PORT)
NO_PORTS = Ports()
_PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "all": "-1", "-1": "-1"}


def protocol_name(value: object) -> str:
    """AWS spells protocols as names or numbers; "-1" (or "all") is every protocol."""
    text = str(value).lower()
    return _PROTOCOL_NAMES.get(text, text)


def _listener_carries(listener_protocol: str, protocol: str) -> bool:
    carried = {"UDP": ("udp",), "TCP_UDP": ("tcp", "udp")}.get(listener_protocol.upper(), ("tcp",))
    return protocol in carried


# -- the model ---------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One security-group rule. `cidr` or `group` is the peer: the source of an
    ingress rule, the destination of an egress rule."""

    protocol: str  # tcp, udp, -1 (all) or another IP protocol, which no tcp/udp flow matches
    from_port: int | None = None
    to_port: int | None = None
    cidr: str | None = None
    group: str | None = None
    description: str = ""

    def ports(self, protocol: str) -> Ports:
        if self.protocol == "-1":
            return ALL_PORTS
        if self.protocol != protocol:
            return NO_PORTS
        if self.from_port is None or self.to_port is None:
            return ALL_PORTS
        return Ports.range(self.from_port, self.to_port)


@dataclass(frozen=True)
class SecurityGroup:
    id: str
    name: str
    vpc_id: str
    tags: dict[str, str] = field(default_factory=dict)
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class Route:
    destination: str
    target: str  # igw-..., nat-..., or another gateway this model treats as no path


@dataclass(frozen=True)
class RouteTable:
    id: str
    name: str
    routes: tuple[Route, ...] = ()


@dataclass(frozen=True)
class Vpc:
    id: str
    name: str
    cidr: str
    dns_support: bool
    dns_hostnames: bool


@dataclass(frozen=True)
class Subnet:
    id: str
    name: str
    vpc_id: str
    cidr: str
    availability_zone: str
    route_table_id: str | None  # None: the VPC's main table, which Podium leaves local-only
    map_public_ip: bool = False
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InternetGateway:
    id: str
    name: str
    vpc_id: str


@dataclass(frozen=True)
class NatGateway:
    id: str
    name: str
    subnet_id: str
    public_ip: str | None  # its Elastic IP; None for a private NAT gateway


@dataclass(frozen=True)
class ElasticIp:
    id: str
    name: str
    public_ip: str
    public_dns: str
    instance_id: str | None


@dataclass(frozen=True)
class NetworkInterface:
    """A network interface declared on its own (aws.ec2.NetworkInterface): a route may
    target it; it carries packets only while an instance has it attached."""

    id: str
    name: str
    subnet_id: str
    security_group_ids: tuple[str, ...] = ()
    source_dest_check: bool = True  # on: it drops packets not addressed to itself


@dataclass(frozen=True)
class Forward:
    """A port a NAT instance forwards (DNAT, then masqueraded) to host:to_port."""

    protocol: str
    port: int
    to_host: str
    to_port: int


@dataclass(frozen=True)
class Node:
    """An instance, or an auto-scaling group standing for its instances (one may run
    in each of its subnets). `role` and `api_endpoint` come from the boot script, as do
    a NAT instance's `attaches`, `elastic_ip` and `forwards` (nat-instance.sh's
    PODIUM_ENI_ID, PODIUM_EIP_ALLOCATION_ID, PODIUM_API_FORWARD and PODIUM_API_PORT)."""

    id: str
    name: str
    kind: str  # instance | group
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]  # its primary interface's
    public_ip_on_launch: bool | None = None  # None: the subnet's setting
    tags: dict[str, str] = field(default_factory=dict)
    role: str = ""
    api_endpoint: str = ""  # host:port, as the join script names it
    private_ip: str | None = None  # a fixed private address (an instance's privateIp input)
    attaches: tuple[str, ...] = ()  # network interfaces its boot script attaches
    elastic_ip: str = ""  # the Elastic IP (allocation id) its boot script moves onto its primary interface
    forwards: tuple[Forward, ...] = ()  # ports it forwards from its primary interface

    @property
    def is_nat_instance(self) -> bool:
        return bool(self.attaches or self.forwards)

    @property
    def label(self) -> str:
        kind = "nat-instance" if self.is_nat_instance and not self.role else ROLE_LABELS.get(self.role, "node")
        return f"{kind}({self.name})"


@dataclass(frozen=True)
class Target:
    node_id: str
    port: int


@dataclass(frozen=True)
class HealthCheck:
    protocol: str
    port: int | None = None  # None: the traffic port


@dataclass(frozen=True)
class TargetGroup:
    id: str
    name: str
    protocol: str
    port: int
    preserve_client_ip: bool
    health_check: HealthCheck
    targets: tuple[Target, ...] = ()


@dataclass(frozen=True)
class Listener:
    port: int
    protocol: str
    target_group_id: str


@dataclass(frozen=True)
class LoadBalancer:
    id: str
    name: str
    dns_name: str
    internal: bool
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...] = ()
    listeners: tuple[Listener, ...] = ()
    service: str = ""  # set when modelled after a Kubernetes Service, not declared by Pulumi


@dataclass(frozen=True)
class ServicePort:
    name: str
    port: int
    node_port: int


@dataclass(frozen=True)
class LoadBalancerService:
    """A Kubernetes Service of type LoadBalancer that the AWS cloud controller serves
    with an NLB at runtime (see `Network.with_service_load_balancers`)."""

    name: str  # namespace/name
    internal: bool
    source_ranges: tuple[str, ...]
    ports: tuple[ServicePort, ...]
    external_traffic_policy: str  # Cluster | Local
    health_check_node_port: int | None = None  # Local only


@dataclass(frozen=True)
class Cluster:
    name: str
    endpoint: str  # the exported clusterEndpoint, https://host:port
    api_allowed_cidrs: tuple[str, ...]
    api_endpoint: str = "public"  # podium:cluster.apiEndpoint: public | internal


@dataclass(frozen=True)
class Peer:
    """One side of a flow as the other side's security groups see it."""

    net: ipaddress.IPv4Network
    groups: frozenset[str]
    label: str


@dataclass(frozen=True)
class FlowResult:
    source: str
    destination: str
    protocol: str
    ports: str
    verdict: Verdict
    path: str
    expected: Verdict | None = None

    @property
    def ok(self) -> bool:
        return self.expected is None or self.verdict == self.expected

    def __str__(self) -> str:
        expectation = "" if self.ok else f" (expected {self.expected})"
        return f"{self.verdict.upper()}{expectation}: {self.source} -> {self.destination}:{self.ports}/{self.protocol}: {self.path}"


@dataclass(frozen=True)
class External:
    """A client on the internet: one address, or a whole range of them."""

    cidr: str
    label: str = ""


@dataclass(frozen=True)
class Host:
    """A destination named as a client would: a DNS name or a literal IPv4 address."""

    name: str
    label: str = ""


@dataclass(frozen=True)
class _Leg:
    """One concrete path of a flow: what surely passes, what may pass, and why."""

    must: Ports
    may: Ports
    steps: tuple[str, ...]


@dataclass(frozen=True)
class _Address:
    """One address a destination resolves to, and what answers there."""

    label: str
    net: ipaddress.IPv4Network
    public: bool
    subnet: Subnet | None = None  # None: on the internet
    node: Node | None = None
    lb: LoadBalancer | None = None

    @property
    def groups(self) -> tuple[str, ...]:
        if self.node is not None:
            return self.node.security_group_ids
        return self.lb.security_group_ids if self.lb is not None else ()


def _net(cidr: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(cidr, strict=False)


def _contains(outer: ipaddress.IPv4Network, inner: ipaddress.IPv4Network) -> bool:
    return outer.supernet_of(inner)


@dataclass(frozen=True)
class Network:
    vpcs: tuple[Vpc, ...] = ()
    subnets: tuple[Subnet, ...] = ()
    route_tables: tuple[RouteTable, ...] = ()
    internet_gateways: tuple[InternetGateway, ...] = ()
    nat_gateways: tuple[NatGateway, ...] = ()
    network_interfaces: tuple[NetworkInterface, ...] = ()
    elastic_ips: tuple[ElasticIp, ...] = ()
    security_groups: tuple[SecurityGroup, ...] = ()
    nodes: tuple[Node, ...] = ()
    target_groups: tuple[TargetGroup, ...] = ()
    load_balancers: tuple[LoadBalancer, ...] = ()
    services: tuple[LoadBalancerService, ...] = ()
    cluster: Cluster | None = None

    # -- JSON --------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Network:
        return _decode(cls, json.loads(text))

    # -- look-ups ----------------------------------------------------------------

    @cached_property
    def _by_id(self) -> dict[str, Any]:
        everything: Iterable[Any] = (
            *self.vpcs,
            *self.subnets,
            *self.route_tables,
            *self.internet_gateways,
            *self.nat_gateways,
            *self.network_interfaces,
            *self.security_groups,
            *self.nodes,
            *self.target_groups,
            *self.load_balancers,
        )
        return {item.id: item for item in everything}

    def _get(self, kind: type[Any], item_id: str | None) -> Any:
        item = self._by_id.get(item_id or "")
        return item if isinstance(item, kind) else None

    def subnet(self, subnet_id: str) -> Subnet | None:
        return self._get(Subnet, subnet_id)

    def node(self, node_id: str) -> Node | None:
        return self._get(Node, node_id)

    def security_group(self, group_id: str) -> SecurityGroup | None:
        return self._get(SecurityGroup, group_id)

    def _group_names(self, group_ids: Iterable[str]) -> str:
        return ", ".join(g.name if (g := self.security_group(i)) else i for i in group_ids)

    def _placements(self, node: Node) -> list[Subnet]:
        return [s for s in (self.subnet(i) for i in node.subnet_ids) if s is not None]

    def _eip_of(self, node: Node) -> ElasticIp | None:
        """The Elastic IP associated with `node`, or the one its boot script moves onto
        its primary interface (a NAT instance's)."""
        return next((e for e in self.elastic_ips if e.instance_id == node.id), None) or next(
            (e for e in self.elastic_ips if node.elastic_ip and e.id == node.elastic_ip), None
        )

    def _eip_holder(self, eip: ElasticIp) -> Node | None:
        return self.node(eip.instance_id or "") or next((n for n in self.nodes if n.elastic_ip == eip.id), None)

    def _node_at(self, address: str) -> Node | None:
        """The node with this fixed private address."""
        return next((n for n in self.nodes if n.private_ip == address), None)

    def nat_instance_for(self, interface_id: str) -> Node | None:
        """The NAT instance whose boot script attaches this network interface."""
        return next((n for n in self.nodes if interface_id in n.attaches), None)

    def _fixed_subnet(self, node: Node) -> Subnet | None:
        """The subnet of `node`'s fixed private address, if it has one there."""
        if node.private_ip is None:
            return None
        address = _net(node.private_ip)
        return next((s for s in self._placements(node) if _contains(_net(s.cidr), address)), None)

    def _source_peer(self, node: Node, subnet: Subnet) -> Peer:
        """How a node in `subnet` appears to a receiver inside the VPC: its fixed address,
        or somewhere in its subnet."""
        groups = frozenset(node.security_group_ids)
        if node.private_ip is not None and self._fixed_subnet(node) == subnet:
            return Peer(_net(node.private_ip), groups, f"{node.private_ip} ({subnet.name})")
        return Peer(_net(subnet.cidr), groups, f"{subnet.cidr} ({subnet.name})")

    # -- routing -----------------------------------------------------------------

    def _route(self, subnet: Subnet, destination: ipaddress.IPv4Network) -> Route | None:
        """The most specific route covering all of `destination` (an unknown public
        address is 0.0.0.0/0, which only a default route covers)."""
        table: RouteTable | None = self._get(RouteTable, subnet.route_table_id)
        routes = [r for r in (table.routes if table else ()) if _contains(_net(r.destination), destination)]
        return max(routes, key=lambda r: _net(r.destination).prefixlen, default=None)

    def _internet_gateway(self, subnet: Subnet) -> InternetGateway | None:
        route = self._route(subnet, _net(ANYWHERE))
        gateway: InternetGateway | None = self._get(InternetGateway, route.target if route else None)
        return gateway if gateway is not None and gateway.vpc_id == subnet.vpc_id else None

    def _public_address(self, node: Node, subnet: Subnet) -> tuple[ipaddress.IPv4Network, str] | None:
        eip = self._eip_of(node)
        if eip is not None:
            return _net(eip.public_ip), f"Elastic IP {eip.public_ip}"
        on_launch = subnet.map_public_ip if node.public_ip_on_launch is None else node.public_ip_on_launch
        return (_net(ANYWHERE), "an auto-assigned public IP") if on_launch else None

    def _leave_vpc(
        self, node: Node, subnet: Subnet, address: _Address, protocol: str, ports: Ports
    ) -> tuple[Peer | None, list[str], Ports, Ports]:
        """How a node's packet to a public address leaves the VPC, who it then appears
        to be, and which of `ports` the way out surely and possibly carries."""
        route = self._route(subnet, address.net)
        table = self._get(RouteTable, subnet.route_table_id)
        where = table.name if table else "the main route table"
        if route is None:
            return None, [f"no route to {address.net} in {where} ({subnet.name})"], NO_PORTS, NO_PORTS
        via = f"route {route.destination} via {route.target} ({where})"
        nat: NatGateway | None = self._get(NatGateway, route.target)
        gateway: InternetGateway | None = self._get(InternetGateway, route.target)
        interface: NetworkInterface | None = self._get(NetworkInterface, route.target)
        if nat is not None:
            nat_subnet = self.subnet(nat.subnet_id)
            if nat.public_ip is None or nat_subnet is None or self._internet_gateway(nat_subnet) is None:
                steps = [via, f"NAT gateway {nat.name} has no public IP routed to an internet gateway"]
                return None, steps, NO_PORTS, NO_PORTS
            seen = Peer(_net(nat.public_ip), frozenset(), f"NAT EIP {nat.public_ip} ({nat.id})")
            return seen, [via, f"source seen as NAT EIP {nat.public_ip}"], ports, ports
        if gateway is not None:
            public = self._public_address(node, subnet)
            if public is None:
                return None, [via, "but the node has no public IP: the internet gateway drops it"], NO_PORTS, NO_PORTS
            return Peer(public[0], frozenset(), public[1]), [via, f"source seen as {public[1]}"], ports, ports
        if interface is not None:
            return self._through_nat_instance(node, subnet, interface, address, protocol, ports, via)
        if route.target.startswith("eni-"):
            return None, [via, f"network interface {route.target} is not in the model"], NO_PORTS, NO_PORTS
        return None, [via, f"{route.target} is not a gateway this model follows"], NO_PORTS, NO_PORTS

    def _through_nat_instance(
        self,
        sender: Node,
        subnet: Subnet,
        interface: NetworkInterface,
        address: _Address,
        protocol: str,
        ports: Ports,
        via: str,
    ) -> tuple[Peer | None, list[str], Ports, Ports]:
        """A route to a network interface: the NAT instance whose boot script attaches
        it takes the packet in through that interface (its groups, the sender's private
        address), and masquerades it out of its primary interface (that interface's
        groups), from its public address: the Elastic IP its boot script moves there."""
        steps = [via]
        name = f"interface {interface.name} ({interface.id})"
        nat = self.nat_instance_for(interface.id)
        if nat is None:
            steps.append(f"no NAT instance attaches {name} (no boot script's PODIUM_ENI_ID names it): a blackhole")
            return None, steps, NO_PORTS, NO_PORTS
        if interface.source_dest_check:
            steps.append(f"{name} of {nat.label} has its source/destination check on: it drops forwarded packets")
            return None, steps, NO_PORTS, NO_PORTS
        home = self.subnet(interface.subnet_id)
        placements = self._placements(nat)
        if home is None or not placements or any(s.availability_zone != home.availability_zone for s in placements):
            zone = home.availability_zone if home else "no known zone"
            steps.append(f"{nat.label} may launch outside {name}'s availability zone ({zone}): it cannot attach it")
            return None, steps, NO_PORTS, NO_PORTS
        sender_peer = self._source_peer(sender, subnet)
        must, may, text = self._admit(interface.security_group_ids, "ingress", sender_peer, protocol, ports)
        steps.append(f"into {nat.label} through its {name}: {text}")
        if not may:
            return None, steps, NO_PORTS, NO_PORTS
        toward = Peer(address.net, frozenset(), address.label)
        out_must, out_may, text = self._admit(nat.security_group_ids, "egress", toward, protocol, ports)
        steps.append(f"out of its primary interface: {text}")
        must, may = must & out_must, may & out_may
        if not may:
            return None, steps, NO_PORTS, NO_PORTS
        seen: Peer | None = None
        for placement in placements:
            public = self._public_address(nat, placement)
            if public is None or self._internet_gateway(placement) is None:
                steps.append(f"{nat.label} has no public address routed to an internet gateway in {placement.name}")
                return None, steps, NO_PORTS, NO_PORTS
            seen = seen or Peer(public[0], frozenset(), f"{nat.label}'s {public[1]}")
        assert seen is not None
        steps.append(f"masqueraded: source seen as {seen.label}")
        return seen, steps, must, may

    # -- security groups -----------------------------------------------------------

    def _admit(
        self, group_ids: Sequence[str], direction: str, peer: Peer, protocol: str, ports: Ports
    ) -> tuple[Ports, Ports, str]:
        """Ports of `ports` that the groups' rules in `direction` surely and possibly
        admit for `peer`, and a sentence saying so."""
        must = may = NO_PORTS
        considered: list[str] = []
        admitted_by: list[str] = []
        for group_id in group_ids:
            group = self.security_group(group_id)
            for rule in (group.ingress if direction == "ingress" else group.egress) if group else ():
                rule_ports = rule.ports(protocol) & ports
                if not rule_ports:
                    continue
                who = rule.cidr or f"sg {self._group_names([rule.group or ''])}"
                considered.append(f"{who} {rule_ports}/{rule.protocol}")
                if rule.cidr is not None and _net(rule.cidr).overlaps(peer.net):
                    may |= rule_ports
                    if _contains(_net(rule.cidr), peer.net):
                        must |= rule_ports
                        admitted_by.append(who)
                elif rule.group is not None and rule.group in peer.groups:
                    must |= rule_ports
                    may |= rule_ports
                    admitted_by.append(who)
        names = self._group_names(group_ids) or "none"
        if must.covers(ports):
            return must, may, f"{direction} allowed by sg {names} ({', '.join(dict.fromkeys(admitted_by))})"
        rules = ", ".join(considered) if considered else f"no rule for {ports}/{protocol}"
        verb = "partly denied" if may & ports else "denied"
        return must, may, f"{verb} by sg {names} ({direction} admits {rules}; source is {peer.label})"

    # -- DNS ---------------------------------------------------------------------

    def _resolve(self, host: str, vpc: Vpc | None) -> tuple[list[_Address], str]:
        """What `host` resolves to for a client inside `vpc` (None: on the internet)."""
        try:
            literal: ipaddress.IPv4Address | None = ipaddress.IPv4Address(host)
        except ValueError:
            literal = None
        if literal is None and vpc is not None and not vpc.dns_support:
            return [], f"{host}: DNS resolution is off in {vpc.name}"
        lb = next((b for b in self.load_balancers if b.dns_name == host), None)
        if literal is None and lb is not None:
            return self._lb_addresses(lb)
        eip = next((e for e in self.elastic_ips if host in (e.public_dns, e.public_ip)), None)
        if eip is None and literal is not None:
            if any(_net(v.cidr).overlaps(_net(host)) for v in self.vpcs):
                owner = self._node_at(host)
                fixed = self._fixed_subnet(owner) if owner is not None else None
                if owner is not None and fixed is not None:
                    address = _Address(f"{owner.label} at {host} in {fixed.name}", _net(host), False, fixed, node=owner)
                    return [address], f"{host} is {owner.label}'s fixed private address"
                return [], f"{host} is a private address at which no node in the model is fixed"
            return [_Address(f"internet host {host}", _net(host), True)], f"{host} is an internet address"
        if eip is None:
            return [], f"{host} resolves to nothing this model knows"
        node = self._eip_holder(eip)
        if node is None:
            return [], f"{host} is Elastic IP {eip.public_ip}, associated with no instance"
        if literal is None and vpc is not None and vpc.dns_hostnames:
            return [
                _Address(f"{node.label} private address in {s.name}", _net(s.cidr), False, s, node=node)
                for s in self._placements(node)
            ], f"{host} is an EC2 public DNS name: inside the VPC it resolves to {node.label}'s private address"
        addresses = [
            _Address(f"{node.label} Elastic IP {eip.public_ip}", _net(eip.public_ip), True, s, node=node)
            for s in self._placements(node)
        ]
        return addresses, f"{host} resolves to Elastic IP {eip.public_ip} of {node.label}"

    def _lb_addresses(self, lb: LoadBalancer) -> tuple[list[_Address], str]:
        subnets = [s for s in (self.subnet(i) for i in lb.subnet_ids) if s is not None]
        if lb.internal:
            return [
                _Address(f"{lb.name} private address in {s.name}", _net(s.cidr), False, s, lb=lb) for s in subnets
            ], f"internal load balancer {lb.name}: resolves to private addresses in its subnets"
        return [
            _Address(f"{lb.name} public address in {s.name}", _net(ANYWHERE), True, s, lb=lb) for s in subnets
        ], f"internet-facing load balancer {lb.name}: resolves to public addresses, from inside the VPC too"

    def _node_addresses(self, node: Node, inside: bool) -> tuple[list[_Address], str]:
        if inside:
            fixed = self._fixed_subnet(node)
            if fixed is not None and node.private_ip is not None:
                label = f"{node.label} at {node.private_ip} in {fixed.name}"
                return [_Address(label, _net(node.private_ip), False, fixed, node=node)], "by private address"
            return [
                _Address(f"{node.label} in {s.name}", _net(s.cidr), False, s, node=node) for s in self._placements(node)
            ], "by private address"
        addresses: list[_Address] = []
        for subnet in self._placements(node):
            public = self._public_address(node, subnet)
            if public is not None:
                addresses.append(_Address(f"{node.label} {public[1]}", public[0], True, subnet, node=node))
        return addresses, "by public address" if addresses else f"{node.label} has no public address"

    # -- flows -------------------------------------------------------------------

    def check(
        self, source: Node | External, destination: Node | Host, protocol: str, low: int, high: int | None = None
    ) -> FlowResult:
        """Whether `source` reaches `destination` on ports low..high of `protocol`
        (tcp or udp): every placement of the source, every address the destination
        resolves to, every target behind a load balancer."""
        protocol = protocol_name(protocol)
        if protocol not in ("tcp", "udp"):
            raise ValueError(f"flows are tcp or udp, not {protocol!r}")
        ports = Ports.range(low, high)
        legs: list[_Leg] = []
        reasons: list[str] = []
        for origin in self._origins(source):
            vpc = self._get(Vpc, origin.vpc_id) if isinstance(origin, Subnet) else None
            if isinstance(destination, Node):
                addresses, how = self._node_addresses(destination, inside=vpc is not None)
            else:
                addresses, how = self._resolve(destination.name, vpc)
            reasons.append(how)
            for address in addresses:
                leg = self._leg(source, origin, address, protocol, ports)
                legs.append(_Leg(leg.must, leg.may, (how, *leg.steps)))
        source_label = source.label if isinstance(source, Node) else source.label or source.cidr
        if isinstance(destination, Node):
            destination_label = destination.label
        else:
            destination_label = destination.label or destination.name
        if not legs:
            path = "; ".join(dict.fromkeys(reasons)) or f"{source_label} has no subnet in the model"
            return FlowResult(source_label, destination_label, protocol, str(ports), "denied", path)
        return _result(source_label, destination_label, protocol, ports, legs)

    def _origins(self, source: Node | External) -> list[Subnet | External]:
        return list(self._placements(source)) if isinstance(source, Node) else [source]

    def _leg(
        self, source: Node | External, origin: Subnet | External, address: _Address, protocol: str, ports: Ports
    ) -> _Leg:
        steps: list[str] = []
        node = source if isinstance(source, Node) else None
        route_must = route_may = ports
        if isinstance(origin, External):
            peer = Peer(_net(origin.cidr), frozenset(), origin.label or origin.cidr)
            if not address.public:
                return _Leg(NO_PORTS, NO_PORTS, (f"{address.label} is private: not routable from the internet",))
        elif address.public:
            assert node is not None
            seen, route_steps, route_must, route_may = self._leave_vpc(node, origin, address, protocol, ports)
            steps += route_steps
            if seen is None:
                return _Leg(NO_PORTS, NO_PORTS, tuple(steps))
            peer = seen
        else:
            assert node is not None and address.subnet is not None
            if address.subnet.vpc_id != origin.vpc_id:
                return _Leg(NO_PORTS, NO_PORTS, (f"{address.label} is in another VPC",))
            if address.node is not None and address.node.id == node.id and node.kind == "instance":
                return _Leg(ports, ports, ("to itself: the packet never leaves the host",))
            peer = self._source_peer(node, origin)
            steps.append(f"local route inside the VPC, source seen as {peer.label}")
        if address.public and address.subnet is not None and self._internet_gateway(address.subnet) is None:
            steps.append(f"{address.subnet.name} has no route to an internet gateway: unreachable from outside")
            return _Leg(NO_PORTS, NO_PORTS, tuple(steps))
        must, may = route_must, route_may
        if node is not None:
            toward = Peer(address.net, frozenset(address.groups) if not address.public else frozenset(), address.label)
            out_must, out_may, text = self._admit(node.security_group_ids, "egress", toward, protocol, ports)
            must, may = must & out_must, may & out_may
            steps.append(f"{node.label} {text}")
            if not may:
                return _Leg(NO_PORTS, NO_PORTS, tuple(steps))
        if address.lb is not None:
            leg = self._through_lb(address.lb, peer, node, protocol, must, may)
            return _Leg(leg.must, leg.may, (*steps, *leg.steps))
        if address.node is None:
            steps.append("the internet accepts it")
            return _Leg(must, may, tuple(steps))
        in_must, in_may, text = self._admit(address.node.security_group_ids, "ingress", peer, protocol, ports)
        steps.append(f"{address.label}: {text}")
        if address.node.is_nat_instance:
            if not may & in_may:
                return _Leg(NO_PORTS, NO_PORTS, tuple(steps))
            leg = self._forwarded(address.node, protocol, must & in_must, may & in_may)
            return _Leg(leg.must, leg.may, (*steps, *leg.steps))
        return _Leg(must & in_must, may & in_may, tuple(steps))

    def _forwarded(self, nat: Node, protocol: str, must: Ports, may: Ports) -> _Leg:
        """What a NAT instance does with traffic its primary interface's groups let in:
        a forwarded port goes on to the node at the forward's address, seen as the NAT
        instance's private address (it masquerades); nothing listens on any other."""
        steps: list[str] = []
        out_must = out_may = NO_PORTS
        forwarded = NO_PORTS
        for forward in nat.forwards:
            port = Ports.range(forward.port)
            if forward.protocol != protocol or not port & may:
                continue
            forwarded |= port
            hop_must, hop_may, text = self._forward_hop(nat, forward)
            steps.append(text)
            if hop_must:
                out_must |= port & must
            if hop_may:
                out_may |= port & may
        if not forwarded.covers(may):
            only = ", ".join(f"{f.port}/{f.protocol}" for f in nat.forwards) or "nothing"
            steps.append(f"no listener: {nat.label} forwards only {only}, and nothing on it answers {may}/{protocol}")
        return _Leg(out_must, out_may, tuple(steps))

    def _forward_hop(self, nat: Node, forward: Forward) -> tuple[bool, bool, str]:
        """From a NAT instance's primary interface to the forward's node, from every
        subnet the instance may run in: whether all (must) or some (may) pass."""
        head = f"{nat.label} forwards {forward.protocol} {forward.port} to {forward.to_host}:{forward.to_port} (DNAT)"
        target = self._node_at(forward.to_host)
        home = self._fixed_subnet(target) if target is not None else None
        if target is None or home is None:
            return False, False, f"{head}: no node in the model is fixed at {forward.to_host}"
        ports = Ports.range(forward.to_port)
        toward = Peer(_net(forward.to_host), frozenset(target.security_group_ids), target.label)
        outcomes: list[tuple[bool, bool, str]] = [] if self._placements(nat) else [(False, False, "no subnet")]
        for subnet in self._placements(nat):
            if subnet.vpc_id != home.vpc_id:
                outcomes.append((False, False, f"{target.label} is in another VPC"))
                continue
            seen = Peer(
                _net(subnet.cidr),
                frozenset(nat.security_group_ids),
                f"{nat.label}'s private address in {subnet.name} ({subnet.cidr})",
            )
            out_must, out_may, out_text = self._admit(nat.security_group_ids, "egress", toward, forward.protocol, ports)
            in_must, in_may, in_text = self._admit(target.security_group_ids, "ingress", seen, forward.protocol, ports)
            text = f"masqueraded, source seen as {seen.label}; {nat.label} {out_text}; {target.label}: {in_text}"
            outcomes.append(((out_must & in_must).covers(ports), bool(out_may & in_may), text))
        failing = [o for o in outcomes if not o[0]]
        shown = failing[0] if failing else outcomes[0]
        return not failing, any(o[1] for o in outcomes), f"{head}: {shown[2]}"

    def _through_lb(
        self, lb: LoadBalancer, client: Peer, client_node: Node | None, protocol: str, must: Ports, may: Ports
    ) -> _Leg:
        steps: list[str] = []
        if lb.security_group_ids:
            lb_must, lb_may, text = self._admit(lb.security_group_ids, "ingress", client, protocol, may)
            must, may = must & lb_must, may & lb_may
            steps.append(f"load balancer {lb.name} {text}")
            if not may:
                return _Leg(NO_PORTS, NO_PORTS, tuple(steps))
        else:
            steps.append(f"load balancer {lb.name} has no security group: it admits every client")
        listeners = [x for x in lb.listeners if _listener_carries(x.protocol, protocol) and Ports.range(x.port) & may]
        if not listeners:
            steps.append(f"{lb.name} has no listener for {may}/{protocol}")
            return _Leg(NO_PORTS, NO_PORTS, tuple(steps))
        out_must = out_may = NO_PORTS
        for listener in listeners:
            port = Ports.range(listener.port)
            ok_must, ok_may, text = self._to_targets(lb, listener, client, client_node, protocol)
            steps.append(text)
            if ok_must:
                out_must |= port & must
            if ok_may:
                out_may |= port
        return _Leg(out_must, out_may, tuple(steps))

    def _to_targets(
        self, lb: LoadBalancer, listener: Listener, client: Peer, client_node: Node | None, protocol: str
    ) -> tuple[bool, bool, str]:
        """Whether every target (must) or some target (may) takes the listener's traffic."""
        group: TargetGroup | None = self._get(TargetGroup, listener.target_group_id)
        head = f"listener {listener.protocol} {listener.port}"
        if group is None or not group.targets:
            return False, False, f"{head}: its target group has no targets"
        preserved = "client IP preserved" if group.preserve_client_ip else "client IP not preserved"
        head = f"{head} -> target group {group.name} ({preserved})"
        outcomes: list[tuple[bool, bool, str]] = []
        for target in group.targets:
            node = self.node(target.node_id)
            if node is None:
                outcomes.append((False, False, f"target {target.node_id} is not in the model"))
                continue
            if (
                group.preserve_client_ip
                and client_node is not None
                and client_node.id == node.id
                and node.kind == "instance"
            ):
                outcomes.append((False, False, f"{node.label} calls itself with its own address kept: NLB hairpin"))
                continue
            seen = [dataclasses.replace(client, groups=frozenset(lb.security_group_ids))]
            traffic = self._lb_hop(lb, group, target, node, protocol, seen if group.preserve_client_ip else None)
            health = self._lb_hop(lb, group, target, node, "tcp", None, health=True)
            both_must = bool(traffic.must) and bool(health.must)
            outcomes.append(
                (both_must, bool(traffic.may) and bool(health.may), "; ".join(traffic.steps + health.steps))
            )
        failing = [o for o in outcomes if not o[0]]
        if not failing:
            more = f" (and {len(outcomes) - 1} more targets alike)" if len(outcomes) > 1 else ""
            return True, True, f"{head}: {outcomes[0][2]}{more}"
        return (
            False,
            any(o[1] for o in outcomes),
            f"{head}: {failing[0][2]} ({len(failing)} of {len(outcomes)} targets fail)",
        )

    def _lb_peers(self, lb: LoadBalancer) -> list[Peer]:
        groups = frozenset(lb.security_group_ids)
        subnets = [s for s in (self.subnet(i) for i in lb.subnet_ids) if s is not None]
        return [Peer(_net(s.cidr), groups, f"{lb.name}'s address in {s.name} ({s.cidr})") for s in subnets]

    def _lb_hop(
        self,
        lb: LoadBalancer,
        group: TargetGroup,
        target: Target,
        node: Node,
        protocol: str,
        seen: list[Peer] | None,
        *,
        health: bool = False,
    ) -> _Leg:
        """From the load balancer to one target on every subnet it may run in, seen
        as `seen` (None: the load balancer's own addresses)."""
        port = (group.health_check.port or target.port) if health else target.port
        ports = Ports.range(port)
        what = f"health check {group.health_check.protocol} {port}" if health else f"{node.label}:{port}"
        pairs = [(subnet, peer) for subnet in self._placements(node) for peer in seen or self._lb_peers(lb)]
        if not pairs:
            return _Leg(NO_PORTS, NO_PORTS, (f"{what}: no subnet on one side in the model",))
        must, may = ports, NO_PORTS
        first_failure = ""
        first_text = ""
        for subnet, peer in pairs:
            toward = Peer(_net(subnet.cidr), frozenset(node.security_group_ids), f"{node.label} in {subnet.name}")
            hop_must = hop_may = ports
            texts: list[str] = []
            if lb.security_group_ids:
                hop_must, hop_may, text = self._admit(lb.security_group_ids, "egress", toward, protocol, ports)
                texts.append(f"load balancer {text}")
            in_must, in_may, text = self._admit(node.security_group_ids, "ingress", peer, protocol, ports)
            texts.append(text)
            hop_must, hop_may = hop_must & in_must, hop_may & in_may
            must, may = must & hop_must, may | hop_may
            first_text = first_text or f"{what}: {', '.join(texts)}"
            if not hop_must.covers(ports) and not first_failure:
                first_failure = f"{what}: {', '.join(texts)}"
        return _Leg(must, may, (first_failure or first_text,))

    def load_balancer_flows(self, lb: LoadBalancer) -> list[FlowResult]:
        """The load balancer to each target: its traffic (when the targets see the load
        balancer's own addresses; preserved client addresses are checked with the
        clients' flows) and its health check."""
        results: list[FlowResult] = []
        for listener in lb.listeners:
            group: TargetGroup | None = self._get(TargetGroup, listener.target_group_id)
            protocol = "udp" if listener.protocol.upper() == "UDP" else "tcp"
            if group is None or not group.targets:
                path = f"listener {listener.protocol} {listener.port}: its target group has no targets"
                results.append(FlowResult(f"load balancer {lb.name}", "targets", protocol, "-", "denied", path))
                continue
            for target in group.targets:
                node = self.node(target.node_id)
                if node is None:
                    path = f"target {target.node_id} is not in the model"
                    results.append(
                        FlowResult(f"load balancer {lb.name}", target.node_id, protocol, "-", "denied", path)
                    )
                    continue
                hops = [("health check", self._lb_hop(lb, group, target, node, "tcp", None, health=True), "tcp")]
                if not group.preserve_client_ip:
                    hops.insert(0, ("traffic", self._lb_hop(lb, group, target, node, protocol, None), protocol))
                for kind, leg, hop_protocol in hops:
                    port = (group.health_check.port or target.port) if kind == "health check" else target.port
                    source = f"load balancer {lb.name} ({kind}, listener {listener.port})"
                    results.append(_result(source, node.label, hop_protocol, Ports.range(port), [leg]))
        return results

    # -- what the cloud controller adds at runtime -------------------------------

    def with_service_load_balancers(self) -> Network:
        """This network as it is once the AWS cloud controller (cloud-provider-aws, its
        in-tree-style NLB support) has served each LoadBalancer Service.

        For each Service it models, conservatively, what that controller does by default:
        - an NLB (internet-facing unless the Service asks for an internal one) in one
          subnet per AZ of the cluster's VPC, public ones only for internet-facing,
          preferring subnets tagged kubernetes.io/role/elb (internal-elb), then those
          tagged for the cluster; no security group on the NLB (the controller makes
          none by default);
        - one TCP listener per Service port, forwarding to the port's NodePort on every
          cluster-tagged node except control planes (kubeadm labels them
          exclude-from-external-load-balancers); instance targets keep the client's
          address (AWS's default for instance targets, which the controller keeps);
        - health checks: TCP on the traffic port with externalTrafficPolicy Cluster,
          HTTP on the health-check NodePort with Local;
        - on each target's security group (the one tagged for the cluster, or its only
          group; none when ambiguous, as the controller then fails), ingress for each
          NodePort from the Service's source ranges (0.0.0.0/0 without any) and, for
          health checks, from the NLB's subnets' CIDRs.
        NodePorts are chosen by the API server at runtime: the model stands them in
        with 30000, 30001, ... and 32767 for a health-check NodePort.
        """
        network = self
        for service in self.services:
            network = network._with_service_nlb(service)
        return network

    def _with_service_nlb(self, service: LoadBalancerService) -> Network:
        cluster_tag = f"kubernetes.io/cluster/{self.cluster.name}" if self.cluster else ""
        members = [n for n in self.nodes if cluster_tag in n.tags]
        vpc_ids = {s.vpc_id for n in members for s in self._placements(n)}
        subnets = self._service_subnets(service, vpc_ids, cluster_tag)
        lb_id = f"service:{service.name}"
        targets = [n for n in members if n.role not in CONTROL_PLANE_ROLES]
        local = service.external_traffic_policy == "Local"
        health = HealthCheck("HTTP", service.health_check_node_port) if local else HealthCheck("TCP")
        groups = [
            TargetGroup(
                f"{lb_id}/{p.name}",
                f"{service.name}:{p.name}",
                "TCP",
                p.node_port,
                True,
                health,
                tuple(Target(n.id, p.node_port) for n in targets),
            )
            for p in service.ports
        ]
        lb = LoadBalancer(
            id=lb_id,
            name=f"{service.name} NLB (cloud controller)",
            dns_name=f"{service.name.replace('/', '-')}.cloud-controller.invalid",
            internal=service.internal,
            subnet_ids=tuple(s.id for s in subnets),
            listeners=tuple(Listener(p.port, "TCP", g.id) for p, g in zip(service.ports, groups, strict=True)),
            service=service.name,
        )
        node_ports = [p.node_port for p in service.ports]
        health_ports = [service.health_check_node_port] if local and service.health_check_node_port else node_ports
        rules = [
            Rule("tcp", port, port, cidr=cidr, description=f"kubernetes.io/rule/nlb/client={service.name}")
            for port in node_ports
            for cidr in service.source_ranges
        ] + [
            Rule("tcp", port, port, cidr=s.cidr, description=f"kubernetes.io/rule/nlb/health={service.name}")
            for port in health_ports
            for s in subnets
        ]
        opened = {g for n in targets if (g := self._controller_group(n, cluster_tag)) is not None}
        security_groups = tuple(
            dataclasses.replace(g, ingress=g.ingress + tuple(rules)) if g.id in opened else g
            for g in self.security_groups
        )
        return dataclasses.replace(
            self,
            security_groups=security_groups,
            target_groups=self.target_groups + tuple(groups),
            load_balancers=(*self.load_balancers, lb),
        )

    def _service_subnets(self, service: LoadBalancerService, vpc_ids: set[str], cluster_tag: str) -> list[Subnet]:
        role_tag = "kubernetes.io/role/internal-elb" if service.internal else "kubernetes.io/role/elb"

        def eligible(subnet: Subnet) -> bool:
            other_cluster = any(k.startswith("kubernetes.io/cluster/") and k != cluster_tag for k in subnet.tags)
            public_enough = service.internal or self._internet_gateway(subnet) is not None
            return subnet.vpc_id in vpc_ids and not other_cluster and public_enough

        candidates = sorted(
            (s for s in self.subnets if eligible(s)),
            key=lambda s: (role_tag not in s.tags, cluster_tag not in s.tags, s.id),
        )
        chosen: dict[str, Subnet] = {}
        for subnet in candidates:
            chosen.setdefault(subnet.availability_zone, subnet)
        return list(chosen.values())

    def _controller_group(self, node: Node, cluster_tag: str) -> str | None:
        tagged = [g for g in node.security_group_ids if (sg := self.security_group(g)) and cluster_tag in sg.tags]
        if tagged:
            return tagged[0] if len(tagged) == 1 else None
        return node.security_group_ids[0] if len(node.security_group_ids) == 1 else None


def _result(source: str, destination: str, protocol: str, ports: Ports, legs: list[_Leg]) -> FlowResult:
    must = ports
    may = NO_PORTS
    for leg in legs:
        must, may = must & leg.must, may | leg.may
    failing = [leg for leg in legs if not leg.must.covers(ports)]
    passing = [leg for leg in legs if leg.may & ports]
    if must.covers(ports):
        verdict: Verdict = "allowed"
        path = "; ".join(legs[0].steps)
    elif not may & ports:
        verdict = "denied"
        path = "; ".join(failing[0].steps)
    else:
        verdict = "partial"
        path = f"fails: {'; '.join(failing[0].steps)} | passes: {'; '.join(passing[0].steps)}"
    if failing and len(failing) < len(legs):
        path += f" [{len(failing)} of {len(legs)} paths fail]"
    return FlowResult(source, destination, protocol, str(ports), verdict, path)


# -- JSON decoding -------------------------------------------------------------------


def _decode(kind: Any, value: Any) -> Any:
    """`value` (as json.loads gives it) as an instance of the annotated type `kind`."""
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        # A field a saved model predates (tests/data/reachability/) takes its default.
        hints = typing.get_type_hints(kind)
        return kind(
            **{f.name: _decode(hints[f.name], value[f.name]) for f in dataclasses.fields(kind) if f.name in value}
        )
    origin = typing.get_origin(kind)
    if origin is tuple:
        item = typing.get_args(kind)[0]
        return tuple(_decode(item, v) for v in value)
    if origin in (types.UnionType, typing.Union):
        if value is None:
            return None
        (present,) = [a for a in typing.get_args(kind) if a is not type(None)]
        return _decode(present, value)
    return value


# -- reading a harness graph -----------------------------------------------------------


def _ordered(items: Iterable[Any]) -> tuple[Any, ...]:
    """By name, then id: the program registers resources in no fixed order, and the
    model (its JSON, which path a result shows) must not depend on it."""
    return tuple(sorted(items, key=lambda item: (item.name, item.id)))


def _rule_key(rule: Rule) -> tuple[str, str, int, int, str, str]:
    return (
        rule.description,
        rule.protocol,
        rule.from_port or -1,
        rule.to_port or -1,
        rule.cidr or "",
        rule.group or "",
    )


def _state(resource: Resource) -> dict[str, Any]:
    return resource.state or resource.inputs


def _name(resource: Resource) -> str:
    return (_state(resource).get("tags") or {}).get("Name") or resource.name


def _decoded_user_data(state: Mapping[str, Any]) -> str:
    try:
        return userdata.script_of(state)
    except (binascii.Error, UnicodeDecodeError, OSError, EOFError, TypeError, zlib.error):
        return ""


def script_setting(script: str, variable: str) -> str:
    """A `variable=value` assignment's value in a rendered boot script (values are
    shell-quoted by components/userdata.py), or "" when absent."""
    match = re.search(rf"^{re.escape(variable)}=(.+)$", script, re.MULTILINE)
    if match is None:
        return ""
    words = shlex.split(match.group(1))
    return words[0] if words else ""


def _rules(raw: Iterable[Mapping[str, Any]], self_id: str) -> list[Rule]:
    """Inline rules of a SecurityGroup resource, one Rule per CIDR or group."""
    rules: list[Rule] = []
    for entry in raw:
        base = Rule(
            protocol_name(entry.get("protocol", "-1")),
            _port(entry.get("fromPort")),
            _port(entry.get("toPort")),
            description=entry.get("description") or "",
        )
        rules += [dataclasses.replace(base, cidr=c) for c in entry.get("cidrBlocks") or []]
        groups = list(entry.get("securityGroups") or []) + ([self_id] if entry.get("self") else [])
        rules += [dataclasses.replace(base, group=g) for g in groups]
    return rules


def _port(value: Any) -> int | None:
    return None if value in (None, "", -1, "-1") else int(value)


_ROUTE_TARGETS = (
    "gatewayId",
    "natGatewayId",
    "transitGatewayId",
    "vpcPeeringConnectionId",
    "networkInterfaceId",
    "vpcEndpointId",
    "egressOnlyGatewayId",
)


def _route_target(entry: Mapping[str, Any]) -> str:
    return next((str(entry[k]) for k in _ROUTE_TARGETS if entry.get(k)), "")


def _security_groups(graph: Graph) -> tuple[SecurityGroup, ...]:
    ingress: dict[str, list[Rule]] = {}
    egress: dict[str, list[Rule]] = {}
    resources = graph.of_type("aws:ec2/securityGroup:SecurityGroup") + graph.of_type(
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
    )
    for resource in resources:
        state = _state(resource)
        ingress[resource.id] = _rules(state.get("ingress") or [], resource.id)
        egress[resource.id] = _rules(state.get("egress") or [], resource.id)
    for direction, rules in (("Ingress", ingress), ("Egress", egress)):
        for resource in graph.of_type(f"aws:vpc/securityGroup{direction}Rule:SecurityGroup{direction}Rule"):
            state = _state(resource)
            rule = Rule(
                protocol_name(state.get("ipProtocol", "-1")),
                _port(state.get("fromPort")),
                _port(state.get("toPort")),
                cidr=state.get("cidrIpv4"),
                group=state.get("referencedSecurityGroupId"),
                description=state.get("description") or "",
            )
            rules.setdefault(state["securityGroupId"], []).append(rule)
    return _ordered(
        SecurityGroup(
            r.id,
            _name(r),
            _state(r).get("vpcId", ""),
            dict(_state(r).get("tags") or {}),
            tuple(sorted(ingress[r.id], key=_rule_key)),
            tuple(sorted(egress[r.id], key=_rule_key)),
        )
        for r in resources
    )


def _flag(value: Any) -> bool | None:
    """A boolean input as the provider takes it: true, "true", or unset (None)."""
    if value is None or value == "":
        return None
    return str(value).lower() == "true"


def _nat_settings(script: str) -> dict[str, Any]:
    """What a NAT instance's boot script (components/network/scripts/nat-instance.sh)
    does to the network: the interface it attaches, the Elastic IP it moves onto its
    primary interface, and the port it forwards (iptables DNAT, TCP)."""
    attaches = script_setting(script, "PODIUM_ENI_ID")
    forward_to = script_setting(script, "PODIUM_API_FORWARD")
    port = script_setting(script, "PODIUM_API_PORT")
    forwards: tuple[Forward, ...] = ()
    host, _, to_port = forward_to.rpartition(":")
    if host and to_port.isdigit() and port.isdigit():
        forwards = (Forward("tcp", int(port), host, int(to_port)),)
    return {
        "attaches": (attaches,) if attaches else (),
        "elastic_ip": script_setting(script, "PODIUM_EIP_ALLOCATION_ID"),
        "forwards": forwards,
    }


def _nodes(graph: Graph) -> tuple[Node, ...]:
    nodes: list[Node] = []
    for resource in graph.of_type("aws:ec2/instance:Instance"):
        state = _state(resource)
        script = _decoded_user_data(state)
        nodes.append(
            Node(
                resource.id,
                _name(resource),
                "instance",
                (state["subnetId"],) if state.get("subnetId") else (),
                tuple(state.get("vpcSecurityGroupIds") or ()),
                _flag(state.get("associatePublicIpAddress")),
                dict(state.get("tags") or {}),
                script_setting(script, "role"),
                script_setting(script, "api_endpoint"),
                # The input only: EC2 gives every instance some private address.
                resource.inputs.get("privateIp") or None,
                **_nat_settings(script),
            )
        )
    templates = {r.id: _state(r) for r in graph.of_type("aws:ec2/launchTemplate:LaunchTemplate")}
    for resource in graph.of_type("aws:autoscaling/group:Group"):
        state = _state(resource)
        spec = state.get("launchTemplate") or (
            ((state.get("mixedInstancesPolicy") or {}).get("launchTemplate") or {}).get("launchTemplateSpecification")
            or {}
        )
        template = templates.get(spec.get("id") or spec.get("launchTemplateId") or "", {})
        interface = (template.get("networkInterfaces") or [{}])[0]
        tags = {t["key"]: t["value"] for t in state.get("tags") or [] if t.get("propagateAtLaunch")}
        for specification in template.get("tagSpecifications") or []:
            if specification.get("resourceType") == "instance":
                tags = {**specification.get("tags", {}), **tags}
        script = _decoded_user_data(template)
        # A node group's name (its component) says more than the ASG's generated one.
        parent = resource.parent.rsplit("::", 1)[-1] if "NodeGroup" in resource.parent else resource.name
        nodes.append(
            Node(
                resource.id,
                parent,
                "group",
                tuple(state.get("vpcZoneIdentifiers") or ()),
                tuple(template.get("vpcSecurityGroupIds") or interface.get("securityGroups") or ()),
                _flag(interface.get("associatePublicIpAddress")),
                tags,
                script_setting(script, "role"),
                script_setting(script, "api_endpoint"),
                **_nat_settings(script),
            )
        )
    return _ordered(nodes)


def _load_balancing(graph: Graph) -> tuple[tuple[TargetGroup, ...], tuple[LoadBalancer, ...]]:
    targets: dict[str, list[Target]] = {}
    group_ports = {
        _state(r)["arn"]: int(_state(r).get("port") or 0) for r in graph.of_type("aws:lb/targetGroup:TargetGroup")
    }
    for resource in graph.of_type("aws:lb/targetGroupAttachment:TargetGroupAttachment"):
        state = _state(resource)
        arn = state["targetGroupArn"]
        targets.setdefault(arn, []).append(Target(state["targetId"], int(state.get("port") or group_ports[arn])))
    for resource in graph.of_type("aws:autoscaling/group:Group"):
        for arn in _state(resource).get("targetGroupArns") or []:
            targets.setdefault(arn, []).append(Target(resource.id, group_ports[arn]))

    groups: list[TargetGroup] = []
    for resource in graph.of_type("aws:lb/targetGroup:TargetGroup"):
        state = _state(resource)
        protocol = str(state.get("protocol") or "TCP").upper()
        preserve = state.get("preserveClientIp")
        if protocol in ("HTTP", "HTTPS"):
            kept = False  # an ALB proxies: targets always see its addresses
        elif preserve is None or preserve == "":
            # AWS's defaults: UDP keeps it; TCP/TLS keep it for instance targets only.
            kept = protocol in ("UDP", "TCP_UDP") or state.get("targetType", "instance") == "instance"
        else:
            kept = str(preserve).lower() == "true"
        check = state.get("healthCheck") or {}
        port = check.get("port") or "traffic-port"
        groups.append(
            TargetGroup(
                state["arn"],
                state.get("name") or resource.name,
                protocol,
                group_ports[state["arn"]],
                kept,
                HealthCheck(str(check.get("protocol") or protocol), None if port == "traffic-port" else int(port)),
                tuple(sorted(targets.get(state["arn"], ()), key=lambda t: (t.node_id, t.port))),
            )
        )

    listeners: dict[str, list[Listener]] = {}
    for resource in graph.of_type("aws:lb/listener:Listener"):
        state = _state(resource)
        listeners.setdefault(state["loadBalancerArn"], []).extend(
            Listener(int(state["port"]), str(state.get("protocol") or "TCP"), action["targetGroupArn"])
            for action in state.get("defaultActions") or []
            if action.get("type") == "forward" and action.get("targetGroupArn")
        )
    balancers = _ordered(
        LoadBalancer(
            _state(r)["arn"],
            _state(r).get("name") or r.name,
            _state(r).get("dnsName", ""),
            bool(_state(r).get("internal")),
            tuple(_state(r).get("subnets") or (m["subnetId"] for m in _state(r).get("subnetMappings") or [])),
            tuple(_state(r).get("securityGroups") or ()),
            tuple(sorted(listeners.get(_state(r)["arn"], ()), key=lambda x: (x.port, x.protocol))),
        )
        for r in graph.of_type("aws:lb/loadBalancer:LoadBalancer")
    )
    return _ordered(groups), balancers


# The Traefik chart's Service ports unless values change them (ports.<name>.exposedPort).
TRAEFIK_SERVICE_PORTS = {"web": 80, "websecure": 443}
NODE_PORT_STAND_IN = 30000
HEALTH_NODE_PORT_STAND_IN = 32767
_LB_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-"


def _services(graph: Graph) -> tuple[LoadBalancerService, ...]:
    """The LoadBalancer Services the cloud controller serves with an NLB: Traefik's, as
    its Helm release's values shape it through chart 41.3.0, which copies
    `service.spec` into the Service's spec (type LoadBalancer unless it says otherwise;
    it reads no `service.type`). Podium (components/platform/ingress.py) annotates it
    aws-load-balancer-type "nlb", which the AWS cloud controller serves itself (Podium
    installs no AWS Load Balancer Controller). Read from the values, with Kubernetes'
    and the chart's defaults where Podium sets nothing: no aws-load-balancer-internal
    annotation, so internet-facing; no loadBalancerSourceRanges, so 0.0.0.0/0; no
    externalTrafficPolicy, so Cluster; the chart's ports web (80) and websecure (443)
    unless values.ports change them. tests/test_charts.py renders the chart."""
    services: list[LoadBalancerService] = []
    for resource in graph.of_type("kubernetes:helm.sh/v3:Release"):
        state = _state(resource)
        values = state.get("values") or {}
        service = values.get("service") or {}
        annotations = service.get("annotations") or {}
        spec = service.get("spec") or {}
        if state.get("name") != "traefik" or ingress.service_type(values) != "LoadBalancer":
            continue
        if annotations.get(f"{_LB_ANNOTATION}type") != "nlb":
            continue
        exposed = dict(TRAEFIK_SERVICE_PORTS)
        for name, port in (values.get("ports") or {}).items():
            if (port.get("expose") or {}).get("default") is False:
                exposed.pop(name, None)
            elif port.get("exposedPort") is not None:
                exposed[name] = int(port["exposedPort"])
        policy = spec.get("externalTrafficPolicy") or "Cluster"
        internal = annotations.get(f"{_LB_ANNOTATION}internal", "false") not in ("false", "")
        ranges = spec.get("loadBalancerSourceRanges") or service.get("loadBalancerSourceRanges") or [ANYWHERE]
        services.append(
            LoadBalancerService(
                f"{state.get('namespace', 'default')}/{state.get('name') or resource.name}",
                internal,
                tuple(ranges),
                tuple(ServicePort(n, p, NODE_PORT_STAND_IN + i) for i, (n, p) in enumerate(exposed.items())),
                policy,
                HEALTH_NODE_PORT_STAND_IN if policy == "Local" else None,
            )
        )
    return tuple(services)


# Resources that change reachability in ways this model does not read: a graph with
# any of them is refused rather than judged wrongly.
UNSUPPORTED_TYPES = (
    "aws:ec2/securityGroupRule:SecurityGroupRule",
    "aws:ec2/networkAcl:NetworkAcl",
    "aws:ec2/networkAclRule:NetworkAclRule",
    "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl",
    "aws:ec2/mainRouteTableAssociation:MainRouteTableAssociation",
    "aws:ec2/defaultRouteTable:DefaultRouteTable",
    "aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation",
    "aws:ec2/networkInterfaceSecurityGroupAttachment:NetworkInterfaceSecurityGroupAttachment",
    "aws:ec2/networkInterfaceAttachment:NetworkInterfaceAttachment",
    "aws:autoscaling/attachment:Attachment",
    "aws:lb/listenerRule:ListenerRule",
)


def from_graph(graph: Graph, config: Mapping[str, Any] | None = None) -> Network:
    """The network a harness Graph declares, with the ids and outputs the mocks gave.
    `config` is the stack config the graph was run with (default: its stack file); the
    graph does not carry podium:cluster's apiAllowedCidrs and apiEndpoint."""
    unsupported = sorted({r.type for r in graph.resources if r.type in UNSUPPORTED_TYPES})
    if unsupported:
        raise ValueError(f"the reachability model does not read {', '.join(unsupported)}")
    if config is None:
        # Imported here: the harness loads the Pulumi SDK, which the model never needs.
        from tools.harness import load_stack_config

        config = load_stack_config(graph.stack)
    cluster_config = config.get("podium:cluster") or {}
    associations = {
        _state(r)["subnetId"]: _state(r)["routeTableId"]
        for r in graph.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
        if _state(r).get("subnetId")
    }
    routes: dict[str, list[Route]] = {}
    for resource in graph.of_type("aws:ec2/routeTable:RouteTable"):
        routes[resource.id] = [
            Route(r["cidrBlock"], _route_target(r)) for r in _state(resource).get("routes") or [] if r.get("cidrBlock")
        ]
    for resource in graph.of_type("aws:ec2/route:Route"):
        state = _state(resource)
        if state.get("destinationCidrBlock"):
            routes.setdefault(state["routeTableId"], []).append(
                Route(state["destinationCidrBlock"], _route_target(state))
            )
    eips = {r.id: _state(r) for r in graph.of_type("aws:ec2/eip:Eip")}
    associated = {
        _state(r)["allocationId"]: _state(r).get("instanceId")
        for r in graph.of_type("aws:ec2/eipAssociation:EipAssociation")
        if _state(r).get("allocationId")
    }
    eip_names = {r.id: _name(r) for r in graph.of_type("aws:ec2/eip:Eip")}
    target_groups, load_balancers = _load_balancing(graph)
    exports = graph.exports
    cluster = None
    if exports.get("clusterName") and exports.get("clusterEndpoint"):
        cluster = Cluster(
            str(exports["clusterName"]),
            str(exports["clusterEndpoint"]),
            tuple(cluster_config.get("apiAllowedCidrs") or ()),
            str(cluster_config.get("apiEndpoint") or "public"),
        )
    return Network(
        vpcs=_ordered(
            Vpc(
                r.id,
                _name(r),
                _state(r)["cidrBlock"],
                _state(r).get("enableDnsSupport", True) is not False,
                bool(_state(r).get("enableDnsHostnames", False)),
            )
            for r in graph.of_type("aws:ec2/vpc:Vpc")
        ),
        subnets=_ordered(
            Subnet(
                r.id,
                _name(r),
                _state(r)["vpcId"],
                _state(r)["cidrBlock"],
                _state(r).get("availabilityZone", ""),
                associations.get(r.id),
                bool(_state(r).get("mapPublicIpOnLaunch")),
                dict(_state(r).get("tags") or {}),
            )
            for r in graph.of_type("aws:ec2/subnet:Subnet")
        ),
        route_tables=_ordered(
            RouteTable(r.id, _name(r), tuple(sorted(routes.get(r.id, ()), key=lambda x: x.destination)))
            for r in graph.of_type("aws:ec2/routeTable:RouteTable")
        ),
        internet_gateways=_ordered(
            InternetGateway(r.id, _name(r), _state(r).get("vpcId", ""))
            for r in graph.of_type("aws:ec2/internetGateway:InternetGateway")
        ),
        network_interfaces=_ordered(
            NetworkInterface(
                r.id,
                _name(r),
                _state(r).get("subnetId", ""),
                tuple(_state(r).get("securityGroups") or ()),
                _flag(_state(r).get("sourceDestCheck")) is not False,
            )
            for r in graph.of_type("aws:ec2/networkInterface:NetworkInterface")
        ),
        nat_gateways=_ordered(
            NatGateway(
                r.id,
                _name(r),
                _state(r)["subnetId"],
                eips.get(_state(r).get("allocationId") or "", {}).get("publicIp"),
            )
            for r in graph.of_type("aws:ec2/natGateway:NatGateway")
        ),
        elastic_ips=_ordered(
            ElasticIp(
                eip_id,
                eip_names[eip_id],
                state["publicIp"],
                state.get("publicDns", ""),
                state.get("instance") or associated.get(eip_id),
            )
            for eip_id, state in eips.items()
        ),
        security_groups=_security_groups(graph),
        nodes=_nodes(graph),
        target_groups=target_groups,
        load_balancers=load_balancers,
        services=_services(graph),
        cluster=cluster,
    )


# -- the flows a kubeadm cluster needs -------------------------------------------------

API_PORT = 6443
ETCD_PORTS = (2379, 2380)
KUBELET_PORT = 10250
SSH_PORT = 22
NODE_PORT_RANGE = (30000, 32767)
# Calico in VXLAN mode and Typha (components/cluster_bootstrap.py POD_NETWORK_PORTS).
POD_NETWORK = (("udp", 4789), ("tcp", 5473))
# What Prometheus, on a worker, scrapes: on every node kube-proxy and node-exporter; on
# the control planes also etcd's metrics, the controller manager and the scheduler.
NODE_METRICS_PORTS = (firewall.NODE_EXPORTER_PORT, kubeadm.KUBE_PROXY_METRICS_PORT)
CONTROL_PLANE_METRICS_PORTS = firewall.CONTROL_PLANE_METRICS_PORTS
# An internet client admitted by nothing (TEST-NET-1): the apiAllowedCidrs, the most
# privileged internet clients, are checked against the same closed ports too.
INTERNET_SAMPLE = "192.0.2.7"
# A server on the internet (TEST-NET-2) standing for what nodes fetch: packages
# (pkgs.k8s.io, the Ubuntu archive), images (registries) and the AWS APIs, over HTTP(S).
INTERNET_SERVER = "198.51.100.10"
EGRESS_PORTS = (80, 443)


def _host_port(endpoint: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(endpoint if "//" in endpoint else f"//{endpoint}")
    return parts.hostname or "", parts.port or default_port


def evaluate_cluster(network: Network) -> list[FlowResult]:
    """Every flow a kubeadm Podium cluster needs (expected allowed) and every one it
    must refuse (expected denied), on the network as it is once the cloud controller
    has made the Services' load balancers."""
    if network.cluster is None:
        raise ValueError("the network carries no cluster (no clusterName/clusterEndpoint export)")
    cluster = network.cluster
    net = network.with_service_load_balancers()
    control_planes = [n for n in net.nodes if n.role in CONTROL_PLANE_ROLES]
    workers = [n for n in net.nodes if n.role == WORKER_ROLE]
    nodes = control_planes + workers
    results: list[FlowResult] = []

    def expect(verdict: Verdict, result: FlowResult, **labels: str) -> None:
        results.append(dataclasses.replace(result, expected=verdict, **labels))

    # Nothing to check is a failure too: roles come from the boot scripts.
    for role, found in (("control plane", control_planes), ("worker", workers)):
        if not found:
            path = "no node's boot script names this role"
            results.append(FlowResult(f"any {role}", "cluster", "tcp", "-", "denied", path, "allowed"))
    if not any(b.service for b in net.load_balancers):
        path = "no LoadBalancer Service of the cloud controller (Traefik's NLB) in the graph"
        results.append(FlowResult("internet clients", "ingress load balancer", "tcp", "-", "denied", path, "allowed"))

    # Joins and every kubelet afterwards use the endpoint the boot script names.
    for node in nodes:
        what = {"init": "kubeadm init", "control-plane": "kubeadm join --control-plane"}.get(node.role, "kubeadm join")
        host, port = _host_port(node.api_endpoint, API_PORT)
        if not host:
            path = "its boot script names no API endpoint"
            results.append(FlowResult(node.label, "API endpoint", "tcp", str(API_PORT), "denied", path, "allowed"))
            continue
        result = net.check(node, Host(host), "tcp", port)
        expect("allowed", result, source=f"{node.label} [{what}]", destination=f"API endpoint {host}")
    for source in control_planes:
        for destination in control_planes:
            if destination is not source:
                expect("allowed", net.check(source, destination, "tcp", *ETCD_PORTS))
        for destination in nodes:
            if destination is not source:
                result = net.check(source, destination, "tcp", KUBELET_PORT)
                expect("allowed", result, source=f"API server on {source.label}")
    for source in nodes:
        for destination in nodes:
            # An instance to itself never leaves the host; a group's instances are distinct nodes.
            if destination is not source or source.kind == "group":
                for protocol, port in POD_NETWORK:
                    expect("allowed", net.check(source, destination, protocol, port))
    for source in workers:
        for destination in nodes:
            if destination is not source or source.kind == "group":
                ports = CONTROL_PLANE_METRICS_PORTS if destination in control_planes else NODE_METRICS_PORTS
                for port in ports:
                    result = net.check(source, destination, "tcp", port)
                    expect("allowed", result, source=f"Prometheus on {source.label}")
    for lb in net.load_balancers:
        for result in net.load_balancer_flows(lb):
            expect("allowed", result)
    # Private subnets whose way out is a NAT instance (natMode instance): prove it. The
    # NAT gateways' egress (the other modes) is left to the API and ingress flows.
    nat_instances = [n for n in net.nodes if n.is_nat_instance]
    interfaces = {i.id for i in net.network_interfaces}
    if nat_instances or any(r.target in interfaces for t in net.route_tables for r in t.routes):
        internet = Host(INTERNET_SERVER, f"internet {INTERNET_SERVER} (packages, images, AWS APIs)")
        for node in nodes:
            for port in EGRESS_PORTS:
                expect("allowed", net.check(node, internet, "tcp", port))
    endpoint_host, endpoint_port = _host_port(cluster.endpoint, API_PORT)
    endpoint = Host(endpoint_host, f"clusterEndpoint {endpoint_host}")
    # apiEndpoint internal means VPC only: then even apiAllowedCidrs must not get in.
    reachable: Verdict = "denied" if cluster.api_endpoint == "internal" else "allowed"
    for cidr in cluster.api_allowed_cidrs:
        client = External(cidr, f"apiAllowedCidrs {cidr}")
        expect(reachable, net.check(client, endpoint, "tcp", endpoint_port))
        expect("denied", net.check(client, endpoint, "tcp", *ETCD_PORTS))
    if cluster.api_endpoint == "natInstance":
        # The NAT instance's Elastic IP is on the internet: only apiAllowedCidrs get in.
        world = External(f"{INTERNET_SAMPLE}/32", f"internet {INTERNET_SAMPLE}")
        expect("denied", net.check(world, endpoint, "tcp", endpoint_port))
    for lb in (b for b in net.load_balancers if b.service):
        service = next(s for s in net.services if s.name == lb.service)
        for cidr in service.source_ranges:
            for listener in lb.listeners:
                result = net.check(External(cidr, f"client {cidr}"), Host(lb.dns_name, lb.name), "tcp", listener.port)
                expect("allowed", result)
    outsiders = [External(f"{INTERNET_SAMPLE}/32", f"internet {INTERNET_SAMPLE}")] + [
        External(c, f"apiAllowedCidrs {c}") for c in cluster.api_allowed_cidrs
    ]
    metrics = [(port, port) for port in CONTROL_PLANE_METRICS_PORTS]
    closed = [(SSH_PORT, SSH_PORT), ETCD_PORTS, (KUBELET_PORT, KUBELET_PORT), NODE_PORT_RANGE, *metrics]
    for client in outsiders:
        for node in nodes:
            for low, high in closed:
                expect("denied", net.check(client, node, "tcp", low, high))
        # A NAT instance answers the internet on its forwards only (checked above).
        for nat in nat_instances:
            for protocol in ("tcp", "udp"):
                forwarded = NO_PORTS
                for forward in (f for f in nat.forwards if f.protocol == protocol):
                    forwarded |= Ports.range(forward.port)
                for low, high in (ALL_PORTS - forwarded).spans:
                    expect("denied", net.check(client, nat, protocol, low, high))
    return results


def cluster_flows(graph: Graph) -> list[FlowResult]:
    """`evaluate_cluster` on the network a kubeadm stack's graph declares."""
    return evaluate_cluster(from_graph(graph))


def format_failures(results: Sequence[FlowResult]) -> str:
    failing = [r for r in results if not r.ok]
    return "\n".join([f"{len(failing)} of {len(results)} flows not as expected:", *map(str, failing)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.reachability", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("stack", help="a kubeadm stack: dev, staging or prod")
    parser.add_argument("--write-model", type=Path, help="also save the network model as JSON here")
    args = parser.parse_args(argv)
    # Imported here, as in from_graph: only the command line runs the program.
    from tools.harness import run

    network = from_graph(run(args.stack))
    if args.write_model:
        args.write_model.parent.mkdir(parents=True, exist_ok=True)
        args.write_model.write_text(network.to_json())
    results = evaluate_cluster(network)
    for result in results:
        print(result)
    print(format_failures(results) if any(not r.ok for r in results) else f"all {len(results)} flows as expected")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
