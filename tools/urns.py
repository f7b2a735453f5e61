"""Writes every stack's resource URNs to tests/data/urns/<stack>.txt (`make urns`).

A URN is a resource's identity on a real stack: a changed one means Pulumi deletes
the old resource and creates a new one. tests/test_urns.py compares the program's
URNs with these files, so a refactor that would replace something fails the tests.
Refresh them only for an intended change, and give a renamed resource `aliases`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tools import harness

SNAPSHOTS = harness.ROOT / "tests" / "data" / "urns"


def snapshot_path(stack: str) -> Path:
    return SNAPSHOTS / f"{stack}.txt"


def urns(graph: harness.Graph) -> list[str]:
    return sorted(resource.urn for resource in graph.resources)


def drift(stack: str, found: list[str]) -> str | None:
    """What differs from the stack's snapshot, and what to do about it; None if nothing."""
    pinned = set(snapshot_path(stack).read_text().splitlines())
    gone, new = sorted(pinned - set(found)), sorted(set(found) - pinned)
    if not gone and not new:
        return None
    return (
        f"{stack}: the program's URNs differ from tests/data/urns/{stack}.txt.\n"
        + "".join(f"  no longer registered: {urn}\n" for urn in gone)
        + "".join(f"  newly registered:     {urn}\n" for urn in new)
        + "On a real stack a vanished URN is deleted and a new one created. If this is intended, "
        "refresh the snapshot with `make urns` and say why in the change; a renamed or re-parented "
        "resource that must survive needs `aliases=[...]` with its old name or parent."
    )


def main(stacks: list[str]) -> None:
    SNAPSHOTS.mkdir(parents=True, exist_ok=True)
    for stack in stacks or harness.stacks():
        found = urns(harness.run(stack))
        snapshot_path(stack).write_text("".join(f"{urn}\n" for urn in found))
        print(f"{stack}: {len(found)} URNs written to {snapshot_path(stack).relative_to(harness.ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
