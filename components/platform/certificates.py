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
    """EC2 DNS names a kubelet's serving certificate may carry: the private name its
    node registers with and, for a control plane behind an Elastic IP, the public name
    the cloud controller adds to its addresses."""
    if region == "us-east-1":
        private, public = r"ec2\.internal", r"compute-1\.amazonaws\.com"
    else:
        private, public = rf"{re.escape(region)}\.compute\.internal", rf"{re.escape(region)}\.compute\.amazonaws\.com"
    octets = r"[0-9]{1,3}(-[0-9]{1,3}){3}"
    return rf"^(ip-{octets}\.{private}|ec2-{octets}\.{public})$"


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
