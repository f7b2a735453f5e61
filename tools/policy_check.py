"""Evaluates the policy pack in-process on a captured graph, as the engine does in
`pulumi preview` and at the end of `pulumi up`: the same policy objects, resource rules
over each resource's inputs and stack rules over its outputs (the state), both through
the unknown-checking proxy, so values unknown during preview are reported as "cannot be
checked yet", never as violations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pulumi.output import Unknown
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from policy.podium_policies import POLICIES
from tools import harness


@dataclass(frozen=True)
class Finding:
    policy: str
    urn: str
    message: str


@dataclass
class Verdict:
    violations: list[Finding]
    unknown: list[Finding]  # could not be checked: values unknown until `pulumi up`

    @property
    def passed(self) -> bool:
        return not self.violations


def _engine_view(value: Any) -> Any:
    """Inputs as the analyzer receives them: unknowns as the engine's sentinel."""
    if isinstance(value, Unknown):
        return UNKNOWN_STRING_VALUE
    if isinstance(value, dict):
        return {k: _engine_view(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_engine_view(v) for v in value]
    return value


def _options(resource: harness.Resource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=resource.protect,
        ignore_changes=resource.ignore_changes,
        delete_before_replace=resource.delete_before_replace,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=resource.additional_secret_outputs,
        parent=resource.parent or None,
    )


def _policy_resources(graph: harness.Graph, *, outputs: bool) -> dict[str, PolicyResource]:
    """Resource rules get the custom resources with their inputs. Stack rules get, as
    the engine gives them (pulumi/pulumi, step_generator.go `AnalyzeResources`), every
    resource the program registered, components too, with its outputs (a component's
    are those it registered) and its parent."""
    listed = graph.resources if outputs else [r for r in graph.resources if r.custom]
    built = {
        r.urn: PolicyResource(
            resource_type=r.type,
            props=unknown_checking_proxy(_engine_view((r.state if r.custom else r.outputs) if outputs else r.inputs)),
            urn=r.urn,
            name=r.name,
            opts=_options(r),
            provider=None,
            parent=None,
            dependencies=[],
            property_dependencies={},
        )
        for r in listed
    }
    for r in listed:
        resource = built[r.urn]
        resource.parent = built.get(r.parent)
        resource.dependencies = [built[u] for u in r.dependencies if u in built]
        resource.property_dependencies = {
            prop: [built[u] for u in urns if u in built] for prop, urns in r.property_dependencies.items()
        }
    return built


def evaluate(graph: harness.Graph, policies: list[Any] | None = None) -> Verdict:
    verdict = Verdict([], [])
    declared = _policy_resources(graph, outputs=False)
    live = _policy_resources(graph, outputs=True)
    for policy in POLICIES if policies is None else policies:

        def report(message: str, urn: str | None = None, *, policy_name: str = policy.name, at: str = "") -> None:
            verdict.violations.append(Finding(policy_name, urn or at, message))

        if isinstance(policy, ResourceValidationPolicy):
            for resource in declared.values():
                args = ResourceValidationArgs(
                    resource.resource_type, resource.props, resource.urn, resource.name, resource.opts, None
                )
                try:
                    policy.validate(args, lambda m, u=None, r=resource.urn: report(m, u, at=r))
                except UnknownValueError as unknown:
                    verdict.unknown.append(Finding(policy.name, resource.urn, unknown.message))
        elif isinstance(policy, StackValidationPolicy):
            try:
                policy.validate(StackValidationArgs(list(live.values())), report)
            except UnknownValueError as unknown:
                verdict.unknown.append(Finding(policy.name, "", unknown.message))
    return verdict
