"""The readiness gates against a local HTTPS server that plays the API server: its
certificate is signed by the cluster CA, it requires a client certificate from that
CA (401 otherwise, like an API server without anonymous access), and it answers the
paths the gates ask with what a cluster at a given stage would."""

from __future__ import annotations

import base64
import datetime
import http.server
import ipaddress
import json
import os
import pickletools
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pulumi.dynamic.dynamic import serialize_provider

from components.cluster import readiness
from components.cluster.readiness import BOOTSTRAP_LOG, groups_hint, instances_hint, wait_for

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime.datetime.now(datetime.UTC)
KUBEADM_CONFIG = "/api/v1/namespaces/kube-system/configmaps/kubeadm-config"
KUBE_PROXY = "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy"
CONTROL_PLANE_NODES = "/api/v1/nodes?labelSelector=node-role.kubernetes.io%2Fcontrol-plane"
NODES = "/api/v1/nodes"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _certificate(
    subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None = None, ca_key=None, usage=None
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(hours=1))
        .not_valid_after(NOW + datetime.timedelta(hours=1))
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if usage == ExtendedKeyUsageOID.SERVER_AUTH:
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))])
            builder = builder.add_extension(san, critical=False)
    return builder.sign(ca_key or key, hashes.SHA256())


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass(frozen=True)
class Pki:
    ca_pem: str
    other_ca_pem: str
    server_bundle: Path
    admin_cert_pem: str
    admin_key_pem: str
    stranger_cert_pem: str  # signed by another CA
    stranger_key_pem: str


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ca_key, other_key = _key(), _key()
    ca = _certificate(_name("kubernetes"), ca_key)
    other = _certificate(_name("someone-else"), other_key)
    server_key, admin_key, stranger_key = _key(), _key(), _key()
    server = _certificate(_name("kube-apiserver"), server_key, ca, ca_key, ExtendedKeyUsageOID.SERVER_AUTH)
    admin_name = _name("kubernetes-admin", "kubeadm:cluster-admins")
    admin = _certificate(admin_name, admin_key, ca, ca_key, ExtendedKeyUsageOID.CLIENT_AUTH)
    stranger = _certificate(admin_name, stranger_key, other, other_key, ExtendedKeyUsageOID.CLIENT_AUTH)
    bundle = tmp_path_factory.mktemp("pki") / "server.pem"
    bundle.write_text(_pem(server) + _key_pem(server_key))
    return Pki(_pem(ca), _pem(other), bundle, _pem(admin), _key_pem(admin_key), _pem(stranger), _key_pem(stranger_key))


def node(name: str, *, ready: bool = True, control_plane: bool = False, taints=(), cordoned: bool = False):
    labels = {"kubernetes.io/hostname": name}
    if control_plane:
        labels["node-role.kubernetes.io/control-plane"] = ""
    condition = {"type": "Ready", "status": "True" if ready else "False"}
    if not ready:
        condition["reason"] = "KubeletNotReady"
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "taints": [{"key": k, "effect": e} for k, e in taints],
            **({"unschedulable": True} if cordoned else {}),
        },
        "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, condition]},
    }


UNINITIALIZED = ("node.cloudprovider.kubernetes.io/uninitialized", "NoSchedule")
NOT_READY_TAINT = ("node.kubernetes.io/not-ready", "NoSchedule")
CP_TAINT = ("node-role.kubernetes.io/control-plane", "NoSchedule")
CP_0 = node("ip-10-0-1-10.eu-west-1.compute.internal", control_plane=True, taints=[CP_TAINT])
CP_1 = node("ip-10-0-2-10.eu-west-1.compute.internal", control_plane=True, taints=[CP_TAINT])
WORKER_READY = node("ip-10-0-1-20.eu-west-1.compute.internal")
WORKER_UNINITIALIZED = node("ip-10-0-2-20.eu-west-1.compute.internal", taints=[UNINITIALIZED])
WORKER_NOT_READY = node("ip-10-0-3-20.eu-west-1.compute.internal", ready=False, taints=[NOT_READY_TAINT])
DB_NODE = node("ip-10-0-3-30.eu-west-1.compute.internal", taints=[("podium/dedicated", "NoSchedule")])


def node_list(*nodes: dict[str, Any]) -> tuple[int, str]:
    return 200, json.dumps({"kind": "NodeList", "items": list(nodes)})


