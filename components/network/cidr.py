"""Subnet CIDR planning: a pure function, so the plan is tested without Pulumi.

The VPC is cut into 16 equal blocks. Private subnet of AZ slot i is block i and public
subnet of slot i is block 8 + i, for slots 0-5. A subnet's CIDR therefore depends only
on its slot, never on `azCount`: adding an AZ later adds subnets and replaces none.
Blocks 6-7 and 14-15 stay free for later tiers. A /16 VPC gets /20 subnets (4,091
usable addresses each); a /24 VPC gets /28 subnets, the smallest AWS allows.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

BLOCKS = 16
PUBLIC_OFFSET = 8
MAX_SLOTS = 6


@dataclass(frozen=True)
class SubnetPair:
    slot: int
    private: ipaddress.IPv4Network
    public: ipaddress.IPv4Network


def plan_subnets(vpc_cidr: str, az_count: int) -> list[SubnetPair]:
    vpc = ipaddress.IPv4Network(vpc_cidr)
    if not 1 <= az_count <= MAX_SLOTS:
        raise ValueError(f"az_count {az_count} must be between 1 and {MAX_SLOTS}")
    blocks = list(vpc.subnets(prefixlen_diff=4))
    if blocks[0].prefixlen > 28:
        raise ValueError(f"{vpc} is too small: subnets would be smaller than /28")
    return [SubnetPair(slot, blocks[slot], blocks[PUBLIC_OFFSET + slot]) for slot in range(az_count)]


# AWS keeps a subnet's first four addresses (network, router, DNS, reserved) and its
# last; the next few are left for anything placed by hand.
FIXED_HOST_OFFSET = 10


def control_plane_address(vpc_cidr: str) -> str:
    """The fixed private address of a lone control plane (cluster.apiEndpoint
    natInstance), in the private subnet of slot 0: nodes' kubeconfigs and the NAT
    instance's port forward name it, so a replaced instance must come back on it."""
    return str(plan_subnets(vpc_cidr, 1)[0].private[FIXED_HOST_OFFSET])
