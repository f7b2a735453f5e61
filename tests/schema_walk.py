"""Walks a rendered configuration document against the field schema of its API
(tests/data/*-fields.json, extracted from the official generated references): every
field must exist and have the right shape (list, map, object or scalar, and bool/int
scalars of the right type)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
SCHEMAS = {
    "kubeadm.k8s.io/v1beta4": "kubeadm-v1beta4-fields.json",
    "kubelet.config.k8s.io/v1beta1": "kubelet-v1beta1-fields.json",
    "kubeproxy.config.k8s.io/v1alpha1": "kubeproxy-v1alpha1-fields.json",
}
_INTS = {"int", "int32", "int64", "uint32", "uint64", "uint16"}


@cache
def schema(api_version: str) -> dict[str, Any]:
    return json.loads((DATA / SCHEMAS[api_version]).read_text())


def walk_document(document: dict[str, Any]) -> list[str]:
    """Problems found in one document; empty when it walks clean."""
    api, kind = document.get("apiVersion"), document.get("kind")
    if api not in SCHEMAS:
        return [f"apiVersion {api!r} has no schema"]
    spec = schema(api)
    if kind not in spec["kinds"]:
        return [f"kind {kind!r} is not in {api}"]
    body = {k: v for k, v in document.items() if k not in ("apiVersion", "kind")}
    return _object(spec, kind, body, kind)


def _object(spec: dict[str, Any], type_name: str, value: Any, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected an object ({type_name}), got {type(value).__name__}"]
    fields = spec["types"][type_name]["fields"]
    problems: list[str] = []
    for key, item in value.items():
        if key not in fields:
            problems.append(f"{path}.{key}: unknown field of {type_name}")
            continue
        problems += _field(spec, fields[key], item, f"{path}.{key}")
    return problems


def _field(spec: dict[str, Any], field: dict[str, Any], value: Any, path: str) -> list[str]:
    if field.get("list"):
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {type(value).__name__}"]
        element = {**field, "list": False}
        return [p for i, v in enumerate(value) for p in _field(spec, element, v, f"{path}[{i}]")]
    if field.get("map"):
        if not isinstance(value, dict):
            return [f"{path}: expected a map, got {type(value).__name__}"]
        element = {**field, "map": False}
        return [p for k, v in value.items() for p in _field(spec, element, v, f"{path}.{k}")]
    return _scalar_or_object(spec, field["type"], value, path)


def _scalar_or_object(spec: dict[str, Any], type_name: str, value: Any, path: str) -> list[str]:
    if type_name in spec.get("aliases", {}):
        return _field(spec, spec["aliases"][type_name], value, path)
    if type_name.startswith("external:"):
        return []
    if type_name == "bool":
        return [] if isinstance(value, bool) else [f"{path}: expected a boolean, got {value!r}"]
    if type_name in _INTS:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected an integer, got {value!r}"]
    if type_name in ("string", "float64"):
        return (
            []
            if isinstance(value, (str, int, float)) and not isinstance(value, bool)
            else [f"{path}: expected a scalar, got {value!r}"]
        )
    definition = spec["types"].get(type_name)
    if definition is None:
        return [f"{path}: type {type_name} is not in the schema"]
    if definition.get("opaqueScalar"):
        return [] if not isinstance(value, (dict, list)) else [f"{path}: expected a scalar ({type_name})"]
    if type_name == "EnvVar":  # embeds core/v1.EnvVar, whose members the schema does not list
        return [] if isinstance(value, dict) else [f"{path}: expected an object"]
    return _object(spec, type_name, value, path)
