"""Podium's monthly cost estimate: the one estimator behind the offline plan
(tools/cost.py, over the harness's graph) and the policy pack's budget rule
(podium_policies.py, over the resources the engine hands a stack policy).

It runs in the pack's own virtualenv (policy/requirements.txt: pulumi, pulumi-policy,
PyYAML), so it imports nothing of Podium's and neither the harness nor pulumi-policy:
each caller adapts its resources to a `Record`. The plan's records carry the
program's inputs; the pack's carry the engine's outputs (at the end of `up` the live
objects, in a preview the planned state), read through pulumi-policy's proxy, so that a
value unknown in a preview raises its UnknownValueError here like anywhere in the pack.

Prices come from aws-prices-us-east-1.yaml beside this file (source and date in it).
What is counted: instances (spot at an assumed fraction of on-demand, marked as an
assumption), NAT gateways, load balancers (the API's and the ingress NLB the cloud
controller creates), public IPv4 addresses, EBS (root volumes, etcd volumes, the
database's claims), KMS keys, and S3 and CloudWatch Logs at their minimum (nothing
stored yet: usage is priced per GB, listed). An instance type without a price is
listed by name and never counted as zero.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PRICES = Path(__file__).with_name("aws-prices-us-east-1.yaml")
PRICE_REGION = "us-east-1"  # the region whose list prices the table holds (its name says so)
CURRENCY = "USD"
BUDGET = "aws:budgets/budget:Budget"
# The releases whose cost their values decide. The program names them in
# components/platform/monitoring.py (RELEASE) and ingress.py; a test keeps them equal.
PROMETHEUS_RELEASE = "kube-prometheus-stack"
INGRESS_RELEASE = "traefik"
TOP_COSTS = 3  # how many of the largest lines a budget violation names


@cache
def price_table() -> dict[str, Any]:
    return yaml.safe_load(PRICES.read_text())


@dataclass(frozen=True)
class Record:
    """One resource as the estimate sees it, whoever captured it."""

    type: str
    name: str
    urn: str
    properties: Mapping[str, Any]  # the program's inputs (plan) or the engine's outputs (pack)
    component: str  # the top-level Podium component it belongs to (see `top_component`)
    dependencies: tuple[str, ...] = ()  # URNs


def top_component(name: str, ancestors: Iterable[tuple[str, str]]) -> str:
    """The name of the outermost Podium component (type `podium:...`) a resource sits
    in, or its own name when its parent is none; `ancestors`: (type, name) of its
    parent, the parent's parent, and so on."""
    current = name
    for type_, ancestor in ancestors:
        if not type_.startswith("podium:"):
            break
        current = ancestor
    return current


@dataclass(frozen=True)
class Item:
    component: str
    what: str
    monthly: float
    assumption: str = ""
    # Which line this is from one plan to the next, whatever its count or size: the
    # resource (type and name) and, where one resource makes several lines, which one.
    key: str = ""


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


@dataclass(frozen=True)
class BudgetStanding:
    """The estimate against the stack's monthly budget."""

    limit: float
    total: float

    @property
    def difference(self) -> float:
        """Positive: over the budget by this much; negative: under it."""
        return self.total - self.limit

    @property
    def percent(self) -> float:
        return 100 * self.total / self.limit

    @property
    def over(self) -> bool:
        return self.total > self.limit


@dataclass
class Estimate:
    items: list[Item] = field(default_factory=list)
    pools: list[PoolBounds] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)  # names of things with no price
    usage_priced: list[str] = field(default_factory=list)  # priced per use, not counted
    eks_equivalent: float | None = None
    budget: float | None = None  # the stack's monthly COST budget in USD, if it has one

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

    def largest(self, count: int = TOP_COSTS) -> list[Item]:
        return sorted(self.items, key=lambda i: -i.monthly)[:count]

    @property
    def standing(self) -> BudgetStanding | None:
        return None if self.budget is None else BudgetStanding(self.budget, self.total)


