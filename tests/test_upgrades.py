"""Kubernetes upgrades by one setting: the versions data and the skew guard, the
control-plane upgrade script (under bash, against stubs), its driver (against a fake
SSM client), and what a version change does to the stack's graph."""

from __future__ import annotations

import functools
import json
from datetime import date
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.cluster import control_plane_upgrade as cpu
from components.cluster import version_record
from components.cluster.control_plane_upgrade import Member, UpgradeFailed
from components.config import versions
from tests.conftest import graph_for, node_pool_resources, stack_config
from tests.test_userdata import Node, shellcheck
from tools import configdoc, harness

RECORD = "/podium/podium-dev/kubernetes/version"
ENDPOINT_RECORD = "/podium/podium-dev/kubernetes/api-endpoint"
TODAY = date(2026, 11, 27)


@functools.cache
def run_with_record(version: str, recorded: str | None) -> harness.Graph:
    """dev at `version`, its record saying the control planes run `recorded` (one run
    per pair: the graph is only read)."""
    config = stack_config("dev")
    config["podium:kubernetesVersion"] = version
    # dev's cluster as it was made: its endpoint behind the NAT instance.
    record = {RECORD: recorded, ENDPOINT_RECORD: "natInstance"} if recorded else {}
    return harness.run("dev", config, parameters=record)


def refusal(version: str, recorded: str | None) -> str:
    with pytest.raises(harness.ProgramError) as caught:
        run_with_record(version, recorded)
    return str(caught.value)


# -- the versions data and the guard ----------------------------------------------------------------


def test_offered_minors_are_those_with_every_tied_piece_and_1_37_says_what_it_lacks() -> None:
    assert versions.newest_patches() == {"1.35": "1.35.8", "1.36": "1.36.4"}
    assert versions.missing_pieces("1.37") == [
        "a container runtime pin",
        "a cloud-controller-manager image",
        "a cluster-autoscaler image",
        "an end-of-life date",
    ]
    message = refusal("1.37.1", None)
    assert "podium:kubernetesVersion: 1.37 is not offered yet" in message
    assert "no cloud-controller-manager image, no cluster-autoscaler image" in message


def test_an_end_of_life_minor_and_an_unknown_patch_are_refused_by_the_settings() -> None:
    assert "podium:kubernetesVersion: 1.34 reached end of life on 2026-10-27 and is not offered" in refusal(
        "1.34.11", None
    )
    assert "1.35.99 is newer than the newest checked 1.35 release, 1.35.8" in refusal("1.35.99", None)


def test_a_new_cluster_on_a_minor_past_its_end_of_life_is_refused_an_existing_one_warned() -> None:
    after = date(2027, 3, 1)  # 1.35's end of life is 2027-02-28
    errors, _ = versions.version_change(None, "1.35.8", after)
    assert errors == ["1.35 reached end of life on 2027-02-28: a new cluster needs a supported minor (1.36)"]
    errors, warnings = versions.version_change("1.35.8", "1.35.8", after)
    assert errors == [] and warnings == ["1.35 reached end of life on 2027-02-28: upgrade to a supported minor"]
    _, warnings = versions.version_change("1.35.7", "1.35.8", date(2027, 1, 5))
    assert warnings == [
        "1.35 is in maintenance since 2026-12-28 and reaches end of life on 2027-02-28: plan the upgrade"
    ]
    assert versions.version_change(None, "1.35.8", TODAY) == ([], [])


def test_a_skipped_minor_and_a_downgrade_are_refused_naming_the_key_and_both_versions() -> None:
    skipped = refusal("1.36.4", "1.34.11")
    assert "podium:kubernetesVersion: 1.34.11 to 1.36.4 skips a minor" in skipped and "set 1.35.x (1.35.8)" in skipped
    down = refusal("1.35.8", "1.36.4")
    assert "podium:kubernetesVersion: 1.35.8 is older than the 1.36.4 the control planes run" in down
    assert "podium:kubernetesVersion: 1.35.7 is older than the 1.35.8" in refusal("1.35.7", "1.35.8")


def test_a_patch_bump_and_a_one_minor_upgrade_pass() -> None:
    assert run_with_record("1.35.8", "1.35.7").exports["kubernetesVersion"] == "1.35.8"
    assert run_with_record("1.36.4", "1.35.8").exports["kubernetesVersion"] == "1.36.4"


