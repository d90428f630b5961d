"""The bytes of the clips raters hear: one personal copy per clip key, byte ranges,
conditional requests, and a record of what went out.

Nothing about a clip's bytes may tell a trap, a gold clip or a digits clip from a stimulus
to rate, within one rater's session or across raters:
- every clip of an experiment is padded to one size (the largest delivery file, rounded
  up), with an MP4 `free` box after the media data, which players skip;
- the padding is random and written once per clip key, so no two raters ever receive the
  same bytes for a clip (a table of file hashes shared between raters gives nothing), and
  the ETag is the copy's own, not the file's.
The copies live in `settings.CLIP_ROOT`, a local folder also when the media are on S3, so a
reverse proxy can send them: with `settings.CLIP_ACCEL_REDIRECT` set, the view only names
the copy in `X-Accel-Redirect` and nginx does the rest (ranges, 304s, slow clients).
Copies are rebuilt on demand, so `sweep_copies` may delete old ones at any time.
"""

from __future__ import annotations

import os
import re
import secrets
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Value
from django.db.models.fields.files import FieldFile
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.crypto import salted_hmac

from .models import AssignmentItem

COPY_SALT = "crowdtest.rating.copy"
# Random padding every copy carries at least, and the size grid clips are padded to.
MIN_PADDING = 256
SIZE_GRID = 4096
SIZE_CACHE_S = 600
CHUNK = 64 * 1024
CONTENT_TYPES = {
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
    ".aac": "audio/aac",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".webm": "audio/webm",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
}
_RANGE = re.compile(r"^bytes=([0-9]{0,15})-([0-9]{0,15})$")


@dataclass(frozen=True)
class Clip:
    """What a clip key stands for: the stored file and whose session it is part of.
    `item_id` is set for clips to rate (training, rating, traps, gold), None for the
    setup's volume and digits clips."""

    key: str
    stored: FieldFile
    experiment_id: int
    item_id: int | None

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(Path(self.stored.name or "").suffix.lower(), "audio/mp4")


