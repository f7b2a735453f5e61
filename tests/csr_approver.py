"""kubelet-csr-approver's decision for a kubernetes.io/kubelet-serving CSR, reproduced
from its source so tests can reason from the approver's rules, not from hope.

Read at postfinance/kubelet-csr-approver v1.2.14 (the app version of chart 1.2.14):
internal/controller/csr_controller.go (Reconcile) and regex_ip_checks.go (DNSCheck,
WhitelistedIPCheck). The order of checks and the first failure denies:
- the username must start with `system:node:` and equal the certificate's CN;
- at least one DNS or IP SAN;
- DNSCheck: at most `allowedDnsNames` DNS SANs; each starts with the node name
  (`strings.HasPrefix`, unless bypassHostnameCheck) and matches providerRegex; unless
  bypassDnsResolution, each resolves, every resolved address lies in
  providerIpPrefixes, and every IP SAN is among the resolved addresses;
- WhitelistedIPCheck: every IP SAN lies in providerIpPrefixes.
The approver's own tests name these cases: TestInvalidDNSName (not prefixed by the
node name), TestInvalidRegexName, TestUnresolvedDNSName, TestMismatchedResolvedIpsSANIps
(an IP SAN not among the resolved addresses), TestIPv4NotWhitelisted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServingCsr:
    node_name: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]


def csr_from_node_addresses(node_name: str, addresses: Sequence[tuple[str, str]]) -> ServingCsr:
    """What a kubelet asks for: every address the cloud controller reports for its
    node, names and IPs, duplicates dropped (the kubelet's addressesToHostnamesAndIPs)."""
    dns, ips = [], []
    for kind, value in addresses:
        target = ips if kind in ("InternalIP", "ExternalIP") else dns
        if value not in target:
            target.append(value)
    return ServingCsr(node_name, tuple(dns), tuple(ips))


def decide(csr: ServingCsr, values: Mapping[str, Any], resolve: Callable[[str], list[str]]) -> str:
    """ "approved" or the reason it is denied. `resolve` is DNS as seen from the approver's pod."""
    regex = re.compile(values.get("providerRegex") or ".*")
    prefixes = [ipaddress.ip_network(p) for p in values.get("providerIpPrefixes", ["0.0.0.0/0", "::/0"])]

    def allowed(ip: str) -> bool:
        return any(ipaddress.ip_address(ip) in prefix for prefix in prefixes)

    if not csr.dns_names and not csr.ip_addresses:
        return "neither an IP address nor a DNS name"
    if len(csr.dns_names) > int(values.get("allowedDnsNames", 1)):
        return f"{len(csr.dns_names)} DNS names, more than allowedDnsNames"
    resolved: set[str] = set()
    for name in csr.dns_names:
        if not values.get("bypassHostnameCheck") and not name.startswith(csr.node_name):
            return f"DNS name {name} does not start with the node name {csr.node_name}"
        if not regex.search(name):
            return f"DNS name {name} does not match providerRegex"
        if values.get("bypassDnsResolution"):
            continue
        addresses = resolve(name)
        if not addresses:
            return f"DNS name {name} does not resolve"
        if not all(allowed(a) for a in addresses):
            return f"DNS name {name} resolves outside providerIpPrefixes"
        resolved.update(addresses)
    if csr.dns_names and not values.get("bypassDnsResolution"):
        for ip in csr.ip_addresses:
            if ip not in resolved:
                return f"IP {ip} is not contained in the set of resolved IP addresses"
    for ip in csr.ip_addresses:
        if not allowed(ip):
            return f"IP {ip} is not within providerIpPrefixes"
    return "approved"
