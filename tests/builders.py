"""Hand-made graph resources, for tests that need a few resources of a given shape."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from tools import harness


def resource(
    type_: str,
    name: str,
    inputs: dict[str, Any],
    *,
    parent: str = "",
    protect: bool = False,
    depends: Mapping[str, Sequence[harness.Resource]] | None = None,
    dependencies: Sequence[str] = (),
    state: dict[str, Any] | None = None,
) -> harness.Resource:
    """A captured resource: `depends` maps an input to the resources it came from
    (property dependencies); `dependencies` adds plain ones by URN. Its outputs
    (`state`) are its inputs unless given, as a provider answers a create."""
    property_dependencies = {key: [r.urn for r in values] for key, values in (depends or {}).items()}
    return harness.Resource(
        urn=f"urn:pulumi:test::podium::{type_}::{name}",
        type=type_,
        name=name,
        custom=not type_.startswith("podium:"),
        parent=parent,
        provider="",
        dependencies=[*dependencies, *(u for urns in property_dependencies.values() for u in urns)],
        property_dependencies=property_dependencies,
        protect=protect,
        delete_before_replace=False,
        retain_on_delete=False,
        ignore_changes=[],
        replace_on_changes=[],
        additional_secret_outputs=[],
        inputs=inputs,
        secret_inputs=set(),
        state=copy.deepcopy(inputs) if state is None else state,
    )
