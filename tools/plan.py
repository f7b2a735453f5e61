"""Offline plan: `python -m tools.plan <stack>`.

Runs the program for one stack under mocks (no AWS credentials, no Pulumi CLI) and prints
the resource tree (components and their children) and a count per resource type. An
invalid config prints the settings error and exits 1.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from tools import harness


def render_tree(graph: harness.Graph) -> list[str]:
    children: dict[str, list[harness.Resource]] = {}
    for resource in graph.resources:
        children.setdefault(resource.parent, []).append(resource)
    roots = [r for r in graph.resources if r.parent.endswith(f"pulumi:pulumi:Stack::{harness.PROJECT}-{graph.stack}")]
    lines = [f"{harness.PROJECT}-{graph.stack} (pulumi:pulumi:Stack)"]

    def emit(resource: harness.Resource, depth: int) -> None:
        marks = " [protected]" if resource.protect else ""
        lines.append(f"{'  ' * depth}- {resource.type} {resource.name}{marks}")
        for child in sorted(children.get(resource.urn, []), key=lambda r: (r.custom, r.type, r.name)):
            emit(child, depth + 1)

    for root in sorted(roots, key=lambda r: (r.custom, r.type, r.name)):
        emit(root, 1)
    return lines


def render_counts(graph: harness.Graph) -> list[str]:
    counts = Counter(r.type for r in graph.resources)
    width = max((len(t) for t in counts), default=0)
    lines = [f"  {t:<{width}}  {n}" for t, n in sorted(counts.items())]
    lines.append(f"  {'total':<{width}}  {sum(counts.values())}")
    return lines


def one_line(value: object) -> str:
    """A PEM or other multi-line value as its first line and a line count."""
    text = str(value)
    lines = text.strip().splitlines()
    return text if len(lines) <= 1 else f"{lines[0]} ... ({len(lines)} lines)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.plan", description="Offline plan of one Podium stack.")
    parser.add_argument("stack", help=f"stack name, one of: {', '.join(harness.stacks())}")
    args = parser.parse_args(argv)
    if not harness.stack_file(args.stack).exists():
        print(f"no stack file {harness.stack_file(args.stack).name}", file=sys.stderr)
        return 2
    try:
        graph = harness.run(args.stack)
    except harness.ProgramError as error:
        print(f"plan for stack {args.stack!r} failed:\n{error}", file=sys.stderr)
        print(f"resources registered before the failure: {len(error.graph.resources)}", file=sys.stderr)
        return 1
    print(f"Resource tree for stack {args.stack!r}:")
    print("\n".join(render_tree(graph)))
    print("\nResources by type:")
    print("\n".join(render_counts(graph)))
    print("\nStack outputs:")
    for key in sorted(graph.exports):
        print(f"  {key}: {'[secret]' if key in graph.secret_exports else one_line(graph.exports[key])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
