"""Real keys and certificates for the offline mocks of pulumi-tls resources, made with
`cryptography`, so everything downstream (discovery hash, kubeconfig, readiness CA)
works on genuine PEM text. Keys are cached per resource name: a test session runs the
program many times and RSA key generation is the slow part."""

from __future__ import annotations

import datetime
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Fixed, so the same keys give the same certificates within a session.
NOT_BEFORE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@cache
def private_key_pem(name: str, algorithm: str, rsa_bits: int) -> str:
    key: PrivateKey
    if algorithm == "RSA":
        key = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


def _load_key(pem: str) -> PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey))
    return key


def public_key_pem(private_pem: str) -> str:
    public = _load_key(private_pem).public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _name(subject: dict[str, Any] | None) -> x509.Name:
    subject = subject or {}
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, subject.get("commonName", "podium"))]
    if subject.get("organization"):
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, subject["organization"]))
    return x509.Name(attributes)


@cache
def self_signed_cert_pem(key_pem: str, common_name: str, validity_hours: int) -> str:
    key = _load_key(key_pem)
    name = _name({"commonName": common_name})
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_BEFORE + datetime.timedelta(hours=validity_hours))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def cert_request_pem(key_pem: str, subject: dict[str, Any] | None) -> str:
    return _cert_request_pem(key_pem, tuple(sorted((subject or {}).items())))


@cache
def _cert_request_pem(key_pem: str, subject: tuple[tuple[str, Any], ...]) -> str:
    """Cached: ECDSA signatures differ on every call, and the same inputs must give
    the same request (and so the same certificate) within a session."""
    key = _load_key(key_pem)
    request = x509.CertificateSigningRequestBuilder().subject_name(_name(dict(subject))).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM).decode()


@cache
def locally_signed_cert_pem(csr_pem: str, ca_cert_pem: str, ca_key_pem: str, validity_hours: int) -> str:
    request = x509.load_pem_x509_csr(csr_pem.encode())
    ca = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(ca.subject)
        .public_key(request.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_BEFORE + datetime.timedelta(hours=validity_hours))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(_load_key(ca_key_pem), hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()
