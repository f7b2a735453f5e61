"""Custom resources checked against their CustomResourceDefinition's openAPIV3Schema,
with strict field validation: a field the schema does not know is an error (the server
would drop it silently with `Ignore`, and refuse it with `Strict`, as `kubectl apply`
asks by default). The structural part of what the API server checks; not its CEL
rules (`x-kubernetes-validations`), list-type uniqueness or formats, and a null it
would prune from a non-nullable field is an error here.

The Kubernetes extensions become JSON Schema: `nullable`, `x-kubernetes-int-or-string`,
`x-kubernetes-preserve-unknown-fields` (an object left open), `x-kubernetes-embedded-
resource`. A resource whose kind no given CRD defines is not checked here (built-in
kinds go through kubernetes-validate). General on purpose: any CRD, any resource.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema import Draft7Validator

Key = tuple[str, str]  # (apiVersion, kind)
_COMBINATORS = ("allOf", "anyOf", "oneOf")


def _strict(node: Mapping[str, Any], *, top: bool = False) -> dict[str, Any]:
    schema = {k: v for k, v in node.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if node.get("x-kubernetes-int-or-string"):
        schema.pop("type", None)
        schema["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    if "properties" in node:
        schema["properties"] = {
            # The API server validates ObjectMeta itself; CRDs say only `type: object`.
            name: ({"type": "object"} if top and name == "metadata" else _strict(child))
            for name, child in node["properties"].items()
        }
    if isinstance(node.get("items"), Mapping):
        schema["items"] = _strict(node["items"])
    if isinstance(node.get("additionalProperties"), Mapping):
        schema["additionalProperties"] = _strict(node["additionalProperties"])
    for combinator in _COMBINATORS:
        if combinator in node:
            schema[combinator] = [_strict(child) for child in node[combinator]]
    open_object = node.get("x-kubernetes-preserve-unknown-fields") or node.get("x-kubernetes-embedded-resource")
    if node.get("type") == "object" and "additionalProperties" not in node and not open_object:
        schema["additionalProperties"] = False
    if top:
        schema.setdefault("properties", {}).update(
            {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}
        )
    return schema


def schemas(crds: Iterable[Mapping[str, Any]]) -> dict[Key, dict[str, Any]]:
    """(apiVersion, kind) -> JSON Schema, for every served version of every CRD."""
    found: dict[Key, dict[str, Any]] = {}
    for crd in crds:
        spec = crd["spec"]
        for version in spec["versions"]:
            if version.get("served", True):
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                found[key] = _strict(version["schema"]["openAPIV3Schema"], top=True)
    return found


def problems(resource: Mapping[str, Any], known: Mapping[Key, dict[str, Any]]) -> list[str]:
    """Where `resource` breaks its CRD's schema, as `path: message`; nothing for a kind
    no CRD in `known` defines."""
    schema = known.get((str(resource.get("apiVersion")), str(resource.get("kind"))))
    if schema is None:
        return []
    found = []
    for error in sorted(Draft7Validator(schema).iter_errors(resource), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in error.absolute_path) or "(top)"
        found.append(f"{path}: {error.message}")
    return found


def custom_resources(objects: Iterable[Mapping[str, Any]], known: Mapping[Key, Any]) -> list[Mapping[str, Any]]:
    return [o for o in objects if (str(o.get("apiVersion")), str(o.get("kind"))) in known]
