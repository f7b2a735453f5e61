"""Monthly cost estimate of a planned stack, from the list prices in
tools/data/aws-prices-us-east-1.yaml (source and date in the file).

What is counted: instances (spot at an assumed fraction of on-demand, marked as an
assumption), NAT gateways, load balancers (the API's and the ingress NLB the cloud
controller creates), public IPv4 addresses, EBS (root volumes, etcd volumes, the
database's claims), KMS keys, and S3 and CloudWatch Logs at their minimum (nothing
stored yet: usage is priced per GB, listed). An instance type without a price is
listed by name and never counted as zero.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from components.platform import ingress, monitoring
from tools import harness

PRICES = Path(__file__).parent / "data" / "aws-prices-us-east-1.yaml"


@cache
def price_table() -> dict[str, Any]:
    return yaml.safe_load(PRICES.read_text())


@dataclass(frozen=True)
class Item:
    component: str
    what: str
    monthly: float
    assumption: str = ""


@dataclass(frozen=True)
class PoolBounds:
    """What a pool's groups cost at their minimum and at their maximum size: the range
    the cluster autoscaler moves in."""

    component: str
    what: str  # instance type, spot or not
    min_nodes: int
    max_nodes: int
    initial_nodes: int  # desired at creation: what the total above counts
    min_monthly: float
    max_monthly: float


@dataclass
class _PoolTally:
    """A pool's groups, summed while the estimate walks them."""

    what: str
    node_month: float | None  # an instance and its root volume; None: no list price
    min_nodes: int = 0
    max_nodes: int = 0
    initial_nodes: int = 0

    def bounds(self, component: str) -> PoolBounds:
        assert self.node_month is not None
        low, high = self.min_nodes * self.node_month, self.max_nodes * self.node_month
        return PoolBounds(component, self.what, self.min_nodes, self.max_nodes, self.initial_nodes, low, high)


