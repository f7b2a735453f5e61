"""Reads nested stack config into frozen dataclasses, collecting every problem.

The settings dataclasses are the single description of the config contract: their
field names (snake_case here, camelCase in YAML), annotations, defaults and `doc`
metadata drive parsing, unknown-key detection and the generated documentation
(tools/configdoc). Semantic rules live in components/config/settings.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")

_MISSING = dataclasses.MISSING


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def doc_field(doc: str, default: Any = _MISSING, default_factory: Any = _MISSING) -> Any:
    """A dataclass field carrying the text that documents its config key."""
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata={"doc": doc})
    return dataclasses.field(default=default, metadata={"doc": doc})


class Problems:
    """Collects `key path: message` lines so all of them are reported at once."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.lines: list[str] = []

    def add(self, path: str, message: str, *, namespace: str | None = None) -> None:
        self.lines.append(f"{namespace or self.namespace}:{path}: {message}")


def field_default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not _MISSING:
        return f.default
    if f.default_factory is not _MISSING:
        return f.default_factory()
    return _MISSING


def type_name(tp: Any) -> str:
    """The YAML-facing name of an annotation, for the generated docs."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if origin is tuple:
        return f"list of {type_name(typing.get_args(tp)[0])}"
    if origin in (Mapping, dict):
        return "map of string to string"
    if dataclasses.is_dataclass(tp):
        return "object"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(tp, str(tp))


def _convert(tp: Any, raw: Any, path: str, problems: Problems, base: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if raw is None:
            return None
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(inner, raw, path, problems, base)
    if dataclasses.is_dataclass(tp):
        return parse_object(typing.cast(type, tp), raw, path, problems, base)
    if origin is tuple:
        (item_type,) = [a for a in typing.get_args(tp) if a is not Ellipsis]
        if not isinstance(raw, list):
            problems.add(path, f"must be a list, got {_describe(raw)}")
            return _MISSING
        items = [_convert(item_type, item, f"{path}[{i}]", problems, None) for i, item in enumerate(raw)]
        return _MISSING if _MISSING in items else tuple(items)
    if origin in (Mapping, dict):
        if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
            problems.add(path, f"must be a map of string to string, got {_describe(raw)}")
            return _MISSING
        return types.MappingProxyType(dict(raw))
    if tp is bool:
        if not isinstance(raw, bool):
            problems.add(path, f"must be true or false, got {_describe(raw)}")
            return _MISSING
        return raw
    if tp is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            problems.add(path, f"must be an integer, got {_describe(raw)}")
            return _MISSING
        return raw
    if tp is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            problems.add(path, f"must be a number, got {_describe(raw)}")
            return _MISSING
        return float(raw)
    if tp is str:
        if not isinstance(raw, str):
            problems.add(path, f"must be a string, got {_describe(raw)}")
            return _MISSING
        return raw
    raise TypeError(f"unsupported settings annotation {tp!r} at {path}")


def _describe(raw: Any) -> str:
    if isinstance(raw, dict):
        return "an object"
    if isinstance(raw, list):
        return "a list"
    return repr(raw)


def parse_object(cls: type[T], raw: Any, path: str, problems: Problems, base: T | None = None) -> T:
    """Builds `cls` from a YAML object. Missing keys take their value from `base`
    (a per-field default instance) or the class default; unknown keys are errors.
    Returns a `_MISSING` sentinel (typed as T) when a required value is absent."""
    prefix = f"{path}." if path else ""
    if not isinstance(raw, dict):
        problems.add(path, f"must be an object, got {_describe(raw)}")
        return typing.cast(T, _MISSING)
    hints = typing.get_type_hints(cls)
    fields = {camel(f.name): f for f in dataclasses.fields(typing.cast(Any, cls)) if f.init}
    unknown = [key for key in raw if key not in fields]
    for key in unknown:
        known = ", ".join(sorted(fields))
        problems.add(f"{prefix}{key}", f"unknown key (known keys here: {known})")
    values: dict[str, Any] = {}
    for key, f in fields.items():
        default = getattr(base, f.name) if _given(base) else field_default(f)
        if key not in raw:
            if default is _MISSING:
                problems.add(f"{prefix}{key}", "is required")
            values[f.name] = default
            continue
        value = _convert(hints[f.name], raw[key], f"{prefix}{key}", problems, default)
        # A malformed value is reported above; its default stands in so that the
        # semantic rules can still run and report everything else in the same pass.
        values[f.name] = default if value is _MISSING else value
    if _MISSING in values.values():
        return typing.cast(T, _MISSING)
    return cls(**values)


def _given(base: Any) -> bool:
    return base is not None and base is not _MISSING


def is_missing(value: Any) -> bool:
    return value is _MISSING


def document(cls: type, prefix: str = "", base: Any = None) -> list[tuple[str, str, str, str]]:
    """(key path, type, default, description) for every leaf key, in declaration order."""
    rows: list[tuple[str, str, str, str]] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        key = f"{prefix}{camel(f.name)}"
        tp = hints[f.name]
        default = getattr(base, f.name) if _given(base) else field_default(f)
        if dataclasses.is_dataclass(tp):
            rows.extend(document(typing.cast(type, tp), f"{key}.", default))
            continue
        item = typing.get_args(tp)[0] if typing.get_origin(tp) is tuple else None
        if item is not None and dataclasses.is_dataclass(item):
            rows.append((key, "list of objects", _show(default), f.metadata.get("doc", "")))
            rows.extend(document(typing.cast(type, item), f"{key}[].", None))
            continue
        rows.append((key, type_name(tp), _show(default), f.metadata.get("doc", "")))
    return rows


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(required)"
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == "":
        return '""'
    if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
        return "[" + ", ".join(f"{{name: {getattr(v, 'name', '?')}}}" for v in value) + "]"
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
    return str(value)
