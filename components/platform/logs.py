"""Log shipping with upstream Fluent Bit, as pure functions: the chart's values.

Every node runs one Fluent Bit pod. It tails the containers' logs (and, on the control
planes, kube-apiserver's audit log, components/cluster/kubeadm.py AUDIT_LOG_PATH) and
sends them to the cluster's CloudWatch Logs group, which Pulumi creates with its
retention and the cluster's key, or to its own stdout (`observability.logs: stdout`,
for kind). It reads host files owned by root through a hostPath volume: it runs as
root, in a namespace whose Pod Security level is `privileged`, with a read-only root
file system and every capability dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.cluster import kubeadm
from components.platform.monitoring import SELECTED, resources
from components.shared import workload_role

NAMESPACE = "logging"
SERVICE_ACCOUNT = "fluent-bit"
# The kubelet's names: <pod>_<namespace>_<container>-<id>.log, the pods named after the DaemonSet.
OWN_LOGS = f"/var/log/containers/fluent-bit-*_{NAMESPACE}_*.log"
CONTAINERS_STREAM_PREFIX = "containers."
AUDIT_STREAM_PREFIX = "audit."
TOKEN_VOLUME = "aws-token"
# Positions of the tail inputs, on the host: a restarted pod resumes, it does not resend.
POSITIONS = "/var/log/fluent-bit-{input}.db"


@dataclass(frozen=True)
class CloudWatchTarget:
    region: str
    log_group: str
    role_arn: Any  # pulumi.Input[str]: the role the pods assume with their token


def _section(name: str, settings: Sequence[tuple[str, str]]) -> str:
    width = max(len(key) for key, _ in settings)
    return f"[{name}]\n" + "".join(f"    {key.ljust(width)} {value}\n" for key, value in settings)


def pipeline(target: CloudWatchTarget | None) -> dict[str, str]:
    """Fluent Bit's classic configuration: inputs, filters, outputs."""
    inputs = [
        _section(
            "INPUT",
            [
                ("Name", "tail"),
                ("Tag", "kube.*"),
                ("Path", "/var/log/containers/*.log"),
                # Not its own log: printed to stdout, it would read back what it prints.
                ("Exclude_Path", OWN_LOGS),
                ("multiline.parser", "cri"),
                ("DB", POSITIONS.format(input="containers")),
                ("Mem_Buf_Limit", "16MB"),
                ("Skip_Long_Lines", "On"),
            ],
        )
    ]
    outputs = []
    if target is None:
        outputs.append(_section("OUTPUT", [("Name", "stdout"), ("Match", "*"), ("Format", "json_lines")]))
    else:
        inputs.append(
            _section(
                "INPUT",
                [
                    ("Name", "tail"),
                    ("Tag", "audit.*"),
                    ("Path", kubeadm.AUDIT_LOG_PATH),
                    ("Parser", "json"),
                    ("DB", POSITIONS.format(input="audit")),
                    ("Mem_Buf_Limit", "16MB"),
                    ("Skip_Long_Lines", "On"),
                ],
            )
        )
        for match, prefix in (("kube.*", CONTAINERS_STREAM_PREFIX), ("audit.*", AUDIT_STREAM_PREFIX)):
            outputs.append(
                _section(
                    "OUTPUT",
                    [
                        ("Name", "cloudwatch_logs"),
                        ("Match", match),
                        ("region", target.region),
                        ("log_group_name", target.log_group),
                        ("log_stream_prefix", prefix),
                        # The group is Pulumi's, with its retention and key.
                        ("auto_create_group", "false"),
                        ("retry_limit", "5"),
                    ],
                )
            )
    kubernetes = _section(
        "FILTER",
        [
            ("Name", "kubernetes"),
            ("Match", "kube.*"),
            ("Merge_Log", "On"),
            ("Keep_Log", "Off"),
            ("K8S-Logging.Parser", "On"),
            ("K8S-Logging.Exclude", "On"),
        ],
    )
    return {"inputs": "".join(inputs), "filters": kubernetes, "outputs": "".join(outputs)}


def fluent_bit_values(target: CloudWatchTarget | None) -> dict[str, Any]:
    """The chart's values: a DaemonSet on every node, control planes included."""
    volumes: list[dict[str, Any]] = [
        {"name": "varlog", "hostPath": {"path": "/var/log"}},
        {"name": "etcmachineid", "hostPath": {"path": "/etc/machine-id", "type": "File"}},
    ]
    # Read-write: the position databases live next to the logs (POSITIONS).
    mounts: list[dict[str, Any]] = [
        {"name": "varlog", "mountPath": "/var/log"},
        {"name": "etcmachineid", "mountPath": "/etc/machine-id", "readOnly": True},
    ]
    values: dict[str, Any] = {
        "kind": "DaemonSet",
        "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
        "tolerations": [{"operator": "Exists"}],
        "resources": resources("50m", "64Mi", "500m", "256Mi"),
        "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "securityContext": {
            # Root, said explicitly (the image sets no user): the host's logs are root's.
            "runAsUser": 0,
            "runAsNonRoot": False,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            # Root reads root's files by their owner bits: no capability is needed.
            "capabilities": {"drop": ["ALL"]},
        },
        "daemonSetVolumes": volumes,
        "daemonSetVolumeMounts": mounts,
        "config": pipeline(target),
        "serviceMonitor": {"enabled": True, "selector": dict(SELECTED)},
    }
    if target is not None:
        volumes.append(workload_role.token_volume(TOKEN_VOLUME))
        mounts.append(workload_role.token_mount(TOKEN_VOLUME))
        values["env"] = workload_role.environment(target.role_arn, target.region)
    return values


def log_group_name(cluster_name: str) -> str:
    return f"/podium/{cluster_name}/kubernetes"
