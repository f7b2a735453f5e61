"""Versions Podium pins, read from data/versions.yaml (copied from the upstream-checked
shared data; never edit a version here without reading it upstream first)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

_DATA = Path(__file__).parent / "data" / "versions.yaml"


@cache
def _versions() -> dict[str, Any]:
    return yaml.safe_load(_DATA.read_text())


def newest_patches() -> dict[str, str]:
    """Supported Kubernetes minors ("1.35") and the newest patch known for each: the
    minors with a pinned container runtime."""
    supported = _versions()["runtime"]
    return {str(m): str(p) for m, p in _versions()["kubernetes"]["newestPatch"].items() if str(m) in supported}


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
