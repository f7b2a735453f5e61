"""A small matcher of Amazon EventBridge event patterns, to test which documented events
the rules let through (EventBridge user guide, "Event patterns" and "Content filtering").

Semantics covered: every field the pattern names must be in the event; a list of values
matches when the event's value (or, for a list in the event, one of its elements) equals
one of them; an object recurses. The patterns' content filters (prefix, anything-but,
numeric, exists, ...) are refused, not guessed: Podium's rules use none.
"""

from __future__ import annotations

from typing import Any


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    for key, expected in pattern.items():
        if key not in event:
            return False
        value = event[key]
        if isinstance(expected, dict):
            if not isinstance(value, dict) or not matches(expected, value):
                return False
            continue
        if not isinstance(expected, list) or any(isinstance(e, dict) for e in expected):
            raise ValueError(f"{key}: only lists of exact values are implemented, not {expected!r}")
        values = value if isinstance(value, list) else [value]
        if not any(v in expected for v in values):
            return False
    return True
