"""Experiment exports: one folder of CSV files, each written by the app that owns the
data, plus `export.json` naming the experiment's settings and the code version.

Apps register their files with `@export_file("name.csv")`, and sections of export.json
with `@manifest_section("name")`; `export_experiment` writes them all. Every cell a
spreadsheet would run as a formula is neutralised."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils import timezone

from modeling.provenance import code_version

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Neutralise text a spreadsheet would evaluate (OWASP "CSV injection"): prefix it
    with an apostrophe. Numbers stay numbers, so negative LUFS remain readable."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()


@dataclass(frozen=True)
class ExportFile:
    name: str
    write: Callable[[Any], tuple[Sequence[str], Iterable[Sequence[Any]]]]
    description: str


REGISTRY: dict[str, ExportFile] = {}


def export_file(
    name: str, description: str = ""
) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    def register(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        known = REGISTRY.get(name)
        if known is not None and known.write.__qualname__ != fn.__qualname__:
            raise RuntimeError(f"Two apps export a file named {name}.")
        REGISTRY[name] = ExportFile(name, fn, description or (fn.__doc__ or "").strip())
        return fn

    return register


# Sections of export.json beyond the settings: name -> function of the experiment giving a
# JSON-able value, registered by the app that owns the figures (`@manifest_section`).
SECTIONS: dict[str, Callable[[Any], Any]] = {}


def manifest_section(name: str) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    def register(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        SECTIONS[name] = fn
        return fn

    return register


def export_names() -> list[str]:
    return sorted(REGISTRY)


def export_one(experiment: Any, name: str) -> str:
    """The CSV text of one registered file."""
    header, rows = REGISTRY[name].write(experiment)
    return csv_text(header, rows)


def export_manifest(experiment: Any) -> dict[str, Any]:
    return {
        "experiment": experiment.slug,
        "name": experiment.name,
        "settings": experiment.config.to_dict(),
        "code_version": code_version(),
        "exported_at": timezone.now().isoformat(),
        "files": {name: REGISTRY[name].description for name in export_names()},
        **{name: section(experiment) for name, section in sorted(SECTIONS.items())},
    }


def export_experiment(experiment: Any, out_dir: Path) -> list[Path]:
    """Write every registered file and export.json into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in export_names():
        path = out_dir / name
        path.write_text(export_one(experiment, name), encoding="utf-8")
        written.append(path)
    manifest = out_dir / "export.json"
    manifest.write_text(json.dumps(export_manifest(experiment), indent=2) + "\n")
    written.append(manifest)
    return written
