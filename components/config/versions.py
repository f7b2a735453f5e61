"""Versions Podium pins, read from data/versions.yaml (copied from the upstream-checked
shared data; never edit a version here without reading it upstream first)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import yaml

_DATA = Path(__file__).parent / "data" / "versions.yaml"


@cache
def _versions() -> dict[str, Any]:
    return yaml.safe_load(_DATA.read_text())


def _tied(minor: str) -> dict[str, bool]:
    """What a minor needs before Podium offers it: each version-tied piece, present or not."""
    charts = _versions()["charts"]
    return {
        "a container runtime pin": minor in _versions()["runtime"],
        "a cloud-controller-manager image": minor in charts["awsCloudControllerManager"]["imageTags"],
        "a cluster-autoscaler image": minor in charts["clusterAutoscaler"]["imageTags"],
        "an end-of-life date": minor in _versions()["kubernetes"]["endOfLife"],
    }


def known_minors() -> dict[str, str]:
    """Every Kubernetes minor the data knows, offered or not, with its newest patch."""
    return {str(m): str(p) for m, p in _versions()["kubernetes"]["newestPatch"].items()}


def missing_pieces(minor: str) -> list[str]:
    """The version-tied pieces the data lacks for a minor (none: Podium offers it)."""
    return [piece for piece, present in _tied(minor).items() if not present]


def newest_patches() -> dict[str, str]:
    """Supported Kubernetes minors ("1.35") and the newest patch known for each: the
    minors for which every version-tied piece is in the data."""
    known = _versions()["kubernetes"]["newestPatch"]
    return {str(m): str(p) for m, p in known.items() if all(_tied(str(m)).values())}


def end_of_life(minor: str) -> date | None:
    found = _versions()["kubernetes"]["endOfLife"].get(minor)
    return date.fromisoformat(found) if found else None


def maintenance_from(minor: str) -> date | None:
    found = _versions()["kubernetes"]["maintenanceFrom"].get(minor)
    return date.fromisoformat(found) if found else None


def unsupported_reason(minor: str, today: date) -> str:
    """Why a minor is not offered, for the settings' message."""
    supported = ", ".join(newest_patches())
    if minor not in _versions()["kubernetes"]["newestPatch"]:
        return f"minor {minor} is not supported (supported: {supported})"
    eol = end_of_life(minor)
    if eol is not None and eol < today:
        return f"{minor} reached end of life on {eol} and is not offered (supported: {supported})"
    missing = missing_pieces(minor)
    return (
        f"{minor} is not offered yet: the version data (components/config/data/versions.yaml) has no "
        f"{', no '.join(p.removeprefix('a ').removeprefix('an ') for p in missing)} for it (supported: {supported})"
    )


def _parse(version: str) -> tuple[int, int, int]:
    major, minor, patch = (int(part) for part in version.split("."))
    return major, minor, patch


def version_change(running: str | None, requested: str, today: date) -> tuple[list[str], list[str]]:
    """(errors, warnings) for moving a cluster that runs `running` (None: a new cluster)
    to `requested`, by the version-skew policy: one minor at a time, never down."""
    errors: list[str] = []
    warnings: list[str] = []
    minor = requested.rsplit(".", 1)[0]
    eol = end_of_life(minor)
    if running is None:
        if eol is not None and eol < today:
            supported = ", ".join(m for m in newest_patches() if (end_of_life(m) or today) >= today)
            errors.append(f"{minor} reached end of life on {eol}: a new cluster needs a supported minor ({supported})")
        return errors, warnings
    try:
        old, new = _parse(running), _parse(requested)
    except ValueError:
        return [f"the version record says {running!r}, which is not a version: fix or delete the parameter"], []
    if new < old:
        going_back = "a downgrade means a new cluster and a restore" if new[:2] != old[:2] else "no patch downgrade"
        errors.append(
            f"{requested} is older than the {running} the control planes run: kubeadm upgrades only ({going_back})"
        )
    elif new[:2] != old[:2] and (new[0] != old[0] or new[1] - old[1] > 1):
        step = f"1.{old[1] + 1}"
        errors.append(
            f"{running} to {requested} skips a minor: Kubernetes upgrades one minor at a time; "
            f"set {step}.x ({newest_patches().get(step, 'its newest patch')}) first"
        )
    if eol is not None and eol < today:
        warnings.append(f"{minor} reached end of life on {eol}: upgrade to a supported minor")
    elif (start := maintenance_from(minor)) is not None and start <= today:
        warnings.append(f"{minor} is in maintenance since {start} and reaches end of life on {eol}: plan the upgrade")
    return errors, warnings


@dataclass(frozen=True)
class Artifact:
    version: str
    url: str
    sha256: str