def finished_init(
    *control_planes: dict[str, Any], workers: tuple[dict[str, Any], ...] = ()
) -> dict[str, tuple[int, str]]:
    """What the API server answers once kubeadm init has finished."""
    return {
        "/readyz": (200, "ok"),
        KUBEADM_CONFIG: (200, '{"kind": "ConfigMap"}'),
        KUBE_PROXY: (200, '{"kind": "DaemonSet"}'),
        CONTROL_PLANE_NODES: node_list(*control_planes),
        NODES: node_list(*control_planes, *workers),
    }


@dataclass
class FakeApiServer:
    url: str
    answers: dict[str, tuple[int, str]]
    clients: list[str] = field(default_factory=list)  # the client certificate's CN per request


@pytest.fixture
def api(pki: Pki) -> Iterator[FakeApiServer]:
    fake = FakeApiServer("", {})

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            peer = self.connection.getpeercert()  # type: ignore[attr-defined]
            subject = dict(item for rdn in peer.get("subject", ()) for item in rdn) if peer else {}
            fake.clients.append(subject.get("commonName", "anonymous"))
            status, body = (401, "Unauthorized") if not peer else fake.answers.get(self.path, (404, "NotFound"))
            payload = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_bundle)
    context.load_verify_locations(cadata=pki.ca_pem)
    context.verify_mode = ssl.CERT_OPTIONAL
    server.socket = context.wrap_socket(server.socket, server_side=True)
    fake.url = f"https://127.0.0.1:{server.server_address[1]}"
    # shutdown() waits for the loop's next poll: 0.5 s by default, per test.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def gate(
    stage: str, api: FakeApiServer, pki: Pki, *, members: tuple[str, ...] = (), timeout: float = 5, **access
) -> None:
    wait_for(
        stage,
        endpoint=access.get("endpoint", api.url),
        ca_pem=access.get("ca_pem", pki.ca_pem),
        client_cert_pem=access.get("cert", pki.admin_cert_pem),
        client_key_pem=access.get("key", pki.admin_key_pem),
        timeout_seconds=timeout,
        node_names=list(members),
        hint=instances_hint(["i-0aaa1111bbbb2222c", "i-0ddd3333eeee4444f"]),
        poll_seconds=0.05,
    )


def failure(stage: str, api: FakeApiServer, pki: Pki, **kwargs) -> str:
    with pytest.raises(RuntimeError) as caught:
        gate(stage, api, pki, timeout=0.3, **kwargs)
    return str(caught.value)


# --- stage control-plane -----------------------------------------------------------------------


def test_a_finished_kubeadm_init_passes_asked_as_the_admin(api: FakeApiServer, pki: Pki) -> None:
    api.answers = finished_init(CP_0)
    gate("control-plane", api, pki)
    assert api.clients and set(api.clients) == {"kubernetes-admin"}


def test_readyz_alone_is_not_a_finished_init(api: FakeApiServer, pki: Pki) -> None:
    api.answers = {"/readyz": (200, "ok"), CONTROL_PLANE_NODES: node_list(CP_0)}
    message = failure("control-plane", api, pki)
    assert f"the cluster at {api.url} did not reach stage 'control-plane' within 0 s" in message
    assert "the kubeadm-config ConfigMap (kubeadm init's upload-config phase) not created yet (HTTP 404)" in message
    assert (
        "the kube-proxy DaemonSet (kubeadm init's last phase, addon/kube-proxy) not created yet (HTTP 404)" in message
    )
    # Where to look: the log on the named instances.
    assert BOOTSTRAP_LOG in message and "i-0aaa1111bbbb2222c, i-0ddd3333eeee4444f" in message


def test_an_api_server_that_is_not_ready_says_why(api: FakeApiServer, pki: Pki) -> None:
    api.answers = {**finished_init(CP_0), "/readyz": (500, "[-]etcd failed: reason withheld")}
    message = failure("control-plane", api, pki)
    assert "/readyz answers HTTP 500: [-]etcd failed" in message


def test_before_the_admin_binding_the_certificate_is_forbidden(api: FakeApiServer, pki: Pki) -> None:
    api.answers = {**finished_init(CP_0), KUBEADM_CONFIG: (403, "Forbidden"), KUBE_PROXY: (403, "Forbidden")}
    assert "kubeadm has not bound kubeadm:cluster-admins yet" in failure("control-plane", api, pki)


