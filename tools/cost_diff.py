"""The cost of a pull request: `python -m tools.cost_diff BASE HEAD [--out FILE]`.

BASE and HEAD are what `python -m tools.plan <stack> --cost-json FILE` wrote on the base
commit and on the pull request: one such file, or a directory of `<stack>.json` files.
Prints a Markdown comment (or writes it to FILE): per stack the total before and after,
the difference in dollars and percent and the budget's standing; then, per stack that
changed, the lines that changed and what newly has no list price. Every figure comes
from the two files: nothing is estimated here. A stack with no estimate on one side (its
plan failed, or the base predates `--cost-json`) is reported as such; the command still
succeeds. The comment starts with MARKER, by which the workflow finds and updates it.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.cost import JSON_FORMAT

MARKER = "<!-- podium-cost-estimate -->"
# Differences below half a cent are rounding, not change.
CENT = 0.005


def load(path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """(estimates by stack, why a stack's file could not be used): from one file or a
    directory of them; a missing path holds nothing."""
    files = sorted(path.glob("*.json")) if path.is_dir() else [path] if path.is_file() else []
    found: dict[str, dict[str, Any]] = {}
    unusable: dict[str, str] = {}
    for file in files:
        try:
            data = json.loads(file.read_text())
        except (OSError, ValueError) as error:
            unusable[file.stem] = f"{file.name} is not JSON ({error})"
            continue
        if not isinstance(data, dict) or data.get("format") != JSON_FORMAT:
            got = data.get("format") if isinstance(data, dict) else None
            unusable[file.stem] = f"{file.name} is format {got}, this comparison reads format {JSON_FORMAT}"
            continue
        found[str(data["stack"])] = data
    return found, unusable


def money(value: float) -> str:
    return f"{value:,.2f}"


def change(before: float, after: float) -> str:
    """The difference in dollars and, where there was something before, in percent."""
    difference = after - before
    if abs(difference) < CENT:
        return "0.00"
    percent = f" ({100 * difference / before:+.1f}%)" if before else ""
    return f"{difference:+,.2f}{percent}"


def budget_cell(estimate: dict[str, Any]) -> str:
    budget = estimate.get("budget")
    if budget is None:
        return "none"
    if budget["over"]:
        return f"{money(budget['monthlyUsd'])}: **over** by {money(budget['difference'])} ({budget['percent']:.0f}%)"
    return f"{money(budget['monthlyUsd'])}: {budget['percent']:.0f}% of it"


@dataclass(frozen=True)
class Line:
    component: str
    before: str | None  # what the line said on the base, None: no such line
    after: str | None
    before_monthly: float
    after_monthly: float

    @property
    def what(self) -> str:
        if self.before is None or self.after is None or self.before == self.after:
            return str(self.after or self.before)
        return f"{self.before} → {self.after}"

    def row(self) -> str:
        before = money(self.before_monthly) if self.before is not None else "new"
        after = money(self.after_monthly) if self.after is not None else "gone"
        return f"| {self.component} | {self.what} | {before} | {after} | {change(0, self.after_monthly - self.before_monthly)} |"


def changed_lines(base: dict[str, Any], head: dict[str, Any]) -> list[Line]:
    """The lines whose text or figure differs, matched by their key, largest change first."""
    before = {i["key"]: i for i in base["items"]}
    after = {i["key"]: i for i in head["items"]}
    lines = []
    for key in [*before, *(k for k in after if k not in before)]:
        old, new = before.get(key), after.get(key)
        if old and new and old["what"] == new["what"] and abs(old["monthly"] - new["monthly"]) < CENT:
            continue
        anchor = new or old
        assert anchor is not None
        lines.append(
            Line(
                anchor["component"],
                old["what"] if old else None,
                new["what"] if new else None,
                old["monthly"] if old else 0.0,
                new["monthly"] if new else 0.0,
            )
        )
    return sorted(lines, key=lambda line: -abs(line.after_monthly - line.before_monthly))


def stack_details(stack: str, base: dict[str, Any], head: dict[str, Any]) -> list[str]:
    lines = changed_lines(base, head)
    new_unpriced = [u for u in head["unpriced"] if u not in base["unpriced"]]
    standing = head.get("budget")
    if not lines and not new_unpriced and base.get("budget") == standing:
        return []
    out = [f"### {stack}: {change(base['total'], head['total'])}", ""]
    if lines:
        out += ["| component | line | base | this pull request | change |", "|---|---|---:|---:|---:|"]
        out += [line.row() for line in lines]
        out.append("")
    out.append(f"- with every node pool at its maximum: {money(base['ceiling'])} → {money(head['ceiling'])}")
    if head.get("eksEquivalent") is not None:
        eks_before = base.get("eksEquivalent")
        out.append(
            f"- the EKS equivalent: {money(eks_before) if eks_before is not None else 'n/a'} → "
            f"{money(head['eksEquivalent'])}"
        )
    limits = [b["monthlyUsd"] if b else None for b in (base.get("budget"), standing)]
    if limits[0] != limits[1]:
        out.append("- budget: " + " → ".join(money(limit) if limit is not None else "none" for limit in limits))
    for item in new_unpriced:
        out.append(f"- newly without a list price, so not counted: {item}")
    if standing is not None and standing["over"]:
        out.append(
            f"- over its budget of {money(standing['monthlyUsd'])} by {money(standing['difference'])}: "
            "the policy pack fails this stack's preview"
        )
    out.append("")
    return out


def comment(
    bases: dict[str, dict[str, Any]],
    heads: dict[str, dict[str, Any]],
    unusable: dict[str, str] | None = None,
) -> str:
    """The Markdown comment for the estimates of the base and of the pull request."""
    stacks = sorted(set(bases) | set(heads))
    any_estimate = next(iter(heads.values()), None) or next(iter(bases.values()), None)
    out = [MARKER, "## Monthly cost estimate", ""]
    if any_estimate is not None:
        prices = any_estimate["prices"]
        out += [
            f"{any_estimate['currency']} a month at {prices['region']} list prices of {prices['asOf']} "
            f"({prices['hoursPerMonth']} h), from `python -m tools.plan <stack> --cost-json` on the base commit "
            "and on this pull request. Priced by use and not counted: data, requests, storage as it fills.",
            "",
            "| stack | base | this pull request | change | budget |",
            "|---|---:|---:|---:|---|",
        ]
    for stack in stacks:
        base, head = bases.get(stack), heads.get(stack)
        before = money(base["total"]) if base else "n/a"
        after = money(head["total"]) if head else "n/a"
        difference = change(base["total"], head["total"]) if base and head else "n/a"
        out.append(f"| {stack} | {before} | {after} | {difference} | {budget_cell(head) if head else 'n/a'} |")
    out.append("")
    no_base = [s for s in stacks if s not in bases]
    no_head = [s for s in stacks if s not in heads]
    if no_base:
        out += [
            f"No estimate from the base commit for {', '.join(no_base)}: its plan failed, or it predates "
            "`--cost-json`. Nothing to compare with.",
            "",
        ]
    if no_head:
        out += [
            f"No estimate from this pull request for {', '.join(no_head)}: its plan failed (see the job's log).",
            "",
        ]
    for name, why in sorted((unusable or {}).items()):
        out += [f"Not read: {name}: {why}.", ""]
    if not stacks:
        out += ["No estimate on either side: the plans failed (see the job's log).", ""]
    for stack in stacks:
        base, head = bases.get(stack), heads.get(stack)
        if base and head:
            out += stack_details(stack, base, head)
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.cost_diff", description="Markdown comparison of two revisions' cost estimates."
    )
    parser.add_argument("base", type=Path, help="the base commit's --cost-json file, or a directory of them")
    parser.add_argument("head", type=Path, help="the pull request's --cost-json file, or a directory of them")
    parser.add_argument("--out", type=Path, help="write the comment here instead of printing it")
    args = parser.parse_args(argv)
    bases, base_unusable = load(args.base)
    heads, head_unusable = load(args.head)
    unusable = {f"base {k}": v for k, v in base_unusable.items()} | {
        f"pull request {k}": v for k, v in head_unusable.items()
    }
    text = comment(bases, heads, unusable)
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
