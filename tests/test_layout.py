"""The layout shows the dataflow: a stage imports only config, the shared building
blocks and the stages before it (config <- shared <- network <- cluster <- platform
<- app). docs/architecture.md, "Where things go", says the same in a table."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = ROOT / "components"
STAGES = ("config", "shared", "network", "cluster", "platform", "app")
# Import paths existing stacks' state refers to (pickled dynamic providers): they stay
# where they were, as re-exports, whatever the layout.
STATE_PINNED = {"readiness.py": "the readiness gate's provider of stacks created before the layout by stage"}


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "components" and parts[1] in STAGES else None


def imported_modules(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "components":
            found += [f"components.{alias.name}" for alias in node.names]  # from components import app
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
    return found


def upward_imports(root: Path) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        if path == root / "__init__.py":
            continue
        module = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        own = stage_of(module)
        if own is None and path.relative_to(root).as_posix() in STATE_PINNED:
            continue
        if own is None:
            problems.append(f"{path.relative_to(root.parent)} is outside the stage packages {STAGES}")
            continue
        for imported in imported_modules(path):
            other = stage_of(imported)
            if other is not None and STAGES.index(other) > STAGES.index(own):
                problems.append(f"{module} ({own}) imports {imported} from the later stage {other}")
    return sorted(set(problems))


def test_no_stage_imports_a_later_one() -> None:
    assert upward_imports(COMPONENTS) == []


@pytest.mark.parametrize(
    ("module", "source", "problem"),
    [
        ("cluster/members.py", "from components.platform import addons\n", "imports components.platform"),
        ("config/settings.py", "from components import app\n", "imports components.app"),
        ("stray.py", "", "outside the stage packages"),
    ],
)
def test_an_upward_import_is_named(tmp_path: Path, module: str, source: str, problem: str) -> None:
    root = tmp_path / "components"
    (root / module).parent.mkdir(parents=True, exist_ok=True)
    (root / "__init__.py").write_text("")
    (root / module).write_text(source)
    (found,) = upward_imports(root)
    assert problem in found
