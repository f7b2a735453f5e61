"""EC2 user data for Podium nodes: the bash scripts in components/cluster/scripts, filled in.

Only SSM parameter NAMES are rendered. User data is plain text to anyone who can
describe the instance, so each node fetches the PKI, the bootstrap token and the
encryption key with its own IAM role at boot, and fills the `${NODE_NAME}`,
`${BOOTSTRAP_TOKEN}` and `${ENCRYPTION_KEY}` placeholders of the kubeadm texts itself.

AWS calls the scripts make, which the node roles' IAM policies must allow:
- every node: ssm:GetParameter on `token_parameter`;
- control planes also: ssm:GetParametersByPath on `pki_parameter_path` (authorised
  against the path's own ARN, `...:parameter<path>`, not only `<path>/*`),
  ssm:GetParameter on `encryption_key_parameter`, s3:PutObject on
  `<bucket>/etcd/<cluster>/*` (the podium-etcd-snapshot timer; the token-sync timer
  needs only the token's ssm:GetParameter);
- kms:Decrypt on the SecureStrings' key, and kms:GenerateDataKey on the bucket's key
  if it uses SSE-KMS.
"""

from __future__ import annotations

import base64
import functools
import gzip
import re
import shlex
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from components.cluster import kubeadm
from components.config import versions

SCRIPTS = Path(__file__).parent / "scripts"
# EC2 rejects user data above 16 KiB (counted before base64, so after gzip).
USER_DATA_LIMIT = 16 * 1024
ROLES = ("init", "control-plane", "worker")


# `$PODIUM_X` or `${PODIUM_X}` only; compiled by string.Template with re.VERBOSE.
_PLACEHOLDER = r"""
    \$(?:
      (?P<escaped>(?!))
    | (?P<named>PODIUM_[A-Z0-9_]+)
    | \{(?P<braced>PODIUM_[A-Z0-9_]+)\}
    | (?P<invalid>(?!))
    )
"""


class ScriptTemplate(string.Template):
    """Only `$PODIUM_X` / `${PODIUM_X}` are placeholders. Bash's own `$var`,
    `${var:-x}`, `$$` and `$(...)` pass through untouched, so the scripts need no
    escaping (string.Template's default would turn `$$` into `$`)."""

    # No IGNORECASE, so a lowercase bash variable can never match.
    flags = re.RegexFlag(0)
    # string.Template documents overriding `pattern` with a string; typeshed knows only the compiled form.
    pattern = _PLACEHOLDER  # pyright: ignore[reportAssignmentType]


def fill(template: str, values: Mapping[str, str], *, name: str = "template") -> str:
    """Every placeholder filled with a shell-quoted value; a placeholder without a value
    or a value no placeholder uses is a bug in the caller or the script, so it raises."""
    tmpl = ScriptTemplate(template)
    wanted = set(tmpl.get_identifiers())
    missing = sorted(wanted - values.keys())
    unused = sorted(values.keys() - wanted)
    if missing:
        raise ValueError(f"{name}: no value for placeholder(s) {', '.join(missing)}")
    if unused:
        raise ValueError(f"{name}: no placeholder for value(s) {', '.join(unused)}")
    return tmpl.substitute({key: shlex.quote(value) for key, value in values.items()})


# Whole-line comments explain the scripts in the repository; on the node they would
# only eat into the 16 KiB. So a template must not carry a line starting with `#`
# inside a heredoc or a multi-line string.
_COMMENT_LINE = re.compile(r"^[ \t]*#(?!!|[ \t]*shellcheck ).*\n", re.MULTILINE)


@functools.cache
def _script(file_name: str) -> str:
    return _COMMENT_LINE.sub("", (SCRIPTS / file_name).read_text())


@dataclass(frozen=True, kw_only=True)
class ControlPlaneBoot:
    pki_parameter_path: str
    encryption_key_parameter: str
    encryption_config: str
    audit_policy: str
    etcd_volume_id: str
    etcd_backup_bucket: str
    etcd_snapshot_interval_minutes: int