@dataclass(frozen=True)
class Runtime:
    """What a node installs before the kubelet: exact releases, each with its checksum."""

    containerd: Artifact
    runc: Artifact
    cni_plugins: Artifact
    sandbox_image: str


def runtime(minor: str, arch: str = "amd64") -> Runtime:
    pins = _versions()["runtime"][minor]
    artifacts = _versions()["artifacts"]

    def artifact(key: str) -> Artifact:
        version = str(pins[key])
        entry = artifacts[key]
        return Artifact(version, entry["url"].format(version=version, arch=arch), entry["sha256"][version][arch])

    return Runtime(artifact("containerd"), artifact("runc"), artifact("cniPlugins"), str(pins["pause"]))


def ubuntu_ami_parameter(arch: str) -> str:
    """The SSM parameter under which Canonical publishes its current Ubuntu 24.04 image."""
    return _versions()["ubuntuAmiSsmParameter"][arch]


def image(name: str) -> str:
    return _versions()["images"][name]


def mongo_image(series: str) -> str:
    return f"docker.io/library/mongo:{_versions()['images']['mongo'][series]}"


# Where the chart packages are, relative to the project (tools/charts.py vendors them).
CHARTS_DIR = "charts"
PROJECT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Chart:
    repo: str
    chart: str
    version: str

    @property
    def digest(self) -> str:
        return hashlib.sha256((PROJECT / self.package).read_bytes()).hexdigest()

    @property
    def package(self) -> str:
        """The package a Release installs from, relative to the project directory (where
        Pulumi runs the program), so its inputs do not depend on the machine."""
        return f"./{CHARTS_DIR}/{self.chart}-{self.version}.tgz"


# Add-on name (the key of podium:addonVersions) -> its entry in versions.yaml and chart.
# Calico's CRDs are a chart of their own from v3.32 on, always at the operator's version.
_ADDON_CHARTS = {
    "calico": ("calico", None),
    "awsCloudControllerManager": ("awsCloudControllerManager", "aws-cloud-controller-manager"),
    "awsEbsCsiDriver": ("awsEbsCsiDriver", "aws-ebs-csi-driver"),
    "metricsServer": ("metricsServer", "metrics-server"),
    "kubeletCsrApprover": ("kubeletCsrApprover", "kubelet-csr-approver"),
    "traefik": ("traefik", "traefik"),
}
ADDONS = tuple(_ADDON_CHARTS)


def charts(overrides: Mapping[str, str] | None = None) -> dict[str, Chart]:
    """Every add-on chart at its pinned version, or at the version `overrides` names.
    Calico gives two charts, `calicoCrds` and `calico` (the tigera-operator)."""
    overrides = overrides or {}
    data = _versions()["charts"]
    result: dict[str, Chart] = {}
    for addon, (key, chart) in _ADDON_CHARTS.items():
        entry = data[key]
        version = str(overrides.get(addon, entry["version"]))
        if addon == "calico":
            result["calicoCrds"] = Chart(entry["repo"], entry["charts"]["crds"], version)
            result["calico"] = Chart(entry["repo"], entry["charts"]["operator"], version)
        else:
            assert chart is not None
            result[addon] = Chart(entry["repo"], chart, version)
    return result


# Charts pinned together, never overridden one at a time: the operator's CRDs must match
# the operator kube-prometheus-stack runs.
_PINNED_CHARTS = (
    "prometheusOperatorCrds",
    "kubePrometheusStack",
    "fluentBit",
    "certManager",
    "externalDns",
    "clusterAutoscaler",
    "awsNodeTerminationHandler",
)


def pinned_chart(key: str) -> Chart:
    """A chart Podium installs at exactly the version versions.yaml pins."""
    if key not in _PINNED_CHARTS:
        raise KeyError(f"{key} is not a pinned chart: one of {', '.join(_PINNED_CHARTS)}")
    entry = _versions()["charts"][key]
    return Chart(entry["repo"], entry["chart"], str(entry["version"]))


def addon_charts(addon: str, version: str) -> list[Chart]:
    """The charts one add-on installs at `version` (Calico: its CRDs and its operator)."""
    pinned = charts({addon: version})
    return [pinned["calicoCrds"], pinned["calico"]] if addon == "calico" else [pinned[addon]]


def cloud_controller_image_tag(minor: str) -> str:
    """The AWS cloud-controller-manager release that matches a Kubernetes minor."""
    return str(_versions()["charts"]["awsCloudControllerManager"]["imageTags"][minor])


def cluster_autoscaler_image_tag(minor: str) -> str:
    """The cluster-autoscaler release built for a Kubernetes minor (its scheduler code
    simulates that minor's scheduling: the two must match)."""
    return str(_versions()["charts"]["clusterAutoscaler"]["imageTags"][minor])
