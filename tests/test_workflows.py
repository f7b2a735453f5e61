"""The GitHub workflows: valid against GitHub's schema (check-jsonschema), free of
zizmor findings (offline, auditor persona), every action pinned to a verified commit,
least privilege, and one run at a time per stack."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools import cost_diff, harness

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
    assert [p.name for p in WORKFLOWS] == ["deploy.yml", "preview.yml", "pulumi.yml"]


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


LOCAL_WORKFLOW = re.compile(r"^\s*uses: \./(?P<path>\.github/workflows/[\w-]+\.yml)(?: +#.*)?$")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_verified_commit_with_its_tag(path: Path) -> None:
    lines = [line for line in path.read_text().splitlines() if re.match(r"^\s*(- )?uses:", line)]
    local = [LOCAL_WORKFLOW.match(line) for line in lines]
    # This repository's own reusable workflow runs at the caller's commit: nothing to pin.
    assert all((ROOT / m["path"]).is_file() for m in local if m)
    uses = [USES.match(line) for line, m in zip(lines, local, strict=True) if not m]
    assert all(uses), lines
    for match in uses:
        assert match is not None
        pin = PINS[match["action"]]
        assert (match["ref"], match["tag"]) == (pin["sha"], pin["tag"]), match.group(0)


def calls_pulumi(job: dict[str, Any]) -> bool:
    return job.get("uses") == "./.github/workflows/pulumi.yml"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_and_no_persisted_credentials(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        permissions = job["permissions"]
        assert permissions["contents"] == "read", name
        steps = job.get("steps", [])
        assumes_role = calls_pulumi(job) or any(
            s.get("uses", "").startswith("aws-actions/configure-aws-credentials") for s in steps
        )
        assert (permissions.get("id-token") == "write") == assumes_role, name
        assert set(permissions) <= {"contents", "id-token", "pull-requests"}, name
        if "secrets" in job:
            assert job["secrets"] == {"PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}"}, "never inherit"
        for step in steps:
            if step.get("uses", "").startswith("actions/checkout"):
                assert step["with"]["persist-credentials"] is False
            if step.get("uses", "").startswith("pulumi/actions"):
                assert set(step["with"]) <= set(PINS["pulumi/actions"]["inputs"]), step["with"]
                assert step["with"]["policyPacks"] == "policy"
            assert "AWS_ACCESS_KEY_ID" not in json.dumps(step), "AWS access is by OIDC role only"


def pulumi_job() -> dict[str, Any]:
    workflow = load(ROOT / ".github" / "workflows" / "pulumi.yml")
    assert set(workflow["on"]) == {"workflow_call"}
    (job,) = workflow["jobs"].values()
    return job


def test_every_stack_command_runs_on_the_runner_its_caller_names() -> None:
    job = pulumi_job()
    assert "inputs.runs-on" in job["runs-on"]
    (pulumi,) = [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions")]
    assert pulumi["with"]["command"] == "${{ inputs.command }}"
    assert pulumi["with"]["stack-name"] == "${{ vars.PULUMI_ORG }}/podium/${{ inputs.stack }}"
    # Deploys and previews name different runners: a preview runs a pull request's code.
    callers = [
        (path.name, job["with"]["runs-on"])
        for path in WORKFLOWS
        for job in load(path)["jobs"].values()
        if calls_pulumi(job)
    ]
    assert {runner for name, runner in callers if name == "deploy.yml"} == {"${{ vars.PODIUM_RUNS_ON }}"}
    assert {runner for name, runner in callers if name == "preview.yml"} == {"${{ vars.PODIUM_PREVIEW_RUNS_ON }}"}


def guard(command: str, *, runner: str = "podium-vpc", role: str = "arn:aws:iam::1:role/r", token: str = "t"):
    """The first step's script, run as the runner would (bash -e)."""
    step = pulumi_job()["steps"][0]
    assert step["name"] == "Check the runner, the role and the token"
    environment = {"COMMAND": command, "RUNNER": runner, "ROLE": role, "TOKEN": token, "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        ["bash", "-e", "-c", step["run"]], env=environment, capture_output=True, text=True, check=False
    )