@dataclass(frozen=True, kw_only=True)
class NodeBoot:
    role: str
    cluster_name: str
    region: str
    kubernetes_version: str
    api_endpoint: str
    kubeadm_config: str
    token_parameter: str
    control_plane: ControlPlaneBoot | None = None


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _validate(boot: NodeBoot) -> None:
    _require(boot.role in ROLES, f"role must be one of {', '.join(ROLES)}, got {boot.role!r}")
    if boot.role == "worker":
        _require(boot.control_plane is None, "a worker gets no control_plane settings")
    else:
        _require(boot.control_plane is not None, f"role {boot.role!r} needs control_plane settings")
    _require(bool(re.fullmatch(r"[a-z0-9][a-z0-9-]*", boot.cluster_name)), f"bad cluster_name {boot.cluster_name!r}")
    _require(bool(re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d+", boot.region)), f"bad region {boot.region!r}")
    _require(
        bool(re.fullmatch(r"\d+\.\d+\.\d+", boot.kubernetes_version)),
        f"kubernetes_version must be MAJOR.MINOR.PATCH, got {boot.kubernetes_version!r}",
    )
    _require(
        bool(re.fullmatch(r"[A-Za-z0-9.-]+:\d+", boot.api_endpoint)),
        f"api_endpoint must be host:port, got {boot.api_endpoint!r}",
    )
    _require(bool(boot.token_parameter), "token_parameter is empty")
    for placeholder in (kubeadm.NODE_NAME, kubeadm.BOOTSTRAP_TOKEN):
        _require(placeholder in boot.kubeadm_config, f"kubeadm_config lacks the placeholder {placeholder}")
    cp = boot.control_plane
    if cp is None:
        return
    _require(cp.pki_parameter_path.startswith("/"), f"pki_parameter_path must start with /: {cp.pki_parameter_path!r}")
    _require(bool(cp.encryption_key_parameter), "encryption_key_parameter is empty")
    _require(
        kubeadm.ENCRYPTION_KEY in cp.encryption_config,
        f"encryption_config lacks the placeholder {kubeadm.ENCRYPTION_KEY}",
    )
    _require(bool(re.fullmatch(r"vol-[0-9a-f]+", cp.etcd_volume_id)), f"bad etcd_volume_id {cp.etcd_volume_id!r}")
    _require(bool(cp.etcd_backup_bucket), "etcd_backup_bucket is empty")
    _require(
        cp.etcd_snapshot_interval_minutes >= 1,
        f"etcd_snapshot_interval_minutes must be >= 1, got {cp.etcd_snapshot_interval_minutes}",
    )


# node-exporter's textfile collector reads *.prom files here, on the host; the snapshot
# timer writes when it last uploaded and when each kubeadm certificate expires.
TEXTFILE_DIRECTORY = "/var/lib/node_exporter/textfile"
ETCD_SNAPSHOT_METRIC = "podium_etcd_snapshot_last_success_timestamp_seconds"
CERTIFICATE_METRIC = "podium_certificate_expiry_timestamp_seconds"


def render_etcd_snapshot_script(*, cluster_name: str, region: str, bucket: str) -> str:
    values = {
        "PODIUM_BUCKET": bucket,
        "PODIUM_CLUSTER_NAME": cluster_name,
        "PODIUM_REGION": region,
        "PODIUM_TEXTFILE_DIRECTORY": TEXTFILE_DIRECTORY,
        "PODIUM_SNAPSHOT_METRIC": ETCD_SNAPSHOT_METRIC,
        "PODIUM_CERTIFICATE_METRIC": CERTIFICATE_METRIC,
    }
    return fill(_script("etcd-snapshot.sh"), values, name="etcd-snapshot.sh")


def render_token_sync_script(*, region: str, token_parameter: str) -> str:
    values = {"PODIUM_TOKEN_PARAMETER": token_parameter, "PODIUM_TOKEN_TTL": kubeadm.TOKEN_TTL, "PODIUM_REGION": region}
    return fill(_script("token-sync.sh"), values, name="token-sync.sh")


def _runtime_values(kubernetes_version: str) -> dict[str, str]:
    """The pinned container runtime of the version's minor (config/data/versions.yaml)."""
    runtime = versions.runtime(kubernetes_version.rsplit(".", 1)[0])
    return {
        "PODIUM_CONTAINERD_VERSION": runtime.containerd.version,
        "PODIUM_CONTAINERD_URL": runtime.containerd.url,
        "PODIUM_CONTAINERD_SHA256": runtime.containerd.sha256,
        "PODIUM_RUNC_URL": runtime.runc.url,
        "PODIUM_RUNC_SHA256": runtime.runc.sha256,
        "PODIUM_CNI_URL": runtime.cni_plugins.url,
        "PODIUM_CNI_SHA256": runtime.cni_plugins.sha256,
        "PODIUM_SANDBOX_IMAGE": runtime.sandbox_image,
        "PODIUM_CONTAINERD_UNIT": _script("containerd.service"),
    }


def render_node_script(boot: NodeBoot) -> str:
    """The whole user-data script for one node role."""
    _validate(boot)
    script = fill(
        _script("common.sh"),
        {
            "PODIUM_ROLE": boot.role,
            "PODIUM_CLUSTER_NAME": boot.cluster_name,
            "PODIUM_REGION": boot.region,
            "PODIUM_KUBERNETES_VERSION": boot.kubernetes_version,
            "PODIUM_API_ENDPOINT": boot.api_endpoint,
            "PODIUM_TOKEN_PARAMETER": boot.token_parameter,
            "PODIUM_KUBEADM_CONFIG": boot.kubeadm_config,
            **_runtime_values(boot.kubernetes_version),
        },
        name="common.sh",
    )
    cp = boot.control_plane
    if cp is None:
        script += fill(_script("worker.sh"), {}, name="worker.sh")
    else:
        script += fill(
            _script("control-plane.sh"),
            {
                "PODIUM_PKI_PARAMETER_PATH": cp.pki_parameter_path,
                "PODIUM_ENCRYPTION_KEY_PARAMETER": cp.encryption_key_parameter,
                "PODIUM_ENCRYPTION_CONFIG": cp.encryption_config,
                "PODIUM_ENCRYPTION_CONFIG_PATH": kubeadm.ENCRYPTION_CONFIG_PATH,
                "PODIUM_AUDIT_POLICY": cp.audit_policy,
                "PODIUM_AUDIT_POLICY_PATH": kubeadm.AUDIT_POLICY_PATH,
                "PODIUM_ETCD_VOLUME_ID": cp.etcd_volume_id,
                "PODIUM_SNAPSHOT_MINUTES": str(cp.etcd_snapshot_interval_minutes),
                "PODIUM_ETCD_SNAPSHOT_SCRIPT": render_etcd_snapshot_script(
                    cluster_name=boot.cluster_name, region=boot.region, bucket=cp.etcd_backup_bucket
                ),
                "PODIUM_TOKEN_SYNC_SCRIPT": render_token_sync_script(
                    region=boot.region, token_parameter=boot.token_parameter
                ),
            },
            name="control-plane.sh",
        )
    return script


def _sized(payload: bytes, what: str) -> str:
    _require(len(payload) <= USER_DATA_LIMIT, f"{what} is {len(payload)} bytes, over EC2's {USER_DATA_LIMIT}")
    return base64.b64encode(payload).decode()


def encode_gzipped(script: str) -> str:
    """An instance's user data (`userDataBase64`): gzipped, which cloud-init recognises
    by its magic and unpacks before running the script. A control plane's script needs
    it (about 17 KiB of text, 7 KiB gzipped). Its bytes follow the zlib build, which is
    harmless here: members ignore later changes to their user data."""
    return _sized(gzip.compress(script.encode(), compresslevel=9, mtime=0), "gzipped user data")


def encode_plain(script: str) -> str:
    """A launch template's user data: the script itself, base64. Byte for byte the same
    wherever `pulumi up` runs, so a new template version (and an instance refresh of the
    pool) comes only from a new script."""
    return _sized(script.encode(), "user data")


def script_of(inputs: Mapping[str, object]) -> str:
    """The boot script an instance or launch template carries, for reviews and tests:
    gzipped base64 in an instance's `userDataBase64`, plain base64 in a launch
    template's `userData`, or (instances made before gzip) the text itself."""
    value = inputs.get("userDataBase64") or inputs.get("userData") or ""
    if not isinstance(value, str):
        raise TypeError(f"user data is {type(value).__name__}, not text")
    if value.startswith("#!"):
        return value
    raw = base64.b64decode(value, validate=True)
    return (gzip.decompress(raw) if raw.startswith(b"\x1f\x8b") else raw).decode()
