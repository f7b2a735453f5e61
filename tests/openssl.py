"""Independent computations with the openssl CLI, to check Podium's own code against."""

from __future__ import annotations

import subprocess


def discovery_hash(ca_pem: str) -> str:
    """kubeadm's documented pipeline: the CA's public key, DER-encoded, SHA-256."""

    def openssl(*args: str, data: bytes) -> bytes:
        return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout

    public_key = openssl("x509", "-pubkey", "-noout", data=ca_pem.encode())
    der = openssl("pkey", "-pubin", "-outform", "DER", data=public_key)
    return "sha256:" + openssl("dgst", "-sha256", "-r", data=der).decode().split()[0]