def test_ha_waits_for_every_control_plane_by_name(api: FakeApiServer, pki: Pki) -> None:
    cp_0, cp_1 = CP_0["metadata"]["name"], CP_1["metadata"]["name"]
    replacement = "ip-10-0-3-10.eu-west-1.compute.internal"
    api.answers = finished_init(CP_0, CP_1)
    # Two registered, but not the replacement: a count of 2 would pass here.
    message = failure("control-plane", api, pki, members=(cp_0, replacement))
    assert f"control planes not registered yet: {replacement} (registered: {cp_0}, {cp_1})" in message
    gate("control-plane", api, pki, members=(cp_0, cp_1))


def test_without_names_any_registered_control_plane_will_do(api: FakeApiServer, pki: Pki) -> None:
    api.answers = finished_init()
    assert "control planes not registered yet: any (registered: none)" in failure("control-plane", api, pki)
    api.answers = finished_init(CP_0)
    gate("control-plane", api, pki)


def test_an_answer_that_is_not_a_node_list_is_waited_out(api: FakeApiServer, pki: Pki) -> None:
    api.answers = {**finished_init(CP_0), CONTROL_PLANE_NODES: (200, "<html>proxy</html>"), NODES: (200, "{}")}
    assert "cannot list Nodes (HTTP 200: <html>proxy</html>)" in failure("control-plane", api, pki)
    assert "cannot list Nodes (HTTP 200: {})" in failure("workers", api, pki)


def test_a_certificate_of_another_ca_is_not_accepted(api: FakeApiServer, pki: Pki) -> None:
    api.answers = finished_init(CP_0)
    message = failure("control-plane", api, pki, cert=pki.stranger_cert_pem, key=pki.stranger_key_pem)
    assert "no answer from the API server" in message or "HTTP 401" in message


def test_a_server_the_cluster_ca_did_not_sign_is_never_trusted(api: FakeApiServer, pki: Pki) -> None:
    api.answers = finished_init(CP_0)
    message = failure("control-plane", api, pki, ca_pem=pki.other_ca_pem)
    assert "no answer from the API server" in message and "CERTIFICATE_VERIFY_FAILED" in message
    assert api.clients == []


def test_nothing_listening_is_no_answer(pki: Pki) -> None:
    fake = FakeApiServer("https://127.0.0.1:9", {})
    assert "no answer from the API server" in failure("control-plane", fake, pki)


# --- stage workers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        (WORKER_READY, None),
        (CP_0, "a control plane"),
        (WORKER_UNINITIALIZED, "tainted node.cloudprovider.kubernetes.io/uninitialized:NoSchedule"),
        (WORKER_NOT_READY, "not Ready (KubeletNotReady)"),
        (node("n", cordoned=True), "cordoned"),
        (DB_NODE, "tainted podium/dedicated:NoSchedule"),
        (node("n", taints=[("soft", "PreferNoSchedule")]), None),
        ({"metadata": {"name": "n"}, "status": {}}, "not Ready (no Ready condition)"),
    ],
)
def test_what_makes_a_worker_schedulable(candidate: dict[str, Any], reason: str | None) -> None:
    assert readiness._ReadinessProvider.unschedulable_because(candidate) == reason


def test_a_ready_untainted_worker_passes(api: FakeApiServer, pki: Pki) -> None:
    api.answers = finished_init(CP_0, workers=(WORKER_UNINITIALIZED, WORKER_READY, DB_NODE))
    gate("workers", api, pki)


def test_without_a_schedulable_worker_every_node_says_why(api: FakeApiServer, pki: Pki) -> None:
    api.answers = finished_init(CP_0, workers=(WORKER_UNINITIALIZED, WORKER_NOT_READY, DB_NODE))
    message = failure("workers", api, pki)
    assert "no Ready, untainted worker yet (" in message
    assert f"{WORKER_NOT_READY['metadata']['name']}: not Ready (KubeletNotReady)" in message
    assert f"{WORKER_UNINITIALIZED['metadata']['name']}: tainted node.cloudprovider" in message
    assert CP_0["metadata"]["name"] not in message


def test_only_control_planes_is_no_worker_yet(api: FakeApiServer, pki: Pki) -> None:
    api.answers = finished_init(CP_0)
    assert "no worker has registered yet" in failure("workers", api, pki)


def test_hints_name_the_log_and_where_it_is() -> None:
    assert "i-1, i-2" in instances_hint(["i-1", "i-2"]) and "apiAllowedCidrs" in instances_hint(["i-1"])
    hint = groups_hint(["podium-dev-general-2026", "podium-dev-db-2026"])
    assert BOOTSTRAP_LOG in hint and "podium-dev-general-2026, podium-dev-db-2026" in hint


# --- the provider as Pulumi runs it --------------------------------------------------------------


