"""The files of an archive listed as they are found, never all held at once: a manifest
CSV read row by row, a folder walked one directory at a time. Both keep the order of
`read_manifest` and `find_audio_files` (a folder's files in sorted path order), so a
scoring spread over shards writes its CSV in the same order as one made in one pass.

They yield plain strings, not `Path`s: pathlib interns every part of every path it
parses, and the interpreter's table of interned strings, grown to hold a hundred
thousand file names, never shrinks, so a `Path` per file costs memory that grows with
the archive."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

from modeling.w2vmos.errors import W2VMOSError

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".m4a", ".opus"}


def iter_manifest_paths(path: Path | str) -> Iterator[str]:
    """The `path` column of a manifest CSV, row by row, as written; a relative path is
    joined to the manifest's folder."""
    source = Path(path)
    folder = str(source.parent)
    try:
        with source.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or "path" not in reader.fieldnames:
                raise W2VMOSError(f"{source}: a manifest needs a 'path' column")
            for line, row in enumerate(reader, start=2):
                raw = (row.get("path") or "").strip()
                if not raw:
                    raise W2VMOSError(f"{source}, line {line}: empty path")
                yield raw if os.path.isabs(raw) else os.path.join(folder, raw)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise W2VMOSError(f"{source} is not a UTF-8 CSV manifest: {exc}") from exc
    except OSError as exc:
        raise W2VMOSError(f"cannot read manifest {source}: {exc}") from exc


def walk_audio_files(folder: Path | str) -> Iterator[str]:
    """Audio files under `folder`, recursively, in sorted path order (a folder's entries
    sorted by name, each subfolder walked where its name falls): one directory's names
    are held at a time."""
    root = Path(folder)
    if not root.is_dir():
        raise W2VMOSError(f"{root} is not a folder")
    yield from _walk(str(root))


def _walk(folder: str) -> Iterator[str]:
    try:
        with os.scandir(folder) as scan:
            entries = sorted((e.name, e.is_dir()) for e in scan)
    except OSError:
        return  # a folder that vanished or can't be read holds nothing to score
    for name, is_dir in entries:
        path = os.path.join(folder, name)
        if is_dir:
            yield from _walk(path)
        elif os.path.splitext(name)[1].lower() in AUDIO_SUFFIXES:
            yield path
