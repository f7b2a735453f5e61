"""A small evaluator of Kubernetes RBAC, to test what a user may do from the Roles,
ClusterRoles and bindings a stack declares (not by reading the rules' strings).

Semantics (kubernetes.io, "Using RBAC Authorization"): a request is allowed when some
binding names the user (or one of its groups) and its role has a rule whose apiGroups,
resources (with subresource, `resource/sub`) and verbs match, `*` matching anything. A
RoleBinding grants only in its own namespace, even when it refers to a ClusterRole; a
ClusterRoleBinding grants everywhere, cluster-scoped resources included. Rules naming
resourceNames or nonResourceURLs are not used by Podium and are refused here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ROLE_KINDS = ("Role", "ClusterRole")


@dataclass(frozen=True)
class Request:
    verb: str
    group: str  # "" for the core group
    resource: str  # with its subresource: "pods/log"
    namespace: str | None  # None: a cluster-scoped resource


def _matches(values: Iterable[str], value: str) -> bool:
    return any(v in ("*", value) for v in values)


def _rule_allows(rule: Mapping[str, Any], request: Request) -> bool:
    assert "resourceNames" not in rule and "nonResourceURLs" not in rule, rule
    return (
        _matches(rule.get("apiGroups") or [], request.group)
        and _matches(rule.get("resources") or [], request.resource)
        and _matches(rule.get("verbs") or [], request.verb)
    )


def _names(subject: Mapping[str, Any], user: str, groups: Iterable[str]) -> bool:
    if subject.get("kind") == "User":
        return subject.get("name") == user
    if subject.get("kind") == "Group":
        return subject.get("name") in set(groups)
    return False


def allowed(objects: Iterable[Mapping[str, Any]], user: str, groups: Iterable[str], request: Request) -> bool:
    objects = list(objects)
    roles = {
        (o["kind"], (o["metadata"].get("namespace") if o["kind"] == "Role" else None), o["metadata"]["name"]): o
        for o in objects
        if o["kind"] in ROLE_KINDS
    }
    groups = list(groups)
    for binding in objects:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(_names(s, user, groups) for s in binding.get("subjects") or []):
            continue
        namespace = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
        if binding["kind"] == "RoleBinding" and request.namespace != namespace:
            continue  # a RoleBinding never reaches another namespace, nor anything cluster-scoped
        ref = binding["roleRef"]
        role = roles.get((ref["kind"], namespace if ref["kind"] == "Role" else None, ref["name"]))
        if role is not None and any(_rule_allows(rule, request) for rule in role.get("rules") or []):
            return True
    return False
