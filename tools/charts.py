"""The Helm chart packages Podium installs from: `charts/<chart>-<version>.tgz`, exactly
as their chart repositories serve them, and `charts/charts.lock.yaml`, their SHA-256.

Every Release installs from its package, so `pulumi up` needs no chart repository, and
what the tests render is what the cluster gets. `make charts CHART=<add-on>
VERSION=<version>` (this module's `vendor`) pulls a new version with the virtualenv's
Helm and locks it; then set that version in components/config/data/versions.yaml, or
per stack in `podium:addonVersions`.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import yaml

from components.config import versions

ROOT = Path(__file__).resolve().parent.parent
CHARTS = ROOT / versions.CHARTS_DIR
LOCK = CHARTS / "charts.lock.yaml"
LOCK_HEADER = (
    "# The chart packages in this folder and their SHA-256, written by `make charts` (tools/charts.py).\n"
    "# A test fails when a package differs from its digest, or a folder holds a package not listed here.\n"
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def lock() -> dict[str, dict[str, str]]:
    """File name -> {chart, version, sha256, repo}."""
    return dict((yaml.safe_load(LOCK.read_text()) or {}).get("packages") or {})


def chart_yaml(package: Path) -> dict[str, Any]:
    """The package's Chart.yaml (the first one: a package's own sits at `<chart>/Chart.yaml`)."""
    with tarfile.open(package) as archive:
        member = next(m for m in archive.getmembers() if m.name.count("/") == 1 and m.name.endswith("/Chart.yaml"))
        extracted = archive.extractfile(member)
        assert extracted is not None
        return yaml.safe_load(extracted.read())


def problems() -> list[str]:
    """What differs between the folder, the lock and the packages' own Chart.yaml."""
    locked = lock()
    found = []
    on_disk = {p.name for p in CHARTS.glob("*.tgz")}
    for name in sorted(on_disk - locked.keys()):
        found.append(f"{name} is not in {LOCK.name}")
    for name, entry in sorted(locked.items()):
        path = CHARTS / name
        if not path.exists():
            found.append(f"{name} is locked but missing")
            continue
        if sha256(path) != entry["sha256"]:
            found.append(f"{name}: SHA-256 {sha256(path)} is not the locked {entry['sha256']}")
        meta = chart_yaml(path)
        if (str(meta["name"]), str(meta["version"])) != (entry["chart"], entry["version"]):
            found.append(
                f"{name}: Chart.yaml says {meta['name']} {meta['version']}, the lock {entry['chart']} {entry['version']}"
            )
    return found


def write_lock(entries: dict[str, dict[str, str]]) -> None:
    body = yaml.safe_dump({"packages": dict(sorted(entries.items()))}, sort_keys=False, width=200)
    LOCK.write_text(LOCK_HEADER + body)


def helm() -> Path:
    binary = Path(sys.executable).parent / "helm"
    if not binary.exists():
        raise SystemExit(f"{binary} is missing: `make venv` installs Helm into the virtualenv")
    return binary


def vendor(addon: str, version: str) -> list[Path]:
    """Pulls an add-on's charts at `version` from their repository (needs the
    internet) and locks them. Calico is two charts, its CRDs and its operator."""
    entries = lock()
    written = []
    for chart in versions.addon_charts(addon, version):
        with tempfile.TemporaryDirectory() as scratch:
            subprocess.run(
                [
                    str(helm()),
                    "pull",
                    chart.chart,
                    "--repo",
                    chart.repo,
                    "--version",
                    version,
                    "--destination",
                    scratch,
                ],
                check=True,
            )
            (pulled,) = Path(scratch).glob("*.tgz")
            target = ROOT / chart.package
            locked = entries.get(target.name)
            if locked and locked["sha256"] != sha256(pulled):
                raise SystemExit(f"{target.name} is locked with other bytes: remove it and its lock entry first")
            target.write_bytes(pulled.read_bytes())
        entries[target.name] = {"chart": chart.chart, "version": version, "sha256": sha256(target), "repo": chart.repo}
        written.append(target)
    write_lock(entries)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Vendor an add-on's chart at a version and lock it.")
    parser.add_argument("addon", choices=versions.ADDONS)
    parser.add_argument("version")
    args = parser.parse_args(argv)
    for path in vendor(args.addon, args.version):
        print(f"vendored {path.relative_to(ROOT)}")
    print("set the version in components/config/data/versions.yaml, or per stack in podium:addonVersions")
    remaining = problems()
    print("\n".join(remaining) or "lock and packages agree")
    return 1 if remaining else 0


if __name__ == "__main__":
    sys.exit(main())