def test_the_guard_step_is_shellcheck_clean() -> None:
    done = subprocess.run(
        [str(BIN / "shellcheck"), "--shell=bash", "-"],
        input=pulumi_job()["steps"][0]["run"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize(
    ("command", "change", "fails", "says"),
    [
        ("up", {}, False, ""),
        ("up", {"runner": ""}, True, "::error title=No runner for the cluster::set PODIUM_RUNS_ON"),
        ("preview", {"runner": ""}, False, "::warning title=No runner for the cluster::PODIUM_PREVIEW_RUNS_ON"),
        ("up", {"role": ""}, True, "::error title=No AWS role::set the repository variable AWS_DEPLOY_ROLE_ARN"),
        ("preview", {"role": ""}, True, "AWS_PREVIEW_ROLE_ARN"),
        ("up", {"token": ""}, True, "::error title=No Pulumi token::"),
    ],
)
def test_a_missing_runner_role_or_token_stops_before_anything_runs(
    command: str, change: dict[str, str], fails: bool, says: str
) -> None:
    done = guard(command, **change)
    assert (done.returncode != 0) == fails, done.stdout
    assert says in done.stdout


def test_pull_requests_preview_every_stack_with_the_policy_pack() -> None:
    workflow = load(ROOT / ".github" / "workflows" / "preview.yml")
    assert set(workflow["on"]) == {"pull_request"}
    job = workflow["jobs"]["preview"]
    aws_stacks = [s for s in harness.stacks() if s != "local"]
    assert sorted(job["strategy"]["matrix"]["stack"]) == aws_stacks
    assert calls_pulumi(job) and job["with"]["command"] == "preview"
    # A fork's pull request gets no OIDC token and no secrets: skipped, not failed.
    assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert "if" not in workflow["jobs"]["test"]


def held_groups(workflow: dict[str, Any], job: str) -> set[str]:
    """The concurrency groups a job holds while it runs (or waits for approval): the
    workflow's own group for the whole run, and its job's group (GitHub docs, "Using
    concurrency")."""
    groups = {workflow["concurrency"]["group"]} if "concurrency" in workflow else set()
    if "concurrency" in workflow["jobs"][job]:
        groups.add(workflow["jobs"][job]["concurrency"]["group"])
    return groups


def test_a_prod_approval_wait_blocks_only_prod() -> None:
    workflow = load(ROOT / ".github" / "workflows" / "deploy.yml")
    waiting = held_groups(workflow, "up-prod")  # an earlier run, waiting for reviewers
    blocked = [job for job in workflow["jobs"] if held_groups(workflow, job) & waiting]
    assert blocked == ["up-prod"]


def test_main_updates_dev_then_staging_then_prod_behind_approval_one_run_per_stack() -> None:
    workflow = load(ROOT / ".github" / "workflows" / "deploy.yml")
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    assert "concurrency" not in workflow
    jobs = workflow["jobs"]
    assert [jobs[j]["needs"] for j in ("up-dev", "up-staging", "up-prod")] == ["test", "up-dev", "up-staging"]
    # Every stack the previews show is deployed, in order.
    assert sorted(j["with"]["stack"] for j in jobs.values() if calls_pulumi(j)) == sorted(
        s for s in harness.stacks() if s != "local"
    )
    for name, stack, environment in (
        ("up-dev", "dev", "dev"),
        ("up-staging", "staging", "staging"),
        ("up-prod", "prod", "production"),
    ):
        job = jobs[name]
        assert job["concurrency"] == {"group": f"pulumi-{stack}", "cancel-in-progress": False}
        assert job["with"] == {
            "command": "up",
            "stack": stack,
            "environment": environment,
            "runs-on": "${{ vars.PODIUM_RUNS_ON }}",
        }


# -- the cost of a pull request ------------------------------------------------------------------


def cost_jobs() -> tuple[dict[str, Any], dict[str, Any]]:
    jobs = load(ROOT / ".github" / "workflows" / "preview.yml")["jobs"]
    return jobs["cost"], jobs["cost-comment"]


def test_pull_requests_get_their_cost_from_two_plans_by_least_privilege() -> None:
    estimate, comment = cost_jobs()
    # The job that runs the pull request's code may read the repository, nothing else.
    assert estimate["permissions"] == {"contents": "read"}
    assert not {"secrets", "environment", "uses", "if"} & set(estimate)
    checkouts = [s for s in estimate["steps"] if s.get("uses", "").startswith("actions/checkout")]
    assert [c["with"].get("ref") for c in checkouts] == [None, "${{ github.event.pull_request.base.sha }}"]
    assert checkouts[1]["with"]["path"] == "base"
    scripts = "\n".join(s.get("run", "") for s in estimate["steps"])
    assert 'python -m tools.plan "$stack" --cost-json' in scripts and "python -m tools.cost_diff" in scripts
    # The job that writes the comment runs nothing of the pull request's.
    assert comment["needs"] == "cost"
    assert comment["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert comment["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    (post,) = comment["steps"]
    assert "uses" not in post
    assert post["env"]["COMMENT"] == "${{ needs.cost.outputs.comment }}"
    assert post["env"]["MARKER"] == cost_diff.MARKER


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_script_expands_an_expression(path: Path) -> None:
    """Values reach scripts through `env:`; an expression in a script is injected as code."""
    for job in load(path)["jobs"].values():
        for step in job.get("steps", []):
            assert "${{" not in step.get("run", ""), step.get("name")


@pytest.mark.parametrize("job", ["cost", "cost-comment"])
def test_the_cost_scripts_are_shellcheck_clean(job: str) -> None:
    steps = dict(zip(("cost", "cost-comment"), cost_jobs(), strict=True))[job]["steps"]
    for step in (s for s in steps if "run" in s):
        done = subprocess.run(
            [str(BIN / "shellcheck"), "--shell=bash", "-"], input=step["run"], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout


GH_STUB = """#!/usr/bin/env bash
printf '%s\\x1f' "$@" >>"$GH_LOG"
printf '\\x1e' >>"$GH_LOG"
if [ "$2" = --paginate ]; then cat "$GH_COMMENTS"; fi
"""


@pytest.mark.parametrize(
    ("pages", "call"),
    [
        ("[]", "--method\x1fPOST\x1frepos/o/r/issues/42/comments"),
        # Another author's comment that starts alike is not ours to edit; ours is on the second page.
        (
            '[{"id": 5, "user": {"login": "someone"}, "body": "<!-- podium-cost-estimate -->"}]\n'
            '[{"id": 7, "user": {"login": "github-actions[bot]"}, "body": "<!-- podium-cost-estimate -->\\nold"}]',
            "--method\x1fPATCH\x1frepos/o/r/issues/comments/7",
        ),
    ],
)
def test_the_cost_comment_is_posted_once_then_updated(tmp_path: Path, pages: str, call: str) -> None:
    jq = shutil.which("jq")
    assert jq, "the comment step uses jq (on GitHub's runners); install it to run this test"
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "gh").write_text(GH_STUB)
    (stubs / "gh").chmod(0o755)
    (stubs / "jq").symlink_to(jq)
    (tmp_path / "comments.json").write_text(pages)
    (post,) = cost_jobs()[1]["steps"]
    environment = {
        "PATH": f"{stubs}:/usr/bin:/bin",
        "GH_LOG": str(tmp_path / "gh.log"),
        "GH_COMMENTS": str(tmp_path / "comments.json"),
        "REPOSITORY": "o/r",
        "PULL_REQUEST": "42",
        "COMMENT": f"{cost_diff.MARKER}\n## Monthly cost estimate\n",
        "MARKER": post["env"]["MARKER"],
    }
    done = subprocess.run(["bash", "-e", "-c", post["run"]], env=environment, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    listing, write, _ = (tmp_path / "gh.log").read_text().split("\x1f\x1e")
    assert listing.startswith("api\x1f--paginate\x1frepos/o/r/issues/42/comments")
    assert write.startswith(f"api\x1f{call}\x1f-f\x1fbody={cost_diff.MARKER}")
