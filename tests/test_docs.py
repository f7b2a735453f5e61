"""The README and docs/ stay navigable and true to the tree: every relative link
resolves (file and heading), and every path under components/ they name exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE_PATH = re.compile(r"`((?:components|tools|tests|policy|examples)/[^`\s]*)`")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"^#{1,6} ", line)}


def broken_links(path: Path) -> list[str]:
    problems = []
    for target in LINK.findall(FENCE.sub("", path.read_text())):
        if re.match(r"^[a-z]+:", target):
            continue  # an absolute URL: not checked offline
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            problems.append(f"{path.name}: {target} -> no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{path.name}: {target} -> no heading #{anchor} in {resolved.name}")
    return problems


def missing_paths(path: Path) -> list[str]:
    names = {m.rstrip("/.,") for m in CODE_PATH.findall(path.read_text())}
    return sorted(
        f"{path.name}: `{name}` does not exist"
        for name in names
        if "*" not in name and "<" not in name and not (ROOT / name).exists()
    )


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_every_relative_link_resolves(path: Path) -> None:
    assert broken_links(path) == []


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_every_named_path_exists(path: Path) -> None:
    assert missing_paths(path) == []


def test_the_readme_links_every_document() -> None:
    readme = (ROOT / "README.md").read_text()
    assert {f"docs/{p.name}" for p in DOCUMENTS[1:]} <= set(LINK.findall(readme))


def test_a_broken_link_and_a_missing_heading_are_reported(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## PKI validity\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#pki-validity) [gone](missing.md) [no heading](other.md#nope) [web](https://example.org)\n"
    )
    assert broken_links(page) == [
        "page.md: missing.md -> no such file",
        "page.md: other.md#nope -> no heading #nope in other.md",
    ]
