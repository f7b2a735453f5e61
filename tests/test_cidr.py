from __future__ import annotations

import ipaddress
import itertools

import pytest

from components.network.cidr import plan_subnets


@pytest.mark.parametrize("vpc", ["10.0.0.0/16", "172.16.0.0/20", "192.168.10.0/24"])
@pytest.mark.parametrize("az_count", range(1, 7))
def test_subnets_lie_in_the_vpc_and_never_overlap(vpc: str, az_count: int) -> None:
    network = ipaddress.IPv4Network(vpc)
    plan = plan_subnets(vpc, az_count)
    subnets = [s for pair in plan for s in (pair.public, pair.private)]
    assert len(plan) == az_count
    assert all(s.subnet_of(network) for s in subnets)
    assert not any(a.overlaps(b) for a, b in itertools.combinations(subnets, 2))
    assert all(s.prefixlen <= 28 for s in subnets), "AWS subnets are /28 or larger"


def test_adding_an_az_keeps_every_existing_subnet() -> None:
    """Growing azCount must add subnets, never move (replace) the ones in use."""
    two = plan_subnets("10.0.0.0/16", 2)
    three = plan_subnets("10.0.0.0/16", 3)
    assert three[:2] == two


def test_sizes_for_a_slash_16() -> None:
    pair = plan_subnets("10.20.0.0/16", 1)[0]
    assert (str(pair.private), str(pair.public)) == ("10.20.0.0/20", "10.20.128.0/20")


def test_sizes_for_a_slash_24() -> None:
    pair = plan_subnets("10.20.0.0/24", 2)[1]
    assert (str(pair.private), str(pair.public)) == ("10.20.0.16/28", "10.20.0.144/28")


@pytest.mark.parametrize(("vpc", "count"), [("10.0.0.0/25", 1), ("10.0.0.0/16", 0), ("10.0.0.0/16", 7)])
def test_impossible_plans_are_refused(vpc: str, count: int) -> None:
    with pytest.raises(ValueError):
        plan_subnets(vpc, count)