def test_preview_never_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pulumi preview` calls only check and diff on a dynamic provider: neither waits."""

    def must_not_wait(*_: object, **__: object) -> None:
        raise AssertionError("waited during preview")

    monkeypatch.setattr(readiness._ReadinessProvider, "wait", must_not_wait)
    provider = readiness._ReadinessProvider()
    props = {"endpoint": "https://203.0.113.10:6443", "stage": "workers", "timeoutSeconds": 5}
    assert provider.check({}, props).inputs == props
    provider.diff("id", props, {**props, "endpoint": "https://203.0.113.11:6443"})
    with pytest.raises(AssertionError, match="waited during preview"):
        provider.create(props)


def test_the_pickled_provider_runs_in_a_fresh_process_from_the_project_directory() -> None:
    """What Pulumi's plugin process does with the state's copy: unpickle it, importing
    this project's modules from the directory it starts in, with no engine and no
    config, then run it."""
    pickled = serialize_provider(readiness._ReadinessProvider())
    probe = (
        "import base64, sys, dill\n"
        "provider = dill.loads(base64.b64decode(sys.stdin.read()))\n"
        'nodes = \'{"items": [{"metadata": {"name": "w"}, "status": {"conditions": '
        '[{"type": "Ready", "status": "False", "reason": "NetworkPluginNotReady"}]}}]}\'\n'
        "print(provider.worker_problems(lambda path: (200, nodes)))\n"
        "print(provider.control_plane_problems(lambda path: (0, 'timed out'), []))\n"
        "print(sorted(m for m in sys.modules if m.startswith('components')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], input=pickled, capture_output=True, text=True, cwd=ROOT, env=_clean_environment()
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "['no Ready, untainted worker yet (w: not Ready (NetworkPluginNotReady))']",
        "['no answer from the API server (timed out)']",
        # Only the gate's own module: nothing that declares resources is imported.
        "['components', 'components.cluster', 'components.cluster.readiness']",
    ]


# Every path a stack's state may hold for the gate's provider (module, class), oldest
# first. Pulumi unpickles the state's reference to refresh or delete the gate, so each
# must keep resolving: a rename or move adds its old path here and keeps a re-export.
STATE_PINNED_PROVIDERS = [
    ("components.readiness", "_ReadinessProvider"),  # before the layout by stage
    ("components.cluster.readiness", "_ReadinessProvider"),
]


def test_the_provider_is_stored_under_a_pinned_path() -> None:
    stored = pickletools_globals(base64.b64decode(serialize_provider(readiness._ReadinessProvider())))
    assert stored == [STATE_PINNED_PROVIDERS[-1]], (
        "the gate's provider moved: existing stacks still name the old path; add the new one "
        "to STATE_PINNED_PROVIDERS and keep the old module as a re-export"
    )


@pytest.mark.parametrize(("module", "name"), STATE_PINNED_PROVIDERS)
def test_a_gate_in_an_older_state_can_still_be_refreshed_and_deleted(module: str, name: str) -> None:
    # Exactly what the state holds: a global reference and an empty instance.
    state_pickle = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b")\x81}b."
    probe = (
        "import base64, sys, dill\n"
        "provider = dill.loads(base64.b64decode(sys.stdin.read()))\n"
        "props = {'endpoint': 'https://203.0.113.10:6443', 'stage': 'control-plane'}\n"
        "print(provider.read('id', props).outs == props)\n"
        "provider.delete('id', props)\n"
        "print('deleted')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        input=base64.b64encode(state_pickle).decode(),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_clean_environment(),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "deleted"]


def pickletools_globals(data: bytes) -> list[tuple[str, str]]:
    """The (module, name) pairs a pickle imports."""
    strings: list[str] = []
    found: list[tuple[str, str]] = []
    for opcode, argument, _ in pickletools.genops(data):
        if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(argument)
        elif opcode.name == "STACK_GLOBAL":
            found.append((strings[-2], strings[-1]))
        elif opcode.name == "GLOBAL":
            module, _, name = argument.partition(" ")
            found.append((module, name))
    return found


def _clean_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "PULUMI"))}


def test_bad_gate_arguments_are_refused() -> None:
    access = readiness.AdminAccess(endpoint="https://x:6443", ca_pem="", client_cert_pem="", client_key_pem="")
    with pytest.raises(ValueError, match="stage must be one of control-plane, workers"):
        readiness.ApiReadiness("g", access, stage="nodes", hint="")
    with pytest.raises(ValueError, match="needs the control planes' node names"):
        readiness.ApiReadiness("g", access, stage="control-plane", hint="")
