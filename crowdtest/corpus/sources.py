"""Where tracks come from: a folder, a CSV manifest, an S3 prefix or an upload; and how a
worker gets a local file to read, whatever the source."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage

AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aif", ".aiff", ".wma"}
)
MANIFEST_COLUMNS = (
    "path",
    "title",
    "artist",
    "year",
    "label",
    "carrier",
    "work_id",
    "reference",
)


class SourceError(Exception):
    """A source that can't be read at all (the batch can't start)."""


@dataclass(frozen=True)
class Candidate:
    """One file to import, with what the manifest says about it."""

    kind: str  # "path" | "s3" | "upload"
    source: str
    name: str
    metadata: dict[str, str] = field(default_factory=dict)
    error: str = ""


def is_within(path: Path, roots: list[Path]) -> bool:
    """Whether `path`, every symlink on the way followed, lies inside one of `roots`."""
    resolved = path.resolve()
    return any(resolved == root or root in resolved.parents for root in roots)


def allowed_roots() -> list[Path]:
    return [Path(p).resolve() for p in settings.IMPORT_ROOTS]


def outside_roots(path: Path, roots: list[Path]) -> str:
    """The one check of a local path to read (a folder, a manifest, each file they lead
    to): empty when it lies inside the import roots after following symlinks, else why
    not. `..` and links out of a root are caught, because the path is resolved first."""
    if is_within(path, roots):
        return ""
    return f"{path} is outside the allowed import roots (IMPORT_ROOTS)"


def local_source(path: Path, roots: list[Path]) -> list[Path]:
    """The roots a local source may read from, once the source itself has passed the check."""
    problem = outside_roots(path, roots)
    if problem:
        raise SourceError(f"{problem}: add its folder to IMPORT_ROOTS to import from it.")
    return roots


def folder_candidates(
    folder: Path, *, roots: list[Path] | None = None
) -> tuple[list[Candidate], int]:
    """Audio files under `folder` (recursively, sorted); also the count of other files.
    The folder and every file in it (a symlink's target) must be inside the import roots."""
    permitted = local_source(folder, roots if roots is not None else allowed_roots())
    if not folder.is_dir():
        raise SourceError(f"{folder} is not a folder")
    found: list[Candidate] = []
    skipped = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = str(path.relative_to(folder))
        if path.suffix.lower() not in AUDIO_EXTENSIONS:
            skipped += 1
        elif problem := outside_roots(path, permitted):
            found.append(Candidate("path", str(path), name, error=f"{name}: {problem}"))
        else:
            found.append(Candidate("path", str(path.resolve()), name))
    return found, skipped


def manifest_candidates(manifest: Path, *, roots: list[Path] | None = None) -> list[Candidate]:
    """Rows of a CSV manifest (`path,title,artist,year,label,carrier,work_id,reference`;
    only `path` is required; `work_id` groups the versions of one work, `reference` names
    the track a processed version was made from, by its `path`). Relative paths are
    relative to the manifest. The manifest and every path
    in it must be inside the import roots."""
    permitted = local_source(manifest, roots if roots is not None else allowed_roots())
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"Can't read the manifest {manifest.name}: {exc}") from exc
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "path" not in [f.strip().lower() for f in reader.fieldnames]:
        raise SourceError(
            f"The manifest {manifest.name} needs a header row with a 'path' column "
            f"(and optionally {', '.join(MANIFEST_COLUMNS[1:])})."
        )
    candidates = []
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        raw = row.get("path", "")
        meta = {k: row.get(k, "") for k in MANIFEST_COLUMNS[1:] if row.get(k)}
        name = raw or f"(line {line})"
        if not raw:
            candidates.append(Candidate("path", "", name, meta, f"line {line}: empty path"))
            continue
        if raw.startswith("s3://"):
            candidates.append(Candidate("s3", raw, raw, meta))
            continue
        path = Path(raw) if Path(raw).is_absolute() else manifest.parent / raw
        if problem := outside_roots(path, permitted):
            candidates.append(Candidate("path", str(path), name, meta, f"line {line}: {problem}"))
        elif not path.is_file():
            candidates.append(
                Candidate("path", str(path), name, meta, f"line {line}: no such file")
            )
        else:
            candidates.append(Candidate("path", str(path.resolve()), name, meta))
    return candidates


def parse_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise SourceError(f"{uri} is not an s3://bucket/prefix URI")
    return parsed.netloc, parsed.path.lstrip("/")


def s3_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=settings.AWS_S3_ENDPOINT_URL,
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5),
    )


def s3_candidates(uri: str, *, client: Any = None) -> list[Candidate]:
    """Audio objects under an S3 prefix, listed page by page."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = parse_s3_uri(uri)
    client = client or s3_client()
    found: list[Candidate] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if Path(key).suffix.lower() in AUDIO_EXTENSIONS:
                    found.append(Candidate("s3", f"s3://{bucket}/{key}", key))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise SourceError(f"S3 bucket '{bucket}' can't be listed ({code}): {exc}") from exc
    except BotoCoreError as exc:
        raise SourceError(f"S3 bucket '{bucket}' is unreachable: {exc}") from exc
    return found


@contextmanager
def local_copy(kind: str, source: str, *, client: Any = None) -> Iterator[Path]:
    """A local path to read the audio from: the file itself, or a temporary copy of an
    S3 object or a remotely stored upload, removed afterwards."""
    if kind == "path":
        yield Path(source)
        return
    if kind == "upload":
        try:
            local = Path(default_storage.path(source))
        except NotImplementedError:
            local = None  # remote storage: fall through to a temporary copy
        except SuspiciousFileOperation as exc:
            raise SourceError(f"{source} is not a stored upload: {exc}") from exc
        if local is not None:
            yield local
            return
    suffix = Path(source).suffix
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        if kind == "s3":
            from botocore.exceptions import BotoCoreError, ClientError

            bucket, key = parse_s3_uri(source)
            try:
                (client or s3_client()).download_fileobj(bucket, key, tmp)
            except (BotoCoreError, ClientError) as exc:
                raise SourceError(f"Can't download {source}: {exc}") from exc
        else:
            with default_storage.open(source, "rb") as remote:
                for chunk in iter(lambda: remote.read(1 << 20), b""):
                    tmp.write(chunk)
        tmp.flush()
        yield Path(tmp.name)
