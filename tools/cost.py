"""The monthly cost estimate of a planned stack: policy/cost_model.py's estimator (the
one the policy pack's budget rule runs too) over the harness's graph, and the estimate
as the JSON `python -m tools.plan <stack> --cost-json FILE` writes (docs/development.md,
"The cost estimate as JSON"), which tools/cost_diff.py compares between two revisions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policy import cost_model
from policy.cost_model import Estimate, Item, PoolBounds, price_table, render
from tools import harness

__all__ = ["JSON_FORMAT", "Estimate", "Item", "PoolBounds", "as_json", "estimate", "price_table", "records", "render"]

# Bumped when a key changes meaning or goes away (adding one does not): tools/cost_diff
# compares only estimates of the same format.
JSON_FORMAT = 1


def records(graph: harness.Graph) -> list[cost_model.Record]:
    """Every resource with its inputs: what the program declares."""
    by_urn = {r.urn: r for r in graph.resources}

    def ancestors(resource: harness.Resource) -> Iterator[tuple[str, str]]:
        parent = by_urn.get(resource.parent)
        while parent is not None:
            yield parent.type, parent.name
            parent = by_urn.get(parent.parent)

    return [
        cost_model.Record(
            type=r.type,
            name=r.name,
            urn=r.urn,
            properties=r.inputs,
            component=cost_model.top_component(r.name, ancestors(r)),
            dependencies=tuple(r.dependencies),
        )
        for r in graph.resources
    ]


def estimate(graph: harness.Graph, prices: Mapping[str, Any] | None = None) -> Estimate:
    return cost_model.estimate(records(graph), prices)


def _cents(value: float) -> float:
    return round(value, 2)


def as_json(estimate_: Estimate, stack: str) -> dict[str, Any]:
    """The estimate as plain JSON data: money in USD a month, rounded to cents."""
    prices = price_table()
    standing = estimate_.standing
    return {
        "format": JSON_FORMAT,
        "stack": stack,
        "currency": cost_model.CURRENCY,
        "prices": {"region": cost_model.PRICE_REGION, "asOf": prices["asOf"], "hoursPerMonth": prices["hoursPerMonth"]},
        "total": _cents(estimate_.total),
        "eksEquivalent": None if estimate_.eks_equivalent is None else _cents(estimate_.eks_equivalent),
        "ceiling": _cents(estimate_.ceiling),
        "components": {
            name: _cents(total)
            for name, total in sorted(estimate_.by_component().items(), key=lambda kv: (-kv[1], kv[0]))
        },
        "items": [
            {
                "key": i.key,
                "component": i.component,
                "what": i.what,
                "monthly": _cents(i.monthly),
                "assumption": i.assumption,
            }
            # The program registers in no fixed order: sorted, two plans compare line by line.
            for i in sorted(estimate_.items, key=lambda i: (i.component, i.key))
        ],
        "pools": [
            {
                "component": p.component,
                "what": p.what,
                "minNodes": p.min_nodes,
                "maxNodes": p.max_nodes,
                "initialNodes": p.initial_nodes,
                "minMonthly": _cents(p.min_monthly),
                "maxMonthly": _cents(p.max_monthly),
            }
            for p in sorted(estimate_.pools, key=lambda p: p.component)
        ],
        "unpriced": sorted(estimate_.unpriced),
        "usagePriced": list(estimate_.usage_priced),
        "budget": None
        if standing is None
        else {
            "monthlyUsd": standing.limit,
            "difference": _cents(standing.difference),
            "percent": round(standing.percent, 1),
            "over": standing.over,
        },
    }
