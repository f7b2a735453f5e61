"""A Mermaid diagram of a stack's components and their wiring: which component's
resources wait for which (network -> bootstrap -> node groups -> provider -> add-ons ->
app), derived from the captured dependencies, not drawn by hand."""

from __future__ import annotations

from tools import harness

PROVIDER = "pulumi:providers:kubernetes"


def _node_id(name: str) -> str:
    return name.replace("-", "_")


def mermaid(graph: harness.Graph) -> str:
    by_urn = {r.urn: r for r in graph.resources}
    stack_suffix = f"pulumi:pulumi:Stack::{harness.PROJECT}-{graph.stack}"
    tops = [
        r
        for r in graph.resources
        if r.parent.endswith(stack_suffix) and (r.type.startswith("podium:") or r.type == PROVIDER)
    ]
    top_urns = {r.urn for r in tops}

    def top_of(resource: harness.Resource) -> harness.Resource | None:
        current: harness.Resource | None = resource
        while current is not None and current.urn not in top_urns:
            current = by_urn.get(current.parent)
        return current

    edges: set[tuple[str, str]] = set()
    for resource in graph.resources:
        target = top_of(resource)
        if target is None:
            continue
        sources = [by_urn[u] for u in resource.dependencies if u in by_urn]
        if resource.provider_urn in by_urn and by_urn[resource.provider_urn].type == PROVIDER:
            sources.append(by_urn[resource.provider_urn])
        for dependency in sources:
            source = top_of(dependency)
            if source is not None and source.urn != target.urn:
                edges.add((source.name, target.name))
    lines = ["flowchart LR"]
    for top in sorted(tops, key=lambda r: r.name):
        kind = "Kubernetes provider" if top.type == PROVIDER else top.type.rsplit(":", 1)[1]
        lines.append(f'  {_node_id(top.name)}["{kind}<br/>{top.name}"]')
    for source, target in sorted(edges):
        lines.append(f"  {_node_id(source)} --> {_node_id(target)}")
    return "\n".join(lines) + "\n"
