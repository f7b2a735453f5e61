"""The GitHub workflows: valid against GitHub's schema (check-jsonschema), free of
zizmor findings (offline, auditor persona), every action pinned to a verified commit,
least privilege, and one run at a time per stack."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools import harness

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent
PINS = yaml.safe_load((Path(__file__).parent / "data" / "github-actions-pins.yaml").read_text())["actions"]
USES = re.compile(r"^\s*(?:- )?uses: (?P<action>[\w./-]+)@(?P<ref>\S+)(?: # (?P<tag>\S+))?\s*$")


def load(path: Path) -> dict[str, Any]:
    # YAML 1.1 reads the `on:` key as True; GitHub reads it as the trigger map.
    document = yaml.safe_load(path.read_text())
    document["on"] = document.pop(True, document.get("on"))
    return document


def zizmor(*paths: Path) -> list[dict[str, Any]]:
    run = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--persona", "auditor", "--format", "json", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    return json.loads(run.stdout or "[]")


def test_workflows_exist() -> None:
    assert [p.name for p in WORKFLOWS] == ["deploy.yml", "preview.yml"]


def test_workflows_match_githubs_schema() -> None:
    run = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_zizmor_finds_nothing_even_as_an_auditor() -> None:
    findings = zizmor(*WORKFLOWS)
    assert [(f["ident"], f["determinations"]["severity"]) for f in findings] == []


def test_zizmor_does_see_a_careless_workflow(tmp_path: Path) -> None:
    careless = tmp_path / "careless.yml"
    careless.write_text(
        "on: pull_request\n"
        "jobs:\n"
        "  build:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    severities = {f["ident"]: f["determinations"]["severity"] for f in zizmor(careless)}
    assert {"unpinned-uses", "artipacked", "template-injection"} <= set(severities)
    assert {"Medium", "High"} & set(severities.values())


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_verified_commit_with_its_tag(path: Path) -> None:
    uses = [USES.match(line) for line in path.read_text().splitlines() if "uses:" in line]
    assert uses and all(uses)
    for match in uses:
        assert match is not None
        pin = PINS[match["action"]]
        assert (match["ref"], match["tag"]) == (pin["sha"], pin["tag"]), match.group(0)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_and_no_persisted_credentials(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        permissions = job["permissions"]
        assert permissions["contents"] == "read", name
        steps = job["steps"]
        assumes_role = any(s.get("uses", "").startswith("aws-actions/configure-aws-credentials") for s in steps)
        assert (permissions.get("id-token") == "write") == assumes_role, name
        assert set(permissions) <= {"contents", "id-token", "pull-requests"}, name
        for step in steps:
            if step.get("uses", "").startswith("actions/checkout"):
                assert step["with"]["persist-credentials"] is False
            if step.get("uses", "").startswith("pulumi/actions"):
                assert set(step["with"]) <= set(PINS["pulumi/actions"]["inputs"]), step["with"]
                assert step["with"]["policyPacks"] == "policy"
            assert "AWS_ACCESS_KEY_ID" not in json.dumps(step), "AWS access is by OIDC role only"


def test_pull_requests_preview_every_stack_with_the_policy_pack() -> None:
    workflow = load(ROOT / ".github" / "workflows" / "preview.yml")
    assert set(workflow["on"]) == {"pull_request"}
    job = workflow["jobs"]["preview"]
    aws_stacks = [s for s in harness.stacks() if s != "local"]
    assert sorted(job["strategy"]["matrix"]["stack"]) == aws_stacks
    (pulumi,) = [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions")]
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["comment-on-pr"] is True


def test_main_updates_dev_then_prod_behind_approval_one_run_per_stack() -> None:
    workflow = load(ROOT / ".github" / "workflows" / "deploy.yml")
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    dev, prod = workflow["jobs"]["up-dev"], workflow["jobs"]["up-prod"]
    assert prod["needs"] == "up-dev" and dev["needs"] == "test"
    assert prod["environment"] == "production"
    for job, stack in ((dev, "dev"), (prod, "prod")):
        assert job["concurrency"] == {"group": f"pulumi-{stack}", "cancel-in-progress": False}
        (pulumi,) = [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions")]
        assert pulumi["with"]["command"] == "up"
        assert pulumi["with"]["stack-name"].endswith(f"/podium/{stack}")
