"""Imports between crowdtest's apps run one way, downward:

    access, jobs, exports  ->  corpus -> design -> rating -> results / platforms / training -> staff

(each app may import those to its left, never one to its right; results, platforms and
training sit side by side). An upward import fails this test. What a lower app must tell
a higher one goes through a signal the lower app defines and the higher app receives."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "crowdtest"
LEVEL = {
    "access": 0,
    "jobs": 0,
    "exports": 0,
    "corpus": 1,
    "design": 2,
    "rating": 3,
    "results": 4,
    "platforms": 4,
    "training": 4,
    "staff": 5,
}


def imports_of(path: Path) -> set[str]:
    """The crowdtest apps a module imports, at any depth of the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found |= {n.split(".")[1] for n in names if n.startswith("crowdtest.") and "." in n}
    return found


def upward_imports() -> set[tuple[str, str]]:
    upward = set()
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        app = relative.parts[0].removesuffix(".py")
        if app not in LEVEL or "migrations" in relative.parts:
            continue
        for target in imports_of(path):
            if target in LEVEL and target != app and LEVEL[target] > LEVEL[app]:
                upward.add((relative.as_posix(), target))
    return upward


def test_no_app_imports_one_above_it() -> None:
    upward = upward_imports()
    assert not upward, f"imports against the apps' direction: {sorted(upward)}"
