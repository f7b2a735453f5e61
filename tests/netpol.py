"""A small evaluator of Kubernetes NetworkPolicy semantics, to test what the policies
allow by matching selectors against pod labels (not by reading strings).

Semantics: a pod is isolated for a direction when some policy in its namespace selects
it with that policy type; an isolated pod accepts (or sends) only what a rule of one of
its selecting policies allows. A connection needs both the sender's egress and the
receiver's ingress. Peers: podSelector (the policy's namespace), namespaceSelector
(optionally with podSelector) and ipBlock (with except) matched against addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    name: str
    namespace: str | None  # None: outside the cluster
    labels: Mapping[str, str] = field(default_factory=dict)
    ip: str = ""


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        present, value = expression["key"] in labels, labels.get(expression["key"])
        operator, values = expression["operator"], expression.get("values", [])
        if operator == "In" and value not in values:
            return False
        if operator == "NotIn" and value in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _namespace_labels(namespace: str) -> dict[str, str]:
    return {"kubernetes.io/metadata.name": namespace}


def _peer_matches(peer: Mapping[str, Any], policy_namespace: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        address = ipaddress.ip_address(other.ip)
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(e) for e in block.get("except", [])
        )
    if other.namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], _namespace_labels(other.namespace)):
            return False
    elif other.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or selects(peer["podSelector"], other.labels)


def _port_matches(rule: Mapping[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    return any(p.get("protocol", "TCP") == protocol and p.get("port") in (None, port) for p in ports)


def _allowed(
    policies: Sequence[Mapping[str, Any]], pod: Endpoint, other: Endpoint, port: int, protocol: str, direction: str
) -> bool:
    if pod.namespace is None:
        return True  # outside the cluster: no policy applies
    kind, rules_key, peers_key = ("Ingress", "ingress", "from") if direction == "in" else ("Egress", "egress", "to")
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == pod.namespace
        and kind in p["spec"].get("policyTypes", ["Ingress"])
        and selects(p["spec"]["podSelector"], pod.labels)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get(rules_key) or []:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(_peer_matches(peer, policy["metadata"]["namespace"], other) for peer in peers)
            if peer_ok and _port_matches(rule, port, protocol):
                return True
    return False


def connection_allowed(
    policies: Sequence[Mapping[str, Any]], source: Endpoint, target: Endpoint, port: int, protocol: str = "TCP"
) -> bool:
    return _allowed(policies, source, target, port, protocol, "out") and _allowed(
        policies, target, source, port, protocol, "in"
    )
