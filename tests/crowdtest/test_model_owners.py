"""Every model has one owning app, the one that defines it, and only that app's code
writes its rows (`Model.objects.create / update / delete / bulk_create / get_or_create /
update_or_create / bulk_update`, on a manager or a queryset made from it). The others
call the owner's services. A write from another app fails this test."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "crowdtest"
WRITES = {
    "create",
    "update",
    "delete",
    "bulk_create",
    "bulk_update",
    "get_or_create",
    "update_or_create",
}


def owners() -> dict[str, str]:
    """Model class name -> the app whose models.py defines it."""
    found = {}
    for path in ROOT.glob("*/models.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and any(
                isinstance(base, ast.Attribute) and base.attr == "Model" for base in node.bases
            ):
                found[node.name] = path.parent.name
    return found


def _root_model(node: ast.expr) -> str | None:
    """The model named at the root of `Model.objects.filter(...)....`, if any."""
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            if node.attr == "objects" and isinstance(node.value, ast.Name):
                return node.value.id
            node = node.value
        else:
            return None


def foreign_writes() -> list[str]:
    models = owners()
    found = []
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if len(relative.parts) < 2 or "migrations" in relative.parts:
            continue
        app = relative.parts[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in WRITES:
                continue
            model = _root_model(node.func.value)
            if model in models and models[model] != app:
                found.append(f"{relative}:{node.lineno} writes {models[model]}.{model}")
    return sorted(found)


def test_the_owners_are_known() -> None:
    known = owners()
    assert known["Session"] == "design" and known["Vote"] == "rating"
    assert len(known) >= 30


def test_only_a_models_own_app_writes_its_rows() -> None:
    writes = foreign_writes()
    assert not writes, "rows written outside their app:\n" + "\n".join(writes)
