"""Shared fixtures: each stack's program runs once per session under the harness."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tools import harness

_GRAPHS: dict[str, harness.Graph] = {}


def graph_for(stack: str) -> harness.Graph:
    if stack not in _GRAPHS:
        _GRAPHS[stack] = harness.run(stack)
    return _GRAPHS[stack]


@pytest.fixture(params=["dev", "prod"])
def aws_graph(request: pytest.FixtureRequest) -> harness.Graph:
    return graph_for(request.param)


def stack_config(stack: str) -> dict[str, Any]:
    """A private deep copy of a stack file's config, for tests to change."""
    return copy.deepcopy(harness.load_stack_config(stack))
