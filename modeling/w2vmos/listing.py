"""The files of an archive listed as they are found, never all held at once: a manifest
CSV read row by row, a folder walked one directory at a time. Both keep the order of
`read_manifest` and `find_audio_files` (a folder's files in sorted path order), so a
scoring spread over shards writes its CSV in the same order as one made in one pass."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

from modeling.w2vmos.errors import W2VMOSError

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".m4a", ".opus"}


def iter_manifest_paths(path: Path | str) -> Iterator[Path]:
    """The `path` column of a manifest CSV, row by row; a relative path is taken from
    the manifest's folder."""
    source = Path(path)
    try:
        with source.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or "path" not in reader.fieldnames:
                raise W2VMOSError(f"{source}: a manifest needs a 'path' column")
            for line, row in enumerate(reader, start=2):
                raw = (row.get("path") or "").strip()
                if not raw:
                    raise W2VMOSError(f"{source}, line {line}: empty path")
                file = Path(raw)
                yield file if file.is_absolute() else source.parent / file
    except (UnicodeDecodeError, csv.Error) as exc:
        raise W2VMOSError(f"{source} is not a UTF-8 CSV manifest: {exc}") from exc
    except OSError as exc:
        raise W2VMOSError(f"cannot read manifest {source}: {exc}") from exc


def walk_audio_files(folder: Path | str) -> Iterator[Path]:
    """Audio files under `folder`, recursively, in sorted path order (a folder's entries
    sorted by name, each subfolder walked where its name falls): one directory's names
    are held at a time."""
    root = Path(folder)
    if not root.is_dir():
        raise W2VMOSError(f"{root} is not a folder")
    yield from _walk(root)


def _walk(folder: Path) -> Iterator[Path]:
    try:
        with os.scandir(folder) as scan:
            entries = sorted((e.name, e.is_dir()) for e in scan)
    except OSError:
        return  # a folder that vanished or can't be read holds nothing to score
    for name, is_dir in entries:
        path = folder / name
        if is_dir:
            yield from _walk(path)
        elif path.suffix.lower() in AUDIO_SUFFIXES:
            yield path
