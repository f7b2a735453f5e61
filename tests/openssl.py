"""Independent computations with the openssl CLI, to check Podium's own code against."""

from __future__ import annotations

import base64
import subprocess


def openssl(*args: str, data: bytes) -> bytes:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def discovery_hash(ca_pem: str) -> str:
    """kubeadm's documented pipeline: the CA's public key, DER-encoded, SHA-256."""
    public_key = openssl("x509", "-pubkey", "-noout", data=ca_pem.encode())
    der = openssl("pkey", "-pubin", "-outform", "DER", data=public_key)
    return "sha256:" + openssl("dgst", "-sha256", "-r", data=der).decode().split()[0]


def jwks_key_id(public_key_pem: str) -> str:
    """kube-apiserver's key id: the public key DER-encoded, SHA-256, base64url without padding."""
    der = openssl("pkey", "-pubin", "-outform", "DER", data=public_key_pem.encode())
    digest = openssl("dgst", "-sha256", "-binary", data=der)
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def rsa_modulus_hex(public_key_pem: str) -> str:
    """The modulus as openssl prints it (`Modulus=<HEX>`)."""
    out = openssl("rsa", "-pubin", "-noout", "-modulus", data=public_key_pem.encode()).decode()
    return out.strip().split("=", 1)[1].lower()
