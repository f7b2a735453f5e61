"""Shared fixtures: each stack's program runs once per session under the harness."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tools import harness, helm_render, render, tfplan

# pytest imports this file as `conftest`, the tests as `tests.conftest`: one module under
# both names, so that each stack's program runs once per session, not once per name.
sys.modules.setdefault("tests.conftest", sys.modules[__name__])

CHECKOV = Path(__file__).resolve().parent.parent / ".venv-checkov" / "bin" / "checkov"
STACKS = ("dev", "staging", "prod", "local")
CHECKOV_FRAMEWORKS = ("kubernetes", "terraform_plan")

_GRAPHS: dict[str, harness.Graph] = {}
_RENDERED: dict[str, dict[str, helm_render.Rendered]] = {}


def graph_for(stack: str) -> harness.Graph:
    if stack not in _GRAPHS:
        _GRAPHS[stack] = harness.run(stack)
    return _GRAPHS[stack]


_PREVIEWS: dict[str, harness.Graph] = {}


def preview_graph_for(stack: str) -> harness.Graph:
    """The stack as `pulumi preview` shows a new stack: ids and computed outputs unknown."""
    if stack not in _PREVIEWS:
        _PREVIEWS[stack] = harness.run(stack, preview=True)
    return _PREVIEWS[stack]


def rendered_for(stack: str) -> dict[str, helm_render.Rendered]:
    """The stack's Helm releases rendered by the real Helm, by release name."""
    if stack not in _RENDERED:
        _RENDERED[stack] = {r.release: r for r in helm_render.render_stack(graph_for(stack))}
    return _RENDERED[stack]


@pytest.fixture(params=["dev", "prod"])
def aws_graph(request: pytest.FixtureRequest) -> harness.Graph:
    return graph_for(request.param)


def stack_config(stack: str) -> dict[str, Any]:
    """A private deep copy of a stack file's config, for tests to change."""
    return copy.deepcopy(harness.load_stack_config(stack))


_CHECKOV: dict[str, subprocess.Popen[str]] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """checkov runs in the background from the session's start: the tests that read its
    reports go last, so that everything else runs meanwhile (a stable sort)."""
    items.sort(key=lambda item: bool({"checkov_report", "checkov_reports"} & set(getattr(item, "fixturenames", ()))))


@pytest.fixture(scope="session", autouse=True)
def _checkov_in_the_background(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Starts the one checkov run as the session starts, on the machine's other core:
    its start-up and checks are the slowest single thing in the suite."""
    if not CHECKOV.exists():
        yield  # checkov_report says what is missing
        return
    root = tmp_path_factory.mktemp("manifests")
    for stack in STACKS:
        render.write_manifests(graph_for(stack), root / stack / "app")
        if graph_for(stack).cloud_resources():
            plan = tfplan.terraform_plan(graph_for(stack))
            (root / stack / tfplan.FILE_NAME).write_text(json.dumps(plan, indent=1))
        for release in rendered_for(stack).values():
            objects = [o for o in release.objects if o["kind"] != "CustomResourceDefinition"]
            digest = hashlib.sha256(json.dumps(objects, sort_keys=True).encode()).hexdigest()[:12]
            folder = root / "addons" / release.release / digest
            if not folder.exists():
                render.write_objects(objects, folder)
    _CHECKOV["run"] = subprocess.Popen(
        [str(CHECKOV), "-d", str(root), "--framework", *CHECKOV_FRAMEWORKS, "--skip-download", "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    yield
    _CHECKOV["run"].kill()  # a no-op once read; a run no test waited for ends with the session
    _CHECKOV["run"].wait()


@pytest.fixture(scope="session")
def checkov_reports() -> dict[str, dict[str, Any]]:
    """checkov's reports, by framework, from its one run over every stack:
    `<stack>/terraform-plan.json` the AWS resources as a Terraform plan (tools/tfplan.py),
    `<stack>/app/` the program's own Kubernetes objects, and
    `addons/<release>/<digest>/` each distinct rendering of a Helm release (most are the
    same on every AWS stack). CRDs stay out: checkov has no check for them, and they are
    most of the bytes."""
    assert CHECKOV.exists(), f"{CHECKOV} is missing: run `make venv` (it builds the checkov venv)"
    stdout, _ = _CHECKOV["run"].communicate()
    reports = {report["check_type"]: report for report in json.loads(stdout)}
    assert sorted(reports) == sorted(CHECKOV_FRAMEWORKS), f"checkov reported {sorted(reports)}"
    return reports


@pytest.fixture(scope="session")
def checkov_report(checkov_reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """checkov's Kubernetes report: the program's objects and the add-ons."""
    return checkov_reports["kubernetes"]


def node_pool_resources(graph: harness.Graph, type_: str) -> list[harness.Resource]:
    """The resources of `type_` that belong to a node pool (a NodeGroup component): the
    NAT instance's group and template are no nodes."""
    return [r for r in graph.of_type(type_) if "podium:nodes:NodeGroup" in r.parent]


@pytest.fixture
def plan_reuses_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """`tools.plan.main` on a stack's own file gets the session's run of that stack (the
    same program on the same config) instead of running it again: the plan's printing,
    cost, capacity and policy paths are what such tests check."""
    run = harness.run

    def shared(stack: str, config: Any = None, **options: Any) -> harness.Graph:
        if not options and config == harness.load_stack_config(stack):
            return graph_for(stack)
        return run(stack, config, **options)

    monkeypatch.setattr(harness, "run", shared)
