"""Node bootstrap user data: rendered, shellchecked, and run under bash with stub
commands (tests/stubs/fake-command) so the tests see what a node would do."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import yaml

from components.cluster import kubeadm, userdata
from components.config import versions

STUB = Path(__file__).parent / "stubs" / "fake-command"
SHELLCHECK = Path(sys.executable).parent / "shellcheck"
STUBBED = ["apt-get", "apt-mark", "aws", "blkid", "curl", "gpg", "kubeadm", "kubectl", "mkfs.ext4", "modprobe"]
STUBBED += ["mount", "mountpoint", "poweroff", "sleep", "snap", "swapoff", "sysctl", "systemctl", "crictl"]
# The runtime's release files: downloads are fake, so their checksum and unpacking are too.
STUBBED += ["sha256sum", "tar", "containerd", "kubelet"]
# The NAT instance's: its links and its packet filter.
STUBBED += ["ip", "iptables"]
# The only real programs the scripts may run; anything else is "command not found",
# so a new system-changing call cannot slip past the stubs.
REAL = ["basename", "cat", "chmod", "cp", "date", "dirname", "grep", "head", "mkdir", "mv", "python3", "rm", "rmdir"]
REAL += ["sed", "seq", "tee", "touch", "tr", "openssl"]

PARAMS = kubeadm.ClusterParams(
    cluster_name="podium-dev",
    kubernetes_version="1.35.8",
    endpoint_host="podium-dev-api-0123456789abcdef.elb.eu-west-1.amazonaws.com",
    pod_cidr="10.244.0.0/16",
    service_cidr="10.96.0.0/12",
    cert_sans=("api.podium-dev.example.com", "10.20.0.10"),
)
CA_HASH = "sha256:" + "3f" * 32
TOKEN = "k8sjn4.q2w9e8r7t6y5u4i3"
TOKEN_SECRET = TOKEN.split(".")[1]
ENCRYPTION_KEY = "c2VjcmV0Ym94LWtleS0zMi1ieXRlcy1mb3ItdGVzdHMh&/+="
NODE_NAME = "ip-10-20-1-5.ec2.internal"
VOLUME = "vol-0123456789abcdef0"
DEVICE = "dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0"
PKI_PATH = "/podium/podium-dev/control-plane/pki"
PKI_FILES = (
    "ca.crt",
    "ca.key",
    "sa.key",
    "sa.pub",
    "front-proxy-ca.crt",
    "front-proxy-ca.key",
    "etcd/ca.crt",
    "etcd/ca.key",
)
TOKEN_PARAMETER = "/podium/podium-dev/join/token"
KEY_PARAMETER = "/podium/podium-dev/control-plane/encryption-key"
BUCKET = "podium-dev-etcd-backups-123456789012"
CONTROL_PLANE = userdata.ControlPlaneBoot(
    pki_parameter_path=PKI_PATH,
    encryption_key_parameter=KEY_PARAMETER,
    encryption_config=kubeadm.render([kubeadm.encryption_configuration()]),
    audit_policy=kubeadm.render([kubeadm.audit_policy()]),
    etcd_volume_id=VOLUME,
    etcd_backup_bucket=BUCKET,
    etcd_snapshot_interval_minutes=30,
)


def kubeadm_config(role: str) -> str:
    if role == "init":
        labels = {"podium/pool": "control-plane"}
        documents = [
            kubeadm.init_configuration(labels),
            kubeadm.cluster_configuration(PARAMS),
            kubeadm.kubelet_configuration(),
        ]
    elif role == "control-plane":
        documents = [kubeadm.join_configuration(PARAMS.control_plane_endpoint, CA_HASH, control_plane=True)]
    else:
        taint = kubeadm.Taint("podium/dedicated", "db", "NoSchedule")
        documents = [
            kubeadm.join_configuration(
                PARAMS.control_plane_endpoint,
                CA_HASH,
                control_plane=False,
                labels={"podium/pool": "db"},
                taints=[taint],
            )
        ]
    return kubeadm.render(documents)


def boot(role: str) -> userdata.NodeBoot:
    return userdata.NodeBoot(
        role=role,
        cluster_name="podium-dev",
        region="eu-west-1",
        kubernetes_version="1.35.8",
        api_endpoint=PARAMS.control_plane_endpoint,
        kubeadm_config=kubeadm_config(role),
        token_parameter=TOKEN_PARAMETER,
        control_plane=None if role == "worker" else CONTROL_PLANE,
    )


ROLES = ("init", "control-plane", "worker")


@dataclass
class Run:
    returncode: int
    output: str
    calls: list[str]
    root: Path
    state: Path

    def index(self, pattern: str) -> int:
        """Position of the first call matching the regex; fails the test when absent."""
        for i, call in enumerate(self.calls):
            if re.search(pattern, call):
                return i
        raise AssertionError(f"no call matches {pattern!r}; calls:\n" + "\n".join(self.calls))

    def count(self, pattern: str) -> int:
        return sum(1 for call in self.calls if re.search(pattern, call))

    def file(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def everything_printed(self) -> str:
        log = self.file("/var/log/podium-bootstrap.log")
        return self.output + (log.read_text() if log.exists() else "") + "\n".join(self.calls)


class Node:
    """A scratch node: root file system, fake SSM parameters, stubbed commands."""

    def __init__(self, base: Path, *, pki_path: str = PKI_PATH, volume: str = VOLUME) -> None:
        self.pki_path = pki_path
        self.root = base / "root"
        self.state = base / "state"
        self.bin = base / "bin"
        for directory in (self.root / "etc", self.state, self.bin):
            directory.mkdir(parents=True)
        # A private executable copy: the stub works even if a checkout drops its mode bits.
        stub = base / "fake-command"
        shutil.copyfile(STUB, stub)
        stub.chmod(0o755)
        for command in STUBBED:
            (self.bin / command).symlink_to(stub)
        for command in REAL:
            # The interpreter running the tests: a python3 on PATH may be a shim needing more tools.
            found = sys.executable if command == "python3" else shutil.which(command)
            assert found, command
            (self.bin / command).symlink_to(Path(found).resolve())
        (self.root / "etc/fstab").write_text("LABEL=cloudimg-rootfs / ext4 defaults 0 1\n/swap.img none swap sw 0 0\n")
        device = self.root / DEVICE.replace(VOLUME.replace("-", ""), volume.replace("-", ""))
        device.parent.mkdir(parents=True)
        device.touch()
        self.ssm(TOKEN_PARAMETER, TOKEN)
        self.ssm(KEY_PARAMETER, ENCRYPTION_KEY)
        for name in PKI_FILES:
            self.ssm(f"{pki_path}/{name}", f"-----BEGIN FAKE {name}-----\nMIIB\n-----END FAKE {name}-----\n")

    def ssm(self, name: str, value: str) -> None:
        path = self.state / ("ssm" + name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)

    def run(
        self, script: str, *, fail: str | None = None, env: dict[str, str] | None = None, as_file: bool = False
    ) -> Run:
        """Runs the script on bash's stdin, or (`as_file`) from a file, as cloud-init
        does: a script that copies itself reads its own path from $0."""
        environment = {
            "PATH": str(self.bin),
            "PODIUM_ROOT": str(self.root),
            "STUB_STATE": str(self.state),
            "STUB_LOG": str(self.state / "calls.log"),
            "HOME": str(self.state),
            "LANG": "C.UTF-8",
            **({"STUB_FAIL": fail} if fail else {}),
            **(env or {}),
        }
        log = self.state / "calls.log"
        log.write_text("")
        by_path = self.state / ("by-path" + self.pki_path + ".json")
        by_path.parent.mkdir(parents=True, exist_ok=True)
        ssm = self.state / "ssm"
        parameters = [
            {"Name": "/" + str(path.relative_to(ssm)), "Type": "SecureString", "Value": path.read_text()}
            for path in sorted((ssm / self.pki_path.lstrip("/")).rglob("*"))
            if path.is_file()
        ]
        by_path.write_text(json.dumps({"Parameters": parameters}))
        bash = shutil.which("bash")
        assert bash
        if as_file:
            path = self.state / "user-data.sh"
            path.write_text(script)
            command, stdin = [bash, str(path)], None
        else:
            command, stdin = [bash, "-s"], script
        done = subprocess.run(
            command, input=stdin, capture_output=True, text=True, env=environment, timeout=60, check=False
        )
        calls = log.read_text().splitlines()
        return Run(done.returncode, done.stdout + done.stderr, calls, self.root, self.state)


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path)


# --- rendering ---------------------------------------------------------------------


def shellcheck(text: str) -> str:
    done = subprocess.run(
        [str(SHELLCHECK), "--severity=warning", "--shell=bash", "-"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout + done.stderr if done.returncode else ""


@pytest.mark.parametrize("role", ROLES)
def test_rendered_script_is_shellcheck_clean(role: str) -> None:
    assert shellcheck(userdata.render_node_script(boot(role))) == ""


def test_helper_scripts_and_the_stub_are_shellcheck_clean() -> None:
    snapshot = userdata.render_etcd_snapshot_script(cluster_name="podium-dev", region="eu-west-1", bucket=BUCKET)
    sync = userdata.render_token_sync_script(region="eu-west-1", token_parameter=TOKEN_PARAMETER)
    for text in (snapshot, sync, STUB.read_text()):
        assert shellcheck(text) == ""


def test_shellcheck_does_report_a_broken_script() -> None:
    assert "SC2" in shellcheck('#!/bin/bash\nrm -rf $1/*\nfor f in $(ls); do echo "$f"; done\n')


def test_control_plane_user_data_fits_ec2_limit_with_realistic_inputs() -> None:
    long_params = replace(PARAMS, cert_sans=("api.podium-prod.example.com", "10.20.0.10", "10.20.0.11", "10.20.0.12"))
    config = kubeadm.render(
        [
            kubeadm.init_configuration({"podium/pool": "control-plane"}),
            kubeadm.cluster_configuration(long_params),
            kubeadm.kubelet_configuration(),
        ]
    )
    init = replace(boot("init"), kubeadm_config=config, token_parameter="/podium/podium-production/bootstrap-token")
    script = userdata.render_node_script(init)
    sent = base64.b64decode(userdata.encode_gzipped(script))
    # What EC2 counts is what it receives: the gzip, under half the limit, while the
    # script itself would not fit.
    assert sent[:2] == b"\x1f\x8b"
    assert len(sent) <= userdata.USER_DATA_LIMIT // 2, f"{len(sent)} bytes gzipped"
    assert len(script.encode()) > len(sent) * 2


def test_worker_user_data_fits_ec2_limit_as_plain_text() -> None:
    script = userdata.render_node_script(boot("worker"))
    sent = base64.b64decode(userdata.encode_plain(script))
    assert sent == script.encode()
    assert len(sent) <= userdata.USER_DATA_LIMIT * 3 // 4, f"{len(sent)} bytes: room for what workers need next"


def test_encoded_user_data_is_stable_and_unpacks_to_the_script() -> None:
    script = userdata.render_node_script(boot("init"))
    gzipped = base64.b64decode(userdata.encode_gzipped(script))
    # No modification time in the gzip header (bytes 4-7): no spurious diff on a new member.
    assert gzipped[4:8] == b"\x00\x00\x00\x00"
    assert userdata.script_of({"userDataBase64": userdata.encode_gzipped(script)}) == script
    assert userdata.script_of({"userData": script}) == script  # an instance made before gzip
    worker = userdata.render_node_script(boot("worker"))
    assert userdata.script_of({"userData": userdata.encode_plain(worker)}) == worker  # a launch template


def test_oversized_user_data_is_refused() -> None:
    # Random text does not compress: 40 KiB of hex is over the limit gzipped too.
    padding = os.urandom(20 * 1024).hex()
    with pytest.raises(ValueError, match=r"gzipped user data is \d+ bytes, over EC2's 16384"):
        userdata.encode_gzipped(padding)
    with pytest.raises(ValueError, match=r"^user data is 40960 bytes, over EC2's 16384"):
        userdata.encode_plain(padding)


def test_script_carries_parameter_names_and_placeholders_never_values() -> None:
    script = userdata.render_node_script(boot("init"))
    assert script.startswith("#!/bin/bash\n")
    assert TOKEN_PARAMETER in script and KEY_PARAMETER in script and PKI_PATH in script
    # Filled on the node, so they must survive rendering verbatim.
    for placeholder in (kubeadm.NODE_NAME, kubeadm.BOOTSTRAP_TOKEN, kubeadm.ENCRYPTION_KEY):
        assert placeholder in script
    assert "PODIUM_" not in script.replace("PODIUM_ROOT:-", "")


def test_values_are_shell_quoted() -> None:
    nasty = "/podium/x'; touch /tmp/pwned; echo '"
    script = userdata.render_node_script(replace(boot("worker"), token_parameter=nasty))
    assert "token_parameter=" + "'/podium/x'\"'\"'; touch /tmp/pwned; echo '\"'\"''" in script


def test_init_without_control_plane_settings_is_refused() -> None:
    with pytest.raises(ValueError, match="needs control_plane"):
        userdata.render_node_script(replace(boot("init"), control_plane=None))


def test_worker_with_control_plane_settings_is_refused() -> None:
    with pytest.raises(ValueError, match="worker gets no control_plane"):
        userdata.render_node_script(replace(boot("worker"), control_plane=CONTROL_PLANE))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"role": "master"}, "role must be one of"),
        ({"kubernetes_version": "v1.35"}, "kubernetes_version"),
        ({"api_endpoint": "https://api.example.com"}, "api_endpoint"),
        ({"kubeadm_config": "kind: JoinConfiguration\n"}, "lacks the placeholder"),
    ],
)
def test_bad_node_settings_are_refused(change: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        userdata.render_node_script(replace(boot("worker"), **change))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"etcd_volume_id": "/dev/nvme1n1"}, "etcd_volume_id"),
        ({"encryption_config": "kind: EncryptionConfiguration\n"}, "ENCRYPTION_KEY"),
        ({"etcd_snapshot_interval_minutes": 0}, "etcd_snapshot_interval_minutes"),
        ({"pki_parameter_path": "podium/pki"}, "pki_parameter_path"),
    ],
)
def test_bad_control_plane_settings_are_refused(change: dict[str, object], message: str) -> None:
    control_plane = replace(CONTROL_PLANE, **change)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        userdata.render_node_script(replace(boot("init"), control_plane=control_plane))


def test_fill_refuses_a_leftover_placeholder() -> None:
    with pytest.raises(ValueError, match=r"no value for placeholder.*PODIUM_UNKNOWN"):
        userdata.fill("a=$PODIUM_A\nb=${PODIUM_UNKNOWN}\n", {"PODIUM_A": "1"})


def test_fill_refuses_a_value_no_template_uses() -> None:
    with pytest.raises(ValueError, match=r"no placeholder for value.*PODIUM_EXTRA"):
        userdata.fill("a=$PODIUM_A\n", {"PODIUM_A": "1", "PODIUM_EXTRA": "2"})


def test_fill_leaves_bash_syntax_alone() -> None:
    text = 'echo $$ ${HOME:-x} $(date) $podium_a ${PODIUM_ROOT:-} "$@"\nv=$PODIUM_A\n'
    assert userdata.fill(text, {"PODIUM_A": "it's"}) == text.replace("$PODIUM_A", "'it'\"'\"'s'")


# --- running the scripts -------------------------------------------------------------


def assert_no_secret_leaked(run: Run) -> None:
    printed = run.everything_printed()
    assert TOKEN_SECRET not in printed
    assert ENCRYPTION_KEY not in printed
    assert "BEGIN FAKE ca.key" not in printed


def test_init_prepares_the_node_then_runs_kubeadm_init(node: Node) -> None:
    run = node.run(userdata.render_node_script(boot("init")))
    assert run.returncode == 0, run.output

    runtime = versions.runtime("1.35")
    download = run.index(rf"^curl -fsSL -o \S+/var/cache/podium/containerd.tar.gz {re.escape(runtime.containerd.url)}$")
    assert download < run.index(r"^sha256sum -c") < run.index(r"^tar -xzf \S+containerd.tar.gz")
    assert run.index(r"^tar -xzf \S+containerd.tar.gz") < run.index(r"^containerd --version")
    assert run.index(r"^containerd --version") < run.index(r"^systemctl restart containerd")
    assert run.count(r"^apt-get .*install .*containerd") == 0
    for artifact in (runtime.containerd, runtime.runc, runtime.cni_plugins):
        assert run.count(rf"^curl .*{re.escape(artifact.url)}$") == 1
        assert len(artifact.sha256) == 64
    assert (
        run.file("/etc/systemd/system/containerd.service").read_text().count("ExecStart=/usr/local/bin/containerd") == 1
    )
    assert run.file("/usr/local/sbin/runc").stat().st_mode & 0o111
    assert run.index(r"^systemctl restart containerd") < run.index(r"^apt-get .*install .*kubelet=")
    assert run.index(r"^apt-get .*install .*kubelet=") < run.index(r"^kubeadm init")
    assert run.index(r"^modprobe br_netfilter") < run.index(r"^kubeadm init")
    assert run.index(r"^aws ssm get-parameters-by-path") < run.index(r"^kubeadm init")
    assert run.index(r"^mount ") < run.index(r"^kubeadm init") < run.index(r"^systemctl enable --now podium-etcd")

    init = run.calls[run.index(r"^kubeadm init")]
    assert "--skip-token-print" in init and "--upload-certs" not in init
    assert run.count(r"^kubeadm join") == 0
    assert run.count(r"^sleep") == 0  # nothing had to be retried

    install = run.calls[run.index(r"^apt-get .*install .*kubelet=")]
    for package in ("kubelet", "kubeadm", "kubectl"):
        assert f"{package}=1.35.8-*" in install.split()
    assert "apt-mark hold kubelet kubeadm kubectl" in run.calls
    assert run.file("/etc/apt/sources.list.d/kubernetes.list").read_text() == (
        "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v1.35/deb/ /\n"
    )

    containerd = run.file("/etc/containerd/config.toml").read_text()
    assert containerd.startswith("version = 3\n")
    assert "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n  SystemdCgroup = true" in (
        containerd
    )
    assert "io.containerd.grpc.v1.cri" not in containerd
    assert (
        "[plugins.'io.containerd.cri.v1.images'.pinned_images]\n  sandbox = 'registry.k8s.io/pause:3.10.1'"
        in containerd
    )
    sysctls = run.file("/etc/sysctl.d/90-podium-k8s.conf").read_text()
    for setting in ("net.ipv4.ip_forward = 1", "net.bridge.bridge-nf-call-iptables = 1", "vm.overcommit_memory = 1"):
        assert setting in sysctls
    assert "kernel.panic = 10" in sysctls and "kernel.panic_on_oops = 1" in sysctls and "vm.panic_on_oom = 0" in sysctls
    assert run.file("/etc/modules-load.d/podium-k8s.conf").read_text() == "overlay\nbr_netfilter\n"
    assert "swapoff -a" in run.calls and "\n#/swap.img none swap" in run.file("/etc/fstab").read_text()

    config = (run.state / "kubeadm-init.yaml").read_text()
    assert f"token: {TOKEN}" in config and f"name: {NODE_NAME}" in config and "${" not in config
    assert not run.file("/etc/kubernetes/podium/kubeadm.yaml").exists(), "the token must not stay on disk"

    pki = run.file("/etc/kubernetes/pki")
    for name in PKI_FILES:
        mode = stat.S_IMODE((pki / name).stat().st_mode)
        assert mode == (0o600 if name.endswith(".key") else 0o644), name
    assert (
        pki / "etcd/ca.key"
    ).read_text() == "-----BEGIN FAKE etcd/ca.key-----\nMIIB\n-----END FAKE etcd/ca.key-----\n"

    encryption = run.file(kubeadm.ENCRYPTION_CONFIG_PATH)
    assert f"secret: {ENCRYPTION_KEY}\n" in encryption.read_text()
    assert stat.S_IMODE(encryption.stat().st_mode) == 0o600
    assert run.file(kubeadm.AUDIT_POLICY_PATH).read_text() == CONTROL_PLANE.audit_policy + "\n"
    assert_no_secret_leaked(run)


def test_the_node_name_comes_from_imdsv2(node: Node) -> None:
    run = node.run(userdata.render_node_script(boot("worker")))
    assert run.returncode == 0, run.output
    token_call = run.index(r"^curl .*-X PUT .*X-aws-ec2-metadata-token-ttl-seconds.*/latest/api/token")
    name_call = run.index(r"^curl .*X-aws-ec2-metadata-token: imds-session-token .*/latest/meta-data/local-hostname")
    assert token_call < name_call
    assert f"name: {NODE_NAME}" in (run.state / "kubeadm-join.yaml").read_text()


def test_control_plane_installs_snapshot_and_token_sync_timers(node: Node) -> None:
    run = node.run(userdata.render_node_script(boot("init")))
    assert run.returncode == 0, run.output
    units = run.file("/etc/systemd/system")
    snapshot_timer = (units / "podium-etcd-snapshot.timer").read_text()
    assert "OnUnitActiveSec=30min" in snapshot_timer and "WantedBy=timers.target" in snapshot_timer
    assert "OnUnitActiveSec=10min" in (units / "podium-token-sync.timer").read_text()
    service = (units / "podium-etcd-snapshot.service").read_text()
    assert f"Environment=NODE_NAME={NODE_NAME}" in service
    assert "ExecStart=/usr/local/sbin/podium-etcd-snapshot" in service
    helper = run.file("/usr/local/sbin/podium-etcd-snapshot")
    assert helper.read_text().startswith("#!/bin/bash\n") and helper.stat().st_mode & 0o111
    assert run.index(r"^systemctl daemon-reload") < run.index(
        r"^systemctl enable --now podium-etcd-snapshot.timer podium-token-sync.timer"
    )


def test_etcd_volume_is_formatted_once_and_mounted_by_uuid(node: Node) -> None:
    run = node.run(userdata.render_node_script(boot("init")))
    assert run.returncode == 0, run.output
    device = str(node.root / DEVICE)
    assert run.count(rf"^mkfs.ext4 .*{re.escape(device)}$") == 1
    assert run.index(r"^blkid -p -o value -s TYPE") < run.index(r"^mkfs.ext4") < run.index(r"^mount ")
    fstab = run.file("/etc/fstab").read_text()
    assert "UUID=0f3e6c1a-5d2b-4c8e-9a71-2b6d4e8f0c13 /var/lib/etcd ext4 defaults,noatime,nofail 0 2\n" in fstab
    assert stat.S_IMODE(run.file("/var/lib/etcd").stat().st_mode) == 0o700


def test_an_existing_etcd_filesystem_is_never_reformatted(node: Node) -> None:
    (node.state / f"fs-{Path(DEVICE).name}").write_text("11111111-2222-3333-4444-555555555555\n")
    run = node.run(userdata.render_node_script(boot("control-plane")))
    assert run.returncode == 0, run.output
    assert run.count(r"^mkfs") == 0
    assert "UUID=11111111-2222-3333-4444-555555555555 /var/lib/etcd " in run.file("/etc/fstab").read_text()


def test_a_missing_etcd_volume_stops_the_bootstrap(node: Node) -> None:
    (node.root / DEVICE).unlink()
    run = node.run(userdata.render_node_script(boot("init")))
    assert run.returncode != 0
    assert run.count(r"^sleep 5$") == 120
    assert run.count(r"^mkfs|^mount|^kubeadm") == 0
    assert "etcd volume vol-0123456789abcdef0 never appeared" in run.output


def test_the_kubelet_starts_only_with_the_etcd_volume_mounted(node: Node) -> None:
    run = node.run(userdata.render_node_script(boot("init")))
    assert run.returncode == 0, run.output
    drop_in = run.file("/etc/systemd/system/kubelet.service.d/20-podium-etcd-volume.conf").read_text()
    assert drop_in == "[Unit]\nRequiresMountsFor=/var/lib/etcd\n"
    # systemd reads it before kubeadm init (re)starts the kubelet.
    mounted = run.index(r"^mount ")
    reload = run.calls.index("systemctl daemon-reload", mounted)
    assert reload < run.index(r"^kubeadm init")


def test_an_etcd_volume_that_does_not_mount_stops_the_bootstrap(node: Node) -> None:
    run = node.run(userdata.render_node_script(boot("init")), fail=r"^mountpoint")
    assert run.returncode != 0
    assert "etcd volume vol-0123456789abcdef0 is not mounted on /var/lib/etcd" in run.output
    assert run.count(r"^kubeadm") == 0


def test_a_worker_that_cannot_join_powers_off_for_its_group_to_replace_it(node: Node) -> None:
    run = node.run(userdata.render_node_script(boot("worker")), fail=r"^kubeadm join")
    assert run.returncode != 0
    assert run.index(r"^kubeadm join") < run.index(r"^poweroff")
    assert "powering off so that the auto-scaling group replaces this instance" in run.output
    assert not run.file("/etc/kubernetes/podium/kubeadm.yaml").exists()


@pytest.mark.parametrize("role", ROLES)
def test_only_a_failed_worker_gives_itself_up(node: Node, role: str) -> None:
    ok = node.run(userdata.render_node_script(boot(role)))
    assert ok.returncode == 0, ok.output
    failed = node.run(userdata.render_node_script(boot(role)), fail=r"^apt-get")
    assert failed.returncode != 0
    # A control plane is no group member: it stays for someone to read its log.
    expected = 1 if role == "worker" else 0
    assert [ok.count(r"^poweroff"), failed.count(r"^poweroff")] == [0, expected]


def test_control_plane_waits_for_the_api_then_joins(node: Node) -> None:
    run = node.run(userdata.render_node_script(boot("control-plane")))
    assert run.returncode == 0, run.output
    readyz = run.index(r"^curl .*https://podium-dev-api-0123456789abcdef\.elb\.eu-west-1\.amazonaws\.com:6443/readyz")
    assert "--cacert " + str(node.root / "etc/kubernetes/pki/ca.crt") in run.calls[readyz]
    assert run.index(r"^aws ssm get-parameters-by-path") < readyz < run.index(r"^kubeadm join --config ")
    assert run.count(r"^kubeadm init") == 0
    config = (run.state / "kubeadm-join.yaml").read_text()
    assert PARAMS.control_plane_endpoint in config and f"token: {TOKEN}" in config and CA_HASH in config
    assert "controlPlane:" in config and "${" not in config
    assert run.file(kubeadm.ENCRYPTION_CONFIG_PATH).exists()
    assert_no_secret_leaked(run)


def test_worker_fetches_only_the_token_and_joins(node: Node) -> None:
    run = node.run(userdata.render_node_script(boot("worker")))
    assert run.returncode == 0, run.output
    assert (
        run.calls.count(
            f"aws ssm get-parameter --name {TOKEN_PARAMETER} --with-decryption --query Parameter.Value --output text"
        )
        == 1
    )
    assert run.count(r"^aws ssm get-parameters-by-path|encryption-key|^mkfs|^mount|podium-etcd") == 0
    assert run.index(r"^curl .*:6443/readyz") < run.index(r"^kubeadm join --config ")
    config = (run.state / "kubeadm-join.yaml").read_text()
    assert PARAMS.control_plane_endpoint in config and f"token: {TOKEN}" in config and CA_HASH in config
    assert "controlPlane" not in config
    assert not run.file("/etc/kubernetes/pki").exists()
    assert_no_secret_leaked(run)


@pytest.mark.parametrize("role", ROLES)
def test_a_second_run_does_no_harm(node: Node, role: str) -> None:
    script = userdata.render_node_script(boot(role))
    first = node.run(script)
    assert first.returncode == 0, first.output
    watched = ["/etc/fstab", "/etc/apt/sources.list.d/kubernetes.list", "/etc/modules-load.d/podium-k8s.conf"]
    if role != "worker":
        (node.state / "mounted").touch()
        watched += ["/etc/kubernetes/pki/ca.key", kubeadm.ENCRYPTION_CONFIG_PATH]
    before = {path: first.file(path).read_text() for path in watched}
    # A rotated token or key in SSM must not be written over a running member's files.
    node.ssm(KEY_PARAMETER, "cm90YXRlZC1rZXktd291bGQtYnJlYWstcmVhZHMhISE=")
    node.ssm(f"{PKI_PATH}/ca.key", "rotated")

    second = node.run(script)
    assert second.returncode == 0, second.output
    assert second.count(r"^kubeadm (init|join)|^mkfs|^mount ") == 0
    assert {path: second.file(path).read_text() for path in watched} == before
    assert "already a cluster member" in second.output


def test_a_download_with_another_checksum_is_never_installed(node: Node) -> None:
    run = node.run(userdata.render_node_script(boot("worker")), fail=r"^sha256sum")
    assert run.returncode != 0
    assert "is not the pinned" in run.output
    assert run.count(r"^tar ") == 0 and run.count(r"^kubeadm") == 0
    assert not run.file("/var/cache/podium/containerd.tar.gz").exists()


def test_another_containerd_than_the_pinned_one_stops_the_bootstrap(node: Node) -> None:
    run = node.run(userdata.render_node_script(boot("worker")), env={"STUB_CONTAINERD_VERSION": "1.7.28"})
    assert run.returncode != 0
    assert "containerd reports 'containerd github.com/containerd/containerd/v2 v1.7.28 0f1e2d3c', expected v2.2.7" in (
        run.output
    )
    assert not run.file("/etc/containerd/config.toml").exists() and run.count(r"^kubeadm") == 0


@pytest.mark.parametrize(
    ("version", "containerd", "pause"), [("1.35.8", "2.2.7", "3.10.1"), ("1.36.4", "2.3.4", "3.10.2")]
)
def test_each_minor_gets_its_runtime(node: Node, version: str, containerd: str, pause: str) -> None:
    script = userdata.render_node_script(replace(boot("worker"), kubernetes_version=version))
    run = node.run(script, env={"STUB_CONTAINERD_VERSION": containerd})
    assert run.returncode == 0, run.output
    assert run.count(rf"^curl .*/v{containerd}/containerd-{containerd}-linux-amd64.tar.gz$") == 1
    assert f"sandbox = 'registry.k8s.io/pause:{pause}'" in run.file("/etc/containerd/config.toml").read_text()


def test_kubeadm_init_failure_stops_the_script(node: Node) -> None:
    run = node.run(userdata.render_node_script(boot("init")), fail=r"^kubeadm init")
    assert run.returncode != 0
    assert run.count(r"^kubeadm init") == 1
    assert run.count(r"^systemctl enable --now podium") == 0
    assert re.search(r"FAILED \(exit 1\) at line \d+: kubeadm init", run.output)
    assert not run.file("/etc/kubernetes/podium/kubeadm.yaml").exists()
    assert_no_secret_leaked(run)


def test_a_failure_inside_a_function_is_reported_and_stops(node: Node) -> None:
    run = node.run(userdata.render_node_script(boot("init")), fail=r"^mkfs")
    assert run.returncode != 0
    assert re.search(r"FAILED \(exit 1\) at line \d+: mkfs.ext4 -q -L etcd", run.output)
    assert run.count(r"^mount |^kubeadm") == 0


def test_apt_failing_every_retry_stops_before_kubeadm(node: Node) -> None:
    run = node.run(userdata.render_node_script(boot("worker")), fail=r"^apt-get")
    assert run.returncode != 0
    assert run.count(r"^apt-get") == 8
    assert [call for call in run.calls if call.startswith("sleep")] == [
        "sleep 2",
        "sleep 4",
        "sleep 8",
        "sleep 16",
        "sleep 32",
        "sleep 60",
        "sleep 60",
    ]
    assert run.count(r"^kubeadm|^systemctl restart containerd") == 0


def test_a_failed_join_is_reset_and_retried_then_gives_up(node: Node) -> None:
    run = node.run(userdata.render_node_script(boot("control-plane")), fail=r"^kubeadm join")
    assert run.returncode != 0
    assert run.count(r"^kubeadm join") == 8
    assert run.count(r"^kubeadm reset -f") == 8
    # The reset wipes /etc/kubernetes/pki, so every retry fetches the PKI again.
    assert run.count(r"^aws ssm get-parameters-by-path") == 9
    assert run.count(r"^systemctl enable --now podium") == 0


def test_missing_pki_stops_init_before_kubeadm_mints_a_new_ca(node: Node) -> None:
    (node.state / ("ssm" + PKI_PATH) / "front-proxy-ca.key").unlink()
    run = node.run(userdata.render_node_script(boot("init")))
    assert run.returncode != 0
    assert "PKI file front-proxy-ca.key missing" in run.output
    assert run.count(r"^kubeadm") == 0


def test_worker_gives_up_when_the_api_never_answers(node: Node) -> None:
    (node.state / "api-down").touch()
    run = node.run(userdata.render_node_script(boot("worker")))
    assert run.returncode != 0
    assert run.count(r"^curl .*/readyz") == 120
    assert run.count(r"^kubeadm") == 0


def test_the_stub_leaks_the_token_when_skip_token_print_is_missing(node: Node) -> None:
    """Guards the no-leak assertions: without --skip-token-print the fake kubeadm prints it."""
    script = userdata.render_node_script(boot("init")).replace(" --skip-token-print", "")
    run = node.run(script)
    assert run.returncode == 0, run.output
    assert TOKEN_SECRET in run.output


# --- helper scripts on the control planes ----------------------------------------------


def test_token_sync_creates_a_missing_token_without_printing_it(node: Node) -> None:
    script = userdata.render_token_sync_script(region="eu-west-1", token_parameter=TOKEN_PARAMETER)
    (node.state / "tokens").write_text("zzzzzz.0000000000000000 8000h ...\n")
    run = node.run(script)
    assert run.returncode == 0, run.output
    create = run.index(r"^kubeadm token create ")
    assert run.calls[create].startswith(f"kubeadm token create {TOKEN} --ttl 8760h0m0s ")
    assert run.index(r"^kubeadm token list") < create
    assert TOKEN_SECRET not in run.output and "bootstrap token k8sjn4 created" in run.output

    again = node.run(script)
    assert again.returncode == 0, again.output
    assert again.count(r"^kubeadm token create") == 0
    assert "bootstrap token k8sjn4 present" in again.output


def test_token_sync_fails_when_the_token_cannot_be_created(node: Node) -> None:
    script = userdata.render_token_sync_script(region="eu-west-1", token_parameter=TOKEN_PARAMETER)
    run = node.run(script, fail=r"^kubeadm token create")
    assert run.returncode != 0
    assert run.count(r"^kubeadm token list") == 2


def test_etcd_snapshot_is_uploaded_and_the_local_file_removed(node: Node) -> None:
    script = userdata.render_etcd_snapshot_script(cluster_name="podium-dev", region="eu-west-1", bucket=BUCKET)
    (node.root / "var/lib/etcd/member").mkdir(parents=True)
    run = node.run(script, env={"NODE_NAME": NODE_NAME})
    assert run.returncode == 0, run.output
    assert run.index(r"^crictl ps --name \^etcd\$ --state running --quiet$") < run.index(r"^crictl exec ")
    exec_call = run.calls[run.index(r"^crictl exec ")]
    assert "crictl exec 3f2a9c0etcd etcdctl --endpoints=https://127.0.0.1:2379" in exec_call
    assert run.count(r"^kubectl ") == 0, "no API server or kubelet in the path"
    for flag in (
        "--cacert=/etc/kubernetes/pki/etcd/ca.crt",
        "--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt",
        "--key=/etc/kubernetes/pki/etcd/healthcheck-client.key",
    ):
        assert flag in exec_call.split()
    match = re.search(r"snapshot save /var/lib/etcd/(podium-snapshot-(\d{8}T\d{6}Z)\.db)$", exec_call)
    assert match
    upload = run.calls[run.index(r"^aws s3 cp ")]
    assert upload.endswith(f" s3://{BUCKET}/etcd/podium-dev/{NODE_NAME}/{match.group(2)}.db")
    assert [p.name for p in run.file("/var/lib/etcd").iterdir()] == ["member"]
    assert os.listdir(run.state / "s3")


def _certificate(path: Path, days: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"),
            *("-keyout", str(path.with_suffix(".key")), "-out", str(path), "-days", str(days), "-subj", "/CN=test"),
        ],
        check=True,
        capture_output=True,
    )


def test_etcd_snapshot_publishes_its_time_and_the_certificates_expiry_for_node_exporter(node: Node) -> None:
    from components.platform import monitoring

    script = userdata.render_etcd_snapshot_script(cluster_name="podium-dev", region="eu-west-1", bucket=BUCKET)
    (node.root / "var/lib/etcd/member").mkdir(parents=True)
    pki = node.root / "etc/kubernetes/pki"
    _certificate(pki / "apiserver.crt", 20)
    _certificate(pki / "etcd/server.crt", 400)
    before = int(time.time())
    run = node.run(script, env={"NODE_NAME": NODE_NAME})
    assert run.returncode == 0, run.output
    textfiles = run.file(monitoring.TEXTFILE_DIRECTORY)
    assert sorted(p.name for p in textfiles.iterdir()) == ["podium-certificates.prom", "podium-etcd-snapshot.prom"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in textfiles.iterdir())
    expiry = {}
    for line in (textfiles / "podium-certificates.prom").read_text().splitlines():
        match = re.fullmatch(monitoring.CERTIFICATE_METRIC + r'\{certificate="([^"]+)"\} (\d+)', line)
        if match:
            expiry[match.group(1)] = int(match.group(2))
        else:
            assert line.startswith(
                ("# HELP " + monitoring.CERTIFICATE_METRIC, "# TYPE " + monitoring.CERTIFICATE_METRIC + " gauge")
            )
    assert set(expiry) == {"apiserver", "etcd-server"}
    assert abs(expiry["apiserver"] - (before + 20 * 86400)) < 120
    assert abs(expiry["etcd-server"] - (before + 400 * 86400)) < 120
    snapshot = (textfiles / "podium-etcd-snapshot.prom").read_text().splitlines()
    assert snapshot[1] == f"# TYPE {monitoring.ETCD_SNAPSHOT_METRIC} gauge"
    name, value = snapshot[2].split()
    assert name == monitoring.ETCD_SNAPSHOT_METRIC and before <= int(value) <= time.time() + 1


def test_a_failed_upload_publishes_no_snapshot_time_but_still_the_expiries(node: Node) -> None:
    from components.platform import monitoring

    script = userdata.render_etcd_snapshot_script(cluster_name="podium-dev", region="eu-west-1", bucket=BUCKET)
    (node.root / "var/lib/etcd/member").mkdir(parents=True)
    _certificate(node.root / "etc/kubernetes/pki/apiserver.crt", 20)
    run = node.run(script, env={"NODE_NAME": NODE_NAME}, fail=r"^aws s3 cp")
    assert run.returncode != 0
    textfiles = run.file(monitoring.TEXTFILE_DIRECTORY)
    assert sorted(p.name for p in textfiles.iterdir()) == ["podium-certificates.prom"]


def test_etcd_snapshot_without_a_running_etcd_fails_clearly(node: Node) -> None:
    script = userdata.render_etcd_snapshot_script(cluster_name="podium-dev", region="eu-west-1", bucket=BUCKET)
    (node.state / "etcd-down").touch()
    run = node.run(script, env={"NODE_NAME": NODE_NAME})
    assert run.returncode != 0
    assert f"no running etcd container on {NODE_NAME}" in run.output
    assert run.count(r"^aws s3 cp") == 0


def test_etcd_snapshot_failure_is_reported(node: Node) -> None:
    script = userdata.render_etcd_snapshot_script(cluster_name="podium-dev", region="eu-west-1", bucket=BUCKET)
    (node.root / "var/lib/etcd/member").mkdir(parents=True)
    run = node.run(script, env={"NODE_NAME": NODE_NAME}, fail=r"^aws s3 cp")
    assert run.returncode != 0
    assert [p.name for p in run.file("/var/lib/etcd").iterdir()] == ["member"]


def _graph_user_data(stack: str) -> list[tuple[str, str, str | None]]:
    """(resource name, script, etcd volume id) of every node the stack's program declares."""
    from tests.conftest import graph_for, node_pool_resources

    graph = graph_for(stack)
    nodes: list[tuple[str, str, str | None]] = []
    for index, instance in enumerate(sorted(graph.of_type("aws:ec2/instance:Instance"), key=lambda r: r.name)):
        volume = graph.one("aws:ebs/volume:Volume", f"cluster-etcd-{index}")
        nodes.append((instance.name, userdata.script_of(instance.inputs), volume.id))
    for template in node_pool_resources(graph, "aws:ec2/launchTemplate:LaunchTemplate"):
        nodes.append((template.name, userdata.script_of(template.inputs), None))
    return nodes


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_programs_user_data_runs_and_writes_schema_clean_kubeadm_configs(stack: str, tmp_path: Path) -> None:
    """End to end: the scripts the stack really declares, run under the stubs; every
    kubeadm/kubelet document they hand to kubeadm walks clean against the API schemas."""
    from components.cluster.secrets import ParameterNames
    from tests.schema_walk import walk_document

    names = ParameterNames(f"podium-{stack}")
    nodes = _graph_user_data(stack)
    kinds_seen: set[str] = set()
    for name, script, volume in nodes:
        node = Node(tmp_path / name, pki_path=names.pki, volume=volume or VOLUME)
        node.ssm(names.token, TOKEN)
        node.ssm(names.encryption_key, ENCRYPTION_KEY)
        run = node.run(script)
        assert run.returncode == 0, f"{name}: {run.output[-2000:]}"
        assert_no_secret_leaked(run)
        action = "init" if name.endswith("control-plane-0") else "join"
        documents = list(yaml.safe_load_all((run.state / f"kubeadm-{action}.yaml").read_text()))
        for document in documents:
            kinds_seen.add(document["kind"])
            assert walk_document(document) == [], (name, document["kind"])
            if document["kind"] == "ClusterConfiguration":
                issuers = [
                    a["value"] for a in document["apiServer"]["extraArgs"] if a["name"] == "service-account-issuer"
                ]
                assert issuers[0].startswith("https://podium-") and issuers[0].endswith(".amazonaws.com"), issuers
        if action == "join":
            (join,) = documents
            assert join["discovery"]["bootstrapToken"]["token"] == TOKEN
            assert join["nodeRegistration"]["name"] == NODE_NAME
            assert ("controlPlane" in join) == ("control-plane" in name), name
    assert kinds_seen == {
        "InitConfiguration",
        "ClusterConfiguration",
        "KubeletConfiguration",
        "KubeProxyConfiguration",
        "JoinConfiguration",
    }
    expected = 1 + (2 if stack == "prod" else 0) + 2  # control planes + two pools
    assert len(nodes) == expected
