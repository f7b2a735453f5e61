"""Resource identities are pinned: every stack registers exactly the URNs in
tests/data/urns/<stack>.txt. A changed URN is a replacement on a real stack."""

from __future__ import annotations

import pytest

from tests.conftest import graph_for
from tools import harness, urns


@pytest.mark.parametrize("stack", harness.stacks())
def test_the_stack_registers_exactly_the_pinned_urns(stack: str) -> None:
    problem = urns.drift(stack, urns.urns(graph_for(stack)))
    assert problem is None, problem


def test_a_renamed_resource_is_reported_with_both_urns_and_the_way_out() -> None:
    found = urns.urns(graph_for("dev"))
    old = next(urn for urn in found if urn.endswith("::cluster-kms") and "kms/key:Key" in urn)
    renamed = [urn.replace("::cluster-kms", "::cluster-key") if urn == old else urn for urn in found]
    problem = urns.drift("dev", renamed)
    assert problem is not None
    assert f"no longer registered: {old}" in problem
    assert "newly registered:     " + old.replace("::cluster-kms", "::cluster-key") in problem
    assert "make urns" in problem and "aliases" in problem
