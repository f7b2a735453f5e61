"""ControlPlaneUpgrade: changing `kubernetesVersion` upgrades the control planes in
place, one at a time, first member first, with kubeadm (scripts/upgrade-control-plane.sh
sent by SSM Run Command), each healthy again before the next starts.

A Pulumi dynamic resource. `pulumi preview` only diffs its inputs (the old and the new
version show as an update) and calls nothing; `pulumi up` runs `upgrade` on every version
change (on create there is nothing to do: new members boot on the version). It stops at the first member that fails, leaves the others as
they are and names the member and where its output is; run again after a fix, it
resumes: members already on the version only have their health checked.

Pulumi keeps the provider pickled in the state and runs it in its plugin process, which
imports this module: so it only defines things, and imports boto3 only when it runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi import dynamic

from components.cluster.userdata import SCRIPTS, fill

SCRIPT = SCRIPTS / "upgrade-control-plane.sh"
DOCUMENT = "AWS-RunShellScript"
# One member: packages (about 1 minute), `kubeadm upgrade apply` (image pulls and the
# static pods' restarts, 3 to 5 minutes), the drain (up to 10), the kubelet's restart and
# the health checks: 30 minutes is well over the usual 10.
MEMBER_TIMEOUT_SECONDS = 30 * 60
HEALTH_SECONDS = 10 * 60
POLL_SECONDS = 15.0
DONE = {"Success"}
FAILED = {"Failed", "Cancelled", "TimedOut", "Cancelling"}


@dataclass(frozen=True)
class Member:
    instance_id: str
    node_name: str


class UpgradeFailed(Exception):
    pass


LOG = "/var/log/podium-upgrade.log"  # on the member: the script's whole output


def script(version: str, member: Member, *, first: bool, drain: bool) -> str:
    return fill(
        SCRIPT.read_text(),
        {
            "PODIUM_TARGET_VERSION": version,
            "PODIUM_FIRST_MEMBER": "true" if first else "false",
            "PODIUM_DRAIN": "true" if drain else "false",
            "PODIUM_NODE_NAME": member.node_name,
            "PODIUM_HEALTH_SECONDS": str(HEALTH_SECONDS),
        },
        name=SCRIPT.name,
    )


def upgrade(
    ssm: Any,
    *,
    cluster_name: str,
    region: str,
    version: str,
    members: Sequence[Member],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    timeout_seconds: float = MEMBER_TIMEOUT_SECONDS,
) -> list[str]:
    """Runs the upgrade on each member in order, waiting for each; returns the command
    ids. `ssm` is a boto3 SSM client (a fake in tests)."""
    commands = []
    for index, member in enumerate(members):
        where = f"control plane {index + 1} of {len(members)} ({member.instance_id}, {member.node_name})"
        left = [m.instance_id for m in members[index + 1 :]]
        untouched = f"; not started on {', '.join(left)}" if left else ""
        deadline = clock() + timeout_seconds  # for its SSM agent to take the command
        while True:
            try:
                sent = ssm.send_command(
                    InstanceIds=[member.instance_id],
                    DocumentName=DOCUMENT,
                    Comment=f"{cluster_name}: Kubernetes v{version}"[:100],
                    TimeoutSeconds=60,
                    Parameters={
                        "commands": [script(version, member, first=index == 0, drain=len(members) > 1)],
                        "executionTimeout": [str(int(timeout_seconds))],
                    },
                )
                break
            except ssm.exceptions.InvalidInstanceId as error:
                # A member that has just booted: its SSM agent registers within minutes.
                if clock() >= deadline:
                    raise UpgradeFailed(
                        f"{where}: SSM cannot reach it ({error}){untouched}. Its SSM agent must be running "
                        "and registered (the AmazonSSMManagedInstanceCore policy, a route to SSM)"
                    ) from error
                sleep(POLL_SECONDS)
        command_id = sent["Command"]["CommandId"]
        commands.append(command_id)
        output = (
            f"{LOG} on the member (Session Manager), the start of it with `aws ssm get-command-invocation "
            f"--region {region} --command-id {command_id} --instance-id {member.instance_id}`"
        )
        # As long as the member may run it, and the minute SSM has to deliver it.
        deadline = clock() + timeout_seconds + 60
        while True:
            status = _status(ssm, command_id, member.instance_id)
            if status in DONE:
                break
            if status in FAILED:
                raise UpgradeFailed(f"{where}: the upgrade to v{version} ended {status}{untouched}. Output: {output}")
            if clock() >= deadline:
                # Never leave it running: the next `up` sends it again.
                ssm.cancel_command(CommandId=command_id, InstanceIds=[member.instance_id])
                raise UpgradeFailed(
                    f"{where}: no result after {int(timeout_seconds // 60)} minutes (last status {status}), "
                    f"cancelled{untouched}. Output: {output}"
                )
            sleep(POLL_SECONDS)
    return commands


def _status(ssm: Any, command_id: str, instance_id: str) -> str:
    """The invocation's status; Pending while SSM has not registered it yet."""
    try:
        return str(ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)["Status"])
    except ssm.exceptions.InvocationDoesNotExist:
        return "Pending"


def _members(props: dict[str, Any]) -> list[Member]:
    return [Member(m["instanceId"], m["nodeName"]) for m in props["members"]]


class _UpgradeProvider(dynamic.ResourceProvider):
    @staticmethod
    def client(region: str) -> Any:
        import boto3  # a runtime requirement; imported when an upgrade runs

        return boto3.client("ssm", region_name=region)

    def _run(self, props: dict[str, Any]) -> None:
        upgrade(
            self.client(props["region"]),
            cluster_name=props["clusterName"],
            region=props["region"],
            version=props["version"],
            members=_members(props),
        )

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        # A new cluster's members boot on the version: nothing to run (and their nodes are
        # not Ready before the pod network, which waits for this). A stack from before this
        # resource runs one `up` without a version change first (docs/operations.md).
        return dynamic.CreateResult(id_=f"{props['clusterName']}-control-plane-version", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = [key for key in ("version", "members", "region", "clusterName") if olds.get(key) != news.get(key)]
        return dynamic.DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        # A replaced member boots on the version: only a version change runs anything.
        if olds.get("version") != news["version"]:
            self._run(news)
        return dynamic.UpdateResult(outs=news)


class ControlPlaneUpgrade(dynamic.Resource):
    version: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        cluster_name: str,
        region: str,
        version: str,
        members: Sequence[pulumi.Input[dict[str, str]]],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(
            _UpgradeProvider(),
            name,
            {"clusterName": cluster_name, "region": region, "version": version, "members": list(members)},
            opts,
        )