@dataclass
class Estimate:
    items: list[Item] = field(default_factory=list)
    pools: list[PoolBounds] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)  # names of things with no price
    usage_priced: list[str] = field(default_factory=list)  # priced per use, not counted
    eks_equivalent: float | None = None

    @property
    def total(self) -> float:
        return sum(i.monthly for i in self.items)

    @property
    def ceiling(self) -> float:
        """The total with every pool at its maximum size."""
        pools = {p.component for p in self.pools}
        return sum(i.monthly for i in self.items if i.component not in pools) + sum(p.max_monthly for p in self.pools)

    def by_component(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for item in self.items:
            totals[item.component] = totals.get(item.component, 0.0) + item.monthly
        return totals


_GIB = re.compile(r"^([0-9]+)Gi$")


def _instance_month(prices: Mapping[str, Any], instance_type: str) -> float | None:
    hourly = prices["ec2PerHour"].get(instance_type)
    return None if hourly is None else hourly * prices["hoursPerMonth"]


def estimate(graph: harness.Graph, prices: Mapping[str, Any] | None = None) -> Estimate:
    prices = price_table() if prices is None else prices
    hours = prices["hoursPerMonth"]
    gp3 = prices["ebs"]["gp3PerGbMonth"]
    ipv4_month = prices["publicIpv4PerHour"] * hours
    by_urn = {r.urn: r for r in graph.resources}
    result = Estimate()

    def component_of(resource: harness.Resource) -> str:
        """The top-level component a resource belongs to (its name)."""
        current = resource
        while current.parent in by_urn and by_urn[current.parent].type.startswith("podium:"):
            current = by_urn[current.parent]
        return current.name

    def add(resource: harness.Resource, what: str, monthly: float, assumption: str = "") -> None:
        result.items.append(Item(component_of(resource), what, monthly, assumption))

    def node_month(instance_type: str, spot: bool) -> float | None:
        """An instance's month, at the spot fraction when spot."""
        month = _instance_month(prices, instance_type)
        if month is None or not spot:
            return month
        return month * prices["assumptions"]["spotFractionOfOnDemand"]

    def instances(resource: harness.Resource, instance_type: str, count: int, spot: bool) -> None:
        month = node_month(instance_type, spot)
        if month is None:
            result.unpriced.append(f"EC2 {instance_type} ({count} in {component_of(resource)})")
        elif spot:
            fraction = prices["assumptions"]["spotFractionOfOnDemand"]
            add(resource, f"{count} x {instance_type} spot", count * month, f"spot at {fraction:.0%} of on-demand")
        else:
            add(resource, f"{count} x {instance_type}", count * month)

    tallies: dict[str, _PoolTally] = {}  # by the pool's component

    control_plane_cost = 0.0
    on_aws = bool(graph.of_type("aws:ec2/instance:Instance"))  # claims are EBS volumes only there
    for resource in graph.resources:
        inputs = resource.inputs
        if resource.type == "aws:ec2/instance:Instance":
            before = len(result.items)
            instances(resource, inputs["instanceType"], 1, False)
            root = inputs.get("rootBlockDevice", {}).get("volumeSize", 8)
            add(resource, f"{root} GiB gp3 root", root * gp3)
            control_plane_cost += sum(i.monthly for i in result.items[before:])
        elif resource.type == "aws:ebs/volume:Volume":
            add(resource, f"{inputs['size']} GiB gp3 ({resource.name})", inputs["size"] * gp3)
            control_plane_cost += inputs["size"] * gp3
        elif resource.type == "aws:autoscaling/group:Group":
            template = _template_of(by_urn, resource)
            count = int(inputs["desiredCapacity"])
            spot = "mixedInstancesPolicy" in inputs
            instance_type = template.inputs["instanceType"] if template else "unknown"
            size = (
                sum(int(d["ebs"]["volumeSize"]) for d in template.inputs.get("blockDeviceMappings", []))
                if template
                else 0
            )
            if count:  # a zonal pool's other groups start empty
                instances(resource, instance_type, count, spot)
                add(resource, f"{count} x {size} GiB gp3 root", count * size * gp3)
            month = node_month(instance_type, spot)
            tally = tallies.setdefault(
                component_of(resource),
                _PoolTally(f"{instance_type}{' spot' if spot else ''}", None if month is None else month + size * gp3),
            )
            tally.min_nodes += int(inputs["minSize"])
            tally.max_nodes += int(inputs["maxSize"])
            tally.initial_nodes += count
        elif resource.type == "aws:ec2/natGateway:NatGateway":
            add(resource, "NAT gateway", prices["natGateway"]["perHour"] * hours)
        elif resource.type == "aws:ec2/eip:Eip":
            add(resource, f"public IPv4 ({resource.name})", ipv4_month)
            if resource.name.endswith("-api"):
                control_plane_cost += ipv4_month
        elif resource.type == "aws:lb/loadBalancer:LoadBalancer":
            zones = len(inputs.get("subnets") or [])
            public = not inputs.get("internal")
            month = prices["loadBalancer"]["nlbPerHour"] * hours + (zones * ipv4_month if public else 0)
            add(resource, f"NLB ({resource.name})" + (f" + {zones} public IPv4" if public else ""), month)
            control_plane_cost += month
        elif resource.type == "aws:kms/key:Key":
            add(resource, "KMS key", prices["kms"]["keyPerMonth"])
        elif resource.type == "aws:s3/bucket:Bucket":
            add(resource, f"S3 bucket ({resource.name}), empty", 0.0, "storage is usage: per GB-month")
        elif resource.type == "aws:cloudwatch/logGroup:LogGroup":
            add(
                resource, f"CloudWatch Logs group ({resource.name}), empty", 0.0, "ingest and storage are usage: per GB"
            )
        elif resource.type == "kubernetes:apps/v1:StatefulSet" and on_aws:
            for claim in inputs["spec"].get("volumeClaimTemplates", []):
                size = _claim_gib(claim["spec"])
                if size:
                    add(resource, f"{size} GiB gp3 claim ({claim['metadata']['name']})", size * gp3)
        elif resource.type == "kubernetes:helm.sh/v3:Release" and inputs.get("name") == monitoring.RELEASE and on_aws:
            spec = inputs["values"]["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]
            size = _claim_gib(spec)
            if size:
                add(resource, f"{size} GiB gp3 claim (Prometheus)", size * gp3)
        elif (
            resource.type == "kubernetes:helm.sh/v3:Release"
            and inputs.get("name") == "traefik"
            and ingress.service_type(inputs.get("values") or {}) == "LoadBalancer"
        ):
            zones = len(graph.of_type("aws:ec2/subnet:Subnet")) // 2
            month = prices["loadBalancer"]["nlbPerHour"] * hours + zones * ipv4_month
            add(resource, f"ingress NLB (made by the cloud controller) + {zones} public IPv4", month)
    for component, tally in tallies.items():
        if tally.node_month is not None:  # an unpriced type is listed as such above
            result.pools.append(tally.bounds(component))
    if graph.of_type("aws:ec2/natGateway:NatGateway"):
        result.usage_priced.append(f"NAT data processing: ${prices['natGateway']['perGbProcessed']}/GB")
    if any("NLB" in i.what for i in result.items):
        result.usage_priced.append(f"NLB capacity units: ${prices['loadBalancer']['nlbPerNlcuHour']}/NLCU-hour")
    if graph.of_type("aws:s3/bucket:Bucket"):
        result.usage_priced.append(f"S3 storage: ${prices['s3']['standardPerGbMonth']}/GB-month")
    if graph.of_type("aws:cloudwatch/logGroup:LogGroup"):
        logs = prices["cloudwatchLogs"]
        result.usage_priced.append(
            f"CloudWatch Logs: ${logs['ingestPerGb']}/GB ingested, ${logs['storagePerGbMonth']}/GB-month"
        )
    if graph.of_type("aws:ec2/instance:Instance"):
        result.eks_equivalent = result.total - control_plane_cost + prices["eks"]["controlPlanePerHour"] * hours
    return result


def _claim_gib(spec: Mapping[str, Any]) -> int | None:
    match = _GIB.match(spec["resources"]["requests"]["storage"])
    return int(match.group(1)) if match else None


def _template_of(by_urn: Mapping[str, harness.Resource], group: harness.Resource) -> harness.Resource | None:
    for urn in group.dependencies:
        resource = by_urn.get(urn)
        if resource is not None and resource.type == "aws:ec2/launchTemplate:LaunchTemplate":
            return resource
    return None


def render(estimate_: Estimate) -> list[str]:
    prices = price_table()
    lines = [f"Monthly cost estimate (USD, us-east-1 list prices of {prices['asOf']}, {prices['hoursPerMonth']} h):"]
    for component, total in sorted(estimate_.by_component().items(), key=lambda kv: -kv[1]):
        lines.append(f"  {component:<24} {total:>10.2f}")
        for item in (i for i in estimate_.items if i.component == component):
            note = f"  [{item.assumption}]" if item.assumption else ""
            lines.append(f"    {item.what:<58} {item.monthly:>9.2f}{note}")
    lines.append(f"  {'total':<24} {estimate_.total:>10.2f}")
    if estimate_.eks_equivalent is not None:
        lines.append(
            f"  EKS equivalent (EKS control-plane fee instead of these control planes, same workers): "
            f"{estimate_.eks_equivalent:.2f}"
        )
    if estimate_.pools:
        lines.append(
            "  Node pools between their bounds (instances and root volumes; the cluster autoscaler moves here):"
        )
        for pool in estimate_.pools:
            lines.append(
                f"    {pool.component:<22} {pool.what:<18} {pool.min_nodes:>3} to {pool.max_nodes:<3} nodes"
                f" ({pool.initial_nodes} at first)  {pool.min_monthly:>9.2f} to {pool.max_monthly:>9.2f}"
            )
        lines.append(f"  total with every pool at its maximum: {estimate_.ceiling:.2f}")
    for name in estimate_.unpriced:
        lines.append(f"  NOT PRICED (no list price in the table): {name}")
    for usage in estimate_.usage_priced:
        lines.append(f"  not counted, priced by use: {usage}")
    return lines