def test_the_guard_warns_an_existing_cluster_past_end_of_life_and_stops_a_refused_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the program does with the verdict (the plan prints warnings; an error stops it)."""
    monkeypatch.setattr(version_record, "cluster_record", lambda _cluster, _provider: {RECORD: "1.35.8"})
    warned: list[str] = []
    monkeypatch.setattr(version_record.pulumi.log, "warn", lambda message, *_a, **_k: warned.append(message))
    provider: Any = None
    version_record.check_version("podium-dev", "1.35.8", provider, date(2027, 3, 1), api_endpoint="public")
    assert warned == ["podium:kubernetesVersion: 1.35 reached end of life on 2027-02-28: upgrade to a supported minor"]
    with pytest.raises(pulumi.RunError, match=r"podium:kubernetesVersion: 1\.35\.8 is older than"):
        monkeypatch.setattr(version_record, "cluster_record", lambda _cluster, _provider: {RECORD: "1.36.4"})
        version_record.check_version("podium-dev", "1.35.8", provider, TODAY, api_endpoint="public")


def test_the_record_is_written_after_the_control_planes_and_read_from_the_path_the_guard_reads() -> None:
    graph = graph_for("dev")
    (record,) = [p for p in graph.of_type("aws:ssm/parameter:Parameter") if p.inputs["name"] == RECORD]
    upgrade = graph.one("pulumi-python:dynamic:Resource", "cluster-control-plane-version")
    assert record.inputs["value"] == "1.35.8" and upgrade.urn in record.dependencies


def test_the_docs_table_is_generated_from_the_data() -> None:
    text = configdoc.OPERATIONS.read_text()
    assert text == configdoc.generated(configdoc.OPERATIONS, text), "run `make docs`"
    assert "| 1.36 | 1.36.4 | 2027-06-28 | `v1.36.1` | `v1.36.1` | yes |" in text
    assert "| 1.37 | 1.37.1 | not in the data | none | none | no: " in text


# -- the upgrade script, against stubs ------------------------------------------------------------------


def member_script(version: str = "1.36.4", *, first: bool = True, drain: bool = True) -> str:
    return cpu.script(version, Member("i-0abc", "ip-10-20-1-5.ec2.internal"), first=first, drain=drain)


def test_the_upgrade_script_is_shellcheck_clean() -> None:
    assert shellcheck(member_script()) == ""


@pytest.fixture
def plane(tmp_path: Path) -> Node:
    node = Node(tmp_path)
    (node.root / "etc/apt/sources.list.d").mkdir(parents=True)
    return node


UPGRADE_ORDER_FIRST = [
    r"^curl .*https://pkgs\.k8s\.io/core:/stable:/v1\.36/deb/Release\.key",
    r"^apt-get .* update$",
    r"^apt-get .*install .*kubeadm=1\.36\.4-\*",
    r"^apt-mark hold kubeadm",
    r"^kubeadm upgrade plan v1\.36\.4",
    r"^kubeadm upgrade apply -y v1\.36\.4",
    r"^kubectl drain ip-10-20-1-5\.ec2\.internal --ignore-daemonsets",
    r"^apt-get .*install .*kubelet=1\.36\.4-\* kubectl=1\.36\.4-\*",
    r"^systemctl restart kubelet",
    r"^kubectl uncordon ip-10-20-1-5\.ec2\.internal",
    r"^kubectl get node ip-10-20-1-5\.ec2\.internal",
]


def test_the_first_member_applies_the_upgrade_in_kubeadms_order(plane: Node) -> None:
    run = plane.run(member_script(first=True))
    assert run.returncode == 0, run.everything_printed()
    positions = [run.index(pattern) for pattern in UPGRADE_ORDER_FIRST]
    assert positions == sorted(positions)
    sources = plane.root / "etc/apt/sources.list.d/kubernetes.list"
    assert "https://pkgs.k8s.io/core:/stable:/v1.36/deb/ /" in sources.read_text()
    assert run.count(r"^kubeadm upgrade node") == 0
    assert "healthy on v1.36.4" in run.output
    # The health checks ask about this member's own pods, and its API server's version.
    assert run.count(r"get pod etcd-ip-10-20-1-5\.ec2\.internal kube-apiserver-ip-10-20-1-5\.ec2\.internal ") >= 1
    assert run.count(r"get pod kube-apiserver-ip-10-20-1-5\.ec2\.internal -o jsonpath=\{\.spec\.containers") >= 1
    # Every apt call waits for a lock another apt holds; the whole output stays on the node.
    assert all("DPkg::Lock::Timeout=600" in call for call in run.calls if call.startswith("apt-get "))
    assert "healthy on v1.36.4" in run.file("/var/log/podium-upgrade.log").read_text()


def test_a_single_control_plane_is_not_drained(plane: Node) -> None:
    """Nowhere to drain to: the control-plane pods and their budgets would hold it forever."""
    run = plane.run(member_script(drain=False))
    assert run.returncode == 0, run.everything_printed()
    assert run.count(r"^kubectl drain") == 0
    assert run.index(r"^kubeadm upgrade apply") < run.index(r"^systemctl restart kubelet")


def test_the_other_members_upgrade_their_node_not_the_cluster(plane: Node) -> None:
    run = plane.run(member_script(first=False))
    assert run.returncode == 0, run.everything_printed()
    assert run.count(r"^kubeadm upgrade (plan|apply)") == 0
    assert (
        run.index(r"^kubeadm upgrade node$") < run.index(r"^kubectl drain ") < run.index(r"^systemctl restart kubelet")
    )


@pytest.mark.parametrize(
    "failing", [r"^kubeadm upgrade apply", r"^apt-get .*install .*kubeadm=", r"^kubectl drain", r"^apt-get .* update$"]
)
def test_the_script_stops_at_a_failing_step(plane: Node, failing: str) -> None:
    run = plane.run(member_script(), fail=failing)
    assert run.returncode != 0
    assert run.count(r"^systemctl restart kubelet") == 0 and run.count(r"^kubectl uncordon") == 0
    assert "FAILED" in run.output


def test_a_member_that_stays_unhealthy_fails_after_the_health_deadline(plane: Node) -> None:
    (plane.state / "etcd-not-ready").touch()
    script = member_script().replace("health_seconds=600", "health_seconds=0")
    run = plane.run(script)
    assert run.returncode != 0
    assert "is not healthy after 0s: API server, etcd and node must be Ready on v1.36.4" in run.output


def test_a_second_run_after_success_only_checks_health(plane: Node) -> None:
    assert plane.run(member_script()).returncode == 0
    again = plane.run(member_script())
    assert again.returncode == 0
    assert "already runs v1.36.4" in again.output
    assert again.count(r"^(apt-get|kubeadm upgrade|kubectl drain|systemctl)") == 0
    # It uncordons the node anyway: a run that stopped after the kubelet's restart left it cordoned.
    assert again.count(r"^kubectl uncordon ip-10-20-1-5\.ec2\.internal") == 1


def test_a_run_after_a_failed_apply_picks_up_where_it_stopped(plane: Node) -> None:
    assert plane.run(member_script(), fail=r"^kubeadm upgrade apply").returncode != 0
    resumed = plane.run(member_script())
    assert resumed.returncode == 0, resumed.everything_printed()
    # kubeadm is already the new one: not installed again; the apply and the rest run.
    assert resumed.count(r"^apt-get .*install .*kubeadm=") == 0
    assert resumed.index(r"^kubeadm upgrade apply") < resumed.index(r"^systemctl restart kubelet")


# -- the driver, against a fake SSM client --------------------------------------------------------------


class InvocationDoesNotExist(Exception):
    pass


class InvalidInstanceId(Exception):
    pass


class FakeSsm:
    """Answers send_command and get_command_invocation from a per-instance script of
    statuses (the last one repeats)."""

    class exceptions:
        InvocationDoesNotExist = InvocationDoesNotExist
        InvalidInstanceId = InvalidInstanceId

    def __init__(self, statuses: dict[str, list[str]]) -> None:
        self.statuses = statuses
        self.sent: list[tuple[str, str]] = []  # (instance, script)
        self.polls: dict[str, int] = {}
        self.unregistered: dict[str, int] = {}  # instance -> sends refused before its agent registers
        self.cancelled: list[tuple[str, ...]] = []

    def cancel_command(self, CommandId: str, InstanceIds: list[str]) -> None:
        self.cancelled.append((CommandId, *InstanceIds))

    def send_command(self, **kwargs: Any) -> dict[str, Any]:
        (instance,) = kwargs["InstanceIds"]
        if self.unregistered.get(instance, 0) > 0:
            self.unregistered[instance] -= 1
            raise InvalidInstanceId(f"{instance} is not registered")
        assert kwargs["DocumentName"] == "AWS-RunShellScript"
        self.sent.append((instance, kwargs["Parameters"]["commands"][0]))
        return {"Command": {"CommandId": f"cmd-{len(self.sent)}"}}

    def get_command_invocation(self, CommandId: str, InstanceId: str) -> dict[str, Any]:
        count = self.polls.get(InstanceId, 0)
        self.polls[InstanceId] = count + 1
        statuses = self.statuses[InstanceId]
        status = statuses[min(count, len(statuses) - 1)]
        if status == "missing":
            raise InvocationDoesNotExist()
        return {"Status": status}


MEMBERS = [Member("i-1", "ip-10-20-1-1.ec2.internal"), Member("i-2", "ip-10-20-2-2.ec2.internal")]
MEMBERS += [Member("i-3", "ip-10-20-3-3.ec2.internal")]


def drive(ssm: FakeSsm, **kwargs: Any) -> list[str]:
    clock = iter(range(0, 10**6, 15))
    defaults: dict[str, Any] = {"clock": lambda: next(clock), "sleep": lambda _s: None}
    return cpu.upgrade(
        ssm, cluster_name="podium-dev", region="us-east-1", version="1.36.4", members=MEMBERS, **(defaults | kwargs)
    )


def test_the_driver_upgrades_members_strictly_in_order_the_first_with_apply() -> None:
    ssm = FakeSsm({m.instance_id: ["missing", "InProgress", "Success"] for m in MEMBERS})
    assert drive(ssm) == ["cmd-1", "cmd-2", "cmd-3"]
    assert [instance for instance, _ in ssm.sent] == ["i-1", "i-2", "i-3"]
    # Each member finished before the next was sent anything.
    assert ssm.polls == {"i-1": 3, "i-2": 3, "i-3": 3}
    first, second, _ = (script for _, script in ssm.sent)
    assert "\nfirst=true\n" in first and "\nnode=ip-10-20-1-1.ec2.internal\n" in first
    assert "\nfirst=false\n" in second and "\ntarget=1.36.4\n" in second


def test_the_driver_stops_at_the_first_failure_naming_the_member_and_its_output() -> None:
    ssm = FakeSsm({"i-1": ["Success"], "i-2": ["InProgress", "Failed"], "i-3": ["Success"]})
    with pytest.raises(UpgradeFailed) as failed:
        drive(ssm)
    message = str(failed.value)
    assert "control plane 2 of 3 (i-2, ip-10-20-2-2.ec2.internal): the upgrade to v1.36.4 ended Failed" in message
    assert "not started on i-3" in message
    assert "/var/log/podium-upgrade.log on the member" in message
    assert "aws ssm get-command-invocation --region us-east-1 --command-id cmd-2 --instance-id i-2" in message
    assert [instance for instance, _ in ssm.sent] == ["i-1", "i-2"]


def test_the_driver_resumes_a_second_run_goes_through_every_member_again() -> None:
    """The members that were done answer at once (the script checks only their health)."""
    ssm = FakeSsm({"i-1": ["Success"], "i-2": ["Failed"], "i-3": ["Success"]})
    with pytest.raises(UpgradeFailed):
        drive(ssm)
    ssm.statuses["i-2"] = ["Success"]
    assert drive(ssm) == ["cmd-3", "cmd-4", "cmd-5"]
    assert [instance for instance, _ in ssm.sent] == ["i-1", "i-2", "i-1", "i-2", "i-3"]


def test_the_driver_times_out_per_member_with_a_clear_message() -> None:
    ssm = FakeSsm({"i-1": ["InProgress"], "i-2": ["Success"], "i-3": ["Success"]})
    with pytest.raises(UpgradeFailed) as failed:
        drive(ssm, timeout_seconds=120)
    assert (
        "control plane 1 of 3 (i-1, ip-10-20-1-1.ec2.internal): no result after 2 minutes (last status InProgress)"
        in (str(failed.value))
    )
    assert [instance for instance, _ in ssm.sent] == ["i-1"]
    # Cancelled, so that the next `up` does not run a second copy beside it.
    assert ssm.cancelled == [("cmd-1", "i-1")] and "cancelled; not started on i-2, i-3" in str(failed.value)


def test_the_driver_drains_only_with_several_control_planes() -> None:
    ssm = FakeSsm({m.instance_id: ["Success"] for m in MEMBERS})
    drive(ssm)
    assert all("\ndrain=true\n" in script for _, script in ssm.sent)
    ssm = FakeSsm({"i-1": ["Success"]})
    cpu.upgrade(
        ssm, cluster_name="podium-dev", region="us-east-1", version="1.36.4", members=MEMBERS[:1], sleep=lambda _s: None
    )
    ((_, only),) = ssm.sent
    assert "\ndrain=false\n" in only


def test_the_driver_waits_for_a_new_members_ssm_agent_and_gives_up_clearly() -> None:
    ssm = FakeSsm({m.instance_id: ["Success"] for m in MEMBERS})
    ssm.unregistered = {"i-1": 3}
    assert drive(ssm) == ["cmd-1", "cmd-2", "cmd-3"]
    ssm = FakeSsm({m.instance_id: ["Success"] for m in MEMBERS})
    ssm.unregistered = {"i-2": 10**6}
    with pytest.raises(
        UpgradeFailed, match=r"control plane 2 of 3 \(i-2, .*\): SSM cannot reach it .*not started on i-3"
    ):
        drive(ssm, timeout_seconds=120)


def test_the_providers_diff_calls_nothing_and_shows_the_version_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `pulumi preview` asks a dynamic provider is its diff (it does not run Update or
    Create in a preview: the SDK's dynamic providers do not support preview)."""

    def no_aws(_region: str) -> Any:
        raise AssertionError("AWS was called")

    monkeypatch.setattr(cpu._UpgradeProvider, "client", staticmethod(no_aws))
    provider = cpu._UpgradeProvider()
    members = [{"instanceId": m.instance_id, "nodeName": m.node_name} for m in MEMBERS]
    olds = {"clusterName": "podium-dev", "region": "us-east-1", "version": "1.35.8", "members": members}
    diff = provider.diff("id", olds, {**olds, "version": "1.36.4"})
    assert diff.changes is True and diff.replaces == []
    assert provider.diff("id", olds, dict(olds)).changes is False
    # A replaced member alone updates the record of members and runs nothing; nor does a
    # create (new members boot on the version, and their nodes wait for the pod network).
    moved = [{**members[0], "instanceId": "i-9"}, *members[1:]]
    assert provider.update("id", olds, {**olds, "members": moved}).outs["members"] == moved
    assert provider.create(olds).outs["version"] == "1.35.8"


