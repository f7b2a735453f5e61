"""The readiness gate against a local HTTPS server whose certificate the cluster CA
signed: ready means `/readyz` answers `ok` over a connection verified by that CA."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components.cluster.readiness import ApiNotReady, wait_until_ready

NOW = datetime.datetime.now(datetime.UTC)


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None, ca_key=None):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(hours=1))
        .not_valid_after(NOW + datetime.timedelta(hours=1))
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]), critical=False
        )
    return builder.sign(ca_key or key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    """(cluster CA PEM, an unrelated CA PEM, server cert+key file signed by the cluster CA)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("kubernetes", ca_key, None)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _certificate("someone-else", other_key, None)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate("kube-apiserver", server_key, ca, ca_key)
    bundle = tmp_path_factory.mktemp("pki") / "server.pem"
    key_pem = server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    bundle.write_text(_pem(server) + key_pem)
    return _pem(ca), _pem(other), bundle


def _serve(bundle: Path, status: int, body: str) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            payload = body.encode() if self.path == "/readyz" else b"not found"
            self.send_response(status if self.path == "/readyz" else 404)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(bundle)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def ready_server(pki: tuple[str, str, Path]) -> Iterator[str]:
    yield from _serve(pki[2], 200, "ok")


@pytest.fixture
def failing_server(pki: tuple[str, str, Path]) -> Iterator[str]:
    yield from _serve(pki[2], 500, "[-]etcd failed: reason withheld")


def test_a_ready_api_server_passes_the_gate(ready_server: str, pki: tuple[str, str, Path]) -> None:
    wait_until_ready(ready_server, pki[0], timeout_seconds=5, poll_seconds=0.05)


def test_an_unready_api_server_fails_with_the_endpoint_and_last_answer(
    failing_server: str, pki: tuple[str, str, Path]
) -> None:
    with pytest.raises(ApiNotReady) as caught:
        wait_until_ready(failing_server, pki[0], timeout_seconds=0.3, poll_seconds=0.05)
    message = str(caught.value)
    assert f"{failing_server}/readyz was not ready" in message
    assert "HTTP 500" in message and "etcd failed" in message
    assert "podium:cluster.apiAllowedCidrs" in message


def test_a_server_the_cluster_ca_did_not_sign_is_never_trusted(ready_server: str, pki: tuple[str, str, Path]) -> None:
    with pytest.raises(ApiNotReady) as caught:
        wait_until_ready(ready_server, pki[1], timeout_seconds=0.3, poll_seconds=0.05)
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)


def test_preview_never_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pulumi preview` calls only check and diff on a dynamic provider: neither waits."""
    from components.cluster import readiness

    def must_not_wait(*_: object, **__: object) -> None:
        raise AssertionError("waited during preview")

    monkeypatch.setattr(readiness, "wait_until_ready", must_not_wait)
    provider = readiness._ReadinessProvider()
    props = {"endpoint": "https://203.0.113.10:6443", "caPem": "x", "timeoutSeconds": 5}
    assert provider.check({}, props).inputs == props
    provider.diff("id", props, {**props, "endpoint": "https://203.0.113.11:6443"})
    with pytest.raises(AssertionError, match="waited during preview"):
        provider.create(props)
