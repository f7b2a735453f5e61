"""The Kubernetes objects a stack declares, as the manifests the provider would apply.

Taken from the captured graph (inputs of every plain `kubernetes:` resource; Helm
releases are charts, which tools/helm_render.py renders). Used by the tests (kubernetes-validate, checkov,
NetworkPolicy evaluation) and by the plan's `--out`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from tools import harness

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def kubernetes_objects(graph: harness.Graph, *, redact: bool = True) -> list[dict[str, Any]]:
    """Every plain object, in registration order. With `redact`, every value that is
    secret in the program (Secret data, passwords) is replaced by a marker."""
    objects = []
    for resource in graph.resources:
        if resource.custom and resource.type.startswith("kubernetes:") and resource.type != HELM_RELEASE:
            objects.append(resource.public_inputs if redact else resource.inputs)
    return objects


def file_name(manifest: dict[str, Any]) -> str:
    metadata = manifest.get("metadata", {})
    parts = [metadata.get("namespace", "_cluster"), manifest["kind"], metadata.get("name", "unnamed")]
    return re.sub(r"[^A-Za-z0-9_.-]", "-", "-".join(parts).lower()) + ".yaml"


def write_objects(objects: Iterable[dict[str, Any]], directory: Path) -> list[Path]:
    """One YAML file per object; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for manifest in objects:
        path = directory / file_name(manifest)
        # libyaml's emitter: the CRDs alone are megabytes.
        path.write_text(yaml.dump(manifest, Dumper=yaml.CSafeDumper, sort_keys=False))
        written.append(path)
    return written


def write_manifests(graph: harness.Graph, directory: Path, *, redact: bool = True) -> list[Path]:
    """The graph's plain objects, one YAML file each."""
    return write_objects(kubernetes_objects(graph, redact=redact), directory)