class Unsatisfiable(Exception):
    """A byte range that starts past the end of the file (answered 416)."""


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The single byte range a `Range` header asks for, as inclusive (first, last), or
    None to send the whole file (no header, a syntax we do not serve, several ranges: a
    server may ignore Range). Raises Unsatisfiable for a range outside the file."""
    match = _RANGE.match(header.strip()) if header else None
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0:
            raise Unsatisfiable
        return max(size - length, 0), size - 1
    start = int(first)
    if start >= size:
        raise Unsatisfiable
    end = min(int(last), size - 1) if last else size - 1
    if end < start:
        return None  # invalid, ignored as RFC 9110 says
    return start, end


def uniform_size(experiment_id: int) -> int:
    """The size every clip of an experiment is padded to: its largest delivery file plus
    the minimum padding, rounded up to the size grid. Cached a few minutes per process."""
    cache_key = f"crowdtest:clip-size:{experiment_id}"
    cached = cache.get(cache_key)
    if cached is not None:
        return int(cached)
    largest = max((_stored_size(name) for name in _delivery_names(experiment_id)), default=0)
    size = -(-(largest + 8 + MIN_PADDING) // SIZE_GRID) * SIZE_GRID
    cache.set(cache_key, size, SIZE_CACHE_S)
    return size


def _delivery_names(experiment_id: int) -> set[str]:
    from crowdtest.corpus.models import Stimulus
    from crowdtest.design.models import Comparison, Design, DigitsClip, Trap

    names: set[str] = set()
    for model, lookup in (
        (Stimulus, "track__experiment_id"),
        (Trap, "experiment_id"),
        (Comparison, "experiment_id"),
        (DigitsClip, "experiment_id"),
    ):
        names.update(
            model.objects.filter(**{lookup: experiment_id})
            .exclude(delivery="")
            .values_list("delivery", flat=True)
            .distinct()
        )
    volume = Design.objects.filter(experiment_id=experiment_id).values_list(
        "volume_clip", flat=True
    )
    names.update(name for name in volume if name)
    return names


def _stored_size(name: str) -> int:
    try:
        return int(default_storage.size(name))
    except (OSError, ValueError):
        return 0


def copy_path(clip: Clip) -> Path:
    name = salted_hmac(COPY_SALT, clip.key, algorithm="sha256").hexdigest()[:32]
    return Path(settings.CLIP_ROOT) / f"{name}{Path(clip.stored.name or '').suffix.lower()}"


def personal_copy(clip: Clip) -> Path:
    """This clip key's own copy of the file, padded to the experiment's size with random
    bytes; written on first use (atomically: two first requests at once agree on one)."""
    path = copy_path(clip)
    if path.exists():
        return path
    with clip.stored.open("rb") as source:
        data = source.read()
    padding = _padding(data, uniform_size(clip.experiment_id))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{secrets.token_hex(6)}.part")
    partial.write_bytes(data + padding)
    try:
        os.link(partial, path)
    except FileExistsError:
        pass
    finally:
        partial.unlink(missing_ok=True)
    return path


def _padding(data: bytes, size: int) -> bytes:
    """An MP4 `free` box that brings the file to `size` bytes (at least MIN_PADDING random
    bytes even for a file at the size already). Files that are not ISO BMFF get none:
    appending bytes would corrupt them."""
    if data[4:8] != b"ftyp":
        return b""
    length = max(size - len(data), 8 + MIN_PADDING)
    return struct.pack(">I", length) + b"free" + os.urandom(length - 8)


def etag(clip: Clip, path: Path) -> str:
    """A strong ETag of this copy (it changes when a swept copy is written anew)."""
    stat = path.stat()
    basis = f"{clip.key}:{stat.st_ino}:{stat.st_mtime_ns}:{stat.st_size}"
    return '"' + salted_hmac(COPY_SALT, basis, algorithm="sha256").hexdigest()[:24] + '"'


def stream(
    path: Path, first: int, last: int, on_sent: Callable[[int, int], None] | None = None
) -> Iterator[bytes]:
    """The bytes first..last of a copy. `on_sent(start, end)` is told the half-open range
    the server took from us: all of it, or, for a client that left half-way, the chunks
    written before it left."""
    position = first
    try:
        with path.open("rb") as handle:
            handle.seek(first)
            while position <= last:
                chunk = handle.read(min(CHUNK, last + 1 - position))
                if not chunk:
                    break
                yield chunk
                position += len(chunk)
    finally:
        if on_sent is not None and position > first:
            on_sent(first, position)


def record_requested(item_id: int) -> None:
    """The rater's player asked for the clip's bytes (the first time counts)."""
    AssignmentItem.objects.filter(pk=item_id, audio_requested_at__isnull=True).update(
        audio_requested_at=timezone.now()
    )


def record_sent(item_id: int, start: int, end: int, size: int) -> None:
    """Bytes [start, end) of a clip of `size` bytes went out; once the ranges sent cover
    the whole file, the clip counts as received (and as requested, if it was not yet)."""
    if start <= 0 and end >= size:
        # The whole file, as a player's first request mostly asks: one UPDATE, no lock.
        now = timezone.now()
        AssignmentItem.objects.filter(pk=item_id, audio_sent_at__isnull=True).update(
            audio_sent_at=now,
            audio_sent_ranges=[[0, size]],
            audio_requested_at=Coalesce(F("audio_requested_at"), Value(now)),
        )
        return
    with transaction.atomic():
        # Only the item's row: the model's ordering joins the assignment, and locking that
        # too (while play and rate lock assignment, then item) deadlocked under load.
        item = (
            AssignmentItem.objects.select_for_update(of=("self",))
            .only("audio_sent_ranges", "audio_sent_at", "audio_requested_at")
            .filter(pk=item_id)
            .order_by()
            .first()
        )
        if item is None or item.audio_sent_at is not None:
            return
        ranges = merge_ranges([*item.audio_sent_ranges, [start, end]])
        item.audio_sent_ranges = ranges
        fields = ["audio_sent_ranges"]
        if ranges and ranges[0][0] <= 0 and ranges[0][1] >= size:
            item.audio_sent_at = timezone.now()
            fields.append("audio_sent_at")
        if item.audio_requested_at is None:
            item.audio_requested_at = timezone.now()
            fields.append("audio_requested_at")
        item.save(update_fields=fields)


def record_received(item_id: int) -> None:
    """A simulated rater (the demo crowd, the load benchmark's in-process raters) got the
    whole clip without reading its bytes."""
    record_sent(item_id, 0, 1, 1)


def merge_ranges(ranges: list[list[int]]) -> list[list[int]]:
    """Half-open [start, end) byte ranges merged into the fewest that cover the same."""
    merged: list[list[int]] = []
    for start, end in sorted([int(a), int(b)] for a, b in ranges if int(b) > int(a)):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def sweep_copies(max_age_s: float = 6 * 3600, *, now: float | None = None) -> int:
    """Delete copies not written for `max_age_s` (their URLs have long expired; a rater
    still in session gets a new copy on the next request). Returns how many went."""
    root = Path(settings.CLIP_ROOT)
    if not root.is_dir():
        return 0
    cutoff = (time.time() if now is None else now) - max_age_s
    removed = 0
    for entry in os.scandir(root):
        try:
            if entry.is_file() and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:
            continue
    return removed