def test_up_runs_the_driver_on_a_version_change(monkeypatch: pytest.MonkeyPatch) -> None:
    ssm = FakeSsm({m.instance_id: ["Success"] for m in MEMBERS})
    monkeypatch.setattr(cpu._UpgradeProvider, "client", staticmethod(lambda _region: ssm))
    monkeypatch.setattr(cpu, "POLL_SECONDS", 0.0)
    members = [{"instanceId": m.instance_id, "nodeName": m.node_name} for m in MEMBERS]
    olds = {"clusterName": "podium-dev", "region": "us-east-1", "version": "1.35.8", "members": members}
    assert cpu._UpgradeProvider().update("id", olds, {**olds, "version": "1.36.4"}).outs["version"] == "1.36.4"
    assert [instance for instance, _ in ssm.sent] == ["i-1", "i-2", "i-3"]


# -- what a version change does to the stack ------------------------------------------------------------


def test_a_version_change_rolls_the_workers_after_the_control_planes_and_replaces_no_control_plane() -> None:
    before = graph_for("dev")
    after = run_with_record("1.36.4", "1.35.8")
    assert {r.urn for r in before.resources} == {r.urn for r in after.resources}, "an upgrade changes no URN"
    old = {r.urn: r for r in before.resources}
    upgrade = after.one("pulumi-python:dynamic:Resource", "cluster-control-plane-version")
    assert (old[upgrade.urn].inputs["version"], upgrade.inputs["version"]) == ("1.35.8", "1.36.4")
    for template in node_pool_resources(after, "aws:ec2/launchTemplate:LaunchTemplate"):
        assert template.inputs["userData"] != old[template.urn].inputs["userData"], template.name
        assert upgrade.urn in template.dependencies, template.name
    for instance in after.of_type("aws:ec2/instance:Instance"):
        # The user data differs, and is ignored: the member is upgraded in place, never replaced.
        assert "userDataBase64" in instance.ignore_changes
        changed = {k for k in instance.inputs if instance.inputs[k] != old[instance.urn].inputs.get(k)}
        assert changed <= {"userDataBase64"}, (instance.name, changed)
    # Every Kubernetes object waits for the control planes (through the provider).
    provider = after.one("pulumi:providers:kubernetes")
    assert upgrade.urn in provider.dependencies
    releases = {r.inputs["name"]: r.inputs for r in after.of_type("kubernetes:helm.sh/v3:Release")}
    assert releases["cluster-autoscaler"]["values"]["image"]["tag"] == "v1.36.1"
    assert releases["aws-cloud-controller-manager"]["values"]["image"]["tag"] == "v1.36.1"
    members = json.dumps(upgrade.inputs["members"])
    assert all(i.id and i.id in members for i in after.of_type("aws:ec2/instance:Instance"))