_GIB = re.compile(r"^([0-9]+)Gi$")


def _instance_month(prices: Mapping[str, Any], instance_type: str) -> float | None:
    hourly = prices["ec2PerHour"].get(instance_type)
    return None if hourly is None else hourly * prices["hoursPerMonth"]


def monthly_budget(records: Sequence[Record]) -> float | None:
    """The limit of the stack's monthly COST budget in USD (the smallest, were there
    several), or None: the budget the program declares (components/shared/cost_budget.py)
    is what the plan and the pack both measure the estimate against."""
    limits = [
        float(r.properties["limitAmount"])
        for r in records
        if r.type == BUDGET
        and r.properties.get("budgetType") == "COST"
        and r.properties.get("timeUnit") == "MONTHLY"
        and r.properties.get("limitUnit") == CURRENCY
    ]
    return min(limits) if limits else None


def estimate(records: Sequence[Record], prices: Mapping[str, Any] | None = None) -> Estimate:
    prices = price_table() if prices is None else prices
    hours = prices["hoursPerMonth"]
    gp3 = prices["ebs"]["gp3PerGbMonth"]
    ipv4_month = prices["publicIpv4PerHour"] * hours
    by_urn = {r.urn: r for r in records}
    types = {r.type for r in records}
    result = Estimate(budget=monthly_budget(records))

    def add(record: Record, what: str, monthly: float, assumption: str = "", facet: str = "") -> None:
        key = f"{record.type.rsplit(':', 1)[-1]}:{record.name}" + (f":{facet}" if facet else "")
        result.items.append(Item(record.component, what, monthly, assumption, key))

    def node_month(instance_type: str, spot: bool) -> float | None:
        """An instance's month, at the spot fraction when spot."""
        month = _instance_month(prices, instance_type)
        if month is None or not spot:
            return month
        return month * prices["assumptions"]["spotFractionOfOnDemand"]

    def instances(record: Record, instance_type: str, count: int, spot: bool) -> None:
        month = node_month(instance_type, spot)
        if month is None:
            result.unpriced.append(f"EC2 {instance_type} ({count} in {record.component})")
        elif spot:
            fraction = prices["assumptions"]["spotFractionOfOnDemand"]
            what = f"{count} x {instance_type} spot"
            add(record, what, count * month, f"spot at {fraction:.0%} of on-demand", "instances")
        else:
            add(record, f"{count} x {instance_type}", count * month, facet="instances")

    tallies: dict[str, _PoolTally] = {}  # by the pool's component
    # A public and a private subnet per AZ slot.
    az_count = sum(1 for r in records if r.type == "aws:ec2/subnet:Subnet") // 2

    control_plane_cost = 0.0
    on_aws = "aws:ec2/instance:Instance" in types  # claims are EBS volumes only there
    for record in records:
        props = record.properties
        if record.type == "aws:ec2/instance:Instance":
            before = len(result.items)
            instances(record, props["instanceType"], 1, False)
            root = (props.get("rootBlockDevice") or {}).get("volumeSize") or 8
            add(record, f"{root} GiB gp3 root", root * gp3, facet="root")
            control_plane_cost += sum(i.monthly for i in result.items[before:])
        elif record.type == "aws:ebs/volume:Volume":
            add(record, f"{props['size']} GiB gp3 ({record.name})", props["size"] * gp3)
            control_plane_cost += props["size"] * gp3
        elif record.type == "aws:autoscaling/group:Group":
            template = _template_of(by_urn, record)
            count = int(props["desiredCapacity"])
            # Outputs may list an unset block as null: a key present is not enough.
            spot = props.get("mixedInstancesPolicy") is not None
            template_props = template.properties if template else {}
            instance_type = template_props["instanceType"] if template else "unknown"
            size = sum(int(d["ebs"]["volumeSize"]) for d in template_props.get("blockDeviceMappings") or [])
            if count:  # a zonal pool's other groups start empty
                instances(record, instance_type, count, spot)
                add(record, f"{count} x {size} GiB gp3 root", count * size * gp3, facet="root")
            if not _autoscaled(props):
                continue  # a fixed group (the NAT instance's): no bounds to move between
            month = node_month(instance_type, spot)
            tally = tallies.setdefault(
                record.component,
                _PoolTally(f"{instance_type}{' spot' if spot else ''}", None if month is None else month + size * gp3),
            )
            tally.min_nodes += int(props["minSize"])
            tally.max_nodes += int(props["maxSize"])
            tally.initial_nodes += count
        elif record.type == "aws:ec2/natGateway:NatGateway":
            add(record, "NAT gateway", prices["natGateway"]["perHour"] * hours)
        elif record.type == "aws:ec2/eip:Eip":
            add(record, f"public IPv4 ({record.name})", ipv4_month)
            if record.name.endswith("-api"):
                control_plane_cost += ipv4_month
        elif record.type == "aws:lb/loadBalancer:LoadBalancer":
            # One subnet per AZ, as every Podium load balancer has: its subnet ids are
            # unknown at preview, the AZ count is not.
            zones = az_count
            public = not props.get("internal")
            month = prices["loadBalancer"]["nlbPerHour"] * hours + (zones * ipv4_month if public else 0)
            add(record, f"NLB ({record.name})" + (f" + {zones} public IPv4" if public else ""), month)
            control_plane_cost += month
        elif record.type == "aws:kms/key:Key":
            add(record, "KMS key", prices["kms"]["keyPerMonth"])
        elif record.type == "aws:s3/bucket:Bucket":
            add(record, f"S3 bucket ({record.name}), empty", 0.0, "storage is usage: per GB-month")
        elif record.type == "aws:cloudwatch/logGroup:LogGroup":
            add(record, f"CloudWatch Logs group ({record.name}), empty", 0.0, "ingest and storage are usage: per GB")
        elif record.type == "kubernetes:apps/v1:StatefulSet" and on_aws:
            for claim in props["spec"].get("volumeClaimTemplates") or []:
                size = _claim_gib(claim["spec"])
                name = claim["metadata"]["name"]
                if size:
                    add(record, f"{size} GiB gp3 claim ({name})", size * gp3, facet=name)
        elif record.type == "kubernetes:helm.sh/v3:Release" and props.get("name") == PROMETHEUS_RELEASE and on_aws:
            spec = props["values"]["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]
            size = _claim_gib(spec)
            if size:
                add(record, f"{size} GiB gp3 claim (Prometheus)", size * gp3)
        elif (
            record.type == "kubernetes:helm.sh/v3:Release"
            and props.get("name") == INGRESS_RELEASE
            and ingress_service_type(props.get("values") or {}) == "LoadBalancer"
        ):
            zones = az_count
            month = prices["loadBalancer"]["nlbPerHour"] * hours + zones * ipv4_month
            add(record, f"ingress NLB (made by the cloud controller) + {zones} public IPv4", month)
    for component, tally in tallies.items():
        if tally.node_month is not None:  # an unpriced type is listed as such above
            result.pools.append(tally.bounds(component))
    if "aws:ec2/natGateway:NatGateway" in types:
        result.usage_priced.append(f"NAT data processing: ${prices['natGateway']['perGbProcessed']}/GB")
    if any("NLB" in i.what for i in result.items):
        result.usage_priced.append(f"NLB capacity units: ${prices['loadBalancer']['nlbPerNlcuHour']}/NLCU-hour")
    if "aws:s3/bucket:Bucket" in types:
        result.usage_priced.append(f"S3 storage: ${prices['s3']['standardPerGbMonth']}/GB-month")
    if "aws:cloudwatch/logGroup:LogGroup" in types:
        logs = prices["cloudwatchLogs"]
        result.usage_priced.append(
            f"CloudWatch Logs: ${logs['ingestPerGb']}/GB ingested, ${logs['storagePerGbMonth']}/GB-month"
        )
    if on_aws:
        # Priced by use, and not in the price table: named so that nobody reads them as free.
        result.usage_priced.append("data transfer out to the internet and between AZs: per GB (not in the price table)")
        if any(re.match(r"\d+ x t\d", i.what) for i in result.items):
            result.usage_priced.append(
                "burstable (t3, t4g) instances: CPU above their baseline, billed per vCPU-hour in unlimited mode "
                "(not in the price table)"
            )
        result.eks_equivalent = result.total - control_plane_cost + prices["eks"]["controlPlanePerHour"] * hours
    return result


def ingress_service_type(values: Mapping[str, Any]) -> str:
    """The type of the Service the ingress chart renders for these values: it copies
    `service.spec` into the Service's spec, whose type defaults to LoadBalancer there.
    The program asks components/platform/ingress.py `service_type`; a test keeps the two
    answering alike on every stack's values."""
    return str(((values.get("service") or {}).get("spec") or {}).get("type", "LoadBalancer"))


# The cluster autoscaler's discovery tag: the groups it moves between their bounds.
AUTOSCALER_ENABLED_TAG = "k8s.io/cluster-autoscaler/enabled"


def _autoscaled(group: Mapping[str, Any]) -> bool:
    return any(tag.get("key") == AUTOSCALER_ENABLED_TAG for tag in group.get("tags") or [])


def _claim_gib(spec: Mapping[str, Any]) -> int | None:
    match = _GIB.match(spec["resources"]["requests"]["storage"])
    return int(match.group(1)) if match else None


def _template_of(by_urn: Mapping[str, Record], group: Record) -> Record | None:
    for urn in group.dependencies:
        record = by_urn.get(urn)
        if record is not None and record.type == "aws:ec2/launchTemplate:LaunchTemplate":
            return record
    return None


def render(estimate_: Estimate) -> list[str]:
    prices = price_table()
    lines = [
        f"Monthly cost estimate ({CURRENCY}, {PRICE_REGION} list prices of {prices['asOf']}, {prices['hoursPerMonth']} h):"
    ]
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
    standing = estimate_.standing
    if standing is not None:
        lines.append(f"  {budget_sentence(standing)}")
        if estimate_.pools:
            lines.append(
                f"    with every pool at its maximum: {estimate_.ceiling:.2f}"
                f" ({100 * estimate_.ceiling / standing.limit:.0f}% of the budget)"
            )
    for name in estimate_.unpriced:
        lines.append(f"  NOT PRICED (no list price in the table): {name}")
    for usage in estimate_.usage_priced:
        lines.append(f"  not counted, priced by use: {usage}")
    return lines


def budget_sentence(standing: BudgetStanding) -> str:
    """The estimate against the budget: the figure, the difference and the percentage."""
    side = "OVER" if standing.over else "under"
    return (
        f"budget {standing.limit:.2f} a month: the estimate {standing.total:.2f} is "
        f"{abs(standing.difference):.2f} {side} it ({standing.percent:.0f}% of the budget)"
    )


def budget_violation(estimate_: Estimate) -> str | None:
    """Why the estimate does not keep to the stack's budget, or None when it does (or
    there is none). An estimate that leaves out what has no list price cannot show that
    it keeps to a budget: that fails too, naming what is missing."""
    standing = estimate_.standing
    if standing is None or (not standing.over and not estimate_.unpriced):
        return None
    largest = "; ".join(f"{i.component}: {i.what} {i.monthly:.2f}" for i in estimate_.largest())
    missing = "; ".join(estimate_.unpriced)
    if standing.over:
        message = f"{budget_sentence(standing)}. Largest costs: {largest}."
        return message + (f" Not priced, so not counted: {missing}." if missing else "")
    return (
        f"{budget_sentence(standing)}, but only without what has no list price: {missing}. "
        f"Add its price to policy/{PRICES.name}. Largest costs counted: {largest}."
    )
