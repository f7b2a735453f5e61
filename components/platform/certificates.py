"""Kubelet serving certificates: kubelet-csr-approver signs them for the cluster's
own node names and addresses, so metrics-server and `kubectl logs` verify kubelets."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pulumi

# kind names nodes <cluster>-control-plane, <cluster>-worker, <cluster>-worker2, ...
KIND_NODE_NAME_PATTERN = r"^[a-z0-9-]+-(control-plane|worker[0-9]*)$"


def ec2_node_name_pattern(region: str) -> str:
    """The EC2 private DNS name a node registers with: the only name a kubelet's
    serving certificate may carry. Every node sits in a private subnet without a
    public address, so the cloud controller reports no public name or address (the
    approver would refuse a public `ec2-...` name: it does not start with the node name)."""
    private = r"ec2\.internal" if region == "us-east-1" else rf"{re.escape(region)}\.compute\.internal"
    return rf"^ip-[0-9]{{1,3}}(-[0-9]{{1,3}}){{3}}\.{private}$"


def csr_approver_values(node_name_pattern: str, node_ip_cidrs: Sequence[pulumi.Input[str]]) -> dict[str, Any]:
    """Approves kubelet serving certificates only for node names matching the pattern,
    with addresses inside the cluster's network: what lets metrics-server verify
    kubelets instead of skipping TLS verification."""
    values: dict[str, Any] = {
        "providerRegex": node_name_pattern,
        # EC2 kubelets ask for their private DNS name and, in us-east-1, a second form.
        "allowedDnsNames": 2,
        "bypassDnsResolution": False,
    }
    if node_ip_cidrs:
        values["providerIpPrefixes"] = list(node_ip_cidrs)
    return values
