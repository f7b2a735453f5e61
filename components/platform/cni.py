"""The pod network: Calico through the Tigera operator, enforcing NetworkPolicy."""

from __future__ import annotations

from typing import Any

CALICO_NAMESPACE = "tigera-operator"


def calico_values(pod_cidr: str) -> dict[str, Any]:
    """VXLAN without BGP: works in any VPC without route-table or source/destination
    check changes; the node security groups open UDP 4789 between nodes."""
    return {
        "installation": {
            "enabled": True,
            "cni": {"type": "Calico"},
            "calicoNetwork": {
                "bgp": "Disabled",
                "ipPools": [
                    {
                        "name": "default-ipv4-ippool",
                        "cidr": pod_cidr,
                        "encapsulation": "VXLAN",
                        "natOutgoing": "Enabled",
                        "nodeSelector": "all()",
                        "blockSize": 26,
                    }
                ],
            },
        },
        # Calico's own API server, flow aggregator and UI are not needed to enforce
        # NetworkPolicy; leaving them out saves a node's worth of pods.
        "apiServer": {"enabled": False},
        "goldmane": {"enabled": False},
        "whisker": {"enabled": False},
    }
