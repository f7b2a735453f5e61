"""Versions Podium pins, read from data/versions.yaml (copied from the upstream-checked
shared data; never edit a version here without reading it upstream first)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

_DATA = Path(__file__).parent / "data" / "versions.yaml"


@cache
def _versions() -> dict[str, Any]:
    return yaml.safe_load(_DATA.read_text())


def newest_patches() -> dict[str, str]:
    """Supported Kubernetes minors ("1.35") and the newest patch known for each."""
    return {str(minor): str(patch) for minor, patch in _versions()["kubernetes"]["newestPatch"].items()}


def image(name: str) -> str:
    return _versions()["images"][name]


def mongo_image(series: str) -> str:
    return f"docker.io/library/mongo:{_versions()['images']['mongo'][series]}"
